#!/usr/bin/env python3
"""The layer-streaming table from scripts/bench/stream_gpu.sh's outputs in DIR:
per run and stage, steps, tokens/s (the rate of the stage's last step line, and the steady rate from
its second step), the run's own peak GPU memory (from its stage lines) and nvidia-smi's peak
memory.used over the stage (between its first and last step line) less the idle reading before
the runs."""
import json
import os
import re
import sys

d = sys.argv[1]
smi = []
for line in open(os.path.join(d, "smi.txt")):
    p = line.split()
    if len(p) == 2 and p[1].isdigit():
        smi.append((float(p[0]), int(p[1])))
idle = min(v for _, v in smi[:3]) if smi else 0
print(f"nvidia-smi idle before the runs: {idle} MiB")
for name in ("streamed", "resident"):
    path = os.path.join(d, name + ".jsonl")
    if not os.path.exists(path):
        continue
    rows = {}
    done = None
    for line in open(path):
        t, _, js = line.partition(" ")
        try:
            o = json.loads(js)
        except ValueError:
            continue
        if o.get("done"):
            done = o
        elif "stage" in o:
            rows.setdefault(o["stage"], []).append((float(t), o))
    own = {}
    log = open(os.path.join(d, name + ".log")).read()
    for m in re.finditer(r"stage (\d) finished; GPU memory held at most ([\d.]+) MiB", log):
        own[int(m.group(1))] = float(m.group(2))
    for s, pts in sorted(rows.items()):
        t0, t1 = pts[0][0], pts[-1][0]
        peak = max((v for t, v in smi if t0 - 0.5 <= t <= t1 + 0.2), default=None)
        last = pts[-1][1]
        steady = None
        if len(pts) > 2:
            steady = (last["tokens"] - pts[0][1]["tokens"]) / (t1 - t0)
        print(f"{name} stage {s}: {len(pts)} steps, last loss {last['loss']:.4f}, tokens/s {last['tokens_per_s']:.0f} (steady {steady:.0f})"
              f"; own peak {own.get(s, float('nan')):.1f} MiB; nvidia-smi peak {peak} MiB ({None if peak is None else peak - idle} over idle)")
    if done:
        print(f"{name} done: {json.dumps(done)}")
