// The real shapes BENCHMARKS.md measures (scripts/bench/shaped_teacher.py: the published config.json
// of each model, random weights) and their parameter counts, for estimates checked against the
// H200's measurements. Teachers there are bf16: weightBytes is twice the parameters.
import { parseConfig, type ArchConfig } from '../../src/io/config';

export interface RealShape {
  config: ArchConfig;
  parameters: number;
}

export const PHI_15: RealShape = {
  config: parseConfig({
    model_type: 'phi', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 24, num_attention_heads: 32, num_key_value_heads: 32,
    partial_rotary_factor: 0.5, rope_theta: 10000, max_position_embeddings: 2048, vocab_size: 51200, hidden_act: 'gelu_new', layer_norm_eps: 1e-5, tie_word_embeddings: false,
  }),
  parameters: 1_418_270_720,
};

export const LLAMA_32_1B: RealShape = {
  config: parseConfig({
    model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64,
    max_position_embeddings: 131072, rope_theta: 500000, rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    vocab_size: 128256, hidden_act: 'silu', rms_norm_eps: 1e-5, tie_word_embeddings: true, attention_bias: false, mlp_bias: false,
  }),
  parameters: 1_235_814_400,
};

export const SMOLLM2_135M: RealShape = {
  config: parseConfig({
    model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, head_dim: 64,
    max_position_embeddings: 8192, rope_theta: 100000, vocab_size: 49152, hidden_act: 'silu', rms_norm_eps: 1e-5, tie_word_embeddings: true, attention_bias: false, mlp_bias: false,
  }),
  parameters: 134_515_008,
};

export const MISTRAL_7B: RealShape = {
  config: parseConfig({
    model_type: 'mistral', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128,
    max_position_embeddings: 32768, rope_theta: 10000, sliding_window: 4096, vocab_size: 32000, hidden_act: 'silu', rms_norm_eps: 1e-5, tie_word_embeddings: false,
  }),
  parameters: 7_241_732_096,
};

/** A shape's teacher as the plan sees it: bf16 on the GPU. */
export const bf16Teacher = (s: RealShape) => ({ ...s, weightBytes: 2 * s.parameters });
