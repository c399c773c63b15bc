// A Hugging Face config.json reduced to the architecture the studio builds from. Defaults are those
// of the transformers config classes (so a config.json that omits a field means what it means to
// transformers); both the 4.x layout (rope_theta, rope_scaling, rotary_pct) and the 5.x layout
// (rope_parameters) are read. Anything the studio cannot reproduce exactly is refused by name rather
// than silently approximated.

export type ModelType = 'llama' | 'gpt2' | 'gpt_neox' | 'phi';
export const MODEL_TYPES: readonly ModelType[] = ['llama', 'gpt2', 'gpt_neox', 'phi'];

/** gelu = erf form; gelu_tanh = the tanh approximation (HF gelu_new / gelu_pytorch_tanh / gelu_fast). */
export type Activation = 'silu' | 'gelu' | 'gelu_tanh' | 'relu';

export interface ArchConfig {
  modelType: ModelType;
  layers: number;
  dModel: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** MLP hidden width (per branch for gated MLPs). */
  intermediate: number;
  vocab: number;
  maxPositions: number;
  norm: 'rmsnorm' | 'layernorm';
  normEps: number;
  /** 'learned': absolute position embeddings (gpt2); 'rope': rotate_half rotary embeddings. */
  positions: 'rope' | 'learned';
  /** null without RoPE. */
  ropeTheta: number | null;
  /** Leading dims of each head that RoPE rotates (even; headDim unless partial; 0 without RoPE). */
  rotaryDim: number;
  activation: Activation;
  /** Gated MLP: down(act(gate(x)) * up(x)) (llama's SwiGLU); else fc2(act(fc1(x))). */
  gatedMlp: boolean;
  tiedEmbeddings: boolean;
  biases: { attention: boolean; mlp: boolean; lmHead: boolean };
  /** Attention and MLP read the same block input and both add to the residual (gpt_neox, phi). */
  parallelResidual: boolean;
  bosId: number | null;
  eosId: number | null;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const ACTIVATIONS: Record<string, Activation> = {
  silu: 'silu',
  swish: 'silu',
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  relu: 'relu',
};

type Json = Record<string, unknown>;

/** Reads fields of one config, remembering required ones that are missing so all are named at once. */
class Reader {
  readonly missing: string[] = [];
  constructor(
    readonly cfg: Json,
    readonly where: string,
  ) {}

  fail(msg: string): never {
    throw new ConfigError(`${this.where}: ${msg}`);
  }

  /** The first present, non-null key among `keys`. */
  private raw(keys: string[]): [string, unknown] | null {
    for (const k of keys) if (this.cfg[k] !== undefined && this.cfg[k] !== null) return [k, this.cfg[k]];
    return null;
  }

  int(keys: string | string[], dflt?: number, min = 1): number {
    const ks = typeof keys === 'string' ? [keys] : keys;
    const r = this.raw(ks);
    if (!r) {
      if (dflt === undefined) this.missing.push(ks[0]);
      return dflt ?? 0;
    }
    const [k, v] = r;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(`${k} = ${JSON.stringify(v)} is not an integer ≥ ${min}`);
    return v as number;
  }

  num(keys: string | string[], dflt: number, positive = true): number {
    const r = this.raw(typeof keys === 'string' ? [keys] : keys);
    if (!r) return dflt;
    const [k, v] = r;
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) this.fail(`${k} = ${JSON.stringify(v)} is not a positive number`);
    return v as number;
  }

  bool(key: string, dflt: boolean): boolean {
    const r = this.raw([key]);
    if (!r) return dflt;
    if (typeof r[1] !== 'boolean') this.fail(`${key} = ${JSON.stringify(r[1])} is not true/false`);
    return r[1] as boolean;
  }

  str(key: string, dflt: string): string {
    const r = this.raw([key]);
    if (!r) return dflt;
    if (typeof r[1] !== 'string') this.fail(`${key} = ${JSON.stringify(r[1])} is not a string`);
    return r[1] as string;
  }

  /** A token id; lists (several EOS ids) give their first. */
  tokenId(key: string, dflt: number | null): number | null {
    if (!Object.hasOwn(this.cfg, key)) return dflt;
    let v = this.cfg[key];
    if (Array.isArray(v)) v = v[0];
    if (v === null || v === undefined) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(`${key} = ${JSON.stringify(this.cfg[key])} is not a token id`);
    return v as number;
  }

  activation(key: string, dflt: string): Activation {
    const name = this.str(key, dflt);
    const act = ACTIVATIONS[name];
    if (!Object.hasOwn(ACTIVATIONS, name)) this.fail(`${key} = "${name}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
    return act;
  }

  /** Refuses an option whose value is anything but absent/null/false/the allowed one. */
  refuse(key: string, why: string, allowed: unknown[] = []): void {
    const v = this.cfg[key];
    if (v === undefined || v === null || v === false || allowed.includes(v)) return;
    this.fail(`${key} = ${JSON.stringify(v)}: ${why}`);
  }

  /** RoPE base and partial-rotary fraction from the 4.x fields or 5.x rope_parameters; only plain RoPE. */
  rope(dfltTheta: number, partialKeys: string[], dfltPartial: number): { theta: number; partial: number } {
    const scaling = this.cfg.rope_scaling;
    if (scaling !== undefined && scaling !== null) {
      const type = typeof scaling === 'object' ? ((scaling as Json).rope_type ?? (scaling as Json).type) : scaling;
      if (type !== 'default') this.fail(`rope_scaling ${JSON.stringify(scaling)} is not supported (only plain RoPE)`);
    }
    let params: Json = {};
    const rp = this.cfg.rope_parameters;
    if (rp !== undefined && rp !== null) {
      if (typeof rp !== 'object' || Array.isArray(rp)) this.fail(`rope_parameters ${JSON.stringify(rp)} is not an object`);
      params = rp as Json;
      const type = params.rope_type ?? params.type ?? 'default';
      if (type !== 'default') this.fail(`rope_parameters.rope_type "${String(type)}" is not supported (only plain RoPE)`);
    }
    const sub = new Reader(params, `${this.where} rope_parameters`);
    const theta = sub.num('rope_theta', this.num(['rope_theta', 'rotary_emb_base'], dfltTheta));
    let partial = this.num(partialKeys, dfltPartial);
    partial = sub.num('partial_rotary_factor', partial);
    if (partial > 1) this.fail(`partial rotary factor ${partial} is above 1`);
    return { theta, partial };
  }

  done(): void {
    if (this.missing.length > 0) this.fail(`missing required field${this.missing.length > 1 ? 's' : ''} ${this.missing.join(', ')}`);
  }
}

/** A config.json's top-level object, from its text or already parsed; errors name `where`. */
export function configObject(json: unknown, where: string): Record<string, unknown> {
  let cfg = json;
  if (typeof json === 'string') {
    try {
      cfg = JSON.parse(json);
    } catch (e) {
      throw new ConfigError(`${where}: not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new ConfigError(`${where}: not a JSON object`);
  return cfg as Record<string, unknown>;
}

/** Parses config.json (text or parsed JSON). `where` names the file in messages. */
export function parseConfig(json: unknown, where = 'config.json'): ArchConfig {
  const c = configObject(json, where) as Json;
  const type = c.model_type;
  if (typeof type !== 'string') throw new ConfigError(`${where}: missing required field model_type`);
  if (!MODEL_TYPES.includes(type as ModelType)) {
    throw new ConfigError(`${where}: model_type "${type}" is not supported (supported: ${MODEL_TYPES.join(', ')})`);
  }
  const r = new Reader(c, `${where} (${type})`);
  const arch = PARSERS[type as ModelType](r);
  r.done();
  check(r, arch);
  return arch;
}

function check(r: Reader, a: ArchConfig): void {
  if (a.heads % a.kvHeads !== 0) r.fail(`num_attention_heads ${a.heads} is not a multiple of the key/value heads ${a.kvHeads}`);
  if (a.rotaryDim % 2 !== 0 || a.rotaryDim > a.headDim) r.fail(`rotary dimension ${a.rotaryDim} must be even and at most the head dimension ${a.headDim}`);
  if (a.positions === 'rope' && a.rotaryDim === 0) r.fail('rotary dimension is 0');
}

function headDimOf(r: Reader, dModel: number, heads: number, key: string | null): number {
  if (key) {
    const hd = r.int(key, -1);
    if (hd !== -1) return hd;
  }
  if (heads > 0 && dModel % heads !== 0) r.fail(`hidden size ${dModel} is not divisible by ${heads} heads`);
  return heads > 0 ? dModel / heads : 0;
}

const PARSERS: Record<ModelType, (r: Reader) => ArchConfig> = {
  llama(r) {
    r.refuse('sliding_window', 'sliding-window attention is not supported');
    r.refuse('use_sliding_window', 'sliding-window attention is not supported');
    const dModel = r.int('hidden_size');
    const heads = r.int('num_attention_heads');
    const headDim = headDimOf(r, dModel, heads, 'head_dim');
    const { theta, partial } = r.rope(10000, [], 1);
    if (partial !== 1) r.fail(`partial rotary factor ${partial}: llama rotates the whole head`);
    return {
      modelType: 'llama',
      layers: r.int('num_hidden_layers'),
      dModel,
      heads,
      kvHeads: r.int('num_key_value_heads', heads),
      headDim,
      intermediate: r.int('intermediate_size'),
      vocab: r.int('vocab_size'),
      maxPositions: r.int('max_position_embeddings', 2048),
      norm: 'rmsnorm',
      normEps: r.num('rms_norm_eps', 1e-6),
      positions: 'rope',
      ropeTheta: theta,
      rotaryDim: headDim,
      activation: r.activation('hidden_act', 'silu'),
      gatedMlp: true,
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      biases: { attention: r.bool('attention_bias', false), mlp: r.bool('mlp_bias', false), lmHead: false },
      parallelResidual: false,
      bosId: r.tokenId('bos_token_id', 1),
      eosId: r.tokenId('eos_token_id', 2),
    };
  },

  gpt2(r) {
    r.refuse('scale_attn_by_inverse_layer_idx', 'per-layer attention scaling is not supported');
    r.refuse('add_cross_attention', 'cross-attention is not supported');
    if (!r.bool('scale_attn_weights', true)) r.fail('scale_attn_weights = false: unscaled attention is not supported');
    const dModel = r.int('n_embd');
    const heads = r.int('n_head');
    return {
      modelType: 'gpt2',
      layers: r.int('n_layer'),
      dModel,
      heads,
      kvHeads: heads,
      headDim: headDimOf(r, dModel, heads, null),
      intermediate: r.int('n_inner', 4 * dModel),
      vocab: r.int('vocab_size'),
      maxPositions: r.int(['n_positions', 'n_ctx'], 1024),
      norm: 'layernorm',
      normEps: r.num('layer_norm_epsilon', 1e-5),
      positions: 'learned',
      ropeTheta: null,
      rotaryDim: 0,
      activation: r.activation('activation_function', 'gelu_new'),
      gatedMlp: false,
      tiedEmbeddings: r.bool('tie_word_embeddings', true),
      biases: { attention: true, mlp: true, lmHead: false },
      parallelResidual: false,
      bosId: r.tokenId('bos_token_id', 50256),
      eosId: r.tokenId('eos_token_id', 50256),
    };
  },

  gpt_neox(r) {
    const dModel = r.int('hidden_size');
    const heads = r.int('num_attention_heads');
    const headDim = headDimOf(r, dModel, heads, null);
    const { theta, partial } = r.rope(10000, ['partial_rotary_factor', 'rotary_pct'], 0.25);
    return {
      modelType: 'gpt_neox',
      layers: r.int('num_hidden_layers'),
      dModel,
      heads,
      kvHeads: heads,
      headDim,
      intermediate: r.int('intermediate_size'),
      vocab: r.int('vocab_size'),
      maxPositions: r.int('max_position_embeddings', 2048),
      norm: 'layernorm',
      normEps: r.num('layer_norm_eps', 1e-5),
      positions: 'rope',
      ropeTheta: theta,
      // transformers: rotary_ndims = int(head_size * rotary_pct)
      rotaryDim: Math.floor(headDim * partial),
      activation: r.activation('hidden_act', 'gelu'),
      gatedMlp: false,
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      biases: { attention: r.bool('attention_bias', true), mlp: true, lmHead: false },
      parallelResidual: r.bool('use_parallel_residual', true),
      bosId: r.tokenId('bos_token_id', 0),
      eosId: r.tokenId('eos_token_id', 2),
    };
  },

  phi(r) {
    if (r.bool('qk_layernorm', false)) r.fail('qk_layernorm = true: query/key layer norms are not supported');
    const dModel = r.int('hidden_size');
    const heads = r.int('num_attention_heads');
    const headDim = headDimOf(r, dModel, heads, null);
    const { theta, partial } = r.rope(10000, ['partial_rotary_factor'], 0.5);
    return {
      modelType: 'phi',
      layers: r.int('num_hidden_layers'),
      dModel,
      heads,
      kvHeads: r.int('num_key_value_heads', heads),
      headDim,
      intermediate: r.int('intermediate_size'),
      vocab: r.int('vocab_size'),
      maxPositions: r.int('max_position_embeddings', 2048),
      norm: 'layernorm',
      normEps: r.num('layer_norm_eps', 1e-5),
      positions: 'rope',
      ropeTheta: theta,
      // transformers: rotary_ndims = int(partial_rotary_factor * head_dim)
      rotaryDim: Math.floor(headDim * partial),
      activation: r.activation('hidden_act', 'gelu_new'),
      gatedMlp: false,
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      biases: { attention: true, mlp: true, lmHead: true },
      parallelResidual: true,
      bosId: r.tokenId('bos_token_id', 1),
      eosId: r.tokenId('eos_token_id', 2),
    };
  },
};
