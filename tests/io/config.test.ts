import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/io/config';

import { TEACHER_DIR as TEACHER } from '../helpers/data';

// config.json files as transformers 5.17 saves them (save_pretrained of the default config classes
// and of small ones), and real 4.x-era files from the Hub.
const V5 = {
  llama: { attention_bias: false, attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2, head_dim: 128, hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02, intermediate_size: 11008, max_position_embeddings: 2048, mlp_bias: false, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 32, pad_token_id: null, pretraining_tp: 1, rms_norm_eps: 1e-6, rope_parameters: { rope_theta: 10000.0, rope_type: 'default' }, tie_word_embeddings: false, transformers_version: '5.17.0', use_cache: true, vocab_size: 32000 },
  gpt2: { activation_function: 'gelu_new', add_cross_attention: false, attn_pdrop: 0.1, bos_token_id: 50256, embd_pdrop: 0.1, eos_token_id: 50256, initializer_range: 0.02, layer_norm_epsilon: 1e-5, model_type: 'gpt2', n_embd: 768, n_head: 12, n_inner: null, n_layer: 12, n_positions: 1024, pad_token_id: null, reorder_and_upcast_attn: false, resid_pdrop: 0.1, scale_attn_by_inverse_layer_idx: false, scale_attn_weights: true, summary_activation: null, summary_first_dropout: 0.1, summary_proj_to_labels: true, summary_type: 'cls_index', summary_use_proj: true, tie_word_embeddings: true, transformers_version: '5.17.0', use_cache: true, vocab_size: 50257 },
  neoxSmall: { attention_bias: true, attention_dropout: 0.0, bos_token_id: 0, classifier_dropout: 0.1, eos_token_id: 2, hidden_act: 'gelu', hidden_dropout: 0.0, hidden_size: 64, initializer_range: 0.02, intermediate_size: 256, is_decoder: false, layer_norm_eps: 1e-5, max_position_embeddings: 2048, model_type: 'gpt_neox', num_attention_heads: 4, num_hidden_layers: 2, pad_token_id: null, rope_parameters: { partial_rotary_factor: 0.5, rope_theta: 10000.0, rope_type: 'default' }, tie_word_embeddings: false, transformers_version: '5.17.0', use_cache: true, use_parallel_residual: true, vocab_size: 1000 },
  phiSmall: { attention_dropout: 0.0, bos_token_id: 1, embd_pdrop: 0.0, eos_token_id: 2, hidden_act: 'gelu_new', hidden_size: 64, initializer_range: 0.02, intermediate_size: 256, layer_norm_eps: 1e-5, max_position_embeddings: 2048, model_type: 'phi', num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 4, pad_token_id: null, partial_rotary_factor: 0.4, qk_layernorm: false, resid_pdrop: 0.0, rope_parameters: { partial_rotary_factor: 0.4, rope_theta: 10000.0, rope_type: 'default' }, tie_word_embeddings: false, transformers_version: '5.17.0', use_cache: true, vocab_size: 1000 },
  llamaLinear: { hidden_size: 4096, intermediate_size: 11008, model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 32, vocab_size: 32000, rope_parameters: { factor: 2.0, rope_theta: 10000.0, rope_type: 'linear' } },
};

const V4 = {
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
      maxPositions: 512, norm: 'rmsnorm', normEps: 1e-5, positions: 'rope', ropeTheta: 10000, rotaryDim: 8,
      activation: 'silu', gatedMlp: true, tiedEmbeddings: true, biases: { attention: false, mlp: false, lmHead: false },
      parallelResidual: false, bosId: 1, eosId: 2,
    });
  });

  it('reads llama configs of both transformers layouts', () => {
    const v5 = parseConfig(V5.llama);
    expect(v5).toMatchObject({ layers: 32, dModel: 4096, heads: 32, kvHeads: 32, headDim: 128, rotaryDim: 128, ropeTheta: 10000, normEps: 1e-6, tiedEmbeddings: false });
    const v4 = parseConfig(V4.tinyllama);
    expect(v4).toMatchObject({ layers: 22, dModel: 2048, heads: 32, kvHeads: 4, headDim: 64, rotaryDim: 64, intermediate: 5632, normEps: 1e-5 });
    expect(parseConfig({ ...V4.tinyllama, rope_theta: 500000, attention_bias: true, mlp_bias: true }).biases).toEqual({ attention: true, mlp: true, lmHead: false });
    expect(parseConfig({ ...V4.tinyllama, rope_theta: 500000 }).ropeTheta).toBe(500000);
  });

  it('reads gpt2', () => {
    for (const c of [V5.gpt2, V4.gpt2]) {
      expect(parseConfig(c)).toEqual({
        modelType: 'gpt2', layers: 12, dModel: 768, heads: 12, kvHeads: 12, headDim: 64, intermediate: 3072, vocab: 50257,
        maxPositions: 1024, norm: 'layernorm', normEps: 1e-5, positions: 'learned', ropeTheta: null, rotaryDim: 0,
        activation: 'gelu_tanh', gatedMlp: false, tiedEmbeddings: true, biases: { attention: true, mlp: true, lmHead: false },
        parallelResidual: false, bosId: 50256, eosId: 50256,
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

  it('takes the first of several EOS ids', () => {
    expect(parseConfig({ ...V4.tinyllama, eos_token_id: [2, 32000] }).eosId).toBe(2);
    expect(parseConfig({ ...V4.tinyllama, bos_token_id: null }).bosId).toBe(null);
  });

  it('refuses unknown model types by name', () => {
    expect(error({ ...V4.tinyllama, model_type: 'mistral' })).toBe('config.json: model_type "mistral" is not supported (supported: llama, gpt2, gpt_neox, phi)');
    expect(error({ hidden_size: 8 })).toBe('config.json: missing required field model_type');
  });

  it('refuses options the studio cannot honour, naming them', () => {
    expect(error({ ...V4.tinyllama, rope_scaling: { type: 'linear', factor: 2 } })).toMatch(/^config\.json \(llama\): rope_scaling .*"linear".* is not supported/);
    expect(error({ ...V4.tinyllama, rope_scaling: { rope_type: 'llama3', factor: 8 } })).toMatch(/rope_scaling .*llama3/);
    expect(error(V5.llamaLinear)).toMatch(/rope_parameters\.rope_type "linear" is not supported/);
    expect(error({ ...V4.tinyllama, sliding_window: 4096 })).toMatch(/sliding_window = 4096: sliding-window attention is not supported/);
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
