#!/usr/bin/env python3
"""A MOHAWK student exported by Mohawk Studio, in plain PyTorch: mean next-token NLL on a text file.

    python3 scripts/student_torch.py --model STUDENT_DIR --data FILE [--max-tokens 128] [--docs K]
                                     [--ids IDS.json] [--device cuda|cpu] [--dtype float64|float32]

STUDENT_DIR holds model.safetensors (F32, canonical tensor names), config.json (model_type
"mohawk_student": the teacher's config.json under "teacher_config", the mixer's shape under "mixer",
"attention_layers") and the teacher's tokenizer.json / tokenizer_config.json. The model is the
teacher's decoder (llama with its linear and llama3 RoPE scaling, mistral with its sliding window,
qwen2, qwen3, gpt2, gpt_neox, phi or gemma3_text; the teacher's config.json is read by
python/mohawk_torch/config.py, as the studio reads it) with the discrete Mamba-2 mixer of
Phi-Mamba in every layer but the attention layers: per token, u the normed layer input,
    [x | B | C | z | A_log] = u @ in_proj.T
    [x | B | C] <- causal depthwise conv1d (kernel 4, bias, no activation)
    S_t = exp(-softplus(A_log_t)) * S_{t-1} + x_t (outer) B_t;   y_t = S_t @ C_t + D * x_t   (per head)
    out = (y * silu(z + z_bias)) @ out_proj.T (+ out_proj.bias)
The scan is the plain sequential recurrence. Norm weights are stored as the multipliers the norms
apply (a gemma3_text teacher's 1 + w), so every RMSNorm here is x * rsqrt(mean(x^2) + eps) * w;
gemma3_text adds the embedding scale sqrt(d) (rounded to float32), the norms of the mixer's and the
MLP's outputs (mixer_out_norm, mlp_out_norm), q/k norms, scores scaled by query_pre_attn_scalar^-1/2,
and per layer a sliding window and RoPE of its own. Documents are split and tokenized as `mohawk eval` does
(<|endoftext|> else blank lines; BOS and EOS as the tokenizer files say; truncated to --max-tokens), and the
output is the same one JSON line: {"mean_nll", "tokens", "perplexity"}. Tokenizing needs the
`tokenizers` package; --ids reads the documents' token ids from a JSON list of lists instead.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

# The readers of the PyTorch trainer beside this script (python/mohawk_torch): config.json, safetensors,
# documents and their tokens, each as the studio reads them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from mohawk_torch.config import ConfigError, inverse_frequencies, parse_config  # noqa: E402
from mohawk_torch.corpus import CorpusError, DocumentTokenizer, split_documents  # noqa: E402
from mohawk_torch.safetensors_io import SafetensorsFile  # noqa: E402


def arch(teacher_config):
    """The teacher's config.json as the studio reads it (python/mohawk_torch/config.py, src/io/config.ts
    in Python: every supported family, its defaults, RoPE scaling and windows, and its refusals by name)."""
    try:
        return parse_config(teacher_config, "config.json teacher_config")
    except ConfigError as e:
        raise SystemExit(str(e))


# ---- the model ----

class Student:
    def __init__(self, folder, device, dtype):
        cfg = json.load(open(os.path.join(folder, "config.json")))
        if cfg.get("model_type") != "mohawk_student":
            raise SystemExit(f"{folder}/config.json: model_type {cfg.get('model_type')!r} is not mohawk_student")
        self.a = arch(cfg["teacher_config"])
        self.layers = self.a.layers
        # Per layer: window (None: causal only), RoPE base and scaling, score scale.
        self.per_layer = [self.a.layer_attention(l) for l in range(self.layers)]
        m = cfg["mixer"]
        if m.get("type") != "discrete_mamba2" or m.get("conv_kernel", 4) != 4:
            raise SystemExit(f"mixer {m} is not a discrete_mamba2 mixer with conv_kernel 4")
        self.dInner, self.nV, self.nQK, self.N = m["d_inner"], m["n_v"], m["n_qk"], m["state_size"]
        self.attn = set(cfg.get("attention_layers", []))
        f = SafetensorsFile(os.path.join(folder, "model.safetensors"))
        self.w = {k: f.get(k).to(device=device, dtype=dtype) for k in f.tensors}
        self.device, self.dtype = device, dtype

    def norm(self, x, name):
        w, b = self.w[name + ".weight"], self.w.get(name + ".bias")
        if self.a.norm == "rmsnorm":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.a.eps) * w
        return F.layer_norm(x, (x.shape[-1],), w, b, self.a.eps)

    def post_norm(self, x, name):  # gemma3_text's norms of the mixer's and the MLP's outputs, where present
        return self.norm(x, name) if name + ".weight" in self.w else x

    def linear(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))

    def rope(self, x, lay):  # x (T, heads, hd): rotate_half on the first `rot` dims of each head
        rot, T = self.a.rotary_dim, x.shape[0]
        _, theta, scaling, _ = lay
        inv = torch.tensor(inverse_frequencies(theta, rot, scaling), dtype=self.dtype, device=self.device)
        ang = torch.arange(T, dtype=self.dtype, device=self.device)[:, None] * inv[None, :]
        cos, sin = torch.cat([ang.cos()] * 2, -1)[:, None, :], torch.cat([ang.sin()] * 2, -1)[:, None, :]
        xr, rest = x[..., :rot], x[..., rot:]
        half = torch.cat([-xr[..., rot // 2:], xr[..., :rot // 2]], -1)
        return torch.cat([xr * cos + half * sin, rest], -1)

    def attention(self, u, p, lay):
        a, T = self.a, u.shape[0]
        window, _, _, scale = lay
        q = self.linear(u, p + "attn.q").view(T, a.heads, a.head_dim)
        k = self.linear(u, p + "attn.k").view(T, a.kv_heads, a.head_dim)
        v = self.linear(u, p + "attn.v").view(T, a.kv_heads, a.head_dim)
        if p + "attn.q_norm.weight" in self.w:
            q, k = self.norm(q, p + "attn.q_norm"), self.norm(k, p + "attn.k_norm")
        if a.positions == "rope":
            q, k = self.rope(q, lay), self.rope(k, lay)
        rep = a.heads // a.kv_heads
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        s = torch.einsum("thd,shd->hts", q, k) * scale
        hidden = torch.ones(T, T, dtype=torch.bool, device=self.device).triu(1)
        if window is not None:  # query i sees keys i - window < j <= i
            hidden |= torch.ones(T, T, dtype=torch.bool, device=self.device).tril(-window)
        s = s.masked_fill(hidden, float("-inf"))
        o = torch.einsum("hts,shd->thd", s.softmax(-1), v).reshape(T, -1)
        return self.linear(o, p + "attn.o")

    def mamba(self, u, p):
        T, di, nV, nQK, N = u.shape[0], self.dInner, self.nV, self.nQK, self.N
        gN = nQK * N
        zin = u @ self.w[p + "in_proj.weight"].T
        xBC, z, A_log = zin[:, : di + 2 * gN], zin[:, di + 2 * gN: 2 * di + 2 * gN], zin[:, 2 * di + 2 * gN:]
        ch = xBC.shape[1]
        xBC = F.conv1d(xBC.T[None], self.w[p + "conv1d.weight"][:, None, :], self.w[p + "conv1d.bias"], padding=3, groups=ch)[0, :, :T].T
        x = xBC[:, :di].reshape(T, nV, di // nV)
        B = xBC[:, di: di + gN].reshape(T, nQK, N).repeat_interleave(nV // nQK, 1)
        C = xBC[:, di + gN:].reshape(T, nQK, N).repeat_interleave(nV // nQK, 1)
        decay = torch.exp(-F.softplus(A_log))  # (T, nV)
        S = torch.zeros(nV, di // nV, N, dtype=self.dtype, device=self.device)
        ys = []
        for t in range(T):
            S = decay[t, :, None, None] * S + x[t, :, :, None] * B[t, :, None, :]
            ys.append(torch.einsum("hpn,hn->hp", S, C[t]))
        y = torch.stack(ys) + self.w[p + "D"][None, :, None] * x
        g = y.reshape(T, di) * F.silu(z + self.w[p + "z_bias"])
        return F.linear(g, self.w[p + "out_proj.weight"], self.w.get(p + "out_proj.bias"))

    def mlp(self, u, p):
        act = {"silu": F.silu, "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "relu": F.relu}[self.a.activation]
        if p + "mlp.gate.weight" in self.w:
            return self.linear(act(self.linear(u, p + "mlp.gate")) * self.linear(u, p + "mlp.up"), p + "mlp.down")
        return self.linear(act(self.linear(u, p + "mlp.up")), p + "mlp.down")

    @torch.no_grad()
    def logits(self, ids):
        ids = torch.tensor(ids, device=self.device)
        x = self.w["embed"][ids] * self.a.embed_scale
        if self.a.positions == "learned":
            x = x + self.w["pos"][: len(ids)]
        for l in range(self.layers):
            p = f"layers.{l}."
            u = self.norm(x, p + "norm1")
            mix = self.attention(u, p, self.per_layer[l]) if l in self.attn else self.mamba(u, p + "mixer.")
            if self.a.parallel:
                u2 = u if self.a.model_type == "phi" else self.norm(x, p + "norm2")
                x = x + mix + self.mlp(u2, p)
            else:
                h = x + self.post_norm(mix, p + "mixer_out_norm")
                x = h + self.post_norm(self.mlp(self.norm(h, p + "norm2"), p), p + "mlp_out_norm")
        head = self.w.get("head.weight", self.w["embed"])
        return F.linear(self.norm(x, "final_norm"), head, self.w.get("head.bias"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", help="text file; documents split on <|endoftext|> (else blank lines)")
    ap.add_argument("--ids", help="JSON list of token-id lists, instead of --data (no tokenizers package needed)")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--docs", type=int)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    model = Student(a.model, torch.device(a.device), getattr(torch, a.dtype))
    if a.ids:
        docs = json.load(open(a.ids))
    elif a.data:
        texts = split_documents(open(a.data, encoding="utf-8").read())
        try:
            import tokenizers  # noqa: F401
        except ImportError:
            raise SystemExit("tokenizing --data needs the `tokenizers` package; without it give --ids FILE (a JSON list of token-id lists)")
        try:
            docs = DocumentTokenizer(a.model, model.a.bos, model.a.eos).encode_documents(texts)
        except CorpusError as e:
            raise SystemExit(str(e))
    else:
        raise SystemExit("give --data FILE (or --ids FILE)")
    docs = [d[: a.max_tokens] for d in docs[: a.docs]]
    total, count = 0.0, 0
    for d in docs:
        if len(d) < 2:
            continue
        logp = model.logits(d).log_softmax(-1)
        total += -logp[torch.arange(len(d) - 1), torch.tensor(d[1:], device=logp.device)].sum().item()
        count += len(d) - 1
    if count == 0:
        raise SystemExit("no document has two or more tokens")
    print(json.dumps({"mean_nll": total / count, "tokens": count, "perplexity": math.exp(total / count)}))


if __name__ == "__main__":
    sys.exit(main())
