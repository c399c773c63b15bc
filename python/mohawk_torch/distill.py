"""mohawk_torch.distill: a plan exported by the studio (`mohawk plan`, the page's "Export plan") run by
PyTorch, on one process or under torchrun:

    torchrun --nproc_per_node=N -m mohawk_torch.distill --plan plan.json --teacher DIR --data FILE... --out DIR

The student comes back in the studio's export format (OUT/model.safetensors, config.json, tokenizer files:
`mohawk eval --model OUT` and the page load it), checkpoints in the studio's format in OUT/checkpoint
(stage ends, every --save-every seconds, SIGINT/SIGTERM), which `--resume` here and `mohawk distill
--resume --out OUT` there both continue. With --json, stdout carries one {"stage","step","tokens","loss",
"tokens_per_s","grad_norm","lr"} per optimizer step, then {"done":true,"held_out":{"teacher_nll",
"student_nll"}}, as `mohawk distill --json` prints them (grad_norm and lr besides).
"""
import argparse
import json
import math
import os
import signal
import sys
import time
from datetime import datetime, timezone

import torch

from . import checkpoint as ck
from .checkpoint import CheckpointError
from .canonical import LayoutError
from .config import ConfigError
from .corpus import CorpusError, DocumentTokenizer, corpus_files, read_documents
from .safetensors_io import SafetensorsError
from .export import export_student
from .model import MixerShape, Model, is_mlp, mean_nll, student_shapes
from .parallel import Parallel
from .plan import PlanError, check_against_teacher, read_plan_file, wsd
from .ssd import triton_available
from .stages import StageRun
from .student_init import initial_student
from .teacher import Teacher, fingerprint
from .tokens import STREAM_BYTES, SpreadSplit, StoreError, WholeSplit, Sampler, find_store, is_store, read_store, write_store


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="mohawk_torch.distill", description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, help="the plan file (mohawk plan --out plan.json, or the page's Export plan)")
    ap.add_argument("--teacher", required=True, help="teacher folder: config.json, *.safetensors, tokenizer.json")
    ap.add_argument("--data", required=True, nargs="+",
                    help="corpus files, folders or globs (text, .jsonl, .json, .gz; parquet with pyarrow), tokenized with the "
                         "`tokenizers` package; or a token store of the studio (a folder with meta.json, ids.bin, ends.bin, or "
                         "a --token-cache folder holding one)")
    ap.add_argument("--out", required=True, help="folder for the student and checkpoint/")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint (written by this trainer or by mohawk distill)")
    ap.add_argument("--json", action="store_true", help="JSON lines on stdout (one per step, then the held-out NLL); all else on stderr")
    ap.add_argument("--save-every", type=float, default=300, help="seconds between checkpoints besides stage ends (default 300; 0: every step)")
    ap.add_argument("--teacher-impl", default="auto", choices=("auto", "hf", "own"),
                    help="the teacher through transformers (hf), this package's plain PyTorch (own), or hf when installed (auto)")
    ap.add_argument("--shard", default="auto", choices=("auto", "fsdp2", "fsdp1", "replicate"),
                    help="with several processes: fully_shard (fsdp2), FullyShardedDataParallel (fsdp1), or the whole student on "
                         "every rank with summed gradients (replicate); auto takes the first this torch has")
    ap.add_argument("--shard-teacher", default="auto", choices=("auto", "on", "off"),
                    help="shard the frozen teacher too (fsdp2 only): auto when its f32 weights exceed a quarter of the GPU's memory")
    ap.add_argument("--ssd", default="auto", choices=("auto", "torch", "triton"),
                    help="the SSD scan: the chunked algorithm in PyTorch, or mamba_ssm's Triton kernel (auto: triton when installed, on CUDA)")
    ap.add_argument("--corpus-mode", default="auto", choices=("auto", "whole", "streaming"),
                    help="how the corpus is split and sampled, as the studio's: auto is streaming for corpus files over 64 MiB "
                         "(MOHAWK_STREAM_BYTES), whole otherwise and for a token store; a resumed run takes its checkpoint's")
    ap.add_argument("--device", help="cuda:N or cpu (default: cuda:LOCAL_RANK when there is a GPU)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matrix products (off by default: f32 as the studio computes)")
    ap.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation at the end")
    ap.add_argument("--stop-after-stage", type=int, choices=(1, 2, 3),
                    help="end the run once this stage is done and checkpointed, without exporting (another run, here or "
                         "`mohawk distill --resume`, continues it)")
    return ap.parse_args(argv)


class Log:
    def __init__(self, par, json_mode):
        self.par, self.json_mode = par, json_mode

    def say(self, line):
        if self.par.main:
            print(line, file=sys.stderr if self.json_mode else sys.stdout, flush=True)

    def record(self, obj):
        if self.par.main and self.json_mode:
            print(json.dumps(obj), flush=True)


def prepare_tokens(args, teacher, data, par, log):
    """The token store of --data (tokenized here by rank 0 when --data is text) and the corpus bytes."""
    paths = args.data
    if len(paths) == 1 and os.path.isdir(paths[0]) and (is_store(paths[0]) or any(is_store(os.path.join(paths[0], d)) for d in os.listdir(paths[0]))):
        where = find_store(paths[0])
        log.say(f"token store {where}")
        return read_store(where).cut(data["docs"]), None
    files = corpus_files(paths)
    nbytes = sum(os.path.getsize(f) for f in files)
    where = os.path.join(args.out, "tokens")
    if par.main and not is_store(where):
        docs, skipped = read_documents(paths, data["text_column"], data["skip_bad_lines"], data["docs"])
        if len(docs) < 2:
            raise ValueError(f"--data holds {len(docs)} document(s): a held-out one is needed besides the training text")
        tok = DocumentTokenizer(args.teacher, teacher.arch.bos, teacher.arch.eos)
        t0 = time.time()
        ids = tok.encode_documents(docs)
        notes = [f"{len(skipped)} bad line(s) skipped"] if skipped else []
        write_store(where, ids, teacher.arch.vocab, notes)
        log.say(f"tokenized {len(docs)} documents, {sum(map(len, ids))} tokens in {time.time() - t0:.1f} s into {where}")
    par.barrier()
    return read_store(where), nbytes


def run(argv=None):
    args = parse_args(argv)
    if not args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    par = Parallel(args.device, args.shard)
    log = Log(par, args.json)
    t_start = time.time()
    plan, data, evaluation, planned_teacher = read_plan_file(args.plan)
    teacher = Teacher(args.teacher, par.device, args.teacher_impl)
    a = teacher.arch
    for w in teacher.warnings:
        log.say(f"warning: {w}")
    check_against_teacher(plan, a)
    if planned_teacher.get("model_type") not in (None, a.model_type) or planned_teacher.get("layers") not in (None, a.layers):
        log.say(f"warning: the plan was made for {planned_teacher.get('name')} ({planned_teacher.get('model_type')}, "
                f"{planned_teacher.get('layers')} layers); --teacher is {teacher.name} ({a.model_type}, {a.layers} layers)")
    ssd = args.ssd
    if ssd == "auto":
        ssd = "triton" if triton_available(par.device) else "torch"
    elif ssd == "triton" and not triton_available(par.device):
        raise ValueError("--ssd triton needs mamba_ssm's Triton kernels on a CUDA device "
                         f"({'mamba_ssm is not installed' if par.device.type == 'cuda' else f'this process runs on {par.device.type}'}); "
                         "--ssd torch (or auto) runs the chunked scan in PyTorch")
    if args.shard_teacher == "on" or (args.shard_teacher == "auto" and par.mode == "fsdp2" and par.device.type == "cuda"
                                      and teacher.parameters * 4 > 0.25 * torch.cuda.get_device_properties(par.device).total_memory):
        if par.mode != "fsdp2":
            raise ValueError("--shard-teacher on needs --shard fsdp2")
        par.wrap(teacher.model, inner=[m for m, _ in teacher.hf_layers] if teacher.impl == "hf" else list(teacher.model.layers))
        log.say("teacher sharded over the ranks")

    ckpt_dir = os.path.join(args.out, "checkpoint")
    os.makedirs(args.out, exist_ok=True)
    saved = ck.peek(ckpt_dir)
    if args.resume and saved is None:
        raise ValueError(f"--resume: {ckpt_dir} holds no checkpoint to continue from (run without --resume to start)")
    if not args.resume and saved is not None:
        st = saved.get("state", {})
        raise ValueError(f"{args.out} already holds a checkpoint (stage {st.get('stage')}, step {st.get('step')}): use --resume or another --out")

    store, nbytes = prepare_tokens(args, teacher, data, par, log)
    fp = fingerprint(args.teacher)
    state = None
    if args.resume:
        state, params, m_ck, v_ck = ck.load(ckpt_dir)
        diff = plan.differs_from(state.get("plan"))
        if diff:
            raise ValueError(f"--resume: this run's plan is not the checkpoint's: {diff}")
        if state.get("teacherFingerprint") != fp:
            raise ValueError(f"--resume: the checkpoint was made with another teacher ({state.get('teacher')}; its config.json or weights differ from {teacher.name}'s)")
        if state.get("docs") != data["docs"] or state.get("heldOut") != data["held_out"]:
            raise ValueError(f"--resume: the checkpoint held out another part of the corpus ({state.get('docs')} documents, {state.get('heldOut')} held out)")
    stream_bytes = int(os.environ.get("MOHAWK_STREAM_BYTES", STREAM_BYTES))
    mode = (state.get("corpusMode") or "whole") if state else args.corpus_mode
    if mode == "auto":
        mode = "streaming" if nbytes is not None and nbytes > stream_bytes else "whole"
    split = WholeSplit(store, data["held_out"]) if mode == "whole" else SpreadSplit(store, data["held_out"])
    if mode == "whole" and plan.seq_len + 1 > split.train_tokens:
        raise PlanError(f"plan: the corpus has {split.train_tokens} training tokens, fewer than one sequence of {plan.seq_len}")
    sampler = Sampler(split, plan)

    mixer = MixerShape.default(a, plan.seq_len)
    layers = set(plan.attention_layers)
    shapes = student_shapes(a, mixer, layers)
    held = {n: s for n, s in shapes.items() if not (plan.freeze_mlp and is_mlp(n))}
    weights = initial_student(a, mixer, layers, teacher.read, plan.seed)
    tokens_done = {1: 0, 2: 0, 3: 0}
    start_at = None
    if state:
        for n in held:
            if n not in params:
                raise ValueError(f"--resume: the checkpoint lacks the student's {n}")
            weights[n] = params[n]
        start_at = (state["stage"], state["step"], bool(state.get("stageDone")))
        for s in plan.stages:
            tokens_done[s] = (state.get("tokensDone") or {}).get(str(s), 0)
        calls = state["step"] + sum(plan.steps[s] for s in plan.stages if s < state["stage"])
        sampler.skip(calls * plan.sequences_per_step)
    name = state.get("name") if state else None
    started = state.get("startedAt") if state else datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    if not name:
        stamp = started.replace("-", "").replace(":", "").replace("T", "-")[:13]
        name = f"{teacher.name}-mohawk-student-{stamp}"
    prior_s = float(state.get("elapsedS") or 0) if state else 0.0
    corpus_name = os.path.basename(args.data[0].rstrip("/")) + (f" and {len(args.data) - 1} more" if len(args.data) > 1 else "")

    log.say(f"teacher {teacher.name}: {a.model_type}, {a.layers} layers, d {a.d}, {a.heads} heads, {teacher.parameters:,} parameters "
            f"({'transformers' if teacher.impl == 'hf' else 'plain PyTorch'}); {par.world} process(es), {par.mode}, {par.device}, SSD {ssd}")
    log.say(f"corpus: {split.train_tokens:,} training tokens, {split.held_out_count} held-out documents ({mode})")
    log.say("plan: " + ", ".join(f"stage {s} {plan.tokens[s]:,} tokens ({plan.steps[s]} steps, lr {plan.lr[s]})" for s in plan.stages)
            + f"; {plan.tokens_per_step} tokens per step (seq {plan.seq_len} × batch {plan.batch} × {plan.accumulate})")

    stop = {"asked": False}
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.__setitem__("asked", True))

    def save(run, stage, step, stage_done, m=None, v=None):
        if run is not None:
            weights.update(run.weights_back())
            m, v = run.moments()
        zeros = lambda n: torch.zeros(held[n])
        mm = {n: (m or {}).get(n, zeros(n)) for n in held}
        vv = {n: (v or {}).get(n, zeros(n)) for n in held}
        st = {
            "stage": stage, "step": step, "stageDone": stage_done, "done": stage_done and stage == plan.stages[-1],
            "tokens": step * plan.tokens_per_step, "tokensDone": {str(s): tokens_done[s] for s in (1, 2, 3)},
            "plan": plan.studio_json(), "teacher": teacher.name, "teacherFingerprint": fp, "corpus": corpus_name,
            "docs": data["docs"], "heldOut": data["held_out"], "corpusMode": mode,
            "savedAt": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), "elapsedS": prior_s + time.time() - t_start,
            "stageElapsedS": 0, "name": name, "startedAt": started, "tool": "mohawk_torch",
        }
        if par.main:
            ck.save(ckpt_dir, weights, mm, vv, held, st)
        par.barrier()

    for stage in plan.stages:
        total = plan.steps[stage]
        start = 0
        if start_at:
            s0, k0, done0 = start_at
            if plan.stages.index(stage) < plan.stages.index(s0):
                continue
            if stage == s0:
                if done0 or k0 >= total:
                    continue
                start = k0
        sampler.enter_stage(stage)
        if par.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(par.device)
        recompute = plan.recompute == "on" or (plan.recompute == "auto" and par.device.type == "cuda" and
                                               plan.batch * plan.seq_len * a.layers * (14 * a.d + 4 * a.intermediate) * 4
                                               > 0.3 * torch.cuda.get_device_properties(par.device).total_memory)
        run_ = StageRun(stage, plan, a, mixer, teacher, weights, par, ssd=ssd, recompute=stage == 3 and recompute)
        if start > 0:
            run_.set_moments(m_ck, v_ck, start)
        log.say(f"stage {stage}: {total} steps, {total * plan.tokens_per_step:,} tokens" + (f", from step {start}" if start else ""))
        t0 = time.time()
        last_save = t0
        stopped = False
        for k in range(start + 1, total + 1):
            ids = torch.from_numpy(sampler.sample(plan.sequences_per_step, plan.seq_len))
            lr = plan.lr[stage] * wsd(k, total, plan.warmup, plan.decay)
            r = run_.step(ids, lr)
            if not math.isfinite(r["loss"]):
                bad = [l for l, x in enumerate(r["layer_losses"] or []) if not math.isfinite(x)]
                raise FloatingPointError(f"stage {stage}: the loss is {r['loss']}{' in layers ' + str(bad) if bad else ''} at step {k}; the stage stopped (lower its learning rate)")
            tokens_done[stage] = k * plan.tokens_per_step
            el = time.time() - t0
            tps = (k - start) * plan.tokens_per_step / max(el, 1e-9)
            log.record({"stage": stage, "step": k, "tokens": k * plan.tokens_per_step, "loss": r["loss"], "tokens_per_s": tps,
                        "grad_norm": r["grad_norm"], "lr": lr})
            if not args.json and (k == 1 or k == total or k % max(1, round(total / 20)) == 0):
                log.say(f"stage {stage}  step {k}/{total}  loss {r['loss']:.6g}  grad norm {r['grad_norm']:.4g}  {tps:,.0f} tok/s")
            flags = torch.tensor([float(args.save_every == 0 or time.time() - last_save > args.save_every), float(stop["asked"])], device=par.device)
            if par.world > 1:
                torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
            if flags[1] > 0 and k < total:
                save(run_, stage, k, False)
                stopped = True
                break
            if flags[0] > 0 and k < total:
                save(run_, stage, k, False)
                last_save = time.time()
        if stopped:
            log.say(f"stopped; checkpoint in {ckpt_dir} (stage {stage}, step {k}). Run the same command with --resume to continue.")
            return 130
        save(run_, stage, total, True)
        del run_
        peak = f", GPU memory at most {torch.cuda.max_memory_allocated(par.device) / 2**30:.2f} GiB on rank 0" if par.device.type == "cuda" else ""
        log.say(f"stage {stage} finished in {time.time() - t0:.1f} s{peak}")
        if args.stop_after_stage == stage and stage != plan.stages[-1]:
            log.say(f"stopped after stage {stage} as asked; checkpoint in {ckpt_dir}: --resume continues it")
            return 0

    provenance = {"tool": "mohawk_torch", "teacher": teacher.name, "corpus": corpus_name, "stages": list(plan.stages),
                  "tokens": {str(s): tokens_done[s] for s in (1, 2, 3)}, "plan": plan.studio_json(), "evaluations": [],
                  "date": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), "processes": par.world, "shard": par.mode}
    result = None
    if par.main and not args.no_eval:
        n = min(evaluation["docs"], split.held_out_count)
        docs = [store.ids[store.doc_start(split.held_out_doc(i)):store.doc_end(split.held_out_doc(i))][: min(evaluation["tokens"], a.max_positions)].astype("int64").tolist()
                for i in range(n)]
        student = Model(a, mixer, layers).load(weights).to(par.device).eval()
        for blk in student.layers:
            if blk.mixer is not None:
                blk.mixer.ssd = ssd
        t_nll, _ = mean_nll(lambda x: teacher.logits(x), docs, par.device)
        s_nll, count = mean_nll(student, docs, par.device)
        result = {"teacher_nll": t_nll, "student_nll": s_nll, "tokens": count}
        provenance["evaluations"] = [{"stage": plan.stages[-1], "teacherNll": t_nll, "studentNll": s_nll, "tokens": count,
                                      "at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")}]
        del student
    if par.main:
        files = export_student(args.out, weights, shapes, args.teacher, teacher.config_json, mixer, layers, provenance)
        log.say(f"student written to {args.out}: {', '.join(files)}")
        if result:
            log.say(f"held-out NLL over {result['tokens']:,} tokens: teacher {result['teacher_nll']:.4f}, student {result['student_nll']:.4f} nats/token")
            log.record({"done": True, "held_out": {"teacher_nll": result["teacher_nll"], "student_nll": result["student_nll"]}})
        else:
            log.record({"done": True})
    par.barrier()
    return 0


def main(argv=None):
    try:
        code = run(argv)
    except (PlanError, ValueError, FloatingPointError, OSError, ConfigError, LayoutError, SafetensorsError,
            CorpusError, StoreError, CheckpointError) as e:
        print(f"mohawk_torch.distill: {e}", file=sys.stderr)
        code = 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return code


if __name__ == "__main__":
    sys.exit(main())
