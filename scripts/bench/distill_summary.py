#!/usr/bin/env python3
"""Tables for BENCHMARKS.md from the outputs of scripts/bench/distill_gpu.sh.

    python3 scripts/bench/distill_summary.py DIR

DIR holds NAME.jsonl files: `mohawk distill --json` lines ({"stage","step","tokens","loss",
"tokens_per_s"} per optimizer step, then {"done":true,"held_out":{...}}) or one stage3_torch.py
object, and times.txt (NAME rc=… wall_s=…). Per run and stage it prints steps, tokens, tokens/s as
the run reports it at the stage's last step (cumulative since the stage began, so the first step's
pipeline compilation is in it), the steady rate from the step at 10% of the stage to the last (the
elapsed time at step k is tokens_k / tokens_per_s_k), the stage's seconds, the first loss and the
final loss (mean of the last 5% of steps, at least one), then each run's held-out NLLs and wall time.
"""
import json
import math
import os
import re
import sys


def load(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if line.startswith('{'):
            rows.append(json.loads(line))
    return rows


def stage_rows(rows):
    stages = {}
    for r in rows:
        if 'stage' in r:
            stages.setdefault(r['stage'], []).append(r)
    out = []
    for s, rs in sorted(stages.items()):
        last = rs[-1]
        elapsed = lambda r: r['tokens'] / r['tokens_per_s']
        # Elapsed times count from the stage's start, so a resumed stage (tokens not from 0) is not handled.
        k0 = rs[max(0, math.ceil(0.1 * len(rs)) - 1)]
        steady = (last['tokens'] - k0['tokens']) / (elapsed(last) - elapsed(k0)) if last is not k0 else float('nan')
        tail = rs[-max(1, len(rs) // 20):]
        out.append({
            'stage': s, 'steps': last['step'], 'tokens': last['tokens'], 'tokens_per_s': last['tokens_per_s'],
            'steady_tokens_per_s': steady, 'seconds': elapsed(last), 'first_loss': rs[0]['loss'],
            'final_loss': sum(r['loss'] for r in tail) / len(tail),
        })
    return out


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else '.'
    walls = {}
    if os.path.exists(os.path.join(d, 'times.txt')):
        for line in open(os.path.join(d, 'times.txt')):
            m = re.match(r'(\S+) rc=(\d+) wall_s=([\d.]+)', line)
            if m:
                walls[m[1]] = (int(m[2]), float(m[3]))
    names = sorted(f[:-6] for f in os.listdir(d) if f.endswith('.jsonl'))
    print('| run | stage | steps | tokens | tokens/s (reported) | tokens/s (steady) | stage s | first loss | final loss |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    done = {}
    torch_rows = {}
    for n in names:
        rows = load(os.path.join(d, n + '.jsonl'))
        for r in rows:
            if r.get('done'):
                done[n] = r['held_out']
            if 'student_parameters' in r:
                torch_rows[n] = r
        for s in stage_rows(rows):
            print(f"| {n} | {s['stage']} | {s['steps']} | {s['tokens']:,} | {s['tokens_per_s']:,.0f} | {s['steady_tokens_per_s']:,.0f} | "
                  f"{s['seconds']:.1f} | {s['first_loss']:.4f} | {s['final_loss']:.4f} |")
    print()
    print('| run | held-out teacher NLL | held-out student NLL | exit | wall s (whole command) |')
    print('| --- | ---: | ---: | ---: | ---: |')
    for n in names:
        h = done.get(n)
        rc, wall = walls.get(n, (None, None))
        if h is None and wall is None:
            continue
        t = f"{h['teacher_nll']:.4f}" if h else ''
        s = f"{h['student_nll']:.4f}" if h else ''
        print(f"| {n} | {t} | {s} | {'' if rc is None else rc} | {'' if wall is None else f'{wall:.1f}'} |")
    for n, r in torch_rows.items():
        print()
        print(f"{n}: {r['device']}, seq {r['seq']} × batch {r['batch']}, {r['steps']} timed steps after {r['warmup_steps']}: "
              f"{r['tokens_per_s']:,.0f} tokens/s ({r['step_ms']:.1f} ms/step), student {r['student_parameters']:,} parameters, "
              f"peak {r['peak_memory_gib'] if r['peak_memory_gib'] is None else round(r['peak_memory_gib'], 2)} GiB, "
              f"loss {r['loss_first_timed']:.4f} -> {r['loss_last']:.4f}")


if __name__ == '__main__':
    main()
