// A Hugging Face config.json reduced to the architecture the studio builds from. Defaults are those
// of the transformers config classes (so a config.json that omits a field means what it means to
// transformers); both the 4.x layout (rope_theta, rope_scaling, rotary_pct) and the 5.x layout
// (rope_parameters) are read. Anything the studio cannot reproduce exactly is refused by name rather
// than silently approximated.

export type ModelType = 'llama' | 'gpt2' | 'gpt_neox' | 'phi' | 'qwen2' | 'qwen3' | 'mistral' | 'gemma3_text';
export const MODEL_TYPES: readonly ModelType[] = ['llama', 'gpt2', 'gpt_neox', 'phi', 'qwen2', 'qwen3', 'mistral', 'gemma3_text'];

/**
 * The Llama block with other options (q/k norms, biases, sliding windows, gemma3's scaled embedding,
 * norms of the mixer's and MLP's outputs, GeGLU); one reference (src/ref/llama.ts).
 */
export const LLAMA_FAMILY: readonly ModelType[] = ['llama', 'qwen2', 'qwen3', 'mistral', 'gemma3_text'];

/**
 * RoPE frequency scaling (transformers' modeling_rope_utils): 'linear' divides every inverse
 * frequency by factor; 'llama3' divides the low frequencies (wavelength above
 * originalMaxPositions/lowFreqFactor) by factor, keeps the high ones (wavelength below
 * originalMaxPositions/highFreqFactor), and blends in between.
 */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

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
  /** null: plain RoPE, inv_freq_i = theta^(−2i/rotaryDim). */
  ropeScaling: RopeScaling | null;
  /** Leading dims of each head that RoPE rotates (even; headDim unless partial; 0 without RoPE). */
  rotaryDim: number;
  activation: Activation;
  /** Gated MLP: down(act(gate(x)) * up(x)) (llama's SwiGLU, gemma3's GeGLU); else fc2(act(fc1(x))). */
  gatedMlp: boolean;
  tiedEmbeddings: boolean;
  /** attention: q, k and v projections; attentionOut: the output projection (Qwen2 has the first only). */
  biases: { attention: boolean; attentionOut: boolean; mlp: boolean; lmHead: boolean };
  /** RMSNorm over headDim of every query and key head, before RoPE (qwen3's and gemma3's q_norm, k_norm). */
  qkNorm: boolean;
  /**
   * Query i attends keys j with i − window < j ≤ i (mistral; gemma3's sliding layers); null: every
   * j ≤ i. Which layers it applies to: slidingLayers.
   */
  slidingWindow: number | null;
  /** Per layer, whether it is windowed (gemma3's layer_types); null: every layer alike. */
  slidingLayers: boolean[] | null;
  /** RoPE of the windowed layers where it is not ropeTheta/ropeScaling's (gemma3's local base); null: the same. */
  localRope: { theta: number; scaling: RopeScaling | null } | null;
  /** Scale of the attention scores; null: 1/√headDim (gemma3: query_pre_attn_scalar^−½). */
  attnScale: number | null;
  /** Token embeddings are multiplied by this (gemma3: √dModel, rounded to f32 as transformers does); else 1. */
  embedScale: number;
  /**
   * RMSNorm of the mixer's output and of the MLP's output before each residual add (gemma3's
   * post_attention_layernorm and post_feedforward_layernorm).
   */
  postNorms: boolean;
  /**
   * The checkpoint's RMSNorm weights w act as (offset + w) (gemma3: 1); the canonical weights are
   * that multiplier, the offset added once at load (src/models/arch.ts), so every norm is x·rstd·w.
   */
  normWeightOffset: number;
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

  /**
   * RoPE base, partial-rotary fraction and scaling from the 4.x fields (rope_theta, rope_scaling) or
   * 5.x rope_parameters; scaling other than linear and llama3 (and, where `scaling` is false, any) is refused.
   */
  rope(dfltTheta: number, partialKeys: string[], dfltPartial: number, scaling = false): { theta: number; partial: number; scaling: RopeScaling | null } {
    const supported = scaling ? '(supported: default, linear, llama3)' : '(only plain RoPE)';
    let found: { where: string; obj: Json } | null = null;
    const rs = this.cfg.rope_scaling;
    if (rs !== undefined && rs !== null) {
      const type = typeof rs === 'object' ? ((rs as Json).rope_type ?? (rs as Json).type) : rs;
      if (type !== 'default' && !(scaling && (type === 'linear' || type === 'llama3'))) this.fail(`rope_scaling ${JSON.stringify(rs)} is not supported ${supported}`);
      if (type !== 'default') found = { where: 'rope_scaling', obj: rs as Json };
    }
    let params: Json = {};
    const rp = this.cfg.rope_parameters;
    if (rp !== undefined && rp !== null) {
      if (typeof rp !== 'object' || Array.isArray(rp)) this.fail(`rope_parameters ${JSON.stringify(rp)} is not an object`);
      params = rp as Json;
      const type = params.rope_type ?? params.type ?? 'default';
      if (type !== 'default' && !(scaling && (type === 'linear' || type === 'llama3'))) this.fail(`rope_parameters.rope_type "${String(type)}" is not supported ${supported}`);
      // 5.x writes both; rope_parameters is what it reads.
      if (type !== 'default') found = { where: 'rope_parameters', obj: params };
      else found = null;
    }
    const sub = new Reader(params, `${this.where} rope_parameters`);
    const theta = sub.num('rope_theta', this.num(['rope_theta', 'rotary_emb_base'], dfltTheta));
    let partial = this.num(partialKeys, dfltPartial);
    partial = sub.num('partial_rotary_factor', partial);
    if (partial > 1) this.fail(`partial rotary factor ${partial} is above 1`);
    let sc: RopeScaling | null = null;
    if (found) {
      const r = new Reader(found.obj, `${this.where} ${found.where}`);
      const type = found.obj.rope_type ?? found.obj.type;
      const factor = r.num('factor', NaN);
      if (Number.isNaN(factor)) r.fail(`${String(type)} scaling needs factor`);
      if (type === 'linear') sc = { type: 'linear', factor };
      else {
        const lowFreqFactor = r.num('low_freq_factor', NaN);
        const highFreqFactor = r.num('high_freq_factor', NaN);
        const originalMaxPositions = r.int('original_max_position_embeddings');
        r.done();
        if (Number.isNaN(lowFreqFactor) || Number.isNaN(highFreqFactor)) r.fail('llama3 scaling needs low_freq_factor and high_freq_factor');
        if (!(highFreqFactor > lowFreqFactor)) r.fail(`high_freq_factor ${highFreqFactor} must be above low_freq_factor ${lowFreqFactor}`);
        sc = { type: 'llama3', factor, lowFreqFactor, highFreqFactor, originalMaxPositions };
      }
    }
    return { theta, partial, scaling: sc };
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
  if (a.qkNorm && a.headDim % 4 !== 0) r.fail(`head_dim ${a.headDim}: query/key norms need a multiple of 4`);
  if (a.slidingLayers && (a.slidingLayers.length !== a.layers || a.slidingWindow === null)) r.fail('layer types need one entry per layer and a sliding window');
}

/** What layer `layer`'s attention uses: its window (null: none), its RoPE and the scale of its scores. */
export function layerAttention(c: ArchConfig, layer: number): { window: number | null; ropeTheta: number | null; ropeScaling: RopeScaling | null; scale: number } {
  const windowed = c.slidingLayers ? c.slidingLayers[layer] === true : c.slidingWindow !== null;
  const rope = windowed && c.localRope ? c.localRope : { theta: c.ropeTheta, scaling: c.ropeScaling };
  return { window: windowed ? c.slidingWindow : null, ropeTheta: rope.theta, ropeScaling: rope.scaling, scale: c.attnScale ?? 1 / Math.sqrt(c.headDim) };
}

function headDimOf(r: Reader, dModel: number, heads: number, key: string | null): number {
  if (key) {
    const hd = r.int(key, -1);
    if (hd !== -1) return hd;
  }
  if (heads > 0 && dModel % heads !== 0) r.fail(`hidden size ${dModel} is not divisible by ${heads} heads`);
  return heads > 0 ? dModel / heads : 0;
}

/** What the architectures without gemma3's options have: one kind of layer, plain embeddings and norms. */
const PLAIN = { slidingLayers: null, localRope: null, attnScale: null, embedScale: 1, postNorms: false, normWeightOffset: 0 } as const;

interface LlamaOptions {
  modelType: ModelType;
  theta: number;
  maxPositions: number;
  normEps: number;
  bos: number | null;
  eos: number | null;
  qkvBias: boolean | 'flag';
  oBias: boolean | 'flag';
  mlpBias: boolean;
  qkNorm: boolean;
  window: number | null;
  /** The RoPE already read (gemma3 keys it by layer type); else rope_theta / rope_scaling / rope_parameters. */
  rope?: { theta: number; scaling: RopeScaling | null };
  /** The activation's key and default; hidden_act, silu unless given. */
  act?: [string, string];
  /** Defaults of the family's config class where they are not llama's. */
  kvHeads?: number;
  headDim?: number;
  tied?: boolean;
}

/** The Llama block as each Llama-family config describes it; `o` says what the family changes. */
function llamaLike(r: Reader, o: LlamaOptions): ArchConfig {
  const dModel = r.int('hidden_size');
  const heads = r.int('num_attention_heads');
  const headDim = o.headDim !== undefined ? r.int('head_dim', o.headDim) : headDimOf(r, dModel, heads, 'head_dim');
  let rope = o.rope;
  if (!rope) {
    const { theta, partial, scaling } = r.rope(o.theta, [], 1, true);
    if (partial !== 1) r.fail(`partial rotary factor ${partial}: ${o.modelType} rotates the whole head`);
    rope = { theta, scaling };
  }
  const attentionBias = o.qkvBias === 'flag' || o.oBias === 'flag' ? r.bool('attention_bias', false) : false;
  const [actKey, actDefault] = o.act ?? ['hidden_act', 'silu'];
  return {
    modelType: o.modelType,
    layers: r.int('num_hidden_layers'),
    dModel,
    heads,
    kvHeads: r.int('num_key_value_heads', o.kvHeads ?? heads),
    headDim,
    intermediate: r.int('intermediate_size'),
    vocab: r.int('vocab_size'),
    maxPositions: r.int('max_position_embeddings', o.maxPositions),
    norm: 'rmsnorm',
    normEps: r.num('rms_norm_eps', o.normEps),
    positions: 'rope',
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    rotaryDim: headDim,
    activation: r.activation(actKey, actDefault),
    gatedMlp: true,
    tiedEmbeddings: r.bool('tie_word_embeddings', o.tied ?? false),
    biases: {
      attention: o.qkvBias === 'flag' ? attentionBias : o.qkvBias,
      attentionOut: o.oBias === 'flag' ? attentionBias : o.oBias,
      mlp: o.mlpBias,
      lmHead: false,
    },
    qkNorm: o.qkNorm,
    slidingWindow: o.window,
    parallelResidual: false,
    bosId: r.tokenId('bos_token_id', o.bos),
    eosId: r.tokenId('eos_token_id', o.eos),
    ...PLAIN,
  };
}

/**
 * One layer type's RoPE in a gemma3_text config: its base (rope_theta, else `dfltTheta`) and linear
 * scaling; other scalings are refused by name.
 */
function gemmaRope(r: Reader, obj: unknown, where: string, dfltTheta: number): { theta: number; scaling: RopeScaling | null } {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) r.fail(`${where} ${JSON.stringify(obj)} is not an object`);
  const o = obj as Json;
  const sub = new Reader(o, `${r.where} ${where}`);
  const type = o.rope_type ?? o.type ?? 'default';
  if (type !== 'default' && type !== 'linear') sub.fail(`rope_type ${JSON.stringify(type)} is not supported for gemma3_text (supported: default, linear)`);
  const partial = sub.num('partial_rotary_factor', 1);
  if (partial !== 1) sub.fail(`partial_rotary_factor ${partial}: gemma3_text rotates the whole head`);
  const theta = sub.num('rope_theta', dfltTheta);
  if (type === 'default') return { theta, scaling: null };
  const factor = sub.num('factor', NaN);
  if (Number.isNaN(factor)) sub.fail('linear scaling needs factor');
  return { theta, scaling: { type: 'linear', factor } };
}

/**
 * Gemma 3's two RoPEs, as Gemma3TextConfig reads them: 5.x rope_parameters keyed by layer type, or
 * 4.x rope_theta (full attention), rope_local_base_freq (sliding) and rope_scaling, which transformers
 * merges into the full-attention layers' parameters.
 */
function gemmaRopes(r: Reader): { full: { theta: number; scaling: RopeScaling | null }; sliding: { theta: number; scaling: RopeScaling | null } } {
  let full: unknown = { rope_type: 'default' };
  let sliding: unknown = { rope_type: 'default' };
  const rp = r.cfg.rope_parameters;
  if (rp !== undefined && rp !== null) {
    if (typeof rp !== 'object' || Array.isArray(rp)) r.fail(`rope_parameters ${JSON.stringify(rp)} is not an object`);
    const other = Object.keys(rp).filter((k) => k !== 'full_attention' && k !== 'sliding_attention');
    if (other.length) r.fail(`rope_parameters ${JSON.stringify(rp)}: gemma3_text keys it by layer type (full_attention, sliding_attention), not ${other.join(', ')}`);
    full = (rp as Json).full_attention ?? full;
    sliding = (rp as Json).sliding_attention ?? sliding;
  }
  let fullWhere = 'rope_parameters.full_attention';
  const rs = r.cfg.rope_scaling;
  if (rs !== undefined && rs !== null) {
    if (typeof rs !== 'object' || Array.isArray(rs)) r.fail(`rope_scaling ${JSON.stringify(rs)} is not an object`);
    if (typeof full === 'object' && full !== null && !Array.isArray(full)) full = { ...(full as Json), ...(rs as Json) };
    fullWhere = 'rope_scaling';
  }
  return {
    full: gemmaRope(r, full, fullWhere, r.num('rope_theta', 1e6)),
    sliding: gemmaRope(r, sliding, 'rope_parameters.sliding_attention', r.num('rope_local_base_freq', 1e4)),
  };
}

/** Gemma 3's layer_types, or the older sliding_window_pattern: every pattern-th layer full, the rest sliding. */
function gemmaSlidingLayers(r: Reader, layers: number): boolean[] {
  // Without a layer count (already reported missing) there is nothing to check the list against.
  if (r.missing.length) return [];
  const lt = r.cfg.layer_types;
  if (lt !== undefined && lt !== null) {
    if (!Array.isArray(lt) || lt.length !== layers || lt.some((t) => t !== 'sliding_attention' && t !== 'full_attention')) {
      r.fail(`layer_types ${JSON.stringify(lt)} must name sliding_attention or full_attention for each of the ${layers} layers`);
    }
    return (lt as string[]).map((t) => t === 'sliding_attention');
  }
  const pattern = r.int(['sliding_window_pattern', '_sliding_window_pattern'], 6);
  return Array.from({ length: layers }, (_, i) => (i + 1) % pattern !== 0);
}

/**
 * Qwen2/Qwen3 switch the window on with use_sliding_window, for the layers from max_window_layers
 * on (or as layer_types says); the studio runs every layer with full attention, so either is refused.
 */
function refuseQwenWindow(r: Reader): void {
  r.refuse('use_sliding_window', 'sliding-window attention in Qwen layers is not supported (only use_sliding_window false)');
  const types = r.cfg.layer_types;
  if (Array.isArray(types) && types.some((t) => t !== 'full_attention')) {
    r.fail(`layer_types ${JSON.stringify(types)}: only full_attention layers are supported`);
  }
}

const PARSERS: Record<ModelType, (r: Reader) => ArchConfig> = {
  llama(r) {
    r.refuse('sliding_window', 'sliding-window attention is not supported for llama (model_type mistral has it)');
    r.refuse('use_sliding_window', 'sliding-window attention is not supported for llama (model_type mistral has it)');
    const mlpBias = r.bool('mlp_bias', false);
    return llamaLike(r, { modelType: 'llama', theta: 10000, maxPositions: 2048, normEps: 1e-6, bos: 1, eos: 2, qkvBias: 'flag', oBias: 'flag', mlpBias, qkNorm: false, window: null });
  },

  // Qwen2 (and Qwen2.5): q, k, v biased, o not (Qwen2Attention), no attention_bias field.
  qwen2(r) {
    refuseQwenWindow(r);
    return llamaLike(r, { modelType: 'qwen2', theta: 10000, maxPositions: 32768, normEps: 1e-6, bos: null, eos: null, qkvBias: true, oBias: false, mlpBias: false, qkNorm: false, window: null });
  },

  // Qwen3: q_norm and k_norm over head_dim before RoPE; attention_bias covers q, k, v and o.
  qwen3(r) {
    refuseQwenWindow(r);
    return llamaLike(r, { modelType: 'qwen3', theta: 10000, maxPositions: 32768, normEps: 1e-6, bos: null, eos: null, qkvBias: 'flag', oBias: 'flag', mlpBias: false, qkNorm: true, window: null });
  },

  // Mistral: Llama without biases, with a sliding window over every layer (MistralConfig's default 4096).
  mistral(r) {
    r.refuse('attention_bias', 'attention biases are not part of mistral');
    const window = Object.hasOwn(r.cfg, 'sliding_window') ? r.cfg.sliding_window === null ? null : r.int('sliding_window') : 4096;
    return llamaLike(r, { modelType: 'mistral', theta: 10000, maxPositions: 4096 * 32, normEps: 1e-6, bos: 1, eos: 2, qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, window });
  },

  // Gemma 3 text (Gemma3ForCausalLM): the Llama block with q/k norms, GeGLU, embeddings scaled by √d,
  // RMSNorms that multiply by 1 + w, norms of the attention's and the MLP's outputs, scores scaled by
  // query_pre_attn_scalar^−½, and sliding and full layers with RoPEs of their own.
  gemma3_text(r) {
    r.refuse('final_logit_softcapping', 'logit soft-capping is not supported (Gemma 3 ships null)');
    r.refuse('attn_logit_softcapping', 'attention soft-capping is not supported (Gemma 3 ships null)');
    r.refuse('use_bidirectional_attention', 'bidirectional attention is not supported (only causal language models)');
    const rope = gemmaRopes(r);
    const base = llamaLike(r, {
      modelType: 'gemma3_text', theta: 1e6, maxPositions: 131072, normEps: 1e-6, bos: 2, eos: 1, qkvBias: 'flag', oBias: 'flag', mlpBias: false,
      qkNorm: true, window: null, rope: rope.full, act: ['hidden_activation', 'gelu_pytorch_tanh'], kvHeads: 4, headDim: 256, tied: true,
    });
    const slidingLayers = gemmaSlidingLayers(r, base.layers);
    if (r.cfg.sliding_window === null && slidingLayers.some(Boolean)) r.fail('sliding_window is null but layer_types has sliding_attention layers');
    return {
      ...base,
      slidingWindow: r.int('sliding_window', 4096),
      slidingLayers,
      localRope: rope.sliding,
      attnScale: r.num('query_pre_attn_scalar', 256) ** -0.5,
      // transformers keeps √hidden_size in a float32 buffer (then in the weights' dtype; f32 here).
      embedScale: Math.fround(Math.sqrt(base.dModel)),
      postNorms: true,
      normWeightOffset: 1,
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
      ropeScaling: null,
      rotaryDim: 0,
      activation: r.activation('activation_function', 'gelu_new'),
      gatedMlp: false,
      tiedEmbeddings: r.bool('tie_word_embeddings', true),
      biases: { attention: true, attentionOut: true, mlp: true, lmHead: false },
      qkNorm: false,
      slidingWindow: null,
      parallelResidual: false,
      bosId: r.tokenId('bos_token_id', 50256),
      eosId: r.tokenId('eos_token_id', 50256),
      ...PLAIN,
    };
  },

  gpt_neox(r) {
    const dModel = r.int('hidden_size');
    const heads = r.int('num_attention_heads');
    const headDim = headDimOf(r, dModel, heads, null);
    const { theta, partial } = r.rope(10000, ['partial_rotary_factor', 'rotary_pct'], 0.25);
    const attnBias = r.bool('attention_bias', true);
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
      ropeScaling: null,
      // transformers: rotary_ndims = int(head_size * rotary_pct)
      rotaryDim: Math.floor(headDim * partial),
      activation: r.activation('hidden_act', 'gelu'),
      gatedMlp: false,
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      biases: { attention: attnBias, attentionOut: attnBias, mlp: true, lmHead: false },
      qkNorm: false,
      slidingWindow: null,
      parallelResidual: r.bool('use_parallel_residual', true),
      bosId: r.tokenId('bos_token_id', 0),
      eosId: r.tokenId('eos_token_id', 2),
      ...PLAIN,
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
      ropeScaling: null,
      // transformers: rotary_ndims = int(partial_rotary_factor * head_dim)
      rotaryDim: Math.floor(headDim * partial),
      activation: r.activation('hidden_act', 'gelu_new'),
      gatedMlp: false,
      tiedEmbeddings: r.bool('tie_word_embeddings', false),
      biases: { attention: true, attentionOut: true, mlp: true, lmHead: true },
      qkNorm: false,
      slidingWindow: null,
      parallelResidual: true,
      bosId: r.tokenId('bos_token_id', 1),
      eosId: r.tokenId('eos_token_id', 2),
      ...PLAIN,
    };
  },
};

/**
 * The RoPE inverse frequencies of a config, in float64, i < rotaryDim/2: theta^(−2i/rotaryDim), then
 * the scaling of transformers' _compute_linear_scaling_rope_parameters / _compute_llama3_parameters.
 */
export function ropeInverseFrequencies(c: Pick<ArchConfig, 'ropeTheta' | 'rotaryDim' | 'ropeScaling'>): Float64Array {
  const half = c.rotaryDim / 2;
  const theta = c.ropeTheta ?? 10000;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = theta ** ((-2 * i) / c.rotaryDim);
  const s = c.ropeScaling;
  if (!s) return inv;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return ((1 - smooth) * f) / s.factor + smooth * f;
  });
}
