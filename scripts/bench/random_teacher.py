#!/usr/bin/env python3
"""A Mistral-shaped teacher with random bf16 weights, written without torch or transformers (numpy
only): for timing the host side of loading on a machine without them (issue 11). The safetensors
header is written by hand; the tokenizer is tests/fixtures/mistral-swa's (512 ids).

    python3 scripts/bench/random_teacher.py --out DIR [--layers 4] [--d 4096] [--ff 14336] [--heads 32] [--kv 8] [--vocab 32000]
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--ff", type=int, default=14336)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=32000)
    a = ap.parse_args()
    d, hd = a.d, a.d // a.heads
    shapes = [("model.embed_tokens.weight", [a.vocab, d])]
    for i in range(a.layers):
        p = f"model.layers.{i}."
        shapes += [
            (p + "input_layernorm.weight", [d]),
            (p + "post_attention_layernorm.weight", [d]),
            (p + "self_attn.q_proj.weight", [a.heads * hd, d]),
            (p + "self_attn.k_proj.weight", [a.kv * hd, d]),
            (p + "self_attn.v_proj.weight", [a.kv * hd, d]),
            (p + "self_attn.o_proj.weight", [d, a.heads * hd]),
            (p + "mlp.gate_proj.weight", [a.ff, d]),
            (p + "mlp.up_proj.weight", [a.ff, d]),
            (p + "mlp.down_proj.weight", [d, a.ff]),
        ]
    shapes += [("model.norm.weight", [d]), ("lm_head.weight", [a.vocab, d])]
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for n, s in shapes:
        size = int(np.prod(s)) * 2
        header[n] = {"dtype": "BF16", "shape": s, "data_offsets": [off, off + size]}
        off += size
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(0)
    # One pool of bf16 values (the top halves of f32 normals × 0.02), cut at random offsets: the values
    # do not matter for timing, and drawing billions of normals would take longer than the run.
    pool = (rng.standard_normal(1 << 24, dtype=np.float32) * 0.02).view(np.uint32) >> 16
    pool = pool.astype(np.uint16)
    ones = np.full(1, 0x3F80, dtype=np.uint16)  # bf16 1.0
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for n, s in shapes:
            count = int(np.prod(s))
            if len(s) == 1:
                f.write(np.repeat(ones, count).tobytes())
                continue
            left = count
            while left > 0:
                k = min(left, len(pool) // 2)
                start = int(rng.integers(0, len(pool) - k + 1))
                f.write(pool[start:start + k].tobytes())
                left -= k
    cfg = dict(
        architectures=["MistralForCausalLM"], model_type="mistral", hidden_size=d, intermediate_size=a.ff,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv, head_dim=hd,
        max_position_embeddings=32768, rope_theta=10000.0, sliding_window=4096, vocab_size=a.vocab, hidden_act="silu",
        rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, dtype="bfloat16",
        _name_or_path=f"teacher-mistral-{a.layers}x{d}")
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "mistral-swa")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, name), os.path.join(a.out, name))
    params = sum(int(np.prod(s)) for _, s in shapes)
    print(json.dumps({"out": a.out, "parameters": params, "bytes": 8 + len(h) + off}))


if __name__ == "__main__":
    main()
