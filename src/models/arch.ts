// From a Hugging Face checkpoint's own tensor names and layouts to the canonical layout of
// src/models/DESIGN.md, per architecture. Everything is checked (presence and shape of every tensor
// the config implies) before any data is read, so a bad checkpoint fails before the first upload.
import type { ArchConfig } from '../io/config';
import { rawToF32, type RawTensor } from '../io/half';
import type { Dtype, TensorStore } from '../io/safetensors';

/** One canonical tensor: its shape, and how to produce its f32 values from the checkpoint. */
export interface CanonicalTensor {
  name: string;
  shape: number[];
  /** The checkpoint's precision of the tensor it comes from. */
  dtype: Dtype;
  read(): Promise<Float32Array>;
  /** The values in the checkpoint's precision (16-bit patterns stay 16-bit). */
  readRaw(): Promise<RawTensor>;
  /**
   * Values [from, from + count) in the checkpoint's precision, reading only their bytes: where the
   * canonical tensor is the stored one unchanged (no transpose, split or shift) and the store reads
   * ranges. A large tensor (a 128k-row embedding) is then read a piece at a time (tensorPieces).
   */
  readRawRange?(from: number, count: number): Promise<RawTensor>;
}

export interface CanonicalLayout {
  tensors: CanonicalTensor[];
  /** The head shares `embed` (no `head.weight` tensor of its own). */
  tiedHead: boolean;
  /** Checkpoint tensors nothing uses (beyond known buffers such as rotary caches). */
  unused: string[];
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Gathers the required checkpoint tensors, checks them all at once, and builds the readers. */
class Builder {
  readonly tensors: CanonicalTensor[] = [];
  private readonly used = new Set<string>();
  private readonly missing: string[] = [];
  private readonly wrong: string[] = [];
  private cache: { name: string; data: Promise<RawTensor> } | null = null;

  constructor(
    private readonly store: TensorStore,
    private readonly where: string,
    /** Whose needs, in messages: "the gpt2 config", "the student's config.json". */
    private readonly whose: string,
  ) {}

  has(name: string): boolean {
    return this.store.tensors.has(name);
  }

  /** Declares that the checkpoint must hold `name` with `shape`. */
  private need(name: string, shape: number[]): boolean {
    this.used.add(name);
    const t = this.store.tensors.get(name);
    if (!t) {
      if (!this.missing.includes(name)) this.missing.push(name);
      return false;
    }
    if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      if (!this.wrong.some((w) => w.startsWith(name + ' '))) this.wrong.push(`${name} has shape [${t.shape}] but config.json implies [${shape}]`);
      return false;
    }
    return true;
  }

  /** A fused tensor read once for the several canonical tensors cut from it (they are read in a row). */
  private readShared(name: string): Promise<RawTensor> {
    if (this.cache?.name !== name) this.cache = { name, data: this.raw(name) };
    return this.cache.data;
  }

  private raw(name: string): Promise<RawTensor> {
    return this.store.readRaw ? this.store.readRaw(name) : this.store.readF32(name).then((data) => ({ dtype: 'F32', data }));
  }

  private dtypeOf(name: string): Dtype {
    return this.store.tensors.get(name)?.dtype ?? 'F32';
  }

  /** A canonical tensor computed from one checkpoint tensor's raw values (an element shuffle, so precision is kept). */
  private add(canon: string, shape: number[], hf: string, read: () => Promise<RawTensor>): void {
    this.tensors.push({ name: canon, shape, dtype: this.dtypeOf(hf), readRaw: read, read: async () => rawToF32(await read()) });
  }

  direct(canon: string, hf: string, shape: number[]): void {
    this.need(hf, shape);
    this.add(canon, shape, hf, () => this.raw(hf));
    const store = this.store;
    if (store.readRawRange) this.tensors[this.tensors.length - 1]!.readRawRange = (from, count) => store.readRawRange!(hf, from, count);
  }

  /**
   * A norm weight w of a norm that multiplies by offset + w (gemma3's 1 + w): the canonical weight is
   * that multiplier, rounded to f32 as transformers forms it.
   */
  shifted(canon: string, hf: string, shape: number[], offset: number): void {
    if (offset === 0) return this.direct(canon, hf, shape);
    this.need(hf, shape);
    // The multiplier is an f32 value (1 + w rounded once), whatever the checkpoint's precision of w.
    const read = async () => (await this.store.readF32(hf)).map((v) => v + offset);
    this.tensors.push({ name: canon, shape, dtype: 'F32', read, readRaw: async () => ({ dtype: 'F32', data: await read() }) });
  }

  /** A GPT-2 Conv1D weight stored (in, out): the canonical (out, in) is its transpose. */
  transposed(canon: string, hf: string, inDim: number, outDim: number): void {
    this.need(hf, [inDim, outDim]);
    this.add(canon, [outDim, inDim], hf, async () => mapRaw(await this.raw(hf), (x) => transpose(x, inDim, outDim)));
  }

  /**
   * Canonical tensors cut from a fused one: `pick(src)` returns the part. `hfShape` is the fused
   * tensor's shape as stored.
   */
  part(canon: string, shape: number[], hf: string, hfShape: number[], pick: <T extends Values>(src: T) => T): void {
    this.need(hf, hfShape);
    this.add(canon, shape, hf, async () => mapRaw(await this.readShared(hf), pick));
  }

  finish(): string[] {
    if (this.missing.length) {
      const shown = this.missing.slice(0, 5).join(', ') + (this.missing.length > 5 ? ` and ${this.missing.length - 5} more` : '');
      throw new Error(`${this.where} lacks tensor${this.missing.length > 1 ? 's' : ''} ${this.whose} needs: ${shown}`);
    }
    if (this.wrong.length) throw new Error(`${this.where}: tensor ${this.wrong[0]}${this.wrong.length > 1 ? ` (and ${this.wrong.length - 1} more mismatches)` : ''}`);
    return [...this.store.tensors.keys()].filter((n) => !this.used.has(n) && !IGNORED.test(n));
  }
}

// Buffers some versions of transformers save beside the weights: rotary caches and causal masks.
const IGNORED = /(rotary_emb\.inv_freq|attn\.bias|attn\.masked_bias|attention\.bias|attention\.masked_bias)$/;

type Values = Float32Array | Uint16Array;

function mapRaw(raw: RawTensor, f: <T extends Values>(x: T) => T): RawTensor {
  return raw.dtype === 'F32' ? { dtype: raw.dtype, data: f(raw.data) } : { dtype: raw.dtype, data: f(raw.data) };
}

/** An empty array of the same kind as `like`. */
function alike<T extends Values>(like: T, n: number): T {
  return (like instanceof Float32Array ? new Float32Array(n) : new Uint16Array(n)) as T;
}

function transpose<T extends Values>(src: T, rows: number, cols: number): T {
  const out = alike(src, rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}

/** Rows [from, from + n) of every `period`-row block of a (·, cols) matrix, blocks concatenated. */
function strided<T extends Values>(src: T, cols: number, period: number, from: number, n: number): T {
  const blocks = src.length / cols / period;
  const out = alike(src, blocks * n * cols);
  for (let b = 0; b < blocks; b++) out.set(src.subarray((b * period + from) * cols, (b * period + from + n) * cols), b * n * cols);
  return out;
}

/** Columns [from, from + n) of a (rows, cols) matrix, transposed to (n, rows). */
function columnsT<T extends Values>(src: T, rows: number, cols: number, from: number, n: number): T {
  const out = alike(src, n * rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) out[c * rows + r] = src[r * cols + from + c]!;
  return out;
}

/** A norm over `dim` (dModel unless given: the per-head q/k norms are over headDim). */
function norm(b: Builder, c: ArchConfig, canon: string, hf: string, dim = c.dModel): void {
  b.shifted(`${canon}.weight`, `${hf}.weight`, [dim], c.normWeightOffset);
  if (c.norm === 'layernorm') b.direct(`${canon}.bias`, `${hf}.bias`, [dim]);
}

function linear(b: Builder, canon: string, hf: string, out: number, inp: number, bias: boolean): void {
  b.direct(`${canon}.weight`, `${hf}.weight`, [out, inp]);
  if (bias) b.direct(`${canon}.bias`, `${hf}.bias`, [out]);
}

/** The canonical tensors of a teacher checkpoint; throws naming the file and tensor when it does not fit the config. */
export function canonicalLayout(c: ArchConfig, store: TensorStore, where: string): CanonicalLayout {
  const b = new Builder(store, where, `the ${c.modelType} config`);
  const d = c.dModel;
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const f = c.intermediate;
  const tiedHead = c.tiedEmbeddings;

  switch (c.modelType) {
    case 'llama':
    case 'qwen2':
    case 'qwen3':
    case 'mistral':
    case 'gemma3_text': {
      b.direct('embed', 'model.embed_tokens.weight', [c.vocab, d]);
      for (let i = 0; i < c.layers; i++) {
        const p = `model.layers.${i}.`, q = `layers.${i}.`;
        norm(b, c, q + 'norm1', p + 'input_layernorm');
        linear(b, q + 'attn.q', p + 'self_attn.q_proj', qDim, d, c.biases.attention);
        linear(b, q + 'attn.k', p + 'self_attn.k_proj', kvDim, d, c.biases.attention);
        linear(b, q + 'attn.v', p + 'self_attn.v_proj', kvDim, d, c.biases.attention);
        linear(b, q + 'attn.o', p + 'self_attn.o_proj', d, qDim, c.biases.attentionOut);
        if (c.qkNorm) {
          norm(b, c, q + 'attn.q_norm', p + 'self_attn.q_norm', c.headDim);
          norm(b, c, q + 'attn.k_norm', p + 'self_attn.k_norm', c.headDim);
        }
        if (c.postNorms) {
          // Gemma 3's four norms: its post_attention_layernorm is on the attention's output, and the
          // MLP's input norm is pre_feedforward_layernorm.
          norm(b, c, q + 'mixer_out_norm', p + 'post_attention_layernorm');
          norm(b, c, q + 'norm2', p + 'pre_feedforward_layernorm');
          norm(b, c, q + 'mlp_out_norm', p + 'post_feedforward_layernorm');
        } else norm(b, c, q + 'norm2', p + 'post_attention_layernorm');
        linear(b, q + 'mlp.gate', p + 'mlp.gate_proj', f, d, c.biases.mlp);
        linear(b, q + 'mlp.up', p + 'mlp.up_proj', f, d, c.biases.mlp);
        linear(b, q + 'mlp.down', p + 'mlp.down_proj', d, f, c.biases.mlp);
      }
      norm(b, c, 'final_norm', 'model.norm');
      if (!tiedHead) linear(b, 'head', 'lm_head', c.vocab, d, false);
      break;
    }
    case 'gpt2': {
      // Checkpoints saved from GPT2LMHeadModel carry a `transformer.` prefix; GPT2Model's do not.
      const pre = b.has('transformer.wte.weight') ? 'transformer.' : '';
      b.direct('embed', pre + 'wte.weight', [c.vocab, d]);
      b.direct('pos', pre + 'wpe.weight', [c.maxPositions, d]);
      for (let i = 0; i < c.layers; i++) {
        const p = `${pre}h.${i}.`, q = `layers.${i}.`;
        norm(b, c, q + 'norm1', p + 'ln_1');
        // c_attn: (d, 3d) in Conv1D's (in, out) layout, output columns [q | k | v].
        for (const [j, name] of ['q', 'k', 'v'].entries()) {
          b.part(`${q}attn.${name}.weight`, [d, d], p + 'attn.c_attn.weight', [d, 3 * d], (w) => columnsT(w, d, 3 * d, j * d, d));
          b.part(`${q}attn.${name}.bias`, [d], p + 'attn.c_attn.bias', [3 * d], (w) => w.slice(j * d, (j + 1) * d) as typeof w);
        }
        b.transposed(q + 'attn.o.weight', p + 'attn.c_proj.weight', d, d);
        b.direct(q + 'attn.o.bias', p + 'attn.c_proj.bias', [d]);
        norm(b, c, q + 'norm2', p + 'ln_2');
        b.transposed(q + 'mlp.up.weight', p + 'mlp.c_fc.weight', d, f);
        b.direct(q + 'mlp.up.bias', p + 'mlp.c_fc.bias', [f]);
        b.transposed(q + 'mlp.down.weight', p + 'mlp.c_proj.weight', f, d);
        b.direct(q + 'mlp.down.bias', p + 'mlp.c_proj.bias', [d]);
      }
      norm(b, c, 'final_norm', pre + 'ln_f');
      if (!tiedHead) linear(b, 'head', 'lm_head', c.vocab, d, false);
      break;
    }
    case 'gpt_neox': {
      b.direct('embed', 'gpt_neox.embed_in.weight', [c.vocab, d]);
      const hd = c.headDim;
      for (let i = 0; i < c.layers; i++) {
        const p = `gpt_neox.layers.${i}.`, q = `layers.${i}.`;
        norm(b, c, q + 'norm1', p + 'input_layernorm');
        // query_key_value: (3d, d) with output rows grouped per head as [q | k | v] of headDim each.
        for (const [j, name] of ['q', 'k', 'v'].entries()) {
          b.part(`${q}attn.${name}.weight`, [d, d], p + 'attention.query_key_value.weight', [3 * d, d], (w) => strided(w, d, 3 * hd, j * hd, hd));
          if (c.biases.attention) {
            b.part(`${q}attn.${name}.bias`, [d], p + 'attention.query_key_value.bias', [3 * d], (w) => strided(w, 1, 3 * hd, j * hd, hd));
          }
        }
        linear(b, q + 'attn.o', p + 'attention.dense', d, d, c.biases.attention);
        norm(b, c, q + 'norm2', p + 'post_attention_layernorm');
        linear(b, q + 'mlp.up', p + 'mlp.dense_h_to_4h', f, d, true);
        linear(b, q + 'mlp.down', p + 'mlp.dense_4h_to_h', d, f, true);
      }
      norm(b, c, 'final_norm', 'gpt_neox.final_layer_norm');
      if (!tiedHead) linear(b, 'head', 'embed_out', c.vocab, d, false);
      break;
    }
    case 'phi': {
      b.direct('embed', 'model.embed_tokens.weight', [c.vocab, d]);
      for (let i = 0; i < c.layers; i++) {
        const p = `model.layers.${i}.`, q = `layers.${i}.`;
        norm(b, c, q + 'norm1', p + 'input_layernorm');
        linear(b, q + 'attn.q', p + 'self_attn.q_proj', qDim, d, true);
        linear(b, q + 'attn.k', p + 'self_attn.k_proj', kvDim, d, true);
        linear(b, q + 'attn.v', p + 'self_attn.v_proj', kvDim, d, true);
        linear(b, q + 'attn.o', p + 'self_attn.dense', d, qDim, true);
        linear(b, q + 'mlp.up', p + 'mlp.fc1', f, d, true);
        linear(b, q + 'mlp.down', p + 'mlp.fc2', d, f, true);
      }
      norm(b, c, 'final_norm', 'model.final_layernorm');
      if (tiedHead) {
        // A tied head still has its own bias in Phi.
        b.direct('head.bias', 'lm_head.bias', [c.vocab]);
      } else linear(b, 'head', 'lm_head', c.vocab, d, true);
      break;
    }
  }
  const unused = b.finish();
  if (tiedHead && unused.length) {
    // A tied checkpoint may still store the head (identical values); it is not needed.
    const head = ['lm_head.weight', 'embed_out.weight'];
    for (const h of head) {
      const k = unused.indexOf(h);
      if (k >= 0) unused.splice(k, 1);
    }
  }
  return { tensors: b.tensors, tiedHead, unused };
}

/** Parameter count of a canonical layout (the tied head counted once). */
export function parameterCount(layout: CanonicalLayout): number {
  return layout.tensors.reduce((s, t) => s + count(t.shape), 0);
}

/** Tensors stored under the canonical names already (an exported student), checked the same way. */
export function canonicalTensors(store: TensorStore, shapes: Map<string, number[]>, where: string, whose: string): { tensors: CanonicalTensor[]; unused: string[] } {
  const b = new Builder(store, where, whose);
  for (const [n, shape] of shapes) b.direct(n, n, shape);
  return { tensors: b.tensors, unused: b.finish() };
}

/** The warning a load gives for checkpoint tensors nothing uses; none when all are used. */
export function unusedWarning(unused: string[]): string[] {
  if (!unused.length) return [];
  return [`${unused.length} tensor(s) in the checkpoint are not used: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', …' : ''}`];
}
