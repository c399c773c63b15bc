// config.json's numbers held against the checkpoint's tensor shapes, as the safetensors headers give
// them, before any tensor data is read: hidden size, vocabulary, positions, layers, the output head,
// head_dim, query and key/value heads, and the MLP width. A disagreement is named by the config field
// and the tensor, with both numbers, because "config.json and the weights are from different models"
// is only fixable once the user knows which number is wrong. What these checks leave (norms, biases,
// a tensor missing from a layer) the canonical layout (arch.ts) still refuses, naming the tensor.
import type { ArchConfig } from '../io/config';
import { SafetensorsFile, ShardedCheckpoint, type TensorStore } from '../io/safetensors';

export class ConfigMismatchError extends Error {
  override name = 'ConfigMismatchError';
}

/** Tensor shapes by name: a TensorStore's `tensors`, or any header read the same way. */
export type HeaderShapes = ReadonlyMap<string, { readonly shape: readonly number[] }>;

/** How config.json spells each number, per family (null: the family has no such field). */
interface FieldNames {
  hidden: string;
  heads: string;
  kvHeads: string | null;
  headDim: string | null;
  intermediate: string;
  layers: string;
  vocab: string;
  positions: string;
  tied: string;
}

const HF_FIELDS: FieldNames = {
  hidden: 'hidden_size',
  heads: 'num_attention_heads',
  kvHeads: 'num_key_value_heads',
  headDim: 'head_dim',
  intermediate: 'intermediate_size',
  layers: 'num_hidden_layers',
  vocab: 'vocab_size',
  positions: 'max_position_embeddings',
  tied: 'tie_word_embeddings',
};

function fieldNames(c: Pick<ArchConfig, 'modelType'>, raw: Record<string, unknown> = {}): FieldNames {
  switch (c.modelType) {
    case 'gpt2':
      return { ...HF_FIELDS, hidden: 'n_embd', heads: 'n_head', kvHeads: null, headDim: null, intermediate: 'n_inner', layers: 'n_layer', positions: raw.n_positions === undefined && raw.n_ctx !== undefined ? 'n_ctx' : 'n_positions' };
    case 'gpt_neox':
      return { ...HF_FIELDS, kvHeads: null, headDim: null };
    case 'phi':
      return { ...HF_FIELDS, headDim: null };
    default:
      // The Llama family (and families named like it): head_dim may be given, kv heads may differ.
      return HF_FIELDS;
  }
}

/** The config.json field that holds a model's number of positions. */
export function positionsField(c: Pick<ArchConfig, 'modelType'>): string {
  return fieldNames(c).positions;
}

/**
 * Why `length` tokens cannot run through this model, or null when they can: a sequence longer than
 * its positions (`what` names the length as the user set it, e.g. "--max-tokens 600").
 */
export function sequenceProblem(c: Pick<ArchConfig, 'modelType' | 'maxPositions'>, length: number, what: string, whose = "the model's"): string | null {
  if (length <= c.maxPositions) return null;
  return `${what} is over ${whose} ${c.maxPositions} positions (${positionsField(c)} in its config.json)`;
}

/** Where a family keeps the tensors these checks read (HF names, or the canonical ones of a student). */
interface Naming {
  embed: string;
  pos: string | null;
  head: string;
  /** Prefix of layer i's tensors, "model.layers.3." */
  layer: string;
  /** Relative to the layer prefix; null where q, k and v are fused (their rows always add up to the hidden size). */
  q: string | null;
  k: string | null;
  v: string | null;
  qNorm: string | null;
  /** MLP weights with intermediate-size rows (axis 0) or columns (axis 1). */
  mlp: { name: string; axis: 0 | 1 }[];
}

function hfNaming(c: ArchConfig, shapes: HeaderShapes): Naming {
  const llama: Naming = {
    embed: 'model.embed_tokens.weight',
    pos: null,
    head: 'lm_head.weight',
    layer: 'model.layers.',
    q: 'self_attn.q_proj.weight',
    k: 'self_attn.k_proj.weight',
    v: 'self_attn.v_proj.weight',
    qNorm: 'self_attn.q_norm.weight',
    mlp: [{ name: 'mlp.gate_proj.weight', axis: 0 }, { name: 'mlp.up_proj.weight', axis: 0 }],
  };
  switch (c.modelType) {
    case 'gpt2': {
      // As arch.ts reads it: GPT2LMHeadModel's checkpoints carry a `transformer.` prefix, GPT2Model's not.
      const pre = shapes.has('transformer.wte.weight') ? 'transformer.' : '';
      return { embed: `${pre}wte.weight`, pos: `${pre}wpe.weight`, head: 'lm_head.weight', layer: `${pre}h.`, q: null, k: null, v: null, qNorm: null, mlp: [{ name: 'mlp.c_fc.weight', axis: 1 }] };
    }
    case 'gpt_neox':
      return { embed: 'gpt_neox.embed_in.weight', pos: null, head: 'embed_out.weight', layer: 'gpt_neox.layers.', q: null, k: null, v: null, qNorm: null, mlp: [{ name: 'mlp.dense_h_to_4h.weight', axis: 0 }] };
    case 'phi':
      return { ...llama, qNorm: null, mlp: [{ name: 'mlp.fc1.weight', axis: 0 }] };
    default:
      return llama;
  }
}

/** The canonical names of src/models/DESIGN.md, as an exported student stores them. */
const CANONICAL: Naming = {
  embed: 'embed',
  pos: 'pos',
  head: 'head.weight',
  layer: 'layers.',
  q: 'attn.q.weight',
  k: 'attn.k.weight',
  v: 'attn.v.weight',
  qNorm: 'attn.q_norm.weight',
  mlp: [{ name: 'mlp.gate.weight', axis: 0 }, { name: 'mlp.up.weight', axis: 0 }],
};

const AXIS = ['rows', 'columns'] as const;

export interface WeightCheckOptions {
  /** The checkpoint, in messages: its file, or the index of its shards. */
  file?: string;
  /** The file holding a tensor, where the checkpoint is sharded. */
  fileOf?: (tensor: string) => string;
  /** Where the config's fields sit inside config.json ("teacher_config." in a student's). */
  fieldPrefix?: string;
  /** 'canonical': the tensors carry the canonical names (an exported student). */
  naming?: 'hf' | 'canonical';
}

/**
 * Throws a ConfigMismatchError at the first number of `config` (parsed from `raw`, config.json's
 * object) the tensor shapes contradict. Tensors that are absent are left to the canonical layout,
 * which lists everything missing at once.
 */
export function checkWeightsAgainstConfig(config: ArchConfig, raw: Record<string, unknown>, shapes: HeaderShapes, opts: WeightCheckOptions = {}): void {
  const c = config;
  const f = fieldNames(c, raw);
  const nm = opts.naming === 'canonical' ? CANONICAL : hfNaming(c, shapes);
  const file = opts.file ?? 'the checkpoint';
  const pre = opts.fieldPrefix ?? '';
  const given = (key: string) => raw[key] !== undefined && raw[key] !== null;
  const fail = (msg: string, hint = 'the config and the weights must come from the same model'): never => {
    throw new ConfigMismatchError(`${msg}: ${hint}`);
  };
  const shapeOf = (name: string) => shapes.get(name)?.shape;
  const where = (name: string) => opts.fileOf?.(name) ?? file;

  // A number as config.json states it, or where it comes from when config.json does not set it
  // (a family default, or head_dim from the hidden size and heads).
  type Term = { text: string; given: boolean };
  const term = (key: string, value: number | boolean, otherwise = 'by default'): Term =>
    given(key) ? { text: `${pre}${key} = ${String(value)}`, given: true } : { text: `does not set ${pre}${key}, so it is ${String(value)} ${otherwise}`, given: false };
  const says = (...terms: Term[]): string => {
    const stated = terms.filter((t) => t.given).map((t) => t.text);
    const implied = terms.filter((t) => !t.given).map((t) => t.text);
    if (!stated.length) return `config.json ${implied.join(', and ')}`;
    return [`config.json says ${stated.join(' and ')}`, ...implied.map((t) => `and it ${t}`)].join(', ');
  };
  const headDimTerm: Term =
    f.headDim && given(f.headDim)
      ? term(f.headDim, c.headDim)
      : { text: `does not set ${pre}head_dim, so it is ${pre}${f.hidden} / ${pre}${f.heads} = ${c.dModel} / ${c.heads} = ${c.headDim}`, given: false };
  const kvTerm = term(f.kvHeads ?? f.heads, c.kvHeads, `(as many as ${pre}${f.heads})`);
  const intermediateTerm = term(f.intermediate, c.intermediate, c.modelType === 'gpt2' ? `(4 × ${pre}${f.hidden})` : 'by default');
  /** One dimension of a tensor that must equal one config number. */
  const dim = (name: string, axis: 0 | 1, want: number, claim: string, per: string) => {
    const s = shapeOf(name);
    if (!s || s.length !== 2 || s[axis] === want) return;
    fail(`${claim}, but ${name} in ${where(name)} has ${s[axis]} ${AXIS[axis]} (${per})`);
  };
  /** `count` × `size` rows of a tensor, both from the config. */
  const product = (name: string, count: number, size: number, claim: string, what: string) => {
    const s = shapeOf(name);
    if (!s || s.length !== 2 || s[0] === count * size) return;
    fail(`${claim}: ${name} should then have ${count} × ${size} = ${count * size} rows (${what}), but it has ${s[0]} in ${where(name)}`);
  };

  // The embedding first: its columns are the hidden size and its rows the vocabulary, the two numbers
  // every other shape is read against.
  dim(nm.embed, 1, c.dModel, says(term(f.hidden, c.dModel)), 'one per hidden unit');
  dim(nm.embed, 0, c.vocab, says(term(f.vocab, c.vocab)), 'one per token id');
  if (nm.pos && c.positions === 'learned') dim(nm.pos, 0, c.maxPositions, says(term(f.positions, c.maxPositions)), 'one per position');

  const layerIds = new Set<number>();
  for (const name of shapes.keys()) {
    if (!name.startsWith(nm.layer)) continue;
    const m = /^(\d+)\./.exec(name.slice(nm.layer.length));
    if (m) layerIds.add(Number(m[1]));
  }
  if (layerIds.size > 0) {
    const top = Math.max(...layerIds);
    if (top + 1 !== c.layers) {
      fail(
        `${says(term(f.layers, c.layers))}, but ${file} holds ${top + 1 > c.layers ? '' : 'only '}${top + 1} layer${top ? 's' : ''} ` +
          `(${nm.layer}0${top ? ` to ${nm.layer}${top}` : ''})`,
      );
    }
  }

  const tiedTerm = term(f.tied, c.tiedEmbeddings, `(the ${c.modelType} default)`);
  if (!c.tiedEmbeddings) {
    if (!shapes.has(nm.head)) {
      fail(
        `${says(tiedTerm)}, so the output head has weights of its own, but ${file} has no ${nm.head}`,
        `if the head shares the embedding, set ${pre}${f.tied} to true`,
      );
    }
    dim(nm.head, 0, c.vocab, says(term(f.vocab, c.vocab)), 'one per token id');
    dim(nm.head, 1, c.dModel, says(term(f.hidden, c.dModel)), 'one per hidden unit');
  }

  for (let i = 0; i < c.layers; i++) {
    const p = `${nm.layer}${i}.`;
    // Qwen3's per-head norms are as long as a head, the one place head_dim shows on its own.
    if (c.qkNorm && nm.qNorm) {
      const s = shapeOf(p + nm.qNorm);
      if (s && s.length === 1 && s[0] !== c.headDim) fail(`${says(headDimTerm)}, but ${p + nm.qNorm} in ${where(p + nm.qNorm)} has ${s[0]} entries (one per dimension of a head)`);
    }
    if (nm.q) product(p + nm.q, c.heads, c.headDim, says(term(f.heads, c.heads), headDimTerm), 'one per query dimension of every head');
    for (const kv of [nm.k, nm.v]) if (kv) product(p + kv, c.kvHeads, c.headDim, says(kvTerm, headDimTerm), 'one per dimension of every key/value head');
    for (const m of nm.mlp) dim(p + m.name, m.axis, c.intermediate, says(intermediateTerm), 'one per MLP unit');
  }
}

/**
 * The numbers of config.json that contradict each other rather than the weights: a sliding window
 * longer than the positions, which no sequence could reach. Only a window config.json states is held
 * to this; a family's default window (mistral's 4096) under fewer positions simply never applies.
 */
export function checkConfigPositions(config: ArchConfig, raw: Record<string, unknown>, fieldPrefix = ''): void {
  const w = config.slidingWindow;
  if (w !== null && w > config.maxPositions && raw.sliding_window === w) {
    throw new ConfigMismatchError(
      `config.json says ${fieldPrefix}sliding_window = ${w}, over the model's ${config.maxPositions} positions (${fieldPrefix}${positionsField(config)}): ` +
        `a window is at most the positions (null turns it off)`,
    );
  }
}

/**
 * Both checks on a config.json and the checkpoint opened beside it (headers only), messages naming
 * the file a tensor is in: the .safetensors file, or the shard a sharded checkpoint's index names.
 */
export function checkCheckpointHeader(config: ArchConfig, raw: Record<string, unknown>, store: TensorStore, opts: Omit<WeightCheckOptions, 'file' | 'fileOf'> = {}): void {
  checkConfigPositions(config, raw, opts.fieldPrefix);
  if (store instanceof ShardedCheckpoint) checkWeightsAgainstConfig(config, raw, store.tensors, { ...opts, file: 'the sharded checkpoint', fileOf: (n) => store.fileOf(n) });
  else checkWeightsAgainstConfig(config, raw, store.tensors, { ...opts, file: store instanceof SafetensorsFile ? store.source.name : undefined });
}
