import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, ropeInverseFrequencies } from '../../src/io/config';

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
  tinyllama: { architectures: ['LlamaForCausalLM'], attention_bias: false, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 5632, max_position_embeddings: 2048, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 22, num_key_value_heads: 4, pretraining_tp: 1, rms_norm_eps: 1e-5, rope_scaling: null, rope_theta: 10000.0, tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.35.0', use_cache: true, vocab_size: 32000 },
};

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
      qkNorm: false, slidingWindow: null, parallelResidual: false, bosId: 1, eosId: 2,
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
        qkNorm: false, slidingWindow: null, parallelResidual: false, bosId: 50256, eosId: 50256,
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
      qkNorm: false, slidingWindow: null, parallelResidual: false, bosId: 151643, eosId: 151643,
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

  it('takes the first of several EOS ids', () => {
    expect(parseConfig({ ...V4.tinyllama, eos_token_id: [2, 32000] }).eosId).toBe(2);
    expect(parseConfig({ ...V4.tinyllama, bos_token_id: null }).bosId).toBe(null);
  });

  it('refuses unknown model types by name', () => {
    expect(error({ ...V4.tinyllama, model_type: 'gemma3_text' })).toBe('config.json: model_type "gemma3_text" is not supported (supported: llama, gpt2, gpt_neox, phi, qwen2, qwen3, mistral)');
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
