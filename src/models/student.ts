// The MOHAWK student: the teacher's skeleton with the discrete Mamba-2 mixer in every layer but the
// attention layers a hybrid keeps. Its parameters live in one flat layout, on the GPU in chunks of
// whole tensors (each within one storage binding), with gradient chunks alike; `frozen` names get no
// gradient binding.
import type { Bindable, Gpu } from '../gpu/runtime';
import type { AdamWChunk } from '../kernels/adamw';
import type { ArchConfig } from '../io/config';
import { chunkPieces, FlatParams, normal, normalRange, type Chunk } from './params';
import { Activations, AttentionMixer, type Weights } from './layers';
import { MambaMixer } from './mamba-mixer';
import { mixerDims, mixerParamShapes, MIXER_CONV_K, type MixerShape } from './mamba-mixer-shape';
import type { DecoderOptions, Mixer } from './decoder';

export interface StudentSpec {
  config: ArchConfig;
  mixer: MixerShape;
  /** Layers that keep the teacher's attention. */
  attentionLayers: number[];
}

/** The paper's defaults: d_inner = d, n_v = n_qk = heads, N = head dim, out_proj bias where o_proj has one. */
export function defaultMixer(c: ArchConfig, chunk = 128): MixerShape {
  return { d: c.dModel, dInner: c.heads * c.headDim, nV: c.heads, nQK: c.heads, N: c.headDim, chunk, outBias: c.biases.attentionOut };
}

/** Canonical names and shapes of the teacher's tensors that the student copies as they are. */
function sharedShapes(c: ArchConfig): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const d = c.dModel, f = c.intermediate;
  const ln = c.norm === 'layernorm';
  s.set('embed', [c.vocab, d]);
  if (c.positions === 'learned') s.set('pos', [c.maxPositions, d]);
  for (let i = 0; i < c.layers; i++) {
    const p = `layers.${i}.`;
    s.set(p + 'norm1.weight', [d]);
    if (ln) s.set(p + 'norm1.bias', [d]);
    if (c.modelType !== 'phi') {
      s.set(p + 'norm2.weight', [d]);
      if (ln) s.set(p + 'norm2.bias', [d]);
    }
    // The post norms (gemma3) stay around the mixer that replaces the attention.
    if (c.postNorms) s.set(p + 'mixer_out_norm.weight', [d]).set(p + 'mlp_out_norm.weight', [d]);
    s.set(p + 'mlp.up.weight', [f, d]);
    if (c.biases.mlp) s.set(p + 'mlp.up.bias', [f]);
    if (c.gatedMlp) {
      s.set(p + 'mlp.gate.weight', [f, d]);
      if (c.biases.mlp) s.set(p + 'mlp.gate.bias', [f]);
    }
    s.set(p + 'mlp.down.weight', [d, f]);
    if (c.biases.mlp) s.set(p + 'mlp.down.bias', [d]);
  }
  s.set('final_norm.weight', [d]);
  if (ln) s.set('final_norm.bias', [d]);
  if (!c.tiedEmbeddings) s.set('head.weight', [c.vocab, d]);
  if (c.biases.lmHead) s.set('head.bias', [c.vocab]);
  return s;
}

function attentionShapes(c: ArchConfig, i: number): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const q = c.heads * c.headDim, kv = c.kvHeads * c.headDim, d = c.dModel;
  const p = `layers.${i}.attn.`;
  for (const [n, out, inp] of [['q', q, d], ['k', kv, d], ['v', kv, d], ['o', d, q]] as const) {
    s.set(`${p}${n}.weight`, [out, inp]);
    if (n === 'o' ? c.biases.attentionOut : c.biases.attention) s.set(`${p}${n}.bias`, [out]);
  }
  if (c.qkNorm) s.set(`${p}q_norm.weight`, [c.headDim]).set(`${p}k_norm.weight`, [c.headDim]);
  return s;
}

/** Every student tensor, canonical name → shape, in a fixed order. */
export function studentShapes(spec: StudentSpec): Map<string, number[]> {
  const c = spec.config;
  const s = sharedShapes(c);
  for (let i = 0; i < c.layers; i++) {
    const shapes = spec.attentionLayers.includes(i) ? attentionShapes(c, i) : new Map([...mixerParamShapes(spec.mixer)].map(([n, v]) => [`layers.${i}.mixer.${n}`, v] as const));
    for (const [n, v] of shapes) s.set(n, v);
  }
  return s;
}

/** The largest buffer one storage binding may take on this adapter: the default chunk size. */
export function bindingCap(gpu: Gpu): number {
  const lim = gpu.info.limits;
  return Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
}

/**
 * Parameters and their gradients, seen as canonical Weights, in as many GPU buffers (chunks of the flat
 * layout, FlatParams.chunks) as the binding limit needs. Optimizer state made with `buffers` is chunked
 * the same way, so chunk k of each lines up element for element.
 */
export class ParamSet implements Weights {
  readonly layout: FlatParams;
  readonly chunks: Chunk[];
  /** One buffer per chunk. */
  readonly values: GPUBuffer[];
  readonly grads: GPUBuffer[];
  /** Parameters given no gradient binding (and left out of AdamW's update). */
  frozen: (name: string) => boolean = () => false;
  /** The chunk each parameter lives in. */
  private readonly home = new Map<string, number>();

  constructor(
    private readonly gpu: Gpu,
    shapes: Map<string, number[]>,
    /** Initial values by name, or already packed in this layout (a checkpoint's, a host copy's); zeros when undefined. */
    initial: Map<string, Float32Array> | Float32Array | undefined,
    private readonly label: string,
    /** Bytes per chunk at most; the adapter's one-binding limit by default. */
    chunkBytes = bindingCap(gpu),
    /** false: values only (a model evaluated, not trained), no gradient buffers. */
    withGrads = true,
  ) {
    this.layout = FlatParams.of(shapes);
    if (initial instanceof Float32Array && initial.length !== this.layout.size) {
      throw new Error(`${label}: ${initial.length} packed values for a layout of ${this.layout.size}`);
    }
    this.chunks = this.layout.chunks(chunkBytes);
    let k = 0;
    for (const [n, s] of this.layout.slices) {
      while (s.offset >= this.chunks[k]!.start + this.chunks[k]!.size && k + 1 < this.chunks.length) k++;
      this.home.set(n, k);
    }
    this.values = this.buffers(`${label} parameters`, initial instanceof Map ? this.layout.pack(initial) : initial);
    this.grads = withGrads ? this.buffers(`${label} gradients`) : [];
  }

  /** One buffer per chunk, holding `flat` (in the full layout) chunk by chunk, or zeros. */
  buffers(label: string, flat?: Float32Array): GPUBuffer[] {
    return this.chunks.map((c, k) => {
      const l = this.chunks.length > 1 ? `${label} ${k}` : label;
      return flat ? this.gpu.upload(flat.subarray(c.start, c.start + c.size), l) : this.gpu.zeros(c.size, l);
    });
  }

  /** Writes `flat` (in the full layout) into chunk buffers made by `buffers`. */
  write(bufs: GPUBuffer[], flat: Float32Array): void {
    if (flat.length !== this.layout.size) throw new Error(`${this.label}: ${flat.length} packed values for a layout of ${this.layout.size}`);
    this.chunks.forEach((c, k) => this.gpu.write(bufs[k]!, flat.subarray(c.start, c.start + c.size)));
  }

  /** Writes one tensor's values into the parameters (a student made tensor by tensor on the GPU). */
  /** Values of tensor `name` from its value `at` on (the whole tensor by default). */
  writeTensor(name: string, values: Float32Array, at = 0): void {
    const s = this.layout.get(name);
    if (!Number.isInteger(at) || at < 0 || at + values.length > s.count) {
      throw new Error(`${this.label}: ${name} takes ${s.count} values, given ${values.length} from value ${at}`);
    }
    const k = this.home.get(name)!;
    this.gpu.write(this.values[k]!, values, (s.offset + at - this.chunks[k]!.start) * 4);
  }

  /** Writes flat floats at `from` into chunk buffers made by `buffers` (a checkpoint's piece). */
  writeRange(bufs: GPUBuffer[], from: number, values: Float32Array): void {
    for (const p of chunkPieces(this.chunks, from, values.length)) this.gpu.write(bufs[p.chunk]!, values.subarray(p.at / 4, (p.at + p.bytes) / 4), p.offset);
  }

  /** Flat floats [from, from + count) of chunk buffers made by `buffers`, read back from the GPU (a checkpoint's piece). */
  async readRange(bufs: GPUBuffer[], from: number, count: number): Promise<Float32Array> {
    const out = new Float32Array(count);
    for (const p of chunkPieces(this.chunks, from, count)) out.set(await this.gpu.read({ buffer: bufs[p.chunk]!, offset: p.offset, size: p.bytes }), p.at / 4);
    return out;
  }

  /** Chunk buffers made by `buffers` (the parameters by default) back in the full layout, one chunk at a time. */
  async readFlat(bufs: GPUBuffer[] = this.values): Promise<Float32Array> {
    const out = new Float32Array(this.layout.size);
    for (let k = 0; k < this.chunks.length; k++) out.set(await this.gpu.read(bufs[k]!, this.chunks[k]!.size), this.chunks[k]!.start);
    return out;
  }

  /**
   * AdamW's view of what trains, given moments made by `buffers`: in each chunk, every run of
   * consecutive trained tensors (with the alignment gaps between them, whose gradients stay 0) bound
   * at its offset, a chunk that trains whole bound whole. Frozen tensors are left out whole, so no
   * per-element mask is needed: they keep their values and moments, and their (absent) gradients
   * are no part of the norm.
   */
  optimizerChunks(m: GPUBuffer[], v: GPUBuffer[]): AdamWChunk[] {
    const out: AdamWChunk[] = [];
    const slices = [...this.layout.slices.values()];
    this.chunks.forEach((c, k) => {
      const bufs = { params: this.values[k]!, grads: this.grads[k]!, m: m[k]!, v: v[k]! };
      const push = (from: number, to: number) => {
        if (from === c.start && to === c.start + c.size) return out.push({ ...bufs, count: c.size });
        const view = (b: GPUBuffer) => ({ buffer: b, offset: (from - c.start) * 4, size: (to - from) * 4 });
        out.push({ params: view(bufs.params), grads: view(bufs.grads), m: view(bufs.m), v: view(bufs.v), count: to - from });
      };
      let from = -1;
      slices.forEach((s, i) => {
        if (s.offset < c.start || s.offset >= c.start + c.size) return;
        // A slice ends where the next begins (its alignment gap included), the last at the chunk's end.
        const end = Math.min(slices[i + 1]?.offset ?? this.layout.size, c.start + c.size);
        if (this.frozen(s.name)) {
          if (from >= 0) push(from, s.offset);
          from = -1;
        } else if (from < 0) from = s.offset;
        if (from >= 0 && end === c.start + c.size) push(from, end);
      });
    });
    return out;
  }

  /**
   * Weights the set does not hold but lends from elsewhere, untrained: with frozen MLPs the student's
   * MLPs are the teacher's, so they are bound from the teacher's buffers (in its precision) instead
   * of being copied, graded and given moments.
   */
  private borrowed: { from: Weights; names: (name: string) => boolean } | null = null;
  borrow(from: Weights, names: (name: string) => boolean): void {
    this.borrowed = { from, names };
  }
  private lends(name: string): boolean {
    return !this.layout.slices.has(name) && !!this.borrowed?.names(name) && this.borrowed.from.has(name);
  }

  has(name: string): boolean {
    return this.layout.slices.has(name) || this.lends(name);
  }
  private view(bufs: GPUBuffer[], name: string): Bindable {
    const s = this.layout.get(name);
    const k = this.home.get(name)!;
    return { buffer: bufs[k]!, offset: (s.offset - this.chunks[k]!.start) * 4, size: s.count * 4 };
  }
  get(name: string): Bindable {
    return this.lends(name) ? this.borrowed!.from.get(name) : this.view(this.values, name);
  }
  grad(name: string): Bindable | undefined {
    return this.lends(name) || this.frozen(name) || this.grads.length === 0 ? undefined : this.view(this.grads, name);
  }
  /** Only the parameters matching `pred` are trained. */
  trainOnly(pred: (name: string) => boolean): void {
    this.frozen = (n) => !pred(n);
  }
  async read(): Promise<Map<string, Float32Array>> {
    return this.layout.unpack(await this.readFlat());
  }
  release(): void {
    for (const b of [...this.values, ...this.grads]) b.destroy();
  }
}

/**
 * Initial student values from the teacher's canonical tensors (host copies). The mixer starts from the
 * attention it replaces, as SSD's duality suggests: C ← W_q, B ← W_k, x ← W_v (key/value heads repeated
 * for GQA), out_proj ← W_o; the gate is open (z weights 0, z_bias 1.2785 so silu ≈ 1), the conv is the
 * identity, D = 1, and A_log rows are small random values (decay ≈ 1/2 per token to begin with).
 */
/**
 * The teacher's canonical tensors: in memory (tests), or read on demand (a loaded teacher's source,
 * which also reads a large tensor in pieces).
 */
export type TeacherTensors =
  | Map<string, Float32Array>
  | { has(name: string): boolean; read(name: string): Promise<Float32Array>; pieces?(name: string): AsyncIterable<{ at: number; values: Float32Array }> };

export async function initialStudent(
  spec: StudentSpec,
  teacher: TeacherTensors,
  seed: number,
  held: (name: string) => boolean = () => true,
  /** Layers done of all: a large teacher's copy takes minutes on the host. */
  onProgress?: (done: number, total: number) => void,
  /**
   * Given: each tensor goes here as it is made (to the GPU, or a host store: awaited) and is not kept,
   * so the host holds one layer's at a time; the map comes back empty. The tensors copied whole from
   * the teacher (embedding, head, final norm) come in pieces from value `at` on where the teacher reads
   * them so: a 128k-row embedding is a gigabyte in f32.
   */
  put?: (name: string, values: Float32Array, at: number) => void | Promise<void>,
): Promise<Map<string, Float32Array>> {
  const c = spec.config;
  // Teacher tensors the student borrows (held false: frozen MLPs) are neither read nor kept.
  const kept = new Map<string, Float32Array>();
  // Each put is awaited before the next tensor is made (a file store's write), so none pile up.
  const v = {
    set: async (n: string, x: Float32Array) => {
      if (put) await put(n, x, 0);
      else kept.set(n, x);
    },
  };
  /** A teacher tensor copied unchanged: a piece at a time straight to `put` where it can be. */
  const copy = async (n: string) => {
    if (!put || teacher instanceof Map || !teacher.pieces) return v.set(n, await take(n));
    if (!teacher.has(n)) throw new Error(`the teacher has no tensor ${n} to copy into the student`);
    for await (const { at, values } of teacher.pieces(n)) await put(n, values, at);
  };
  // Each teacher tensor is read when it is copied (from the files, for a loaded teacher), never all at once.
  const take = async (n: string): Promise<Float32Array> => {
    if (teacher instanceof Map) {
      const t = teacher.get(n);
      if (!t) throw new Error(`the teacher has no tensor ${n} to copy into the student`);
      return t.slice();
    }
    if (!teacher.has(n)) throw new Error(`the teacher has no tensor ${n} to copy into the student`);
    return teacher.read(n);
  };
  onProgress?.(0, c.layers);
  for (const n of sharedShapes(c).keys()) if (held(n)) await copy(n);
  const m = spec.mixer;
  const dims = mixerDims(m);
  const d = c.dModel;
  const fromAttention = m.dInner === c.heads * c.headDim && m.nV === c.heads && m.nQK === c.heads && m.N === c.headDim;
  for (let i = 0; i < c.layers; i++) {
    if (spec.attentionLayers.includes(i)) {
      for (const n of attentionShapes(c, i).keys()) if (held(n)) await v.set(n, await take(n));
      onProgress?.(i + 1, c.layers);
      continue;
    }
    const p = `layers.${i}.mixer.`;
    const inProj = new Float32Array(dims.proj * d);
    // Rows of one random draw of the whole in_proj (normal's), of which only the rows used are drawn.
    const rand = (from: number, to: number) => normalRange(dims.proj * d, 1 / Math.sqrt(d), seed + 101 * i, from, to);
    if (fromAttention) {
      const rep = c.heads / c.kvHeads;
      const hd = c.headDim;
      const wq = await take(`layers.${i}.attn.q.weight`);
      const wk = await take(`layers.${i}.attn.k.weight`);
      const wv = await take(`layers.${i}.attn.v.weight`);
      // Row blocks of head h: x and B/C read the teacher's kv head h / rep.
      for (let h = 0; h < c.heads; h++) {
        const kvh = Math.floor(h / rep);
        inProj.set(wv.subarray(kvh * hd * d, (kvh + 1) * hd * d), (0 + h * hd) * d);
        inProj.set(wk.subarray(kvh * hd * d, (kvh + 1) * hd * d), (dims.bOff + h * hd) * d);
        inProj.set(wq.subarray(h * hd * d, (h + 1) * hd * d), (dims.cOff + h * hd) * d);
      }
    } else {
      inProj.set(rand(0, dims.convCh * d));
    }
    // z rows stay 0; A_log rows small random.
    inProj.set(rand(dims.aOff * d, dims.proj * d).map((x) => x * 0.1), dims.aOff * d);
    await v.set(p + 'in_proj.weight', inProj);
    const conv = new Float32Array(dims.convCh * MIXER_CONV_K);
    for (let ch = 0; ch < dims.convCh; ch++) conv[ch * MIXER_CONV_K + MIXER_CONV_K - 1] = 1;
    await v.set(p + 'conv1d.weight', conv);
    await v.set(p + 'conv1d.bias', new Float32Array(dims.convCh));
    await v.set(p + 'z_bias', new Float32Array(m.dInner).fill(1.2785));
    await v.set(p + 'D', new Float32Array(m.nV).fill(1));
    await v.set(p + 'out_proj.weight', fromAttention ? await take(`layers.${i}.attn.o.weight`) : normal(d * m.dInner, 1 / Math.sqrt(m.dInner), seed + 7 + i));
    if (m.outBias) await v.set(p + 'out_proj.bias', c.biases.attentionOut ? await take(`layers.${i}.attn.o.bias`) : new Float32Array(d));
    onProgress?.(i + 1, c.layers);
  }
  return kept;
}

/** The Decoder `mixer` option of a student: Mamba-2 mixers, attention in the kept layers. */
export function studentMixers(gpu: Gpu, spec: StudentSpec, weights: Weights): NonNullable<DecoderOptions['mixer']> {
  return (l: number, acts: Activations, io: { batch: number; L: number }): Mixer => {
    if (spec.attentionLayers.includes(l)) return new AttentionMixer(gpu, { c: spec.config, w: weights, layer: l, io, acts });
    const p = `layers.${l}.mixer.`;
    // The mixer's saved state is the decoder's per-layer activations (kept, or shared when the decoder
    // shares or recomputes its layers); its backward scratch is shared by every layer.
    const store = { state: (n: string, floats: number) => acts.layer(`mamba.${n}`, l, floats), scratch: (n: string, floats: number) => acts.scratch(`mamba.${n}`, floats) };
    const mixer = new MambaMixer(gpu, spec.mixer, io, { w: (n) => weights.get(p + n), g: (n) => (weights.has(p + n) ? weights.grad?.(p + n) : undefined) }, store);
    return { forward: (u, out) => mixer.forward(u, out), backward: (dOut, dU, o) => mixer.backward(dOut, dU, o ?? {}), release: () => mixer.release() };
  };
}
