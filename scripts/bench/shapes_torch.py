#!/usr/bin/env python3
"""The three MOHAWK stages of `mohawk distill --freeze-mlp` as plain PyTorch steps, for any teacher that
transformers loads (issue 11, "Memory": peak GPU memory and tokens/s beside the studio's, same shapes).

    python3 scripts/bench/shapes_torch.py --teacher DIR --stage 1|2|3 [--seq 512] [--batch 4] [--steps 6] [--warmup 2]

DIR is a teacher as scripts/bench/shaped_teacher.py writes it (bf16 safetensors). Each stage is what the
studio trains (src/mohawk/stages.ts), written the way a PyTorch user would, eager, f32 with TF32 off:
  - the teacher stays in its checkpoint's bf16, frozen, no grad;
  - the student's mixer in each attention's place is the discrete Mamba-2 mixer of the studio's default
    shape (src/models/student.ts defaultMixer: d_inner = heads·head_dim, n_v = n_qk = heads,
    N = head_dim, conv kernel 4, chunk 128), f32;
  - stage 1: per layer, the student's SSD matrix L∘(C·Bᵀ) on the teacher's normed layer input against the
    teacher's attention probabilities (eager attention), Frobenius distance per head, summed over layers;
  - stage 2: per layer, the student mixer on the teacher's normed layer input against the teacher
    attention's output, L2 per token, summed over layers;
  - stage 3: the whole student (mixers f32 and trained; embeddings, norms and head copied to f32 and
    trained; the MLPs are the teacher's own bf16 modules, frozen, as --freeze-mlp keeps them) against
    the teacher's logits, soft cross-entropy at T = 1;
  - global-norm clipping at 1 and AdamW (betas 0.9/0.95, eps 1e-8; fused) over what the stage trains.
Token ids are random (memory and speed depend on the shapes only). --warmup steps run untimed, then
--steps steps are timed between two synchronisations. Prints one JSON object on stdout with
tokens_per_s and peak_memory_gib (torch.cuda.max_memory_allocated over the whole process, so the
teacher and student are counted as the studio's own count does).
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_side import chunked_ssd, segment_sums  # noqa: E402


class Mixer(nn.Module):
    """The discrete Mamba-2 mixer, d → d, in f32; in_proj rows [x | B | C | z | A_log]."""

    def __init__(self, d, heads, head_dim, out_bias, chunk):
        super().__init__()
        self.h, self.p, self.n, self.chunk = heads, head_dim, head_dim, chunk
        self.di = heads * head_dim
        self.ch = self.di + 2 * heads * self.n
        self.in_proj = nn.Parameter(torch.randn(self.ch + self.di + heads, d) * d ** -0.5)
        conv = torch.zeros(self.ch, 1, 4)
        conv[:, 0, -1] = 1
        self.conv_w = nn.Parameter(conv)
        self.conv_b = nn.Parameter(torch.zeros(self.ch))
        self.D = nn.Parameter(torch.ones(heads))
        self.z_bias = nn.Parameter(torch.zeros(self.di))
        self.out_w = nn.Parameter(torch.randn(d, self.di) * self.di ** -0.5)
        self.out_b = nn.Parameter(torch.zeros(d)) if out_bias else None

    def parts(self, u):
        b, L, _ = u.shape
        zin = F.linear(u, self.in_proj)
        xBC, z, a = zin.split([self.ch, self.di, self.h], dim=-1)
        xBC = F.conv1d(xBC.transpose(1, 2), self.conv_w, self.conv_b, padding=3, groups=self.ch)[..., :L].transpose(1, 2)
        x, B, C = xBC.split([self.di, self.h * self.n, self.h * self.n], dim=-1)
        return x.reshape(b, L, self.h, self.p), B.reshape(b, L, self.h, self.n), C.reshape(b, L, self.h, self.n), z, -F.softplus(a)

    def forward(self, u):
        b, L, _ = u.shape
        X, B, C, z, A = self.parts(u)
        Y, _ = chunked_ssd(X, A, B, C, min(self.chunk, L))
        Y = (Y + self.D[:, None] * X).reshape(b, L, self.di)
        return F.linear(Y * F.silu(z + self.z_bias), self.out_w, self.out_b)

    def matrix(self, u):
        """The SSD mixing matrix L∘(C·Bᵀ) per head: (b, h, L, L)."""
        _, B, C, _, A = self.parts(u)
        decay = segment_sums(A.permute(0, 2, 1)).exp()  # (b, h, L, L)
        return torch.einsum('bihn,bjhn->bhij', C, B) * decay


class AsAttention(nn.Module):
    """A mixer where a transformers decoder layer calls its self_attn: f32 inside, the caller's dtype out."""

    def __init__(self, mixer):
        super().__init__()
        self.mixer = mixer

    def forward(self, hidden_states, *args, **kwargs):
        return self.mixer(hidden_states.float()).to(hidden_states.dtype), None


class FrozenBf16(nn.Module):
    """The teacher's own bf16 module, frozen, in an f32 stream (what --freeze-mlp shares with the teacher)."""

    def __init__(self, module):
        super().__init__()
        self.inner = [module]  # not registered: its weights are the teacher's, counted once

    def forward(self, x):
        return self.inner[0](x.to(torch.bfloat16)).float()


def shapes(cfg):
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, 'head_dim', None) or cfg.hidden_size // heads
    out_bias = cfg.model_type in ('phi', 'gpt2', 'gpt_neox') or bool(getattr(cfg, 'attention_bias', False))
    return heads, head_dim, out_bias


def layers_of(model):
    return model.model.layers


def norm_in(layer):
    return layer.input_layernorm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--teacher', required=True)
    ap.add_argument('--stage', type=int, choices=(1, 2, 3), required=True)
    ap.add_argument('--seq', type=int, default=512)
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--steps', type=int, default=6)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--lr', type=float, default=1e-3)
    a = ap.parse_args()
    dev = torch.device('cuda')
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)

    from transformers import AutoModelForCausalLM
    t0 = time.perf_counter()
    teacher = AutoModelForCausalLM.from_pretrained(a.teacher, dtype=torch.bfloat16, attn_implementation='eager' if a.stage == 1 else 'sdpa').to(dev).eval()
    load_s = time.perf_counter() - t0
    teacher.requires_grad_(False)
    cfg = teacher.config
    d, n_layers = cfg.hidden_size, cfg.num_hidden_layers
    heads, head_dim, out_bias = shapes(cfg)
    mk = lambda: Mixer(d, heads, head_dim, out_bias, 128).to(dev)
    T = layers_of(teacher)

    if a.stage == 3:
        student = copy.deepcopy(teacher)
        for layer, tl in zip(layers_of(student), T):
            layer.self_attn = AsAttention(mk())
            layer.mlp = FrozenBf16(tl.mlp)
        student.float()  # embeddings, norms, head: f32 copies, trained
        student.requires_grad_(True)
        params = list({id(p): p for p in student.parameters()}.values())  # a tied head once
    else:
        mixers = nn.ModuleList([mk() for _ in range(n_layers)])
        params = list(mixers.parameters())
    n_params = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=a.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0, fused=True)

    # The teacher's normed layer inputs, and (stage 1) its attention probabilities or (stage 2) its
    # attention outputs, caught where each layer's attention is called.
    caught = {}

    def catch(i):
        def hook(mod, args, kwargs, out):
            hs = kwargs.get('hidden_states', args[0] if args else None)
            caught[i] = (hs.detach(), out[1] if a.stage == 1 else out[0].detach())
        return hook

    if a.stage != 3:
        for i, layer in enumerate(T):
            layer.self_attn.register_forward_hook(catch(i), with_kwargs=True)

    def step(ids):
        opt.zero_grad(set_to_none=True)
        if a.stage == 3:
            with torch.no_grad():
                t = teacher(input_ids=ids, use_cache=False).logits.float()
            s = student(input_ids=ids, use_cache=False).logits.float()
            loss = -(F.softmax(t, dim=-1) * F.log_softmax(s, dim=-1)).sum(-1).mean()
            loss.backward()
        else:
            with torch.no_grad():
                teacher.model(input_ids=ids, use_cache=False, output_attentions=a.stage == 1)
            # Layer by layer, each backward right after its loss, so one layer's graph is held at a time.
            loss = torch.zeros((), device=dev)
            for i in range(n_layers):
                u, target = caught.pop(i)
                u = u.float()
                if a.stage == 1:
                    li = (mixers[i].matrix(u) - target.float()).pow(2).sum((-2, -1)).sqrt().mean()
                else:
                    li = (mixers[i](u) - target.float()).norm(dim=-1).mean()
                li.backward()
                loss += li.detach()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.detach()

    gen = torch.Generator().manual_seed(1)
    vocab = cfg.vocab_size
    batches = [torch.randint(0, min(vocab, 512), (a.batch, a.seq), generator=gen).to(dev) for _ in range(a.warmup + a.steps)]
    for k in range(a.warmup):
        step(batches[k])
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    losses = [step(batches[a.warmup + k]) for k in range(a.steps)]
    torch.cuda.synchronize()
    dt = time.perf_counter() - t1
    losses = torch.stack(losses).tolist()
    if not all(math.isfinite(x) for x in losses):
        raise SystemExit(f'non-finite loss: {losses}')
    print(json.dumps({
        'device': torch.cuda.get_device_name(dev) + f' · PyTorch {torch.__version__}',
        'model_type': cfg.model_type, 'stage': a.stage, 'seq': a.seq, 'batch': a.batch, 'steps': a.steps,
        'trained_parameters': n_params, 'teacher_load_s': round(load_s, 2),
        'tokens_per_s': a.steps * a.batch * a.seq / dt, 'step_ms': 1000 * dt / a.steps,
        'loss_first': losses[0], 'loss_last': losses[-1],
        'peak_memory_gib': torch.cuda.max_memory_allocated(dev) / 2**30,
        'reserved_gib': torch.cuda.max_memory_reserved(dev) / 2**30,
    }))


if __name__ == '__main__':
    main()
