import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, layerAttention, parseConfig, ropeInverseFrequencies } from '../../src/io/config';

import { TEACHER_DIR as TEACHER } from '../helpers/data';

// config.json files as transformers 5.17 saves them (save_pretrained of the default config classes
// and of small ones), and real 4.x-era files from the Hub.
const V5 = {
  llama: { attention_bias: false, attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2, head_dim: 128, hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02, intermediate_size: 11008, max_position_embeddings: 2048, mlp_bias: false, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 32, pad_token_id: null, pretraining_tp: 1, rms_norm_eps: 1e-6, rope_parameters: { rope_theta: 10000.0, rope_type: 'default' }, tie_word_embeddings: false, transformers_version: '5.17.0', use_cache: true, vocab_size: 32000 },
  gpt2: { activation_function: 'gelu_new', add_cross_attention: false, attn_pdrop: 0.1, bos_token_id: 50256, embd_pdrop: 0.1, eos_token_id: 50256, initializer_range: 0.02, layer_norm_epsilon: 1e-5, model_type: 'gpt2', n_embd: 768, n_head: 12, n_inner: null, n_layer: 12, n_positions: 1024, pad_token_id: null, reorder_and_upcast_attn: false, resid_pdrop: 0.1, scale_attn_by_inverse_layer_idx: false, scale_attn_weights: true, summary_activation: null, summary_first_dropout: 0.1, summary_proj_to_labels: true, summary_type: 'cls_index', summary_use_proj: true, tie_word_embeddings: true, transformers_version: '5.17.0', use_cache: true, vocab_size: 50257 },
  neoxSmall: { attention_bias: true, attention_dropout: 0.0, bos_token_id: 0, classifier_dropout: 0.1, eos_token_id: 2, hidden_act: 'gelu', hidden_dropout: 0.0, hidden_size: 64, initializer_range: 0.02, intermediate_size: 256, is_decoder: false, layer_norm_eps: 1e-5, max_position_embeddings: 2048, model_type: 'gpt_neox', num_attention_heads: 4, num_hidden_layers: 2, pad_token_id: null, rope_parameters: { partial_rotary_factor: 0.5, rope_theta: 10000.0, rope_type: 'default' }, tie_word_embeddings: false, transformers_version: '5.17.0', use_cache: true, use_parallel_residual: true, vocab_size: 1000 },
  phiSmall: { attention_dropout: 0.0, bos_token_id: 1, embd_pdrop: 0.0, eos_token_id: 2, hidden_act: 'gelu_new', hidden_size: 64, initializer_range: 0.02, intermediate_size: 256, layer_norm_eps: 1e-5, max_position_embeddings: 2048, model_type: 'phi', num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 4, pad_token_id: null, partial_rotary_factor: 0.4, qk_layernorm: false, resid_pdrop: 0.0, rope_parameters: { partial_rotary_factor: 0.4, rope_theta: 10000.0, rope_type: 'default' }, tie_word_embeddings: false, transformers_version: '5.17.0', use_cache: true, vocab_size: 1000 },
  llama32: { hidden_size: 2048, intermediate_size: 8192, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 16, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, max_position_embeddings: 131072, rope_parameters: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_theta: 500000.0, rope_type: 'llama3' }, tie_word_embeddings: true },
  llamaLinear: { hidden_size: 4096, intermediate_size: 11008, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 32, vocab_size: 32000, rope_parameters: { factor: 2.0, rope_theta: 10000.0, rope_type: 'linear' } },
};

const V4 = {
  // Llama-3.2-1B, Qwen2.5-0.5B, Qwen3-0.6B and Mistral-7B-v0.1 config.json files, as on the Hub.
  llama32: { architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000, eos_token_id: 128001, head_dim: 64, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 8192, max_position_embeddings: 131072, mlp_bias: false, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 16, num_key_value_heads: 8, pretraining_tp: 1, rms_norm_eps: 1e-5, rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' }, rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0.dev0', use_cache: true, vocab_size: 128256 },
  qwen25: { architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151643, hidden_act: 'silu', hidden_size: 896, initializer_range: 0.02, intermediate_size: 4864, max_position_embeddings: 32768, max_window_layers: 24, model_type: 'qwen2', num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.40.1', use_cache: true, use_sliding_window: false, vocab_size: 151936 },
  qwen3: { architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645, head_dim: 128, hidden_act: 'silu', hidden_size: 1024, initializer_range: 0.02, intermediate_size: 3072, max_position_embeddings: 40960, max_window_layers: 28, model_type: 'qwen3', num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 8, rms_norm_eps: 1e-6, rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: 151936 },
  mistral7b: { architectures: ['MistralForCausalLM'], bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02, intermediate_size: 14336, max_position_embeddings: 32768, model_type: 'mistral', num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 10000.0, sliding_window: 4096, tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.34.0.dev0', use_cache: true, vocab_size: 32000 },
  pythia70m: { architectures: ['GPTNeoXForCausalLM'], bos_token_id: 0, eos_token_id: 0, hidden_act: 'gelu', hidden_size: 512, initializer_range: 0.02, intermediate_size: 2048, layer_norm_eps: 1e-5, max_position_embeddings: 2048, model_type: 'gpt_neox', num_attention_heads: 8, num_hidden_layers: 6, rotary_emb_base: 10000, rotary_pct: 0.25, tie_word_embeddings: false, torch_dtype: 'float16', transformers_version: '4.24.0', use_cache: true, use_parallel_residual: true, vocab_size: 50304 },
  gpt2: { activation_function: 'gelu_new', architectures: ['GPT2LMHeadModel'], attn_pdrop: 0.1, bos_token_id: 50256, embd_pdrop: 0.1, eos_token_id: 50256, initializer_range: 0.02, layer_norm_epsilon: 1e-5, model_type: 'gpt2', n_ctx: 1024, n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, resid_pdrop: 0.1, summary_activation: null, summary_first_dropout: 0.1, summary_proj_to_labels: true, summary_type: 'cls_index', summary_use_proj: true, vocab_size: 50257 },
  phi2: { architectures: ['PhiForCausalLM'], attention_dropout: 0.0, bos_token_id: 50256, embd_pdrop: 0.0, eos_token_id: 50256, hidden_act: 'gelu_new', hidden_size: 2560, initializer_range: 0.02, intermediate_size: 10240, layer_norm_eps: 1e-5, max_position_embeddings: 2048, model_type: 'phi', num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 32, partial_rotary_factor: 0.4, qk_layernorm: false, resid_pdrop: 0.1, rope_scaling: null, rope_theta: 10000.0, tie_word_embeddings: false, torch_dtype: 'float16', transformers_version: '4.37.0', use_cache: true, vocab_size: 51200 },
  // Shaped as google/gemma-3-270m's config.json of the 4.x era (its sizes, token ids, window, RoPE
  // bases and pattern as published); gemma-3-4b's text part differs in its sizes and in rope_scaling
  // { factor 8, rope_type linear }.
  gemma3_270m: {
    _sliding_window_pattern: 6, architectures: ['Gemma3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, attn_logit_softcapping: null, bos_token_id: 2, eos_token_id: 1,
    final_logit_softcapping: null, head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', hidden_size: 640, initializer_range: 0.02, intermediate_size: 2048,
    layer_types: [...Array(18).keys()].map((i) => ((i + 1) % 6 ? 'sliding_attention' : 'full_attention')), max_position_embeddings: 32768, model_type: 'gemma3_text',
    num_attention_heads: 4, num_hidden_layers: 18, num_key_value_heads: 1, pad_token_id: 0, query_pre_attn_scalar: 256, rms_norm_eps: 1e-6, rope_local_base_freq: 10000.0,
    rope_scaling: null, rope_theta: 1000000.0, sliding_window: 512, torch_dtype: 'bfloat16', transformers_version: '4.55.0.dev0', use_bidirectional_attention: false,
    use_cache: true, vocab_size: 262144,
  },
  tinyllama: { architectures: ['LlamaForCausalLM'], attention_bias: false, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 5632, max_position_embeddings: 2048, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 22, num_key_value_heads: 4, pretraining_tp: 1, rms_norm_eps: 1e-5, rope_scaling: null, rope_theta: 10000.0, tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.35.0', use_cache: true, vocab_size: 32000 },
};

/** What every architecture but gemma3_text has: one kind of layer, plain embeddings and norms. */
const PLAIN = { slidingLayers: null, localRope: null, attnScale: null, embedScale: 1, postNorms: false, normWeightOffset: 0 };

function error(json: unknown): string {
  try {
    parseConfig(json);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('parseConfig accepted the config');
}

describe('parseConfig', () => {
  it('reads the stories260K config.json', () => {
    expect(parseConfig(readFileSync(`${TEACHER}/config.json`, 'utf8'))).toEqual({
      modelType: 'llama', layers: 5, dModel: 64, heads: 8, kvHeads: 4, headDim: 8, intermediate: 172, vocab: 512,
      maxPositions: 512, norm: 'rmsnorm', normEps: 1e-5, positions: 'rope', ropeTheta: 10000, ropeScaling: null, rotaryDim: 8,
      activation: 'silu', gatedMlp: true, tiedEmbeddings: true, biases: { attention: false, attentionOut: false, mlp: false, lmHead: false },
      qkNorm: false, slidingWindow: null, parallelResidual: false, bosId: 1, eosId: 2, ...PLAIN,
    });
  });

  it('reads llama configs of both transformers layouts', () => {
    const v5 = parseConfig(V5.llama);
    expect(v5).toMatchObject({ layers: 32, dModel: 4096, heads: 32, kvHeads: 32, headDim: 128, rotaryDim: 128, ropeTheta: 10000, normEps: 1e-6, tiedEmbeddings: false });
    const v4 = parseConfig(V4.tinyllama);
    expect(v4).toMatchObject({ layers: 22, dModel: 2048, heads: 32, kvHeads: 4, headDim: 64, rotaryDim: 64, intermediate: 5632, normEps: 1e-5 });
    expect(parseConfig({ ...V4.tinyllama, rope_theta: 500000, attention_bias: true, mlp_bias: true }).biases).toEqual({ attention: true, attentionOut: true, mlp: true, lmHead: false });
    expect(parseConfig({ ...V4.tinyllama, rope_theta: 500000 }).ropeTheta).toBe(500000);
  });

  it('reads gpt2', () => {
    for (const c of [V5.gpt2, V4.gpt2]) {
      expect(parseConfig(c)).toEqual({
        modelType: 'gpt2', layers: 12, dModel: 768, heads: 12, kvHeads: 12, headDim: 64, intermediate: 3072, vocab: 50257,
        maxPositions: 1024, norm: 'layernorm', normEps: 1e-5, positions: 'learned', ropeTheta: null, ropeScaling: null, rotaryDim: 0,
        activation: 'gelu_tanh', gatedMlp: false, tiedEmbeddings: true, biases: { attention: true, attentionOut: true, mlp: true, lmHead: false },
        qkNorm: false, slidingWindow: null, parallelResidual: false, bosId: 50256, eosId: 50256, ...PLAIN,
      });
    }
    expect(parseConfig({ ...V4.gpt2, n_inner: 1000 }).intermediate).toBe(1000);
  });

  it('reads gpt_neox with partial rotary from rotary_pct or rope_parameters', () => {
    expect(parseConfig(V4.pythia70m)).toMatchObject({
      layers: 6, dModel: 512, heads: 8, kvHeads: 8, headDim: 64, rotaryDim: 16, ropeTheta: 10000, activation: 'gelu',
      norm: 'layernorm', parallelResidual: true, tiedEmbeddings: false, vocab: 50304, biases: { attention: true, mlp: true, lmHead: false },
      bosId: 0, eosId: 0,
    });
    expect(parseConfig(V5.neoxSmall)).toMatchObject({ headDim: 16, rotaryDim: 8, parallelResidual: true });
    expect(parseConfig({ ...V4.pythia70m, use_parallel_residual: false }).parallelResidual).toBe(false);
  });

  it('reads phi with its partial rotary factor and lm_head bias', () => {
    expect(parseConfig(V4.phi2)).toMatchObject({
      layers: 32, dModel: 2560, heads: 32, kvHeads: 32, headDim: 80, rotaryDim: 32, activation: 'gelu_tanh',
      parallelResidual: true, biases: { attention: true, mlp: true, lmHead: true }, bosId: 50256, eosId: 50256,
    });
    // int(0.4 · 16) = 6
    expect(parseConfig(V5.phiSmall)).toMatchObject({ headDim: 16, rotaryDim: 6 });
  });

  it('reads Llama rope scaling (linear, llama3) from both layouts, with float64 inverse frequencies', () => {
    const lin = parseConfig(V5.llamaLinear);
    expect(lin.ropeScaling).toEqual({ type: 'linear', factor: 2 });
    expect(parseConfig({ ...V4.tinyllama, rope_scaling: { type: 'linear', factor: 4 } }).ropeScaling).toEqual({ type: 'linear', factor: 4 });
    const inv = ropeInverseFrequencies(lin);
    expect(inv[0]).toBe(0.5);
    expect(inv[5]).toBeCloseTo(10000 ** (-10 / 128) / 2, 15);
    const l3 = parseConfig(V4.llama32);
    expect(l3.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
    expect(l3.ropeTheta).toBe(500000);
    expect(parseConfig(V5.llama32).ropeScaling).toEqual(l3.ropeScaling);
    // transformers' _compute_llama3_parameters: wavelengths under 8192/4 keep their frequency, over
    // 8192/1 are divided by 32, and in between blend with smooth = (8192/wavelen − 1)/(4 − 1).
    const f = ropeInverseFrequencies(l3);
    const plain = ropeInverseFrequencies({ ...l3, ropeScaling: null });
    for (let i = 0; i < f.length; i++) {
      const wl = (2 * Math.PI) / plain[i]!;
      const smooth = (8192 / wl - 1) / 3;
      const want = wl < 2048 ? plain[i]! : wl > 8192 ? plain[i]! / 32 : ((1 - smooth) * plain[i]!) / 32 + smooth * plain[i]!;
      expect(f[i]).toBe(want);
    }
    expect(f[0]).toBe(1);
    expect(f[31]).toBe(plain[31]! / 32);
    expect(f.filter((x, i) => x !== plain[i] && x !== plain[i]! / 32).length).toBeGreaterThan(0);
  });

  it('reads qwen2: q/k/v biases without an o bias, tied head per tie_word_embeddings', () => {
    expect(parseConfig(V4.qwen25)).toEqual({
      modelType: 'qwen2', layers: 24, dModel: 896, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864, vocab: 151936,
      maxPositions: 32768, norm: 'rmsnorm', normEps: 1e-6, positions: 'rope', ropeTheta: 1000000, ropeScaling: null, rotaryDim: 64,
      activation: 'silu', gatedMlp: true, tiedEmbeddings: true, biases: { attention: true, attentionOut: false, mlp: false, lmHead: false },
      qkNorm: false, slidingWindow: null, parallelResidual: false, bosId: 151643, eosId: 151643, ...PLAIN,
    });
    expect(parseConfig({ ...V4.qwen25, tie_word_embeddings: false }).tiedEmbeddings).toBe(false);
    expect(error({ ...V4.qwen25, use_sliding_window: true })).toMatch(/^config\.json \(qwen2\): use_sliding_window = true: sliding-window attention in Qwen layers is not supported/);
    expect(error({ ...V4.qwen25, layer_types: ['full_attention', 'sliding_attention'] })).toMatch(/layer_types .*only full_attention/);
  });

  it('reads qwen3: q/k norms, head_dim independent of hidden/heads, attention_bias', () => {
    expect(parseConfig(V4.qwen3)).toMatchObject({
      modelType: 'qwen3', layers: 28, dModel: 1024, heads: 16, kvHeads: 8, headDim: 128, rotaryDim: 128, ropeTheta: 1000000,
      qkNorm: true, tiedEmbeddings: true, biases: { attention: false, attentionOut: false, mlp: false, lmHead: false }, slidingWindow: null,
      bosId: 151643, eosId: 151645,
    });
    expect(parseConfig({ ...V4.qwen3, attention_bias: true }).biases).toEqual({ attention: true, attentionOut: true, mlp: false, lmHead: false });
    expect(error({ ...V4.qwen3, use_sliding_window: true })).toMatch(/use_sliding_window = true/);
    expect(error({ ...V4.qwen3, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toMatch(/yarn.* is not supported/);
  });

  it('reads mistral with its sliding window', () => {
    expect(parseConfig(V4.mistral7b)).toMatchObject({
      modelType: 'mistral', layers: 32, dModel: 4096, heads: 32, kvHeads: 8, headDim: 128, intermediate: 14336, ropeTheta: 10000,
      slidingWindow: 4096, qkNorm: false, biases: { attention: false, attentionOut: false, mlp: false, lmHead: false }, bosId: 1, eosId: 2,
    });
    expect(parseConfig({ ...V4.mistral7b, sliding_window: null, rope_theta: 1e6 })).toMatchObject({ slidingWindow: null, ropeTheta: 1e6 });
    const { sliding_window: _w, ...noWindow } = V4.mistral7b;
    expect(parseConfig(noWindow).slidingWindow).toBe(4096);
    expect(error({ ...V4.mistral7b, sliding_window: 0 })).toMatch(/sliding_window = 0 is not an integer ≥ 1/);
  });

  it('reads gemma3_text: two kinds of layer with their own RoPE, scaled scores and embeddings, 1 + w norms', () => {
    const sliding = [...Array(18).keys()].map((i) => (i + 1) % 6 !== 0);
    expect(parseConfig(V4.gemma3_270m)).toEqual({
      modelType: 'gemma3_text', layers: 18, dModel: 640, heads: 4, kvHeads: 1, headDim: 256, intermediate: 2048, vocab: 262144,
      maxPositions: 32768, norm: 'rmsnorm', normEps: 1e-6, positions: 'rope', ropeTheta: 1e6, ropeScaling: null, rotaryDim: 256,
      activation: 'gelu_tanh', gatedMlp: true, tiedEmbeddings: true, biases: { attention: false, attentionOut: false, mlp: false, lmHead: false },
      qkNorm: true, slidingWindow: 512, parallelResidual: false, bosId: 2, eosId: 1,
      slidingLayers: sliding, localRope: { theta: 1e4, scaling: null }, attnScale: 1 / 16, embedScale: Math.fround(Math.sqrt(640)), postNorms: true, normWeightOffset: 1,
    });
    const c = parseConfig(V4.gemma3_270m);
    expect(c.embedScale).not.toBe(Math.sqrt(640));
    expect(layerAttention(c, 0)).toEqual({ window: 512, ropeTheta: 1e4, ropeScaling: null, scale: 1 / 16 });
    expect(layerAttention(c, 5)).toEqual({ window: null, ropeTheta: 1e6, ropeScaling: null, scale: 1 / 16 });
    // Without layer_types: every sliding_window_pattern-th layer is full (transformers' default 6).
    const { layer_types: _t, ...noTypes } = V4.gemma3_270m;
    expect(parseConfig(noTypes).slidingLayers).toEqual(sliding);
    expect(parseConfig({ ...noTypes, sliding_window_pattern: 2 }).slidingLayers).toEqual(sliding.map((_, i) => i % 2 === 0));
    // 4.x rope_scaling is the full-attention layers' (gemma-3-4b: linear, factor 8); the local base stays plain.
    const scaled = parseConfig({ ...V4.gemma3_270m, rope_scaling: { factor: 8.0, rope_type: 'linear' } });
    expect([scaled.ropeTheta, scaled.ropeScaling, scaled.localRope]).toEqual([1e6, { type: 'linear', factor: 8 }, { theta: 1e4, scaling: null }]);
    // 5.x rope_parameters keyed by layer type, with or without their own bases.
    const { rope_theta: _r, rope_local_base_freq: _l, rope_scaling: _s, ...noRope } = V4.gemma3_270m;
    const v5 = parseConfig({ ...noRope, rope_parameters: { full_attention: { rope_type: 'linear', factor: 8.0, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } } });
    expect([v5.ropeTheta, v5.ropeScaling, v5.localRope]).toEqual([1e6, { type: 'linear', factor: 8 }, { theta: 1e4, scaling: null }]);
    const mixed = parseConfig({ ...V4.gemma3_270m, rope_theta: 5e5, rope_local_base_freq: 2e4, rope_parameters: { full_attention: { factor: 8.0, rope_type: 'linear' }, sliding_attention: { rope_type: 'default' } } });
    expect([mixed.ropeTheta, mixed.localRope!.theta]).toEqual([5e5, 2e4]);
    const defaults = parseConfig(noRope);
    expect([defaults.ropeTheta, defaults.ropeScaling, defaults.localRope]).toEqual([1e6, null, { theta: 1e4, scaling: null }]);
    expect(parseConfig({ ...V4.gemma3_270m, query_pre_attn_scalar: 168, attention_bias: true })).toMatchObject({ attnScale: 168 ** -0.5, biases: { attention: true, attentionOut: true } });
  });

  it('refuses what gemma3_text does not support, by name', () => {
    const g = V4.gemma3_270m;
    expect(error({ ...g, final_logit_softcapping: 30.0 })).toMatch(/^config\.json \(gemma3_text\): final_logit_softcapping = 30: logit soft-capping is not supported/);
    expect(error({ ...g, attn_logit_softcapping: 50.0 })).toMatch(/attn_logit_softcapping = 50: attention soft-capping is not supported/);
    expect(error({ ...g, use_bidirectional_attention: true })).toMatch(/use_bidirectional_attention = true: bidirectional attention is not supported/);
    expect(error({ ...g, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toMatch(/rope_scaling: rope_type "yarn" is not supported for gemma3_text \(supported: default, linear\)/);
    expect(error({ ...g, rope_parameters: { full_attention: { rope_type: 'default' }, sliding_attention: { rope_type: 'dynamic', factor: 2 } } })).toMatch(/rope_parameters\.sliding_attention: rope_type "dynamic" is not supported/);
    expect(error({ ...g, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } })).toMatch(/keys it by layer type \(full_attention, sliding_attention\), not rope_type, rope_theta/);
    expect(error({ ...g, rope_scaling: { rope_type: 'linear' } })).toMatch(/linear scaling needs factor/);
    expect(error({ ...g, layer_types: ['sliding_attention'] })).toMatch(/layer_types .* must name sliding_attention or full_attention for each of the 18 layers/);
    expect(error({ ...g, layer_types: g.layer_types.map((t, i) => (i === 3 ? 'chunked_attention' : t)) })).toMatch(/layer_types/);
    expect(error({ ...g, sliding_window: null })).toMatch(/sliding_window is null but layer_types has sliding_attention layers/);
    expect(error({ ...g, hidden_activation: 'relu2' })).toMatch(/hidden_activation = "relu2" is not supported/);
  });

  it('takes the first of several EOS ids', () => {
    expect(parseConfig({ ...V4.tinyllama, eos_token_id: [2, 32000] }).eosId).toBe(2);
    expect(parseConfig({ ...V4.tinyllama, bos_token_id: null }).bosId).toBe(null);
  });

  it('refuses unknown model types by name', () => {
    expect(error({ ...V4.tinyllama, model_type: 'gemma2' })).toBe('config.json: model_type "gemma2" is not supported (supported: llama, gpt2, gpt_neox, phi, qwen2, qwen3, mistral, gemma3_text)');
    expect(error({ hidden_size: 8 })).toBe('config.json: missing required field model_type');
  });

  it('refuses options the studio cannot honour, naming them', () => {
    expect(error({ ...V4.tinyllama, rope_scaling: { type: 'dynamic', factor: 2 } })).toMatch(/^config\.json \(llama\): rope_scaling .*"dynamic".* is not supported \(supported: default, linear, llama3\)/);
    expect(error({ ...V4.tinyllama, rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 2048 } })).toMatch(/rope_scaling .*yarn.* is not supported/);
    expect(error({ ...V5.llamaLinear, rope_parameters: { rope_type: 'longrope', rope_theta: 1e4 } })).toMatch(/rope_parameters\.rope_type "longrope" is not supported \(supported: default, linear, llama3\)/);
    expect(error({ ...V4.tinyllama, rope_scaling: { rope_type: 'llama3', factor: 8 } })).toMatch(/rope_scaling: missing required field original_max_position_embeddings/);
    expect(error({ ...V4.pythia70m, rope_scaling: { type: 'linear', factor: 2 } })).toMatch(/rope_scaling .*linear.* is not supported \(only plain RoPE\)/);
    expect(error({ ...V4.tinyllama, sliding_window: 4096 })).toMatch(/sliding_window = 4096: sliding-window attention is not supported for llama/);
    expect(error({ ...V4.phi2, qk_layernorm: true })).toMatch(/qk_layernorm = true/);
    expect(error({ ...V4.gpt2, scale_attn_by_inverse_layer_idx: true })).toMatch(/scale_attn_by_inverse_layer_idx = true/);
    expect(error({ ...V4.gpt2, scale_attn_weights: false })).toMatch(/scale_attn_weights = false/);
    expect(error({ ...V4.tinyllama, hidden_act: 'quick_gelu' })).toMatch(/hidden_act = "quick_gelu" is not supported/);
    // A sliding window switched off is fine.
    expect(parseConfig({ ...V4.tinyllama, sliding_window: null }).layers).toBe(22);
  });

  it('names every missing required field at once', () => {
    const { hidden_size: _h, num_hidden_layers: _n, ...rest } = V4.tinyllama;
    expect(error(rest)).toBe('config.json (llama): missing required fields hidden_size, num_hidden_layers');
    expect(error({ model_type: 'gpt2', n_embd: 64, n_layer: 2, n_head: 4 })).toBe('config.json (gpt2): missing required field vocab_size');
    expect(error({ model_type: 'phi' })).toMatch(/missing required fields hidden_size, num_attention_heads, num_hidden_layers, intermediate_size, vocab_size/);
  });

  it('refuses malformed values and inconsistent shapes', () => {
    expect(error({ ...V4.tinyllama, hidden_size: '2048' })).toMatch(/hidden_size = "2048" is not an integer ≥ 1/);
    expect(error({ ...V4.tinyllama, num_key_value_heads: 5 })).toMatch(/num_attention_heads 32 is not a multiple of the key\/value heads 5/);
    expect(error({ ...V4.tinyllama, hidden_size: 2050 })).toMatch(/hidden size 2050 is not divisible by 32 heads/);
    expect(error({ ...V4.tinyllama, rms_norm_eps: -1 })).toMatch(/rms_norm_eps = -1 is not a positive number/);
    expect(error({ ...V4.tinyllama, tie_word_embeddings: 'yes' })).toMatch(/tie_word_embeddings = "yes" is not true\/false/);
    expect(error({ ...V4.pythia70m, rotary_pct: 0.3 })).toMatch(/rotary dimension 19 must be even/);
    expect(error('{')).toMatch(/^config\.json: not valid JSON/);
    expect(error([1])).toBe('config.json: not a JSON object');
  });
});
