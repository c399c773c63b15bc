"""The student's initial values from the teacher's canonical tensors, value for value the studio's
(initialStudent in src/models/student.ts, normal() in src/models/params.ts): the mixer starts from the
attention it replaces (C <- W_q, B <- W_k, x <- W_v, key/value heads repeated for GQA, out_proj <- W_o),
the gate open (z rows 0, z_bias 1.2785), the conv the identity, D = 1, and A_log rows small values of the
same seeded Box-Muller draw the studio makes, so both engines start from the same student.
"""
import math

import numpy as np
import torch

from .model import CONV_K, student_shapes


def _step(s):
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    return s


# xorshift32 is linear over GF(2): a map is the images of the 32 basis bits, and jumping k steps ahead
# is the step map raised to k, so a draw's tail is reached without walking through its head.
def _apply(m, x):
    out = 0
    b = 0
    while x:
        if x & 1:
            out ^= m[b]
        x >>= 1
        b += 1
    return out


def _jump(s, k):
    m = [_step(1 << b) for b in range(32)]
    while k:
        if k & 1:
            s = _apply(m, s)
        m = [_apply(m, m[b]) for b in range(32)]
        k >>= 1
    return s


def normal(n, std, seed, start=0):
    """normal(n, std, seed)[start:] of params.ts: deterministic normal samples (Box-Muller over
    xorshift32, two uniforms per pair of values), float32."""
    s = (seed & 0xFFFFFFFF) or 0x9E3779B9
    first = start - start % 2
    s = _jump(s, first)  # two uniforms per pair: `first` values take `first` steps
    out = np.empty(n - first, dtype=np.float32)
    for i in range(0, n - first, 2):
        s = _step(s)
        r = math.sqrt(-2 * math.log((s + 0.5) / 4294967296))
        s = _step(s)
        t = 2 * math.pi * ((s + 0.5) / 4294967296)
        out[i] = r * math.cos(t) * std
        if i + 1 < n - first:
            out[i + 1] = r * math.sin(t) * std
    return out[start - first:]


def initial_student(a, mixer, attention_layers, teacher, seed, held=lambda name: True):
    """{canonical name: f32 tensor} for every student tensor `held` keeps; `teacher(name)` reads a
    teacher tensor (any dtype)."""
    shapes = student_shapes(a, mixer, attention_layers)
    take = lambda n: teacher(n).to(torch.float32).clone()
    v = {}
    for n in shapes:
        if ".mixer." in n or ".attn." in n:
            continue
        if held(n):
            v[n] = take(n)
    d = a.d
    m = mixer
    from_attention = m.d_inner == a.heads * a.head_dim and m.n_v == a.heads and m.n_qk == a.heads and m.N == a.head_dim
    for i in range(a.layers):
        if i in attention_layers:
            for n in shapes:
                if n.startswith(f"layers.{i}.attn.") and held(n):
                    v[n] = take(n)
            continue
        p = f"layers.{i}.mixer."
        in_proj = np.zeros((m.proj, d), dtype=np.float32)
        # The studio draws proj·d values and uses the conv rows (when not from attention) and A_log's.
        std, rseed = 1 / math.sqrt(d), seed + 101 * i
        if from_attention:
            rep, hd = a.heads // a.kv_heads, a.head_dim
            wq = take(f"layers.{i}.attn.q.weight").numpy()
            wk = take(f"layers.{i}.attn.k.weight").numpy()
            wv = take(f"layers.{i}.attn.v.weight").numpy()
            for h in range(a.heads):
                kvh = h // rep
                in_proj[h * hd:(h + 1) * hd] = wv[kvh * hd:(kvh + 1) * hd]
                in_proj[m.b_off + h * hd: m.b_off + (h + 1) * hd] = wk[kvh * hd:(kvh + 1) * hd]
                in_proj[m.c_off + h * hd: m.c_off + (h + 1) * hd] = wq[h * hd:(h + 1) * hd]
        else:
            in_proj[: m.conv_ch] = normal(m.conv_ch * d, std, rseed).reshape(m.conv_ch, d)
        # A_log rows: x * 0.1 in float64, rounded to f32 as a Float32Array stores it.
        a_rows = normal(m.proj * d, std, rseed, start=m.a_off * d).reshape(m.n_v, d)
        in_proj[m.a_off:] = (a_rows.astype(np.float64) * 0.1).astype(np.float32)
        v[p + "in_proj.weight"] = torch.from_numpy(in_proj)
        conv = torch.zeros(m.conv_ch, CONV_K)
        conv[:, CONV_K - 1] = 1
        v[p + "conv1d.weight"] = conv
        v[p + "conv1d.bias"] = torch.zeros(m.conv_ch)
        v[p + "z_bias"] = torch.full((m.d_inner,), 1.2785, dtype=torch.float32)
        v[p + "D"] = torch.ones(m.n_v)
        if from_attention:
            v[p + "out_proj.weight"] = take(f"layers.{i}.attn.o.weight")
        else:
            v[p + "out_proj.weight"] = torch.from_numpy(normal(d * m.d_inner, 1 / math.sqrt(m.d_inner), seed + 7 + i).reshape(d, m.d_inner))
        if m.out_bias:
            v[p + "out_proj.bias"] = take(f"layers.{i}.attn.o.bias") if a.bias_attention_out else torch.zeros(d)
    return v
