"""One decoder skeleton for both roles (src/models/decoder.ts in PyTorch): the teacher is it with the
attention of every family the studio reads, the student the same with the discrete Mamba-2 mixer of
Phi-Mamba in every layer but the kept attention layers. Parameters carry the canonical names of
src/models/DESIGN.md (state_dict() keys are exactly those names), so a checkpoint, an export and the
studio's files line up name by name.

    sequential:        h = x + post(mixer(norm1(x)));   x' = h + post(mlp(norm2(h)))
    parallel (neox):   x' = x + mixer(norm1(x)) + mlp(norm2(x))
    parallel (phi):    u = norm1(x);  x' = x + mixer(u) + mlp(u)

Weights stored in 16 bits (a bf16 teacher) are widened where they are used, so every product is f32
like the studio's. RoPE tables are computed in float64 and rounded once, as src/kernels/rotary.ts does.
"""
import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from . import ssd
from .config import inverse_frequencies

CONV_K = 4


def f32(t):
    return t if t is None or t.dtype == torch.float32 else t.float()


def activation(kind, x):
    if kind == "silu":
        return F.silu(x)
    if kind == "gelu":
        return F.gelu(x)
    if kind == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    return F.relu(x)


def _param(shape, requires_grad=True):
    return nn.Parameter(torch.zeros(shape), requires_grad=requires_grad)


class Linear(nn.Module):
    def __init__(self, out_dim, in_dim, bias, weight=True):
        super().__init__()
        self.weight = _param((out_dim, in_dim)) if weight else None
        self.bias = _param((out_dim,)) if bias else None

    def forward(self, x):
        return F.linear(x, f32(self.weight), f32(self.bias))


class Norm(nn.Module):
    def __init__(self, kind, dim, eps):
        super().__init__()
        self.kind, self.eps = kind, eps
        self.weight = _param((dim,))
        self.bias = _param((dim,)) if kind == "layernorm" else None

    def forward(self, x):
        if self.kind == "rmsnorm":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * f32(self.weight)
        return F.layer_norm(x, (x.shape[-1],), f32(self.weight), f32(self.bias), self.eps)


class Mlp(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.act = a.activation
        self.up = Linear(a.intermediate, a.d, a.bias_mlp)
        self.gate = Linear(a.intermediate, a.d, a.bias_mlp) if a.gated_mlp else None
        self.down = Linear(a.d, a.intermediate, a.bias_mlp)

    def forward(self, x):
        if self.gate is not None:
            return self.down(activation(self.act, self.gate(x)) * self.up(x))
        return self.down(activation(self.act, self.up(x)))


_tables = {}


def rope_table(theta, rotary_dim, scaling, L, device):
    """(cos, sin) of shape (L, rotary_dim/2), f64 angles rounded once to f32; cached per shape."""
    key = (theta, rotary_dim, repr(scaling), L, str(device))
    if key not in _tables:
        inv = torch.tensor(inverse_frequencies(theta, rotary_dim, scaling), dtype=torch.float64)
        ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]
        _tables[key] = (ang.cos().float().to(device), ang.sin().float().to(device))
    return _tables[key]


def rotate(x, cos, sin, rot):
    """x (b, L, heads, hd): the first `rot` dims of each head rotated (rotate_half), the rest as they are."""
    half = rot // 2
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    x1, x2, rest = x[..., :half], x[..., half:rot], x[..., rot:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s, rest], dim=-1)




def _sdpa_takes_scale():
    """SDPA with a `scale` argument (torch >= 2.1); without it attention is computed eagerly."""
    if not hasattr(F, "scaled_dot_product_attention"):
        return False
    try:
        return "scale" in inspect.signature(F.scaled_dot_product_attention).parameters
    except (TypeError, ValueError):
        return "scale" in (F.scaled_dot_product_attention.__doc__ or "").split("\n")[0]


_sdpa_scale = _sdpa_takes_scale()


class Attention(nn.Module):
    def __init__(self, a, layer):
        super().__init__()
        self.a = a
        self.window, self.theta, self.scaling, self.scale = a.layer_attention(layer)
        qd, kvd = a.heads * a.head_dim, a.kv_heads * a.head_dim
        self.q = Linear(qd, a.d, a.bias_attention)
        self.k = Linear(kvd, a.d, a.bias_attention)
        self.v = Linear(kvd, a.d, a.bias_attention)
        self.o = Linear(a.d, qd, a.bias_attention_out)
        self.q_norm = Norm("rmsnorm", a.head_dim, a.eps) if a.qk_norm else None
        self.k_norm = Norm("rmsnorm", a.head_dim, a.eps) if a.qk_norm else None

    def forward(self, u, probs=False):
        """(output, probabilities (b, heads, L, L) when `probs`, else None)."""
        a = self.a
        b, L, _ = u.shape
        q = self.q(u).view(b, L, a.heads, a.head_dim)
        k = self.k(u).view(b, L, a.kv_heads, a.head_dim)
        v = self.v(u).view(b, L, a.kv_heads, a.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if a.positions == "rope":
            cos, sin = rope_table(self.theta, a.rotary_dim, self.scaling, L, u.device)
            q, k = rotate(q, cos, sin, a.rotary_dim), rotate(k, cos, sin, a.rotary_dim)
        rep = a.heads // a.kv_heads
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if rep > 1:
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        hidden = torch.ones(L, L, dtype=torch.bool, device=u.device).triu(1)
        if self.window is not None:  # query i sees keys i - window < j <= i
            hidden |= torch.ones(L, L, dtype=torch.bool, device=u.device).tril(-self.window)
        p = None
        if probs or not _sdpa_scale:
            s = (q @ k.transpose(-1, -2)) * self.scale
            p = s.masked_fill(hidden, float("-inf")).softmax(-1)
            o = p @ v
        elif self.window is None:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=~hidden, scale=self.scale)
        return self.o(o.transpose(1, 2).reshape(b, L, -1)), p


class Conv(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.weight = _param((ch, CONV_K))
        self.bias = _param((ch,))


class Mixer(nn.Module):
    """The discrete Mamba-2 mixer (goombalab/phi-mamba DiscreteMamba2), canonical parameters:
    in_proj rows [x | B | C | z | A_log], depthwise causal conv over [x | B | C], gate silu(z + z_bias)."""

    def __init__(self, shape):
        super().__init__()
        s = self.s = shape
        self.in_proj = Linear(s.proj, s.d, False)
        self.conv1d = Conv(s.conv_ch)
        self.z_bias = _param((s.d_inner,))
        self.D = _param((s.n_v,))
        self.out_proj = Linear(s.d, s.d_inner, s.out_bias)
        self.ssd = "torch"

    def _parts(self, u):
        s = self.s
        b, L, _ = u.shape
        zin = self.in_proj(u)
        xbc = zin[..., : s.conv_ch].transpose(1, 2)
        xbc = F.conv1d(xbc, self.conv1d.weight[:, None, :], self.conv1d.bias, padding=CONV_K - 1, groups=s.conv_ch)[..., :L].transpose(1, 2)
        x = xbc[..., : s.d_inner].reshape(b, L, s.n_v, s.p)
        Bg = xbc[..., s.d_inner: s.d_inner + s.gN].reshape(b, L, s.n_qk, s.N)
        Cg = xbc[..., s.d_inner + s.gN:].reshape(b, L, s.n_qk, s.N)
        z = zin[..., s.conv_ch: s.conv_ch + s.d_inner]
        a_log = zin[..., s.conv_ch + s.d_inner:]
        return x, Bg, Cg, z, a_log

    def _heads(self, g):
        r = self.s.n_v // self.s.n_qk
        return g if r == 1 else g.repeat_interleave(r, dim=2)

    def forward(self, u, what="out"):
        """'out': the mixer's output (b, L, d); 'matrix': T = L∘(C·Bᵀ) + diag(D), (b, n_v, L, L)."""
        s = self.s
        b, L, _ = u.shape
        x, Bg, Cg, z, a_log = self._parts(u)
        if what == "matrix":
            T = ssd.matrix(-F.softplus(a_log), self._heads(Bg), self._heads(Cg))
            return T + torch.diag_embed(self.D[None, :, None].expand(b, s.n_v, L))
        chunk = min(s.chunk, L)
        if self.ssd == "triton":
            y = ssd.triton(x, a_log, Bg, Cg, chunk)
        else:
            y = ssd.chunked(x, -F.softplus(a_log), self._heads(Bg), self._heads(Cg), chunk)
        y = (y + self.D[:, None] * x).reshape(b, L, s.d_inner)
        return self.out_proj(y * F.silu(z + self.z_bias))


class MixerShape:
    """src/models/mamba-mixer-shape.ts: sizes and where each part of in_proj's output sits."""

    def __init__(self, d, d_inner, n_v, n_qk, N, chunk, out_bias):
        for v in (d, d_inner, n_v, n_qk, N):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"mamba mixer sizes must be positive integers: {(d, d_inner, n_v, n_qk, N)}")
        if d_inner % n_v or n_v % n_qk:
            raise ValueError(f"mamba mixer: d_inner {d_inner} must be a multiple of n_v {n_v}, n_v of n_qk {n_qk}")
        self.d, self.d_inner, self.n_v, self.n_qk, self.N, self.chunk, self.out_bias = d, d_inner, n_v, n_qk, N, chunk, out_bias
        self.p = d_inner // n_v
        self.gN = n_qk * N
        self.conv_ch = d_inner + 2 * self.gN
        self.proj = self.conv_ch + d_inner + n_v
        self.b_off, self.c_off, self.z_off, self.a_off = d_inner, d_inner + self.gN, self.conv_ch, self.conv_ch + d_inner

    @staticmethod
    def default(a, seq_len):
        """defaultMixer with the plan's chunk: d_inner = heads·head_dim, n_v = n_qk = heads, N = head_dim."""
        return MixerShape(a.d, a.heads * a.head_dim, a.heads, a.heads, a.head_dim, min(128, seq_len), a.bias_attention_out)

    def json(self):
        return {"type": "discrete_mamba2", "d_inner": self.d_inner, "n_v": self.n_v, "n_qk": self.n_qk, "state_size": self.N,
                "conv_kernel": CONV_K, "chunk_size": self.chunk, "out_proj_bias": self.out_bias}

    def param_shapes(self):
        out = {"in_proj.weight": [self.proj, self.d], "conv1d.weight": [self.conv_ch, CONV_K], "conv1d.bias": [self.conv_ch],
               "z_bias": [self.d_inner], "D": [self.n_v], "out_proj.weight": [self.d, self.d_inner]}
        if self.out_bias:
            out["out_proj.bias"] = [self.d]
        return out


class Block(nn.Module):
    def __init__(self, a, layer, mixer_shape):
        super().__init__()
        self.a = a
        self.norm1 = Norm(a.norm, a.d, a.eps)
        self.norm2 = Norm(a.norm, a.d, a.eps) if a.model_type != "phi" else None
        self.mixer_out_norm = Norm(a.norm, a.d, a.eps) if a.post_norms else None
        self.mlp_out_norm = Norm(a.norm, a.d, a.eps) if a.post_norms else None
        self.attn = Attention(a, layer) if mixer_shape is None else None
        self.mixer = Mixer(mixer_shape) if mixer_shape is not None else None
        self.mlp = Mlp(a)
        self.recompute = False

    def forward(self, x, tap=None, layer=0, probs=False):
        if self.recompute and tap is None and torch.is_grad_enabled():
            # Activation recomputation (stage 3, the plan's `recompute`): the block's activations are
            # made again in the backward instead of being kept.
            return checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x, tap, layer, probs)

    def _forward(self, x, tap=None, layer=0, probs=False):
        u = self.norm1(x)
        if self.attn is not None:
            m, p = self.attn(u, probs)
        else:
            m, p = self.mixer(u), None
        if tap is not None:
            tap(layer, u, p, m)
        if self.a.parallel:
            u2 = u if self.norm2 is None else self.norm2(x)
            return x + m + self.mlp(u2)
        post = (lambda n, y: y) if self.mixer_out_norm is None else (lambda n, y: n(y))
        h = x + post(self.mixer_out_norm, m)
        return h + post(self.mlp_out_norm, self.mlp(self.norm2(h)))


class Head(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.weight = None if a.tied else _param((a.vocab, a.d))
        self.bias = _param((a.vocab,)) if a.bias_head else None


class Model(nn.Module):
    """A teacher (mixer_shape None: attention everywhere) or a student (mixers but in `attention_layers`)."""

    def __init__(self, a, mixer_shape=None, attention_layers=()):
        super().__init__()
        self.a = a
        self.embed = _param((a.vocab, a.d))
        self.pos = _param((a.max_positions, a.d)) if a.positions == "learned" else None
        self.layers = nn.ModuleList(
            Block(a, i, None if mixer_shape is None or i in attention_layers else mixer_shape) for i in range(a.layers))
        self.final_norm = Norm(a.norm, a.d, a.eps)
        self.head = Head(a) if (not a.tied or a.bias_head) else None

    def forward(self, ids, tap=None, probs=False, logits=True):
        a = self.a
        x = F.embedding(ids, f32(self.embed))
        if a.embed_scale != 1:
            x = x * a.embed_scale
        if self.pos is not None:
            x = x + f32(self.pos)[: ids.shape[1]]
        for i, blk in enumerate(self.layers):
            x = blk(x, tap, i, probs)
        if not logits:
            return None
        x = self.final_norm(x)
        w = self.head.weight if self.head is not None and self.head.weight is not None else self.embed
        return F.linear(x, f32(w), f32(self.head.bias) if self.head is not None else None)

    def load(self, tensors, strict=True):
        """Copies canonical tensors into the parameters (kept in each tensor's own dtype for a frozen
        teacher, f32 for a student: see `as_f32`)."""
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in tensors]
        extra = [n for n in tensors if n not in params]
        if strict and (missing or extra):
            raise KeyError(f"tensors do not match the model: missing {missing[:5]}, not in the model {extra[:5]}")
        for n, p in params.items():
            if n not in tensors:
                continue
            t = tensors[n]
            if list(t.shape) != list(p.shape):
                raise ValueError(f"{n}: shape {list(t.shape)}, the model has {list(p.shape)}")
            p.data = t.detach().to(p.device).clone()
        return self


def student_shapes(a, mixer, attention_layers):
    """studentShapes: every student tensor, canonical name -> shape, in the studio's order."""
    s = {"embed": [a.vocab, a.d]}
    if a.positions == "learned":
        s["pos"] = [a.max_positions, a.d]
    ln = a.norm == "layernorm"
    d, f = a.d, a.intermediate
    for i in range(a.layers):
        p = f"layers.{i}."
        s[p + "norm1.weight"] = [d]
        if ln:
            s[p + "norm1.bias"] = [d]
        if a.model_type != "phi":
            s[p + "norm2.weight"] = [d]
            if ln:
                s[p + "norm2.bias"] = [d]
        if a.post_norms:
            s[p + "mixer_out_norm.weight"] = [d]
            s[p + "mlp_out_norm.weight"] = [d]
        s[p + "mlp.up.weight"] = [f, d]
        if a.bias_mlp:
            s[p + "mlp.up.bias"] = [f]
        if a.gated_mlp:
            s[p + "mlp.gate.weight"] = [f, d]
            if a.bias_mlp:
                s[p + "mlp.gate.bias"] = [f]
        s[p + "mlp.down.weight"] = [d, f]
        if a.bias_mlp:
            s[p + "mlp.down.bias"] = [d]
    s["final_norm.weight"] = [d]
    if ln:
        s["final_norm.bias"] = [d]
    if not a.tied:
        s["head.weight"] = [a.vocab, d]
    if a.bias_head:
        s["head.bias"] = [a.vocab]
    q, kv = a.heads * a.head_dim, a.kv_heads * a.head_dim
    for i in range(a.layers):
        if i in attention_layers:
            p = f"layers.{i}.attn."
            for n, o, inp in (("q", q, d), ("k", kv, d), ("v", kv, d), ("o", d, q)):
                s[f"{p}{n}.weight"] = [o, inp]
                if (a.bias_attention_out if n == "o" else a.bias_attention):
                    s[f"{p}{n}.bias"] = [o]
            if a.qk_norm:
                s[p + "q_norm.weight"] = [a.head_dim]
                s[p + "k_norm.weight"] = [a.head_dim]
        else:
            for n, shape in mixer.param_shapes().items():
                s[f"layers.{i}.mixer.{n}"] = shape
    return s


def is_mlp(name):
    return ".mlp." in name


def mean_nll(model, docs, device, max_rows=4096):
    """Mean next-token NLL over documents of at least two tokens (src/models/evaluate.ts), no gradients."""
    usable = [d for d in docs if len(d) >= 2]
    if not usable:
        raise ValueError("no document has two or more tokens to predict from")
    total, count = 0.0, 0
    with torch.no_grad():
        for d in usable:
            ids = torch.tensor([d], device=device)
            logp = model(ids).float().log_softmax(-1)[0]
            tgt = ids[0, 1:]
            total += -logp[torch.arange(len(d) - 1, device=device), tgt].double().sum().item()
            count += len(d) - 1
    return total / count, count
