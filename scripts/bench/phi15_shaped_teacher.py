#!/usr/bin/env python3
"""A teacher with Phi-1.5's shapes and random weights, for the layer-streaming benchmark (issue 5:
stages 1 and 2 of a Phi-1.5-shaped teacher in under 2 GiB of GPU memory).

    python3 scripts/bench/phi15_shaped_teacher.py --out DIR

DIR gets config.json with microsoft/phi-1_5's published values (24 layers, d 2048, 32 heads, MLP
8192, partial rotary 0.5, vocab 51200, untied head with bias), model.safetensors in BF16 as the
published checkpoint is stored (1,418,270,720 parameters: normal(0, 0.02) matrices, LayerNorm weights
1, biases 0; seed 0), and the small phi fixture's tokenizer (tests/fixtures/phi; 512 ids, which a
51,200-row embedding accepts). Memory and speed do not depend on the values, only on the shapes.
"""
import argparse
import json
import os
import shutil
import struct

import torch

CONFIG = {
    "architectures": ["PhiForCausalLM"],
    "model_type": "phi",
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 24,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "partial_rotary_factor": 0.5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 2048,
    "vocab_size": 51200,
    "hidden_act": "gelu_new",
    "layer_norm_eps": 1e-05,
    "tie_word_embeddings": False,
    "qk_layernorm": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "bfloat16",
}


def tensors():
    d, f, v, n = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"], CONFIG["num_hidden_layers"]
    yield "model.embed_tokens.weight", (v, d), "normal"
    for i in range(n):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (d,), "ones"
        yield p + "input_layernorm.bias", (d,), "zeros"
        for name in ("q_proj", "k_proj", "v_proj", "dense"):
            yield p + f"self_attn.{name}.weight", (d, d), "normal"
            yield p + f"self_attn.{name}.bias", (d,), "zeros"
        yield p + "mlp.fc1.weight", (f, d), "normal"
        yield p + "mlp.fc1.bias", (f,), "zeros"
        yield p + "mlp.fc2.weight", (d, f), "normal"
        yield p + "mlp.fc2.bias", (d,), "zeros"
    yield "model.final_layernorm.weight", (d,), "ones"
    yield "model.final_layernorm.bias", (d,), "zeros"
    yield "lm_head.weight", (v, d), "normal"
    yield "lm_head.bias", (v,), "zeros"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    header, offset, specs = {"__metadata__": {"format": "pt"}}, 0, list(tensors())
    for name, shape, _ in specs:
        nbytes = 2 * int(torch.tensor(shape).prod())
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    count = 0
    with open(os.path.join(a.out, "model.safetensors"), "wb") as out:
        out.write(struct.pack("<Q", len(h)))
        out.write(h)
        for name, shape, kind in specs:
            if kind == "normal":
                t = torch.empty(shape, dtype=torch.float32).normal_(0, 0.02, generator=g)
            else:
                t = torch.ones(shape) if kind == "ones" else torch.zeros(shape)
            out.write(t.to(torch.bfloat16).view(torch.int16).numpy().tobytes())
            count += t.numel()
    with open(os.path.join(a.out, "config.json"), "w") as fh:
        json.dump(CONFIG, fh, indent=2)
    here = os.path.dirname(os.path.abspath(__file__))
    fixture = os.path.join(here, "..", "..", "tests", "fixtures", "phi")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(fixture, name), os.path.join(a.out, name))
    print(json.dumps({"out": a.out, "parameters": count, "bytes": offset}))


if __name__ == "__main__":
    main()
