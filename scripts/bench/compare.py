#!/usr/bin/env python3
"""Joins `mohawk bench --json` and scripts/bench/torch_side.py output on (name, shape) and prints
a Markdown table of both timings and their ratio, then the issue-3 targets, met or missed.

    python3 scripts/bench/compare.py wgsl.json torch.json

ratio = PyTorch ms / WGSL ms: the WGSL kernel's speed as a fraction of PyTorch's (above 1: faster).
"""
import json
import sys

# (name, shape, least ratio, what the target says)
TARGETS = [
    ('matmul NN', '4096x4096x4096', 0.8, 'matmul 4096³ ≥ 0.8 of cuBLAS f32'),
    ('ssd scan fwd+bwd', 'b8 L2048 h32 p64 g1 n64 chunk128', 2.0, 'SSD fwd+bwd ≥ 2× faster than the PyTorch chunked SSD'),
    ('attention fwd+bwd', 'b8 L2048 hq32 hkv32 d64', 0.5, "attention fwd+bwd ≥ 0.5 of PyTorch's f32 SDPA"),
]


# Issue 14: the memory-bound kernels at >= 0.85 of PyTorch's bandwidth, every shape measured on both
# sides (cases named by their start).
MEMORY_BOUND = ('rmsnorm', 'layernorm', 'silu', 'gelu', 'softplus', 'swiglu', 'gatedSilu', 'conv1d',
                'residual add', 'axpy', 'embedding fwd')
MEMORY_LEAST = 0.85


def rate(c):
    if c.get('gflops') is not None:
        return f"{c['gflops'] / 1000:.1f} TFLOP/s" if c['gflops'] >= 1000 else f"{c['gflops']:.0f} GFLOP/s"
    if c.get('gbps') is not None:
        return f"{c['gbps']:.0f} GB/s"
    return ''


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        wgsl = json.load(f)
    with open(argv[2]) as f:
        torch = json.load(f)
    theirs = {(c['name'], c['shape']): c for c in torch['cases']}
    flags = wgsl.get('dawnFlags')
    dawn = '' if flags is None else f" · Dawn flags: {' '.join(flags) or 'none (robustness on)'}"
    print(f"WGSL:    {wgsl['device']}{dawn}")
    print(f"PyTorch: {torch['device']}")
    print()
    print('| case | shape | WGSL ms | PyTorch ms | WGSL rate | PyTorch rate | ratio |')
    print('| --- | --- | ---: | ---: | ---: | ---: | ---: |')
    ratios = {}
    for c in wgsl['cases']:
        key = (c['name'], c['shape'])
        t = theirs.get(key)
        if t is None:
            print(f"| {c['name']} | {c['shape']} | {c['ms']:.3f} | | {rate(c)} | | |")
            continue
        # 0 ms is a pass below the timestamp resolution (SwiftShader): no ratio then.
        if c['ms'] > 0:
            ratios[key] = t['ms'] / c['ms']
        ratio = f'{ratios[key]:.2f}' if key in ratios else ''
        print(f"| {c['name']} | {c['shape']} | {c['ms']:.3f} | {t['ms']:.3f} | {rate(c)} | {rate(t)} | {ratio} |")
    ours = {(c['name'], c['shape']) for c in wgsl['cases']}
    for key, t in theirs.items():
        if key not in ours:
            print(f"| {key[0]} | {key[1]} | | {t['ms']:.3f} | | {rate(t)} | |")
    print()
    print('| target | ratio | |')
    print('| --- | ---: | --- |')
    for name, shape, least, what in TARGETS:
        r = ratios.get((name, shape))
        if r is None:
            print(f'| {what} | | not measured on both sides |')
        elif r >= least:
            print(f'| {what} | {r:.2f} | met |')
        else:
            print(f'| {what} | {r:.2f} | missed by {(1 - r / least) * 100:.0f}% |')
    memory = [(k, r) for k, r in ratios.items() if k[0].startswith(MEMORY_BOUND)]
    if memory:
        print()
        print(f"| memory-bound case (issue 14: >= {MEMORY_LEAST} of PyTorch's GB/s) | shape | ratio | |")
        print('| --- | --- | ---: | --- |')
        for (name, shape), r in memory:
            verdict = 'met' if r >= MEMORY_LEAST else f'missed by {(1 - r / MEMORY_LEAST) * 100:.0f}%'
            print(f'| {name} | {shape} | {r:.2f} | {verdict} |')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
