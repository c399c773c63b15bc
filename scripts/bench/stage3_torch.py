#!/usr/bin/env python3
"""MOHAWK stage 3 (knowledge distillation) as one training step in plain PyTorch, for tokens/s beside
`mohawk distill --stages 3` on the same GPU (issue 5, "Performance and memory").

    python3 scripts/bench/stage3_torch.py --teacher DIR [--seq 512] [--batch 8] [--steps 50] [--warmup 5]

DIR is a GPT-2 teacher as scripts/bench/gpt2_small_teacher.py writes it (config.json,
model.safetensors, corpus_ids.npy). The step is the one src/mohawk/stages.ts builds for stage 3:
  - the teacher's logits, forward only (transformers' GPT2LMHeadModel, eager, SDPA attention);
  - the student: the teacher's GPT-2 blocks (embeddings, learned positions, LayerNorms, MLP, tied
    head, all trained) with each attention replaced by the discrete Mamba-2 mixer
    (in_proj, causal depthwise conv1d of kernel 4 over [x|B|C], log-decay -softplus(A_log), SSD
    with D skip, gate silu(z + z_bias), out_proj with bias), its SSD the chunked one of
    scripts/bench/torch_side.py (chunk 128), initialised from the teacher's q/k/v/o as the studio does;
  - soft cross-entropy -sum softmax(t/T) log softmax(s/T) at T = 1, mean over tokens;
  - backward by autograd, global-norm clipping at 1, AdamW (betas 0.9/0.95, eps 1e-8, no weight
    decay; fused, the eager optimizer PyTorch recommends on CUDA).
f32 with TF32 off, no torch.compile. Windows of --seq tokens are drawn at random from the corpus ids.
--warmup steps run untimed (cuBLAS/cuDNN autotuning, allocator growth); then --steps steps are
timed between two synchronisations, with no host sync inside (losses are read at the end).
Prints one JSON object on stdout.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_side import chunked_ssd  # noqa: E402


class Mixer(nn.Module):
    """Phi-Mamba's discrete Mamba-2 mixer; n_v = n_qk = heads, N = head dim, d_inner = d."""

    def __init__(self, d, heads, c_attn_w, c_attn_b, c_proj_w, c_proj_b, chunk):
        super().__init__()
        self.d, self.h, self.p, self.n, self.chunk = d, heads, d // heads, d // heads, chunk
        gN = heads * self.n
        self.ch = d + 2 * gN
        w = torch.zeros(self.ch + d + heads, d)
        # Conv1D's weight is (in, out) with columns [q | k | v]: x <- W_v, B <- W_k, C <- W_q.
        w[:d] = c_attn_w[:, 2 * d:3 * d].T
        w[d:d + gN] = c_attn_w[:, d:2 * d].T
        w[d + gN:d + 2 * gN] = c_attn_w[:, :d].T
        w[self.ch + d:] = torch.randn(heads, d) * 0.02
        self.in_proj = nn.Parameter(w)
        conv = torch.zeros(self.ch, 1, 4)
        conv[:, 0, -1] = 1  # identity: each channel passes its current token
        self.conv_w = nn.Parameter(conv)
        self.conv_b = nn.Parameter(torch.zeros(self.ch))
        self.D = nn.Parameter(torch.ones(heads))
        self.z_bias = nn.Parameter(torch.full((d,), 1.2785))
        self.out_w = nn.Parameter(c_proj_w.T.contiguous())
        self.out_b = nn.Parameter(c_proj_b.clone())

    def forward(self, u):
        b, L, d = u.shape
        zin = F.linear(u, self.in_proj)
        xBC, z, A_log = zin.split([self.ch, d, self.h], dim=-1)
        xBC = F.conv1d(xBC.transpose(1, 2), self.conv_w, self.conv_b, padding=3, groups=self.ch)[..., :L].transpose(1, 2)
        x, B, C = xBC.split([d, self.h * self.n, self.h * self.n], dim=-1)
        X = x.reshape(b, L, self.h, self.p)
        Y, _ = chunked_ssd(X, -F.softplus(A_log), B.reshape(b, L, self.h, self.n), C.reshape(b, L, self.h, self.n), min(self.chunk, L))
        Y = Y + self.D[:, None] * X
        return F.linear(Y.reshape(b, L, d) * F.silu(z + self.z_bias), self.out_w, self.out_b)


class Student(nn.Module):
    def __init__(self, sd, cfg, chunk):
        super().__init__()
        d, heads, self.eps = cfg['n_embd'], cfg['n_head'], cfg.get('layer_norm_epsilon', 1e-5)
        g = lambda k: sd['transformer.' + k].detach().float().clone()
        P = lambda t: nn.Parameter(t)
        self.wte, self.wpe = P(g('wte.weight')), P(g('wpe.weight'))
        self.blocks = nn.ModuleList()
        for i in range(cfg['n_layer']):
            p = f'h.{i}.'
            blk = nn.Module()
            blk.ln1_w, blk.ln1_b = P(g(p + 'ln_1.weight')), P(g(p + 'ln_1.bias'))
            blk.ln2_w, blk.ln2_b = P(g(p + 'ln_2.weight')), P(g(p + 'ln_2.bias'))
            blk.mixer = Mixer(d, heads, g(p + 'attn.c_attn.weight'), g(p + 'attn.c_attn.bias'), g(p + 'attn.c_proj.weight'), g(p + 'attn.c_proj.bias'), chunk)
            blk.fc_w, blk.fc_b = P(g(p + 'mlp.c_fc.weight').T.contiguous()), P(g(p + 'mlp.c_fc.bias'))
            blk.proj_w, blk.proj_b = P(g(p + 'mlp.c_proj.weight').T.contiguous()), P(g(p + 'mlp.c_proj.bias'))
            self.blocks.append(blk)
        self.lnf_w, self.lnf_b = P(g('ln_f.weight')), P(g('ln_f.bias'))

    def forward(self, ids):
        L = ids.shape[1]
        x = self.wte[ids] + self.wpe[:L]
        for k in self.blocks:
            x = x + k.mixer(F.layer_norm(x, x.shape[-1:], k.ln1_w, k.ln1_b, self.eps))
            h = F.layer_norm(x, x.shape[-1:], k.ln2_w, k.ln2_b, self.eps)
            x = x + F.linear(F.gelu(F.linear(h, k.fc_w, k.fc_b), approximate='tanh'), k.proj_w, k.proj_b)
        return F.linear(F.layer_norm(x, x.shape[-1:], self.lnf_w, self.lnf_b, self.eps), self.wte)  # tied head


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--teacher', required=True)
    ap.add_argument('--seq', type=int, default=512)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--chunk', type=int, default=128)
    ap.add_argument('--temperature', type=float, default=1.0)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)

    from transformers import GPT2LMHeadModel
    teacher = GPT2LMHeadModel.from_pretrained(a.teacher, attn_implementation='sdpa').float().to(dev).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    cfg = json.load(open(os.path.join(a.teacher, 'config.json')))
    student = Student(teacher.state_dict(), cfg, a.chunk).to(dev)
    params = list(student.parameters())
    n_params = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0, **({'fused': True} if dev.type == 'cuda' else {}))

    corpus = torch.from_numpy(np.load(os.path.join(a.teacher, 'corpus_ids.npy')).astype(np.int64))
    gen = torch.Generator().manual_seed(1)
    tau = a.temperature

    def batch():
        starts = torch.randint(0, len(corpus) - a.seq, (a.batch,), generator=gen)
        return torch.stack([corpus[s:s + a.seq] for s in starts.tolist()]).to(dev, non_blocking=True)

    def step(ids):
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            t = teacher(input_ids=ids, use_cache=False).logits
        s = student(ids)
        loss = -(F.softmax(t / tau, dim=-1) * F.log_softmax(s / tau, dim=-1)).sum(-1).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.detach()

    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    batches = [batch() for _ in range(a.warmup + a.steps)]
    first = None
    for k in range(a.warmup):
        first = step(batches[k]).item()
    sync()
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    losses = [step(batches[a.warmup + k]) for k in range(a.steps)]
    sync()
    dt = time.perf_counter() - t0
    losses = torch.stack(losses).tolist()
    if not all(math.isfinite(x) for x in losses):
        raise SystemExit(f'non-finite loss: {losses}')
    tokens = a.steps * a.batch * a.seq
    out = {
        'device': (torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu') + f' · PyTorch {torch.__version__}',
        'seq': a.seq, 'batch': a.batch, 'steps': a.steps, 'warmup_steps': a.warmup,
        'student_parameters': n_params, 'vocab': cfg['vocab_size'], 'layers': cfg['n_layer'], 'd': cfg['n_embd'],
        'tokens_per_s': tokens / dt, 'step_ms': 1000 * dt / a.steps,
        'loss_first_warmup': first, 'loss_first_timed': losses[0], 'loss_last': losses[-1],
        'peak_memory_gib': torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == 'cuda' else None,
    }
    print(json.dumps(out))


if __name__ == '__main__':
    main()
