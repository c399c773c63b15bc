#!/usr/bin/env python3
"""A teacher with the exact config of a popular checkpoint and random weights, saved by transformers in
the checkpoint's own bf16 layout, for the real-shapes benchmark (issue 11: load time, eval and stage
tokens/s, peak GPU memory). Memory and speed depend on the shapes only, not on the values.

    python3 scripts/bench/shaped_teacher.py --shape NAME --out DIR

NAME is one of SHAPES below; the configs carry the published values of each model's config.json.
The tokenizer is a small fixture tokenizer of the same family (tests/fixtures; 512 ids, which every
embedding here accepts), so the corpus tokenizes the same way for every shape.
"""
import argparse
import json
import os
import shutil
import time

import torch
import transformers

LLAMA3_ROPE = {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}

def gemma3_text(hidden, intermediate, layers):
    """Gemma 3 270M / 1B (text): 4 query heads and 1 key/value head of 256, five sliding layers (window 512,
    rope base 10k) to one full (base 1M), 262k ids, tied head."""
    return dict(
        architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", hidden_size=hidden, intermediate_size=intermediate,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=1, head_dim=256, query_pre_attn_scalar=256,
        max_position_embeddings=32768, sliding_window=512,
        layer_types=["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)],
        rope_parameters={"full_attention": {"rope_theta": 1000000.0, "rope_type": "default"},
                         "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}},
        vocab_size=262144, hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6, tie_word_embeddings=True,
        attn_logit_softcapping=None, final_logit_softcapping=None, bos_token_id=2, eos_token_id=1, pad_token_id=0)


SHAPES = {
    "phi-1.5": ("phi", dict(
        architectures=["PhiForCausalLM"], model_type="phi", hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
        num_attention_heads=32, num_key_value_heads=32, partial_rotary_factor=0.5, rope_theta=10000.0, max_position_embeddings=2048,
        vocab_size=51200, hidden_act="gelu_new", layer_norm_eps=1e-5, tie_word_embeddings=False, qk_layernorm=False,
        bos_token_id=1, eos_token_id=2)),
    "llama-3.2-1b": ("llama-gqa", dict(
        architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072, rope_theta=500000.0,
        rope_scaling=LLAMA3_ROPE, vocab_size=128256, hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=True,
        attention_bias=False, mlp_bias=False, bos_token_id=128000, eos_token_id=128001)),
    "smollm2-135m": ("llama-gqa", dict(
        architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192, rope_theta=100000.0,
        vocab_size=49152, hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        bos_token_id=1, eos_token_id=2)),
    "qwen2.5-0.5b": ("qwen2", dict(
        architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0, vocab_size=151936,
        hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False, bos_token_id=151643,
        eos_token_id=151643)),
    "qwen3-0.6b": ("qwen3", dict(
        architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, rope_theta=1000000.0,
        vocab_size=151936, hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=True, attention_bias=False,
        use_sliding_window=False, bos_token_id=151643, eos_token_id=151645)),
    # Mistral-7B-v0.1: Llama with GQA and a 4096-token sliding window (plain causal below 4096 tokens). 7.2B
    # parameters, 14.5 GB in bf16: stages 1-2 streamed (--stream-layers) are the 24 GB card's part of it.
    "mistral-7b": ("mistral-swa", dict(
        architectures=["MistralForCausalLM"], model_type="mistral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=32768, rope_theta=10000.0,
        sliding_window=4096, vocab_size=32000, hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2)),
    "gemma-3-270m": ("gemma3", gemma3_text(640, 2048, 18)),
    "gemma-3-1b": ("gemma3", gemma3_text(1152, 6912, 26)),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", required=True, choices=sorted(SHAPES))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    fixture, cfg = SHAPES[a.shape]
    t0 = time.time()
    config = transformers.AutoConfig.for_model(**cfg)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(a.out, safe_serialization=True)
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "..", "tests", "fixtures", fixture)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, name), os.path.join(a.out, name))
    params = sum(p.numel() for p in model.parameters())
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out) if f.endswith(".safetensors"))
    print(json.dumps({"shape": a.shape, "out": a.out, "parameters": params, "safetensors_bytes": size, "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
