"""A teacher checkpoint's tensors under the canonical names of src/models/DESIGN.md (src/models/arch.ts in
Python): every linear weight (out, in) as torch.nn.Linear keeps it (GPT-2's Conv1D transposed, GPT-NeoX's
and GPT-2's fused q/k/v split), every norm weight the multiplier the norm applies (gemma3's 1 + w, in f32).
Presence and shape of every tensor the config implies are checked before any is read.
"""
import re

import torch

IGNORED = re.compile(r"(rotary_emb\.inv_freq|attn\.bias|attn\.masked_bias|attention\.bias|attention\.masked_bias)$")


class LayoutError(Exception):
    pass


class _Builder:
    def __init__(self, ckpt, where):
        self.ckpt, self.where = ckpt, where
        self.out = {}  # canonical name -> (shape, read)
        self.used, self.missing, self.wrong = set(), [], []

    def has(self, name):
        return name in self.ckpt.names

    def _need(self, name, shape):
        self.used.add(name)
        if name not in self.ckpt.names:
            if name not in self.missing:
                self.missing.append(name)
            return
        got = self.ckpt.names[name][1]
        if list(got) != list(shape):
            self.wrong.append(f"{name} has shape {list(got)} but config.json implies {list(shape)}")

    def direct(self, canon, hf, shape):
        self._need(hf, shape)
        self.out[canon] = (list(shape), lambda: self.ckpt.get(hf))

    def norm_weight(self, canon, hf, shape, offset):
        self._need(hf, shape)
        if offset == 0:
            self.out[canon] = (list(shape), lambda: self.ckpt.get(hf))
        else:
            self.out[canon] = (list(shape), lambda: self.ckpt.get(hf).float() + offset)

    def transposed(self, canon, hf, inp, out):
        self._need(hf, [inp, out])
        self.out[canon] = ([out, inp], lambda: self.ckpt.get(hf).t().contiguous())

    def part(self, canon, shape, hf, hf_shape, pick):
        self._need(hf, hf_shape)
        self.out[canon] = (list(shape), lambda: pick(self.ckpt.get(hf)).contiguous())

    def finish(self, whose):
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else "")
            raise LayoutError(f"{self.where} lacks tensor{'s' if len(self.missing) > 1 else ''} {whose} needs: {shown}")
        if self.wrong:
            raise LayoutError(f"{self.where}: tensor {self.wrong[0]}" + (f" (and {len(self.wrong) - 1} more mismatches)" if len(self.wrong) > 1 else ""))
        return [n for n in self.ckpt.names if n not in self.used and not IGNORED.search(n)]


def _norm(b, a, canon, hf, dim=None):
    dim = dim or a.d
    b.norm_weight(canon + ".weight", hf + ".weight", [dim], a.norm_offset)
    if a.norm == "layernorm":
        b.direct(canon + ".bias", hf + ".bias", [dim])


def _linear(b, canon, hf, out, inp, bias):
    b.direct(canon + ".weight", hf + ".weight", [out, inp])
    if bias:
        b.direct(canon + ".bias", hf + ".bias", [out])


def canonical_layout(a, ckpt, where):
    """{canonical name: (shape, read)} of the teacher `ckpt` (a safetensors_io.Checkpoint); read() gives the
    tensor in the checkpoint's precision (norm weights with an offset in f32). Raises LayoutError."""
    b = _Builder(ckpt, where)
    d, q_dim, kv_dim, f, hd = a.d, a.heads * a.head_dim, a.kv_heads * a.head_dim, a.intermediate, a.head_dim
    t = a.model_type
    if t in ("llama", "qwen2", "qwen3", "mistral", "gemma3_text"):
        b.direct("embed", "model.embed_tokens.weight", [a.vocab, d])
        for i in range(a.layers):
            p, q = f"model.layers.{i}.", f"layers.{i}."
            _norm(b, a, q + "norm1", p + "input_layernorm")
            _linear(b, q + "attn.q", p + "self_attn.q_proj", q_dim, d, a.bias_attention)
            _linear(b, q + "attn.k", p + "self_attn.k_proj", kv_dim, d, a.bias_attention)
            _linear(b, q + "attn.v", p + "self_attn.v_proj", kv_dim, d, a.bias_attention)
            _linear(b, q + "attn.o", p + "self_attn.o_proj", d, q_dim, a.bias_attention_out)
            if a.qk_norm:
                _norm(b, a, q + "attn.q_norm", p + "self_attn.q_norm", hd)
                _norm(b, a, q + "attn.k_norm", p + "self_attn.k_norm", hd)
            if a.post_norms:
                _norm(b, a, q + "mixer_out_norm", p + "post_attention_layernorm")
                _norm(b, a, q + "norm2", p + "pre_feedforward_layernorm")
                _norm(b, a, q + "mlp_out_norm", p + "post_feedforward_layernorm")
            else:
                _norm(b, a, q + "norm2", p + "post_attention_layernorm")
            _linear(b, q + "mlp.gate", p + "mlp.gate_proj", f, d, a.bias_mlp)
            _linear(b, q + "mlp.up", p + "mlp.up_proj", f, d, a.bias_mlp)
            _linear(b, q + "mlp.down", p + "mlp.down_proj", d, f, a.bias_mlp)
        _norm(b, a, "final_norm", "model.norm")
        if not a.tied:
            _linear(b, "head", "lm_head", a.vocab, d, False)
    elif t == "gpt2":
        pre = "transformer." if b.has("transformer.wte.weight") else ""
        b.direct("embed", pre + "wte.weight", [a.vocab, d])
        b.direct("pos", pre + "wpe.weight", [a.max_positions, d])
        for i in range(a.layers):
            p, q = f"{pre}h.{i}.", f"layers.{i}."
            _norm(b, a, q + "norm1", p + "ln_1")
            for j, n in enumerate("qkv"):
                b.part(f"{q}attn.{n}.weight", [d, d], p + "attn.c_attn.weight", [d, 3 * d], lambda w, j=j: w[:, j * d:(j + 1) * d].t())
                b.part(f"{q}attn.{n}.bias", [d], p + "attn.c_attn.bias", [3 * d], lambda w, j=j: w[j * d:(j + 1) * d])
            b.transposed(q + "attn.o.weight", p + "attn.c_proj.weight", d, d)
            b.direct(q + "attn.o.bias", p + "attn.c_proj.bias", [d])
            _norm(b, a, q + "norm2", p + "ln_2")
            b.transposed(q + "mlp.up.weight", p + "mlp.c_fc.weight", d, f)
            b.direct(q + "mlp.up.bias", p + "mlp.c_fc.bias", [f])
            b.transposed(q + "mlp.down.weight", p + "mlp.c_proj.weight", f, d)
            b.direct(q + "mlp.down.bias", p + "mlp.c_proj.bias", [d])
        _norm(b, a, "final_norm", pre + "ln_f")
        if not a.tied:
            _linear(b, "head", "lm_head", a.vocab, d, False)
    elif t == "gpt_neox":
        b.direct("embed", "gpt_neox.embed_in.weight", [a.vocab, d])
        for i in range(a.layers):
            p, q = f"gpt_neox.layers.{i}.", f"layers.{i}."
            _norm(b, a, q + "norm1", p + "input_layernorm")
            # query_key_value rows are grouped per head as [q | k | v] of head_dim each.
            for j, n in enumerate("qkv"):
                b.part(f"{q}attn.{n}.weight", [d, d], p + "attention.query_key_value.weight", [3 * d, d],
                       lambda w, j=j: w.reshape(a.heads, 3, hd, d)[:, j].reshape(d, d))
                if a.bias_attention:
                    b.part(f"{q}attn.{n}.bias", [d], p + "attention.query_key_value.bias", [3 * d],
                           lambda w, j=j: w.reshape(a.heads, 3, hd)[:, j].reshape(d))
            _linear(b, q + "attn.o", p + "attention.dense", d, d, a.bias_attention)
            _norm(b, a, q + "norm2", p + "post_attention_layernorm")
            _linear(b, q + "mlp.up", p + "mlp.dense_h_to_4h", f, d, True)
            _linear(b, q + "mlp.down", p + "mlp.dense_4h_to_h", d, f, True)
        _norm(b, a, "final_norm", "gpt_neox.final_layer_norm")
        if not a.tied:
            _linear(b, "head", "embed_out", a.vocab, d, False)
    elif t == "phi":
        b.direct("embed", "model.embed_tokens.weight", [a.vocab, d])
        for i in range(a.layers):
            p, q = f"model.layers.{i}.", f"layers.{i}."
            _norm(b, a, q + "norm1", p + "input_layernorm")
            _linear(b, q + "attn.q", p + "self_attn.q_proj", q_dim, d, True)
            _linear(b, q + "attn.k", p + "self_attn.k_proj", kv_dim, d, True)
            _linear(b, q + "attn.v", p + "self_attn.v_proj", kv_dim, d, True)
            _linear(b, q + "attn.o", p + "self_attn.dense", d, q_dim, True)
            _linear(b, q + "mlp.up", p + "mlp.fc1", f, d, True)
            _linear(b, q + "mlp.down", p + "mlp.fc2", d, f, True)
        _norm(b, a, "final_norm", "model.final_layernorm")
        if a.tied:
            b.direct("head.bias", "lm_head.bias", [a.vocab])
        else:
            _linear(b, "head", "lm_head", a.vocab, d, True)
    unused = b.finish(f"the {t} config")
    if a.tied:
        unused = [n for n in unused if n not in ("lm_head.weight", "embed_out.weight")]
    return b.out, unused


def load_canonical(layout, names=None, dtype=None):
    """The tensors of `layout` (all, or `names`), each cast to `dtype` when given."""
    out = {}
    for n in (names if names is not None else layout):
        t = layout[n][1]()
        out[n] = t.to(dtype) if dtype is not None else t
    return out


def canonical_f32(layout, name):
    return layout[name][1]().to(torch.float32)
