#!/usr/bin/env python3
"""The PyTorch side of `mohawk bench`: the same operations at the same shapes, on the same GPU.

Prints one JSON object {device, cases: [{name, shape, ms, gflops?, gbps?}]} like
`mohawk bench --json`; scripts/bench/compare.py joins the two on (name, shape), so names, shape
strings and the FLOP and byte counts here must stay equal to those of src/bench/*.ts.

f32 throughout with TF32 off (cuBLAS and cuDNN), eager PyTorch, no torch.compile. Timing mirrors
the WGSL runner: one untimed call, then a pass of `repeat` back-to-back calls between two CUDA
events (repeat chosen so that a pass lasts about 5 ms), median over --reps passes.
Forward-only cases run with inputs that require gradients, as in training (SDPA then also saves
its log-sum-exp, as the WGSL forward does). Backward cases take gradients with
torch.autograd.grad, so nothing accumulates into .grad between calls.

    python3 scripts/bench/torch_side.py [--size full|small] [--reps N] [--only NAMES] [--device cuda|cpu]
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

PASS_MS = 5.0
MAX_REPEAT = 64


class Timer:
    def __init__(self, device, reps):
        self.cuda = device.type == 'cuda'
        self.reps = reps

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def _pass(self, fn, repeat):
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(repeat):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        return (time.perf_counter() - t0) * 1e3

    def median_ms(self, fn, full):
        fn()
        self.sync()
        once = self._pass(fn, 1)
        repeat = max(1, min(MAX_REPEAT, math.ceil(PASS_MS / max(once, 1e-3)))) if full else 1
        return statistics.median(self._pass(fn, repeat) / repeat for _ in range(self.reps))


# ---- the chunked SSD in plain PyTorch ---------------------------------------------------------
# After the minimal discrete SSD of the Mamba-2 paper's reference code (ssd_minimal.py), written
# anew: per chunk of l tokens, the intra-chunk output is a masked attention-like product with
# decays exp(segment sums of A); the states leaving each chunk are carried across chunks by the
# same segment sums over chunk totals; each chunk then reads its entry state through C.
# Shapes: X (b, L, h, p), A (b, L, h) log-decays, B and C (b, L, h, n); L a multiple of l.


def segment_sums(a):
    """out[..., i, j] = a[..., j+1] + ... + a[..., i] for j <= i, -inf above the diagonal.

    Summed by a cumulative sum over a masked copy (not as a difference of two cumulative sums),
    which keeps small decays exact next to large ones, as the reference does."""
    T = a.shape[-1]
    rep = a.unsqueeze(-1).expand(*a.shape, T)  # rep[..., k, j] = a[..., k]
    strictly_below = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)
    sums = rep.masked_fill(~strictly_below, 0).cumsum(dim=-2)
    return sums.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=a.device).tril(), float('-inf'))


def chunked_ssd(X, A, B, C, l):
    b, L, h, p = X.shape
    c = L // l
    Xc = X.reshape(b, c, l, h, p)
    Bc = B.reshape(b, c, l, h, -1)
    Cc = C.reshape(b, c, l, h, -1)
    Ac = A.reshape(b, c, l, h).permute(0, 3, 1, 2)  # (b, h, c, l)
    cum = Ac.cumsum(dim=-1)

    # Within each chunk: y_i = sum_{j<=i} exp(cum_i - cum_j) (C_i . B_j) x_j.
    decay = segment_sums(Ac).exp()  # (b, h, c, l, l)
    scores = torch.einsum('bcihn,bcjhn->bhcij', Cc, Bc) * decay
    y_in = torch.einsum('bhcij,bcjhp->bcihp', scores, Xc)

    # State each chunk adds: sum_j exp(cum_last - cum_j) x_j (x) B_j.
    to_end = (cum[..., -1:] - cum).exp()  # (b, h, c, l)
    added = torch.einsum('bcjhn,bhcj,bcjhp->bchpn', Bc, to_end, Xc)

    # States entering each chunk (zero before the first): decays of whole chunks between them.
    added = torch.cat([torch.zeros_like(added[:, :1]), added], dim=1)  # (b, c+1, h, p, n)
    across = segment_sums(F.pad(cum[..., -1], (1, 0))).exp()  # (b, h, c+1, c+1)
    entering = torch.einsum('bhzc,bchpn->bzhpn', across, added)
    states, final = entering[:, :-1], entering[:, -1]

    # Each token reads its chunk's entry state, decayed to its position.
    y_state = torch.einsum('bcihn,bchpn,bhci->bcihp', Cc, states, cum.exp())
    return (y_in + y_state).reshape(b, L, h, p), final


# ---- cases -------------------------------------------------------------------------------------


def matmul_cases(size, dev):
    big = 4096 if size == 'full' else 128
    T, D = (8192, 2048) if size == 'full' else (200, 96)
    m, n = (1024, 256) if size == 'full' else (64, 32)
    shapes = [(big, big, big, t) for t in ('NN', 'NT', 'TN', 'TT')]
    shapes += [(T, D, D, 'NT'), (T, D, D, 'NN'), (D, D, T, 'TN'), (m, m, m, 'NN'), (n, m, m, 'NN')]
    for M, N, K, t in shapes:
        def make(M=M, N=N, K=K, t=t):
            # Stored as the WGSL side stores them; a transposed operand is a view, which cuBLAS
            # reads as a transposed matrix without a copy.
            a = torch.randn(K, M, device=dev).t() if t[0] == 'T' else torch.randn(M, K, device=dev)
            b = torch.randn(N, K, device=dev).t() if t[1] == 'T' else torch.randn(K, N, device=dev)
            c = torch.empty(M, N, device=dev)
            return lambda: torch.matmul(a, b, out=c)
        yield f'matmul {t}', f'{M}x{N}x{K}', make, {'flops': 2 * M * N * K}


def attention_cases(size, dev):
    batch, L = (8, 2048) if size == 'full' else (1, 80)
    if size == 'full':
        shapes = [(32, 32, 64, False), (32, 32, 64, True), (16, 16, 128, False), (16, 16, 128, True), (32, 8, 64, True)]
    else:
        shapes = [(2, 2, 64, False), (2, 2, 64, True), (1, 1, 128, False), (1, 1, 128, True), (4, 2, 64, True)]
    for hq, hkv, d, backward in shapes:
        fwd_flops = 4 * batch * hq * d * (L * (L + 1) / 2)

        def make(hq=hq, hkv=hkv, d=d, backward=backward):
            q = torch.randn(batch, hq, L, d, device=dev, requires_grad=True)
            k = torch.randn(batch, hkv, L, d, device=dev, requires_grad=True)
            v = torch.randn(batch, hkv, L, d, device=dev, requires_grad=True)
            dO = torch.randn(batch, hq, L, d, device=dev)
            extra = {'enable_gqa': True} if hq != hkv else {}

            def run():
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, **extra)
                if backward:
                    torch.autograd.grad(o, (q, k, v), dO)
            return run
        name = 'attention fwd+bwd' if backward else 'attention fwd'
        yield name, f'b{batch} L{L} hq{hq} hkv{hkv} d{d}', make, {'flops': (3.5 if backward else 1) * fwd_flops}


def ssd_cases(size, dev):
    full = size == 'full'
    b, L, h, p, g, n = (8, 2048, 32, 64, 1, 64) if full else (1, 96, 2, 16, 1, 16)
    for chunk, backward in ((128 if full else 32, False), (128 if full else 32, True), (64 if full else 16, True)):
        def make(chunk=chunk, backward=backward):
            X = torch.empty(b, L, h, p, device=dev).uniform_(-1, 1).requires_grad_()
            A = torch.empty(b, L, h, device=dev).uniform_(-0.5, 0).requires_grad_()
            s = n ** -0.5
            Bg = torch.empty(b, L, g, n, device=dev).uniform_(-s, s).requires_grad_()
            Cg = torch.empty(b, L, g, n, device=dev).uniform_(-s, s).requires_grad_()
            dY = torch.empty(b, L, h, p, device=dev).uniform_(-1, 1)

            def per_head(t):
                # Heads of a group share its B and C; autograd sums their gradients per group.
                return t.expand(b, L, h, n) if g == 1 else t.repeat_interleave(h // g, dim=2)

            def run():
                Y, _ = chunked_ssd(X, A, per_head(Bg), per_head(Cg), chunk)
                if backward:
                    torch.autograd.grad(Y, (X, A, Bg, Cg), dY)
            return run
        yield ('ssd scan fwd+bwd' if backward else 'ssd scan fwd'), f'b{b} L{L} h{h} p{p} g{g} n{n} chunk{chunk}', make, {}


def norm_cases(size, dev):
    rows, d = (16384, 2048) if size == 'full' else (37, 100)
    shape, nel = f'{rows}x{d}', rows * d

    def make(kind, backward):
        x = torch.randn(rows, d, device=dev, requires_grad=True)
        w = torch.randn(d, device=dev, requires_grad=True)
        b = torch.randn(d, device=dev, requires_grad=True)
        if kind == 'rms':
            f = lambda: F.rms_norm(x, (d,), w, 1e-5)
            wrt = (x, w)
        else:
            f = lambda: F.layer_norm(x, (d,), w, b, 1e-5)
            wrt = (x, w, b)
        if not backward:
            return f
        y, dy = f(), torch.randn(rows, d, device=dev)
        # The graph is kept, so each call times the backward alone.
        return lambda: torch.autograd.grad(y, wrt, dy, retain_graph=True)
    def add_then_norm():
        # Eager's residual add, then the norm of its output: two kernels.
        x, a, h = (torch.randn(rows, d, device=dev) for _ in range(3))
        w = torch.randn(d, device=dev)
        return lambda: F.rms_norm(torch.add(x, a, out=h), (d,), w, 1e-5)
    for kind, name in (('rms', 'rmsnorm'), ('layer', 'layernorm')):
        yield f'{name} fwd', shape, (lambda kind=kind: make(kind, False)), {'bytes': 8 * nel}
        yield f'{name} bwd', shape, (lambda kind=kind: make(kind, True)), {'bytes': 12 * nel}
        if kind == 'rms':
            yield 'rmsnorm add fwd', shape, add_then_norm, {'bytes': 16 * nel}


def activation_cases(size, dev):
    rows, cols = (16384, 4096) if size == 'full' else (19, 70)
    nel = rows * cols
    aten = torch.ops.aten
    fns = {
        'silu': (F.silu, lambda dy, x: aten.silu_backward(dy, x)),
        'gelu': (F.gelu, lambda dy, x: aten.gelu_backward(dy, x)),
        'geluTanh': (lambda x: F.gelu(x, approximate='tanh'), lambda dy, x: aten.gelu_backward(dy, x, approximate='tanh')),
        'softplus': (F.softplus, lambda dy, x: aten.softplus_backward(dy, x, 1, 20)),
    }
    for kind, (fwd, bwd) in fns.items():
        def make(fwd=fwd, bwd=bwd, backward=False):
            x = torch.empty(nel, device=dev).uniform_(-4, 4)
            dy = torch.empty(nel, device=dev).uniform_(-1, 1)
            return (lambda: bwd(dy, x)) if backward else (lambda: fwd(x))
        yield f'{kind} fwd', f'{nel}', make, {'bytes': 8 * nel}
        yield f'{kind} bwd', f'{nel}', (lambda fwd=fwd, bwd=bwd: make(fwd, bwd, True)), {'bytes': 12 * nel}

    # The gated forms as eager PyTorch writes them (Hugging Face's LlamaMLP: act(gate) * up; Mamba-2's
    # gate: y * silu(z + bias)), one kernel per operation; backward by autograd, graph kept.
    shape = f'{rows}x{cols}'

    def gated(kind, backward):
        a = torch.empty(rows, cols, device=dev).uniform_(-1, 1).requires_grad_(backward)
        b = torch.empty(rows, cols, device=dev).uniform_(-1, 1).requires_grad_(backward)
        bias = torch.empty(cols, device=dev).uniform_(-1, 1).requires_grad_(backward)
        f = (lambda: F.silu(a) * b) if kind == 'swiglu' else (lambda: a * F.silu(b + bias))
        if not backward:
            return f
        wrt = (a, b) if kind == 'swiglu' else (a, b, bias)
        out, dout = f(), torch.empty(rows, cols, device=dev).uniform_(-1, 1)
        return lambda: torch.autograd.grad(out, wrt, dout, retain_graph=True)
    for kind in ('swiglu', 'gatedSilu'):
        yield f'{kind} fwd', shape, (lambda kind=kind: gated(kind, False)), {'bytes': 12 * nel}
        yield f'{kind} bwd', shape, (lambda kind=kind: gated(kind, True)), {'bytes': 20 * nel}


def conv1d_cases(size, dev):
    # Mamba-2's causal depthwise conv as its eager path runs it: Conv1d(groups=channels,
    # padding=K-1) over (batch, channels, L), cut to the first L outputs (a view).
    b, L, c, K = (8, 2048, 2304, 4) if size == 'full' else (2, 45, 70, 4)
    m = b * L * c

    def make(backward):
        x = torch.empty(b, c, L, device=dev).uniform_(-1, 1).requires_grad_(backward)
        w = torch.empty(c, 1, K, device=dev).uniform_(-1, 1).requires_grad_(backward)
        bias = torch.empty(c, device=dev).uniform_(-1, 1).requires_grad_(backward)
        f = lambda: F.conv1d(x, w, bias, padding=K - 1, groups=c)[..., :L]
        if not backward:
            return f
        y, dy = f(), torch.empty(b, c, L, device=dev).uniform_(-1, 1)
        return lambda: torch.autograd.grad(y, (x, w, bias), dy, retain_graph=True)
    shape = f'b{b} L{L} c{c} K{K}'
    yield 'conv1d fwd', shape, (lambda: make(False)), {'bytes': 8 * m}
    yield 'conv1d bwd', shape, (lambda: make(True)), {'bytes': 12 * m}


def elementwise_cases(size, dev):
    rows, d = (16384, 2048) if size == 'full' else (37, 100)
    n = rows * d
    shape = f'{rows}x{d}'

    def make(kind):
        a, b, c, o = (torch.empty(n, device=dev).uniform_(-1, 1) for _ in range(4))
        if kind == 'add':
            return lambda: torch.add(a, b, out=o)
        if kind == 'add3':
            # Eager has no three-way add: two kernels, as a parallel residual block writes it.
            return lambda: torch.add(torch.add(a, b, out=o), c, out=o)
        return lambda: o.add_(a, alpha=0.5)
    yield 'residual add', shape, (lambda: make('add')), {'bytes': 12 * n}
    yield 'residual add3', shape, (lambda: make('add3')), {'bytes': 16 * n}
    yield 'axpy', shape, (lambda: make('axpy')), {'bytes': 12 * n}


def loss_cases(size, dev):
    rows, vocab = (1024, 128256) if size == 'full' else (5, 5000)
    nel, tau = rows * vocab, 2.0
    shape = f'{rows}x{vocab}'

    def soft(grad):
        s = (torch.rand(rows, vocab, device=dev) * 16 - 8).requires_grad_(grad)
        t = torch.rand(rows, vocab, device=dev) * 16 - 8

        def run():
            # KL(softmax(t/tau) || softmax(s/tau)), mean over rows: the WGSL kernel's 'kl'. Without
            # grad, s does not require one and no graph is recorded.
            loss = F.kl_div(F.log_softmax(s / tau, dim=-1), F.log_softmax(t / tau, dim=-1), reduction='batchmean', log_target=True)
            if grad:
                torch.autograd.grad(loss, s)
        return run

    def hard():
        x = (torch.rand(rows, vocab, device=dev) * 16 - 8).requires_grad_()
        y = torch.randint(0, vocab, (rows,), device=dev)
        return lambda: torch.autograd.grad(F.cross_entropy(x, y), x)
    yield 'softCrossEntropy fwd', shape, (lambda: soft(False)), {'bytes': 8 * nel}
    yield 'softCrossEntropy fwd+grad', shape, (lambda: soft(True)), {'bytes': 20 * nel}
    yield 'crossEntropy fwd+grad', shape, hard, {'bytes': 12 * nel}


def embedding_cases(size, dev):
    tokens, d, vocab = (16384, 2048, 50257) if size == 'full' else (300, 24, 500)
    shape = f't{tokens} d{d} v{vocab}'

    def make(backward):
        ids = torch.randint(0, vocab, (tokens,), device=dev)
        if not backward:
            table = torch.randn(vocab, d, device=dev)
            return lambda: F.embedding(ids, table)
        dout = torch.randn(tokens, d, device=dev)
        # Deterministic, like the WGSL kernel's sorted sums.
        return lambda: torch.ops.aten.embedding_dense_backward(dout, ids, vocab, -1, False)
    yield 'embedding fwd', shape, (lambda: make(False)), {'bytes': 8 * tokens * d}
    yield 'embedding bwd', shape, (lambda: make(True)), {'bytes': 4 * (tokens + vocab) * d}


def adamw_cases(size, dev):
    count = 100_000_000 if size == 'full' else 10_007

    def make():
        p = torch.nn.Parameter(torch.empty(count, device=dev).uniform_(-1, 1))
        p.grad = torch.empty(count, device=dev).uniform_(-1e-3, 1e-3)
        fused = {'fused': True} if dev.type == 'cuda' else {}
        opt = torch.optim.AdamW([p], lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, **fused)

        def run():
            torch.nn.utils.clip_grad_norm_([p], 1.0)
            opt.step()
        return run
    yield 'adamw step', f'{count}', make, {'bytes': 32 * count}


def spin_up(dev, seconds):
    """Keeps the GPU busy with large matmuls so that the first case meets raised clocks (as the WGSL side does)."""
    a = torch.randn(2048, 2048, device=dev)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            a @ a
        torch.cuda.synchronize()


GROUPS = {
    'matmul': matmul_cases,
    'attention': attention_cases,
    'ssd': ssd_cases,
    'norm': norm_cases,
    'activation': activation_cases,
    'conv1d': conv1d_cases,
    'elementwise': elementwise_cases,
    'loss': loss_cases,
    'embedding': embedding_cases,
    'adamw': adamw_cases,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', choices=('full', 'small'), default='full')
    ap.add_argument('--reps', type=int, default=10)
    ap.add_argument('--only', default='', help='comma-separated groups or case-name prefixes')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    only = [w.strip() for w in args.only.split(',') if w.strip()]
    timer = Timer(dev, args.reps)
    name = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'
    cuda = f' · CUDA {torch.version.cuda}' if dev.type == 'cuda' else ''
    device = f'{name} · PyTorch {torch.__version__}{cuda}'
    print(f'device {device}', file=sys.stderr)

    if dev.type == 'cuda' and args.size == 'full':
        spin_up(dev, 1.5)
    results, failures = [], 0
    for group, cases in GROUPS.items():
        for case_name, shape, make, counts in cases(args.size, dev):
            if only and not any(group == w or case_name.startswith(w) for w in only):
                continue
            try:
                fn = make()
                ms = timer.median_ms(fn, args.size == 'full')
                r = {'name': case_name, 'shape': shape, 'ms': float(f'{ms:.5g}')}
                if 'flops' in counts:
                    r['gflops'] = float(f"{counts['flops'] / ms / 1e6:.4g}")
                if 'bytes' in counts:
                    r['gbps'] = float(f"{counts['bytes'] / ms / 1e6:.4g}")
                results.append(r)
                print(f'{case_name:28} {shape:26} {ms:10.3f} ms', file=sys.stderr)
            except Exception as e:  # one unsupported case must not lose the others
                failures += 1
                print(f'{case_name} {shape}: FAILED: {type(e).__name__}: {str(e)[:300]}', file=sys.stderr)
            finally:
                fn = None
                if dev.type == 'cuda':
                    torch.cuda.empty_cache()
    print(json.dumps({'device': device, 'cases': results}))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
