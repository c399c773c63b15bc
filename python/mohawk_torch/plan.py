"""A plan file (src/mohawk/plan-file.ts, format "mohawk-plan" version 1) read back and checked field by
field, the arithmetic of its steps (src/mohawk/plan.ts) and the warmup-stable-decay schedule
(src/mohawk/stages.ts wsd). The plan as a run state holds it (camelCase, what the studio's checkpoints
keep) comes from `studio_json`.
"""
import json
import math

PLAN_FORMAT = "mohawk-plan"
PLAN_VERSION = 1
DEFAULT_LR = {1: 1e-3, 2: 1e-3, 3: 3e-4}
PACKINGS = ("across", "within")
RECOMPUTES = ("auto", "on", "off")


class PlanError(Exception):
    pass


class Plan:
    """The plan's fields under their plan-file names; `steps` per stage as the studio counts them."""

    def __init__(self, p):
        self.stages = p["stages"]
        self.tokens = p["tokens"]
        self.lr = p["lr"]
        self.seq_len = p["seq_len"]
        self.batch = p["batch"]
        self.accumulate = p["accumulate"]
        self.warmup = p["warmup"]
        self.decay = p["decay"]
        self.max_grad_norm = p["max_grad_norm"]
        self.weight_decay = p["weight_decay"]
        self.temperature = p["temperature"]
        self.freeze_mlp = p["freeze_mlp"]
        self.attention_layers = list(p["attention_layers"])
        self.seed = p["seed"]
        self.stream_layers = p["stream_layers"]
        self.packing = p["packing"]
        self.recompute = p["recompute"]
        self.sequences_per_step = self.batch * self.accumulate
        self.tokens_per_step = self.seq_len * self.sequences_per_step
        per = self.tokens_per_step
        self.steps = {s: (max(1, math.ceil(self.tokens[s] / per)) if s in self.stages else 0) for s in (1, 2, 3)}

    def studio_json(self):
        """The plan as DistillPlan serialises it (a checkpoint's state.plan)."""
        return {
            "stages": list(self.stages), "tokens": {str(s): self.tokens[s] for s in (1, 2, 3)},
            "lr": {str(s): self.lr[s] for s in (1, 2, 3)}, "seqLen": self.seq_len, "batch": self.batch,
            "accumulate": self.accumulate, "warmup": self.warmup, "decay": self.decay, "maxGradNorm": self.max_grad_norm,
            "weightDecay": self.weight_decay, "temperature": self.temperature, "freezeMlp": self.freeze_mlp,
            "attentionLayers": list(self.attention_layers), "seed": self.seed, "streamLayers": self.stream_layers,
            "packing": self.packing, "recompute": self.recompute,
        }

    def differs_from(self, saved):
        """The first field where a checkpoint's plan (DistillPlan JSON) differs from this one, or None
        (planDifference: streamLayers and recompute change where the work runs, not what it computes)."""
        mine = self.studio_json()
        saved = saved if isinstance(saved, dict) else {}
        for k, v in mine.items():
            if k in ("streamLayers", "recompute"):
                continue
            a = saved.get(k, "across") if k == "packing" else saved.get(k)
            if isinstance(v, dict):
                a = {str(kk): vv for kk, vv in a.items()} if isinstance(a, dict) else a
            if a != v:
                return f"{k}: the checkpoint has {json.dumps(a)}, this run asks for {json.dumps(v)}"
        return None


def wsd(step, total, warmup, decay):
    """Warmup-stable-decay: linear warmup, flat, then linear decay to 10% over the last `decay` fraction."""
    w = max(1, _js_round(total * warmup))
    d_start = math.floor(total * (1 - decay))
    if step <= w:
        return step / w
    if step <= d_start or total <= d_start:
        return 1.0
    return 1 - 0.9 * ((step - d_start) / max(1, total - d_start))


def _js_round(x):
    """Math.round: halves round up (Python's round() rounds them to even)."""
    return math.floor(x + 0.5)


def read_plan_file(path):
    """(Plan, data, evaluation, teacher) from a plan file; PlanError names the field that is wrong."""
    try:
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise PlanError(f"plan file {path}: {e}") from None

    def bad(what):
        raise PlanError(f"plan file: {what}")

    def obj(v, where):
        return v if isinstance(v, dict) else bad(f"{where} must be an object")

    f = obj(j, "the file")
    if f.get("format") != PLAN_FORMAT:
        bad(f'"format" is {json.dumps(f.get("format"))}, not "{PLAN_FORMAT}"')
    if f.get("version") != PLAN_VERSION:
        bad(f"version {json.dumps(f.get('version'))} is not one this build reads ({PLAN_VERSION})")
    p = obj(f.get("plan"), '"plan"')

    def num(o, k, where, ok=lambda x: True):
        v = o.get(k)
        good = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and ok(v)
        return v if good else bad(f"{where}.{k} is {json.dumps(v)}")

    def integer(o, k, where, lo):
        return num(o, k, where, lambda x: float(x).is_integer() and x >= lo)

    def boolean(o, k, where):
        return o[k] if isinstance(o.get(k), bool) else bad(f"{where}.{k} is {json.dumps(o.get(k))}")

    stages = p.get("stages")
    if not (isinstance(stages, list) and stages and all(s in (1, 2, 3) and not isinstance(s, bool) for s in stages)):
        bad(f"plan.stages is {json.dumps(stages)}")

    def stage_map(k, ok):
        m = obj(p.get(k), f"plan.{k}")
        out = {1: 0, 2: 0, 3: 0} if k == "tokens" else dict(DEFAULT_LR)
        for s in stages:
            out[s] = num(m, str(s), f"plan.{k}", ok)
        return out

    def one_of(k, options):
        return p[k] if p.get(k) in options else bad(f"plan.{k} is {json.dumps(p.get(k))}, not one of {', '.join(options)}")

    layers = p.get("attention_layers")
    if not (isinstance(layers, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in layers)):
        bad(f"plan.attention_layers is {json.dumps(layers)}")
    plan = Plan({
        "stages": list(stages), "tokens": stage_map("tokens", lambda x: x > 0), "lr": stage_map("lr", lambda x: 0 < x < 1),
        "seq_len": int(integer(p, "seq_len", "plan", 2)), "batch": int(integer(p, "batch", "plan", 1)),
        "accumulate": int(integer(p, "accumulate", "plan", 1)),
        "warmup": num(p, "warmup", "plan", lambda x: 0 <= x <= 1), "decay": num(p, "decay", "plan", lambda x: 0 <= x <= 1),
        "max_grad_norm": num(p, "max_grad_norm", "plan", lambda x: x > 0),
        "weight_decay": num(p, "weight_decay", "plan", lambda x: 0 <= x < 1),
        "temperature": num(p, "temperature", "plan", lambda x: x > 0), "freeze_mlp": boolean(p, "freeze_mlp", "plan"),
        "attention_layers": layers, "seed": int(integer(p, "seed", "plan", 0)),
        "stream_layers": boolean(p, "stream_layers", "plan"),
        "packing": one_of("packing", PACKINGS), "recompute": one_of("recompute", RECOMPUTES),
    })
    if plan.warmup + plan.decay > 1:
        bad(f"plan.warmup {plan.warmup} and plan.decay {plan.decay} add up to more than the whole stage")
    if len(set(plan.attention_layers)) != len(plan.attention_layers):
        bad("plan.attention_layers names a layer twice")
    d, e = obj(f.get("data"), '"data"'), obj(f.get("evaluation"), '"evaluation"')
    text_column = d.get("text_column")
    if not (isinstance(text_column, str) and text_column):
        bad(f"data.text_column is {json.dumps(text_column)}")
    data = {
        "text_column": text_column, "skip_bad_lines": boolean(d, "skip_bad_lines", "data"),
        "docs": None if d.get("docs") is None else int(integer(d, "docs", "data", 2)),
        "held_out": num(d, "held_out", "data", lambda x: 0 < x < 1),
    }
    evaluation = {"docs": int(integer(e, "docs", "evaluation", 1)), "tokens": int(integer(e, "tokens", "evaluation", 2))}
    teacher = obj(f.get("teacher"), '"teacher"')
    steps = f.get("steps")
    if isinstance(steps, dict):
        for s in plan.stages:
            if steps.get(str(s)) != plan.steps[s]:
                bad(f"steps of stage {s} are {steps.get(str(s))}, but the plan comes to {plan.steps[s]}")
    return plan, data, evaluation, teacher


def check_against_teacher(plan, a):
    """checkPlanAgainstConfig: the sequence against the teacher's positions, the kept layers against its layers."""
    if plan.seq_len > a.max_positions:
        raise PlanError(f"plan: sequence length {plan.seq_len} is over the teacher's {a.max_positions} positions")
    for l in plan.attention_layers:
        if l >= a.layers:
            raise PlanError(f"plan: attention layers: {l} is not a layer of this {a.layers}-layer teacher (0..{a.layers - 1})")
    if len(plan.attention_layers) >= a.layers and any(s != 3 for s in plan.stages):
        raise PlanError("plan: attention layers keeps every layer's attention, so stages 1 and 2 have nothing to train")
