"""A Hugging Face config.json reduced to the architecture the studio builds from: src/io/config.ts in
Python, with the same defaults (those of the transformers config classes), the same 4.x and 5.x RoPE
layouts, and the same refusals by name of what the studio cannot reproduce exactly.
"""
import math
from dataclasses import dataclass, field

import numpy as np

MODEL_TYPES = ("llama", "gpt2", "gpt_neox", "phi", "qwen2", "qwen3", "mistral", "gemma3_text")
ACTIVATIONS = {"silu": "silu", "swish": "silu", "gelu": "gelu", "gelu_new": "gelu_tanh",
               "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh", "relu": "relu"}


class ConfigError(Exception):
    pass


@dataclass
class Arch:
    model_type: str
    layers: int
    d: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_positions: int
    norm: str  # 'rmsnorm' | 'layernorm'
    eps: float
    positions: str  # 'rope' | 'learned'
    rope_theta: float = None
    rope_scaling: dict = None
    rotary_dim: int = 0
    activation: str = "silu"
    gated_mlp: bool = False
    tied: bool = False
    bias_attention: bool = False
    bias_attention_out: bool = False
    bias_mlp: bool = False
    bias_head: bool = False
    qk_norm: bool = False
    sliding_window: int = None
    sliding_layers: list = None
    local_rope: dict = None
    attn_scale: float = None
    embed_scale: float = 1.0
    post_norms: bool = False
    norm_offset: float = 0.0
    parallel: bool = False
    bos: int = None
    eos: int = None
    raw: dict = field(default_factory=dict, repr=False)

    def layer_attention(self, layer):
        """Layer `layer`'s window (None: causal only), RoPE base and scaling, and score scale (layerAttention)."""
        windowed = self.sliding_layers[layer] if self.sliding_layers is not None else self.sliding_window is not None
        if windowed and self.local_rope:
            theta, scaling = self.local_rope["theta"], self.local_rope["scaling"]
        else:
            theta, scaling = self.rope_theta, self.rope_scaling
        scale = self.attn_scale if self.attn_scale is not None else 1 / math.sqrt(self.head_dim)
        return (self.sliding_window if windowed else None), theta, scaling, scale


def inverse_frequencies(theta, rotary_dim, scaling):
    """float64 RoPE inverse frequencies, transformers' linear and llama3 scaling (ropeInverseFrequencies)."""
    half = rotary_dim // 2
    inv = np.array([(theta if theta is not None else 10000.0) ** (-2 * i / rotary_dim) for i in range(half)], dtype=np.float64)
    if not scaling:
        return inv
    if scaling["type"] == "linear":
        return inv / scaling["factor"]
    s = scaling
    low_wl = s["original"] / s["low"]
    high_wl = s["original"] / s["high"]
    out = []
    for f in inv:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(f)
        elif wl > low_wl:
            out.append(f / s["factor"])
        else:
            sm = (s["original"] / wl - s["low"]) / (s["high"] - s["low"])
            out.append((1 - sm) * f / s["factor"] + sm * f)
    return np.array(out, dtype=np.float64)


class _Reader:
    def __init__(self, cfg, where):
        self.cfg, self.where, self.missing = cfg, where, []

    def fail(self, msg):
        raise ConfigError(f"{self.where}: {msg}")

    def _raw(self, keys):
        for k in keys:
            if self.cfg.get(k) is not None:
                return k, self.cfg[k]
        return None

    def int(self, keys, dflt=None, lo=1):
        ks = [keys] if isinstance(keys, str) else keys
        r = self._raw(ks)
        if r is None:
            if dflt is None:
                self.missing.append(ks[0])
            return 0 if dflt is None else dflt
        k, v = r
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            self.fail(f"{k} = {v!r} is not an integer >= {lo}")
        return v

    def num(self, keys, dflt, positive=True):
        r = self._raw([keys] if isinstance(keys, str) else keys)
        if r is None:
            return dflt
        k, v = r
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
            self.fail(f"{k} = {v!r} is not a positive number")
        return float(v)

    def bool(self, key, dflt):
        r = self._raw([key])
        if r is None:
            return dflt
        if not isinstance(r[1], bool):
            self.fail(f"{key} = {r[1]!r} is not true/false")
        return r[1]

    def str(self, key, dflt):
        r = self._raw([key])
        return dflt if r is None else r[1]

    def token_id(self, key, dflt):
        if key not in self.cfg:
            return dflt
        v = self.cfg[key]
        if isinstance(v, list):
            v = v[0] if v else None
        return v

    def activation(self, key, dflt):
        name = self.str(key, dflt)
        if name not in ACTIVATIONS:
            self.fail(f'{key} = "{name}" is not supported (supported: {", ".join(ACTIVATIONS)})')
        return ACTIVATIONS[name]

    def refuse(self, key, why, allowed=()):
        v = self.cfg.get(key)
        if v is None or v is False or v in allowed:
            return
        self.fail(f"{key} = {v!r}: {why}")

    def rope(self, dflt_theta, partial_keys, dflt_partial, scaling=False):
        supported = "(supported: default, linear, llama3)" if scaling else "(only plain RoPE)"
        found = None
        rs = self.cfg.get("rope_scaling")
        if rs is not None:
            typ = (rs.get("rope_type") or rs.get("type")) if isinstance(rs, dict) else rs
            if typ != "default" and not (scaling and typ in ("linear", "llama3")):
                self.fail(f"rope_scaling {rs!r} is not supported {supported}")
            if typ != "default":
                found = ("rope_scaling", rs)
        params = {}
        rp = self.cfg.get("rope_parameters")
        if rp is not None:
            if not isinstance(rp, dict):
                self.fail(f"rope_parameters {rp!r} is not an object")
            params = rp
            typ = params.get("rope_type") or params.get("type") or "default"
            if typ != "default" and not (scaling and typ in ("linear", "llama3")):
                self.fail(f'rope_parameters.rope_type "{typ}" is not supported {supported}')
            found = ("rope_parameters", params) if typ != "default" else None
        sub = _Reader(params, f"{self.where} rope_parameters")
        theta = sub.num("rope_theta", self.num(["rope_theta", "rotary_emb_base"], dflt_theta))
        partial = sub.num("partial_rotary_factor", self.num(partial_keys, dflt_partial))
        if partial > 1:
            self.fail(f"partial rotary factor {partial} is above 1")
        sc = None
        if found:
            r = _Reader(found[1], f"{self.where} {found[0]}")
            typ = found[1].get("rope_type") or found[1].get("type")
            factor = r.num("factor", float("nan"))
            if math.isnan(factor):
                r.fail(f"{typ} scaling needs factor")
            if typ == "linear":
                sc = {"type": "linear", "factor": factor}
            else:
                low, high = r.num("low_freq_factor", float("nan")), r.num("high_freq_factor", float("nan"))
                orig = r.int("original_max_position_embeddings")
                if r.missing:
                    r.fail(f"missing required field {r.missing[0]}")
                if math.isnan(low) or math.isnan(high):
                    r.fail("llama3 scaling needs low_freq_factor and high_freq_factor")
                if not high > low:
                    r.fail(f"high_freq_factor {high} must be above low_freq_factor {low}")
                sc = {"type": "llama3", "factor": factor, "low": low, "high": high, "original": orig}
        return theta, partial, sc


def _head_dim(r, d, heads, key):
    if key:
        hd = r.int(key, -1)
        if hd != -1:
            return hd
    if heads > 0 and d % heads:
        r.fail(f"hidden size {d} is not divisible by {heads} heads")
    return d // heads if heads > 0 else 0


def _llama_like(r, t, theta, max_pos, bos, eos, qkv_bias, o_bias, mlp_bias, qk_norm, window, rope=None,
                act=("hidden_act", "silu"), kv_heads=None, head_dim=None, tied=False):
    d, heads = r.int("hidden_size"), r.int("num_attention_heads")
    hd = r.int("head_dim", head_dim) if head_dim is not None else _head_dim(r, d, heads, "head_dim")
    if rope is None:
        th, partial, sc = r.rope(theta, [], 1, True)
        if partial != 1:
            r.fail(f"partial rotary factor {partial}: {t} rotates the whole head")
        rope = {"theta": th, "scaling": sc}
    flag = r.bool("attention_bias", False) if "flag" in (qkv_bias, o_bias) else False
    return Arch(
        model_type=t, layers=r.int("num_hidden_layers"), d=d, heads=heads,
        kv_heads=r.int("num_key_value_heads", kv_heads if kv_heads is not None else heads), head_dim=hd,
        intermediate=r.int("intermediate_size"), vocab=r.int("vocab_size"),
        max_positions=r.int("max_position_embeddings", max_pos), norm="rmsnorm", eps=r.num("rms_norm_eps", 1e-6),
        positions="rope", rope_theta=rope["theta"], rope_scaling=rope["scaling"], rotary_dim=hd,
        activation=r.activation(*act), gated_mlp=True, tied=r.bool("tie_word_embeddings", tied),
        bias_attention=flag if qkv_bias == "flag" else qkv_bias, bias_attention_out=flag if o_bias == "flag" else o_bias,
        bias_mlp=mlp_bias, qk_norm=qk_norm, sliding_window=window,
        bos=r.token_id("bos_token_id", bos), eos=r.token_id("eos_token_id", eos))


def _gemma_rope(r, obj, where, dflt_theta):
    if not isinstance(obj, dict):
        r.fail(f"{where} {obj!r} is not an object")
    sub = _Reader(obj, f"{r.where} {where}")
    typ = obj.get("rope_type") or obj.get("type") or "default"
    if typ not in ("default", "linear"):
        sub.fail(f"rope_type {typ!r} is not supported for gemma3_text (supported: default, linear)")
    if sub.num("partial_rotary_factor", 1) != 1:
        sub.fail("partial_rotary_factor: gemma3_text rotates the whole head")
    theta = sub.num("rope_theta", dflt_theta)
    if typ == "default":
        return {"theta": theta, "scaling": None}
    factor = sub.num("factor", float("nan"))
    if math.isnan(factor):
        sub.fail("linear scaling needs factor")
    return {"theta": theta, "scaling": {"type": "linear", "factor": factor}}


def _gemma3(r):
    for k, why in (("final_logit_softcapping", "logit soft-capping is not supported (Gemma 3 ships null)"),
                   ("attn_logit_softcapping", "attention soft-capping is not supported (Gemma 3 ships null)"),
                   ("use_bidirectional_attention", "bidirectional attention is not supported (only causal language models)")):
        r.refuse(k, why)
    full, sliding = {"rope_type": "default"}, {"rope_type": "default"}
    rp = r.cfg.get("rope_parameters")
    if rp is not None:
        if not isinstance(rp, dict):
            r.fail(f"rope_parameters {rp!r} is not an object")
        other = [k for k in rp if k not in ("full_attention", "sliding_attention")]
        if other:
            r.fail(f"rope_parameters: gemma3_text keys it by layer type (full_attention, sliding_attention), not {', '.join(other)}")
        full = rp.get("full_attention") or full
        sliding = rp.get("sliding_attention") or sliding
    where = "rope_parameters.full_attention"
    rs = r.cfg.get("rope_scaling")
    if rs is not None:
        if not isinstance(rs, dict):
            r.fail(f"rope_scaling {rs!r} is not an object")
        full = {**full, **rs}
        where = "rope_scaling"
    full = _gemma_rope(r, full, where, r.num("rope_theta", 1e6))
    sliding = _gemma_rope(r, sliding, "rope_parameters.sliding_attention", r.num("rope_local_base_freq", 1e4))
    a = _llama_like(r, "gemma3_text", 1e6, 131072, 2, 1, "flag", "flag", False, True, None, rope=full,
                    act=("hidden_activation", "gelu_pytorch_tanh"), kv_heads=4, head_dim=256, tied=True)
    lt = r.cfg.get("layer_types")
    if lt is not None:
        if not isinstance(lt, list) or len(lt) != a.layers or any(t not in ("sliding_attention", "full_attention") for t in lt):
            r.fail(f"layer_types {lt!r} must name sliding_attention or full_attention for each of the {a.layers} layers")
        layers = [t == "sliding_attention" for t in lt]
    else:
        pattern = r.int(["sliding_window_pattern", "_sliding_window_pattern"], 6)
        layers = [(i + 1) % pattern != 0 for i in range(a.layers)]
    if "sliding_window" in r.cfg and r.cfg["sliding_window"] is None and any(layers):
        r.fail("sliding_window is null but layer_types has sliding_attention layers")
    a.sliding_window = r.int("sliding_window", 4096)
    a.sliding_layers = layers
    a.local_rope = sliding
    a.attn_scale = r.num("query_pre_attn_scalar", 256) ** -0.5
    a.embed_scale = float(np.float32(math.sqrt(a.d)))
    a.post_norms = True
    a.norm_offset = 1.0
    return a


def _refuse_qwen_window(r):
    r.refuse("use_sliding_window", "sliding-window attention in Qwen layers is not supported (only use_sliding_window false)")
    lt = r.cfg.get("layer_types")
    if isinstance(lt, list) and any(t != "full_attention" for t in lt):
        r.fail(f"layer_types {lt!r}: only full_attention layers are supported")


def _parse(t, r):
    if t == "llama":
        for k in ("sliding_window", "use_sliding_window"):
            r.refuse(k, "sliding-window attention is not supported for llama (model_type mistral has it)")
        return _llama_like(r, t, 10000, 2048, 1, 2, "flag", "flag", r.bool("mlp_bias", False), False, None)
    if t == "qwen2":
        _refuse_qwen_window(r)
        return _llama_like(r, t, 10000, 32768, None, None, True, False, False, False, None)
    if t == "qwen3":
        _refuse_qwen_window(r)
        return _llama_like(r, t, 10000, 32768, None, None, "flag", "flag", False, True, None)
    if t == "mistral":
        r.refuse("attention_bias", "attention biases are not part of mistral")
        window = (None if r.cfg["sliding_window"] is None else r.int("sliding_window")) if "sliding_window" in r.cfg else 4096
        return _llama_like(r, t, 10000, 4096 * 32, 1, 2, False, False, False, False, window)
    if t == "gemma3_text":
        return _gemma3(r)
    if t == "gpt2":
        r.refuse("scale_attn_by_inverse_layer_idx", "per-layer attention scaling is not supported")
        r.refuse("add_cross_attention", "cross-attention is not supported")
        if not r.bool("scale_attn_weights", True):
            r.fail("scale_attn_weights = false: unscaled attention is not supported")
        d, heads = r.int("n_embd"), r.int("n_head")
        return Arch(model_type=t, layers=r.int("n_layer"), d=d, heads=heads, kv_heads=heads, head_dim=_head_dim(r, d, heads, None),
                    intermediate=r.int("n_inner", 4 * d), vocab=r.int("vocab_size"), max_positions=r.int(["n_positions", "n_ctx"], 1024),
                    norm="layernorm", eps=r.num("layer_norm_epsilon", 1e-5), positions="learned",
                    activation=r.activation("activation_function", "gelu_new"), tied=r.bool("tie_word_embeddings", True),
                    bias_attention=True, bias_attention_out=True, bias_mlp=True,
                    bos=r.token_id("bos_token_id", 50256), eos=r.token_id("eos_token_id", 50256))
    if t == "gpt_neox":
        d, heads = r.int("hidden_size"), r.int("num_attention_heads")
        hd = _head_dim(r, d, heads, None)
        theta, partial, _ = r.rope(10000, ["partial_rotary_factor", "rotary_pct"], 0.25)
        bias = r.bool("attention_bias", True)
        return Arch(model_type=t, layers=r.int("num_hidden_layers"), d=d, heads=heads, kv_heads=heads, head_dim=hd,
                    intermediate=r.int("intermediate_size"), vocab=r.int("vocab_size"), max_positions=r.int("max_position_embeddings", 2048),
                    norm="layernorm", eps=r.num("layer_norm_eps", 1e-5), positions="rope", rope_theta=theta,
                    rotary_dim=int(math.floor(hd * partial)), activation=r.activation("hidden_act", "gelu"),
                    tied=r.bool("tie_word_embeddings", False), bias_attention=bias, bias_attention_out=bias, bias_mlp=True,
                    parallel=r.bool("use_parallel_residual", True), bos=r.token_id("bos_token_id", 0), eos=r.token_id("eos_token_id", 2))
    if t == "phi":
        if r.bool("qk_layernorm", False):
            r.fail("qk_layernorm = true: query/key layer norms are not supported")
        d, heads = r.int("hidden_size"), r.int("num_attention_heads")
        hd = _head_dim(r, d, heads, None)
        theta, partial, _ = r.rope(10000, ["partial_rotary_factor"], 0.5)
        return Arch(model_type=t, layers=r.int("num_hidden_layers"), d=d, heads=heads, kv_heads=r.int("num_key_value_heads", heads),
                    head_dim=hd, intermediate=r.int("intermediate_size"), vocab=r.int("vocab_size"),
                    max_positions=r.int("max_position_embeddings", 2048), norm="layernorm", eps=r.num("layer_norm_eps", 1e-5),
                    positions="rope", rope_theta=theta, rotary_dim=int(math.floor(hd * partial)),
                    activation=r.activation("hidden_act", "gelu_new"), tied=r.bool("tie_word_embeddings", False),
                    bias_attention=True, bias_attention_out=True, bias_mlp=True, bias_head=True, parallel=True,
                    bos=r.token_id("bos_token_id", 1), eos=r.token_id("eos_token_id", 2))
    raise AssertionError(t)


def parse_config(cfg, where="config.json"):
    """The Arch of a parsed config.json; ConfigError names the field when the studio would refuse it."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: not a JSON object")
    t = cfg.get("model_type")
    if not isinstance(t, str):
        raise ConfigError(f"{where}: missing required field model_type")
    if t not in MODEL_TYPES:
        raise ConfigError(f'{where}: model_type "{t}" is not supported (supported: {", ".join(MODEL_TYPES)})')
    r = _Reader(cfg, f"{where} ({t})")
    a = _parse(t, r)
    if r.missing:
        r.fail(f"missing required field{'s' if len(r.missing) > 1 else ''} {', '.join(r.missing)}")
    if a.heads % a.kv_heads:
        r.fail(f"num_attention_heads {a.heads} is not a multiple of the key/value heads {a.kv_heads}")
    if a.rotary_dim % 2 or a.rotary_dim > a.head_dim:
        r.fail(f"rotary dimension {a.rotary_dim} must be even and at most the head dimension {a.head_dim}")
    if a.positions == "rope" and a.rotary_dim == 0:
        r.fail("rotary dimension is 0")
    a.raw = cfg
    return a
