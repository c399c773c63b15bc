#!/usr/bin/env python3
"""cuBLAS f32 (TF32 off) on the GEMMs of a profiled step, beside the WGSL times of that profile.

    python3 scripts/bench/gemm_set_torch.py PROFILE.json STAGE STEPS

PROFILE.json is the last JSON line of `mohawk distill --estimate --profile --json` (its "profile" holds, per
stage, every op of STEPS profiled steps with its label, total ms and count). Each "matmul MxNxK [tA] [tB] ..."
label is C[M,N] = op(A)·op(B) with A stored K×M under tA and B stored N×K under tB; torch.matmul runs the same
layout (a transposed view), timed with CUDA events, median of 20 after 5 warm-ups. Prints a markdown table per
shape and the totals per step: what the step's GEMMs would cost on cuBLAS.
"""
import json
import re
import sys

import torch


def time_gemm(M, N, K, ta, tb):
    a = torch.randn(K, M, device='cuda').t() if ta else torch.randn(M, K, device='cuda')
    b = torch.randn(N, K, device='cuda').t() if tb else torch.randn(K, N, device='cuda')
    for _ in range(5):
        torch.matmul(a, b)
    times = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        torch.matmul(a, b)
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    return sorted(times)[len(times) // 2]


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    with open(argv[1]) as f:
        prof = json.loads(f.read().strip().splitlines()[-1])['profile'][argv[2]]
    steps = int(argv[3])
    print(f"{torch.cuda.get_device_name()} · PyTorch {torch.__version__}, f32, TF32 off\n")
    print('| GEMM (WGSL label) | per step | WGSL ms/step | cuBLAS ms/step | WGSL TFLOP/s | cuBLAS TFLOP/s | ratio |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
    tw = tc = flops = 0.0
    for op in prof:
        m = re.match(r'matmul (\d+)x(\d+)x(\d+)(.*)', op['label'])
        if not m:
            continue
        M, N, K = map(int, m.groups()[:3])
        rest = m.group(4).split()
        n = op['count'] / steps
        w = op['ms'] / steps
        c = time_gemm(M, N, K, 'tA' in rest, 'tB' in rest) * n
        fl = 2 * M * N * K * n
        tw, tc, flops = tw + w, tc + c, flops + fl
        print(f"| {op['label']} | {n:g} | {w:.2f} | {c:.2f} | {fl / w / 1e9:.1f} | {fl / c / 1e9:.1f} | {c / w:.2f} |")
    print(f"| all | | {tw:.1f} | {tc:.1f} | {flops / tw / 1e9:.1f} | {flops / tc / 1e9:.1f} | {tc / tw:.2f} |")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
