#!/usr/bin/env python3
"""Parity (issue 16, part 3): the studio's WGSL engine and the PyTorch trainer (python/mohawk_torch) on the
same plan, the same initial student and the same batches, step for step; a table of per-step relative
differences of the losses.

    python3 scripts/bench/parity.py --teacher DIR --data FILE --out DIR [--steps 20] [--seq 256] [--batch 4]
                                    [--accumulate 1] [--teacher-impl auto|hf|own] [--label NAME]

How both sides get the same inputs, with nothing added to either engine:
  - batches: `mohawk tokenize` writes the token store once (--token-cache OUT/tokens); the studio's
    `mohawk distill --token-cache` reuses it and the trainer reads it (--data OUT/tokens). Both split it
    alike and draw windows with the same xorshift sampler from the plan's seed, so step k of each stage
    reads the same token ids on both sides.
  - initial weights: both build the student from the teacher's tensors and the plan's seed by the same
    rule (src/models/student.ts initialStudent; mohawk_torch/student_init.py draws the studio's seeded
    normal values exactly).
  - the plan: `mohawk plan` writes it from the same flags `mohawk distill` is given.
The studio runs f32 on WebGPU; the trainer f32 with TF32 off and the SSD in PyTorch (--ssd torch). $MOHAWK
is the studio's command (default: node bin/mohawk.mjs; scripts/bench/parity.sh: node dist-node/mohawk.mjs).
Writes OUT/studio.jsonl, OUT/torch.jsonl, OUT/parity.json and OUT/parity.md; prints the table's summary
line; exits 1 when a step differs by more than --tolerance (default 1e-4).
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(cmd, out_file=None, env=None):
    t0 = time.time()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if out_file:
        with open(out_file, "w") as f:
            f.write(r.stdout)
        with open(out_file.rsplit(".", 1)[0] + ".log", "w") as f:
            f.write(r.stderr)
    if r.returncode != 0:
        sys.exit(f"parity: {' '.join(cmd[:4])}... failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout, time.time() - t0


def losses(text):
    return {(j["stage"], j["step"]): j["loss"] for j in (json.loads(l) for l in text.splitlines() if l.startswith("{")) if "loss" in j}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--accumulate", type=int, default=1)
    ap.add_argument("--stages", default="1,2,3")
    ap.add_argument("--teacher-impl", default="auto")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--label", default=None)
    ap.add_argument("--extra", default="", help="more plan flags for both sides, e.g. '--attention-layers 1 --freeze-mlp'")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    mohawk = shlex.split(os.environ.get("MOHAWK", "node bin/mohawk.mjs"))
    stages = [int(s) for s in a.stages.split(",")]
    per = a.seq * a.batch * a.accumulate
    flags = ["--stages", a.stages, "--tokens", ",".join(f"{s}:{a.steps * per}" for s in stages), "--seq", str(a.seq),
             "--batch", str(a.batch), "--accumulate", str(a.accumulate), *shlex.split(a.extra)]
    cache = os.path.join(a.out, "tokens")
    plan = os.path.join(a.out, "plan.json")
    sh(mohawk + ["tokenize", "--teacher", a.teacher, "--data", a.data, "--token-cache", cache])
    sh(mohawk + ["plan", "--teacher", a.teacher, "--out", plan, *flags])
    for side in ("studio", "torch"):
        d = os.path.join(a.out, side)
        if os.path.exists(d):
            subprocess.run(["rm", "-rf", d])
    studio_out, studio_s = sh(mohawk + ["distill", "--teacher", a.teacher, "--data", a.data, "--token-cache", cache,
                                        "--out", os.path.join(a.out, "studio"), "--json", "--eval-docs", "8", *flags],
                              os.path.join(a.out, "studio.jsonl"))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    torch_out, torch_s = sh([sys.executable, "-m", "mohawk_torch.distill", "--plan", plan, "--teacher", a.teacher, "--data", cache,
                             "--out", os.path.join(a.out, "torch"), "--json", "--ssd", "torch", "--teacher-impl", a.teacher_impl],
                            os.path.join(a.out, "torch.jsonl"), env)
    s, t = losses(studio_out), losses(torch_out)
    if sorted(s) != sorted(t):
        sys.exit(f"parity: the two runs took different steps: studio {sorted(s)[:5]}..., torch {sorted(t)[:5]}...")
    rows = [{"stage": st, "step": k, "studio": s[(st, k)], "torch": t[(st, k)],
             "rel": abs(s[(st, k)] - t[(st, k)]) / max(abs(s[(st, k)]), 1e-30)} for st, k in sorted(s)]
    label = a.label or os.path.basename(a.teacher.rstrip("/"))
    worst = {st: max(r["rel"] for r in rows if r["stage"] == st) for st in stages}
    ok = all(r["rel"] <= a.tolerance for r in rows)
    with open(os.path.join(a.out, "torch.log")) as f:
        impl = "transformers" if "(transformers)" in f.read() else "plain PyTorch"
    summary = {"label": label, "seq": a.seq, "batch": a.batch, "accumulate": a.accumulate, "steps": a.steps, "teacher": impl,
               "max_rel": {str(k): v for k, v in worst.items()}, "pass": ok, "tolerance": a.tolerance,
               "studio_s": round(studio_s, 1), "torch_s": round(torch_s, 1), "rows": rows}
    with open(os.path.join(a.out, "parity.json"), "w") as f:
        json.dump(summary, f, indent=1)
    lines = [f"### {label}: seq {a.seq} × batch {a.batch} × {a.accumulate}, {a.steps} steps a stage, teacher in {impl}", "",
             "| stage | step | studio loss | torch loss | relative difference |", "|---|---|---|---|---|"]
    lines += [f"| {r['stage']} | {r['step']} | {r['studio']:.8g} | {r['torch']:.8g} | {r['rel']:.2e} |" for r in rows]
    with open(os.path.join(a.out, "parity.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{label}: " + ", ".join(f"stage {k} max {v:.2e}" for k, v in worst.items()) + f" -> {'PASS' if ok else 'FAIL'} (≤ {a.tolerance:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
