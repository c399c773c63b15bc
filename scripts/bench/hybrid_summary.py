#!/usr/bin/env python3
"""The hybrid advisor's benchmark table (scripts/bench/hybrid_gpu.sh), from the runs' --json lines.

    python3 scripts/bench/hybrid_summary.py DIR --pairs L    # the pairs still to run, one "i,j" a line
    python3 scripts/bench/hybrid_summary.py DIR --layers L   # table.md on stdout
    python3 scripts/bench/hybrid_summary.py --across DIR:L ...  # one row per run of hybrid_gpu.sh (seeds.md)
    python3 scripts/bench/hybrid_summary.py --even L K          # evenly spaced placement of K of L layers

DIR holds NAME.jsonl per run (auto-1, auto-2, single-l, pair-i-j; auto-1-greedy and auto-2-greedy with
METHODS="sets greedy"): the step lines, the advisor's line
({"attention_layers", "hybrid_advisor"}) of the auto runs and the final {"done", "held_out"} line.
"""
import argparse
import glob
import gzip
import json
import os


def lines(path):
    out = []
    if not os.path.exists(path) and os.path.exists(path + '.gz'):
        path += '.gz'  # as kept under bench/results
    try:
        with (gzip.open(path, 'rt') if path.endswith('.gz') else open(path)) as f:
            for line in f:
                line = line.strip()
                if line.startswith('{'):
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    except FileNotFoundError:
        pass
    return out


def result(path):
    """(held-out student NLL, teacher NLL, advisor record or None); NLLs None when the run did not finish."""
    ls = lines(path)
    done = next((l for l in ls if l.get('done')), None)
    adv = next((l['hybrid_advisor'] for l in ls if 'hybrid_advisor' in l), None)
    h = done['held_out'] if done else {}
    return h.get('student_nll'), h.get('teacher_nll'), adv


def even(L, K):
    """Evenly spaced placement: layer ⌊(i + ½)·L/K⌋ for i < K (K = 1: the middle layer)."""
    return sorted({int((i + 0.5) * L / K) for i in range(K)})


def singles(d, L):
    return {l: result(os.path.join(d, f'single-{l}.jsonl'))[0] for l in range(L)}


def pairs_to_run(d, L):
    out = [even(L, 2)]
    adv = result(os.path.join(d, 'auto-2.jsonl'))[2]
    if adv:
        s = adv['scores']
        out.append(sorted(sorted(range(L), key=lambda l: (s[l], -l))[:2]))
    done = {l: v for l, v in singles(d, L).items() if v is not None}
    if len(done) >= 2:
        out.append(sorted(sorted(done, key=lambda l: -done[l])[:2]))
    seen = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen


def spearman(a, b):
    n = len(a)
    if n < 2:
        return float('nan')
    rank = lambda v: {i: r for r, i in enumerate(sorted(range(n), key=lambda i: v[i]))}
    ra, rb = rank(a), rank(b)
    return 1 - 6 * sum((ra[i] - rb[i]) ** 2 for i in range(n)) / (n * (n * n - 1))


def table(d, L):
    rows = []
    teacher = None
    for path in sorted(glob.glob(os.path.join(d, '*.jsonl'))):
        name = os.path.basename(path)[:-6]
        if name == 'teacher':
            continue
        nll, t, adv = result(path)
        teacher = teacher or t
        cfg = os.path.join(d, f'{name}.config.json')
        named = [int(x) for x in name.split('-')[1:]] if name.startswith(('single-', 'pair-')) else None
        layers = json.load(open(cfg))['attention_layers'] if os.path.exists(cfg) else (adv or {}).get('attention_layers') or named
        rows.append((name, layers, nll, adv))
    by = {r[0]: r for r in rows}
    out = ['# Hybrid advisor: held-out NLL after stage 3 at equal tokens', '']
    env = os.path.join(d, 'env.txt')
    if os.path.exists(env):
        out += ['```', open(env).read().strip(), '```', '']
    out += [f'teacher held-out NLL: {teacher:.4f} nats/token' if teacher else 'teacher held-out NLL: (no run finished)', '']
    out += ['| run | attention layers | K | held-out NLL | − teacher |', '| --- | --- | ---: | ---: | ---: |']
    fmt = lambda v: '—' if v is None else f'{v:.4f}'
    for name, layers, nll, _ in sorted(rows, key=lambda r: (len(r[1] or []), r[2] if r[2] is not None else 1e9)):
        gap = None if nll is None or teacher is None else nll - teacher
        out.append(f'| {name}{"" if nll is not None else " (did not finish)"} | {", ".join(map(str, layers or [])) or "—"} | {len(layers or [])} | {fmt(nll)} | {fmt(gap)} |')
    out.append('')

    def verdict(auto, pool, k):
        a = by.get(auto)
        measured = measured_choices(d, k)
        if not a or a[2] is None or not measured:
            return [f'- {auto}: not enough finished runs to compare']
        worst = max(measured)
        ev = even(L, k)
        even_run = next((m for m in measured if sorted(m[2]) == ev), None)
        lines_ = [f'- {auto} kept {a[1]}: NLL {a[2]:.4f}; the worst {pool} measured ({worst[1]}, layers {worst[2]}) {worst[0]:.4f}: '
                  f'{"beats it" if a[2] < worst[0] else "DOES NOT beat it"} by {worst[0] - a[2]:+.4f}']
        if even_run:
            lines_.append(f'  evenly spaced ({even_run[1]}, layers {ev}) {even_run[0]:.4f}: auto {"matches or beats it" if a[2] <= even_run[0] else "is behind it"} ({even_run[0] - a[2]:+.4f})')
        better = sum(1 for m in measured if m[0] < a[2])
        lines_.append(f'  {better} of the {len(measured)} {pool}s measured ended lower')
        return lines_

    out += ['## Verdict', ''] + verdict('auto-1', 'single', 1) + verdict('auto-2', 'pair', 2) + ['']
    adv = by.get('auto-2', (None, None, None, None))[3] or by.get('auto-1', (None, None, None, None))[3]
    if adv:
        ev = adv['evidence']
        single = singles(d, L)
        out += ['## The advisor\'s evidence (auto-2\'s run) beside each single layer\'s result', '',
                f'residuals from {ev["source"]}; held-out KL of the pure-Mamba student {ev["held_out_kl"]:.4f} over {ev["tokens"]} positions', '',
                '| layer | score | KL restored | KL gain | stage-2 residual | NLL with it alone kept |', '| ---: | ---: | ---: | ---: | ---: | ---: |']
        for l in range(len(adv['scores'])):
            out.append(f'| {l} | {adv["scores"][l]:.3f} | {ev["leave_one_out_kl"][l]:.4f} | {ev["kl_gain"][l]:.4f} | {ev["stage2_residual"][l]:.4g} | {fmt(single.get(l))} |')
        ok = [l for l in range(len(adv['scores'])) if single.get(l) is not None]
        if len(ok) >= 2:
            rho = spearman([-adv['scores'][l] for l in ok], [single[l] for l in ok])
            out += ['', f'Spearman rank correlation of the score (high first) with the single-layer NLL (low first): {rho:+.2f}']
    return '\n'.join(out)


def measured_choices(d, k):
    """(NLL, run name, layers) of every finished fixed choice of k layers (single-l, pair-i-j) in d."""
    out = []
    for path in glob.glob(os.path.join(d, '*.jsonl')) + glob.glob(os.path.join(d, '*.jsonl.gz')):
        name = os.path.basename(path).split('.')[0]
        if name.startswith(('single-', 'pair-')):
            layers = sorted(int(x) for x in name.split('-')[1:])
            nll = result(os.path.join(d, name + '.jsonl'))[0]
            if len(layers) == k and nll is not None:
                out.append((nll, name, layers))
    return out


def verdict_numbers(d, L, auto, k):
    """(auto's NLL, the worst measured choice of k layers, evenly spaced's NLL); None where a run is missing."""
    runs = measured_choices(d, k)
    a = result(os.path.join(d, f'{auto}.jsonl'))[0]
    # One measured choice (QUICK=1: evenly spaced alone) is no worst case.
    worst = max(n for n, _, _ in runs) if len(runs) > 1 else None
    ev = next((n for n, _, l in runs if l == even(L, k)), None)
    return a, worst, ev


def across(specs):
    """One row per hybrid_gpu.sh run: auto's margin over the worst choice and over evenly spaced, K = 1 and 2."""
    out = ['| run | method | K | kept | auto NLL | worst | evenly spaced | auto − worst | auto − evenly spaced |', '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |']
    margins = {}
    for spec in specs:
        d, L = spec.rsplit(':', 1)
        for method, sfx in (('sets', ''), ('greedy', '-greedy')):
            for k in (1, 2):
                auto = f'auto-{k}{sfx}'
                if sfx and not lines(os.path.join(d, f'{auto}.jsonl')):
                    continue
                a, w, ev = verdict_numbers(d, int(L), auto, k)
                adv = result(os.path.join(d, f'{auto}.jsonl'))[2]
                kept = ', '.join(map(str, adv['attention_layers'])) if adv else '—'
                f = lambda v: '—' if v is None else f'{v:.4f}'
                dw = None if a is None or w is None else a - w
                de = None if a is None or ev is None else a - ev
                if de is not None:
                    margins.setdefault((method, k), []).append(de)
                out.append(f'| {os.path.basename(d.rstrip("/"))} | {method} | {k} | {kept} | {f(a)} | {f(w)} | {f(ev)} | {"—" if dw is None else f"{dw:+.4f}"} | {"—" if de is None else f"{de:+.4f}"} |')
    out.append('')
    for (method, k), m in margins.items():
        mean = sum(m) / len(m)
        out.append(f'- auto:{k} ({method}) against evenly spaced over {len(m)} runs: mean {mean:+.4f} nats (negative = auto lower), '
                   f'auto at or below it in {sum(1 for x in m if x <= 0)}, behind in {sum(1 for x in m if x > 0)}')
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir', nargs='?')
    ap.add_argument('--pairs', type=int)
    ap.add_argument('--layers', type=int)
    ap.add_argument('--across', nargs='+', metavar='DIR:L')
    ap.add_argument('--even', nargs=2, type=int, metavar=('L', 'K'), help='print evenly spaced placement, "i,j"')
    a = ap.parse_args()
    if a.even:
        print(','.join(map(str, even(*a.even))))
    elif a.across:
        print(across(a.across))
    elif a.pairs:
        for p in pairs_to_run(a.dir, a.pairs):
            print(','.join(map(str, p)))
    else:
        print(table(a.dir, a.layers or 6))


if __name__ == '__main__':
    main()
