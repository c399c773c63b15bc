// The forward pieces of a decoder block, built from the kernel library: attention (the teacher's
// mixer, or one a hybrid student keeps), the MLP, and the norms. Weights are looked up by canonical
// name (src/models/DESIGN.md); activations are (batch·L, features) row-major.
import type { Bindable, Gpu, Op } from '../gpu/runtime';
import { layerAttention, ropeInverseFrequencies, type ArchConfig } from '../io/config';
import { addColumnSums, matmul } from '../kernels/matmul';
import { rmsNorm, layerNorm, rmsNormBackward, layerNormBackward, type ResidualAdd } from '../kernels/norm';
import { rotary } from '../kernels/rotary';
import { flashAttention, flashAttentionBackward, type AttentionShape } from '../kernels/flash-attention';
import { attnMatrix } from '../kernels/attn-matrix';
import { hasHalf, toHalf } from '../kernels/half';
import { unary, unaryBackward, swiglu, swigluBackward, type Unary } from '../kernels/activations';

/** Canonical weights of one model on the GPU. */
export interface Weights {
  get(name: string): Bindable;
  has(name: string): boolean;
  /** The gradient of a trained weight (always added to), or undefined when it is frozen or not trained. */
  grad?(name: string): Bindable | undefined;
}

const gradOf = (w: Weights, name: string): Bindable | undefined => (w.grad && w.has(name) ? w.grad(name) : undefined);

/** The canonical linear `name` (weight (outDim, inDim), optional bias) applied to `rows` rows. */
export interface LinearArgs {
  w: Weights;
  name: string;
  rows: number;
  outDim: number;
  inDim: number;
}

/** y = x·Wᵀ (+ b). */
export function linear(gpu: Gpu, a: LinearArgs & { x: Bindable; y: Bindable }): Op[] {
  const { w, name, x, y, rows, outDim, inDim } = a;
  const bias = w.has(`${name}.bias`) ? w.get(`${name}.bias`) : undefined;
  return matmul(gpu, { a: x, b: w.get(`${name}.weight`), c: y, bias, M: rows, N: outDim, K: inDim, transB: true });
}

/**
 * Backward of y = x·Wᵀ + b: dX (overwritten, or added to with accumulate) when given, and the
 * weight and bias gradients (added to) when the weights have them.
 */
export function linearBackward(gpu: Gpu, a: LinearArgs & { x: Bindable; dY: Bindable; dX?: Bindable; accumulate?: boolean }): Op[] {
  const { w, name, x, dY, dX, rows, outDim, inDim, accumulate = false } = a;
  const ops: Op[] = [];
  if (dX) ops.push(...matmul(gpu, { a: dY, b: w.get(`${name}.weight`), c: dX, M: rows, N: inDim, K: outDim, accumulate }));
  const dW = gradOf(w, `${name}.weight`);
  if (dW) ops.push(...matmul(gpu, { a: dY, b: x, c: dW, M: outDim, N: inDim, K: rows, transA: true, accumulate: true }));
  const db = gradOf(w, `${name}.bias`);
  if (db) ops.push(...addColumnSums(gpu, { x: dY, out: db, rows, cols: outDim }));
  return ops;
}

/** The norm `name` over `rows` rows of width c.dModel, and where it keeps its statistics. */
export interface NormArgs {
  c: ArchConfig;
  w: Weights;
  name: string;
  rows: number;
  acts: Activations;
  /** The block the norm belongs to, whose buffers hold its statistics; null for the final norm (scratch). */
  layer: number | null;
}

/** The statistics normForward saves for normBackward: rstd, and for LayerNorm the mean. */
function normStat(a: NormArgs, stat: 'rstd' | 'mean'): GPUBuffer {
  const name = `${a.name}.${stat}`;
  return a.layer === null ? a.acts.scratch(name, a.rows) : a.acts.layer(name, a.layer, a.rows);
}

/**
 * A norm's forward, x → y; it saves the statistics its backward reads. With `residual` it normalises
 * x + residual.add and writes that sum to residual.sum in the same pass (norm.ts ResidualAdd).
 */
export function normForward(gpu: Gpu, a: NormArgs & { x: Bindable; y: Bindable; residual?: ResidualAdd }): Op[] {
  const { c, w, name, x, y, rows, residual } = a;
  const d = c.dModel;
  const rstd = normStat(a, 'rstd');
  if (c.norm === 'rmsnorm') return rmsNorm(gpu, { x, w: w.get(`${name}.weight`), y, rstd, rows, d, eps: c.normEps, residual });
  const mean = normStat(a, 'mean');
  return layerNorm(gpu, { x, w: w.get(`${name}.weight`), b: w.get(`${name}.bias`), y, mean, rstd, rows, d, eps: c.normEps, residual });
}

/**
 * Backward of normForward: dx added to (the residual stream's gradient; overwritten with
 * accumulate false), dw/db added to when trained.
 */
export function normBackward(gpu: Gpu, a: NormArgs & { x: Bindable; dy: Bindable; dx: Bindable; accumulate?: boolean }): Op[] {
  const { c, w, name, x, dy, dx, rows, accumulate = true } = a;
  const d = c.dModel;
  const rstd = normStat(a, 'rstd');
  const dw = gradOf(w, `${name}.weight`);
  if (c.norm === 'rmsnorm') return rmsNormBackward(gpu, { x, w: w.get(`${name}.weight`), rstd, dy, dx, dw, rows, d, accumulate, accumulateDw: true });
  const mean = normStat(a, 'mean');
  const db = gradOf(w, `${name}.bias`);
  return layerNormBackward(gpu, { x, w: w.get(`${name}.weight`), mean, rstd, dy, dx, dw, db, rows, d, accumulate, accumulateDw: true });
}

/**
 * A model's buffers, by name, in three kinds that never alias one another:
 *   layer(name, l)   layer l's activations: apart per layer when layers are kept (training, stage
 *                    inputs), otherwise one buffer per name that every layer reuses;
 *   kept(name, l)    layer l's, apart per layer even when layers are not kept (the residual stream,
 *                    which the stages read);
 *   scratch(name)    one buffer per name for the whole model: gradient scratch (a layer's backward is
 *                    done before the next one's starts) and what lies outside the layers.
 * A name asked for again returns the same buffer; asking for more floats than it holds is an error.
 */
export class Activations {
  /** By kind and key; one map, so release hands buffers back in the order they were made. */
  private readonly bufs = new Map<string, GPUBuffer>();
  constructor(
    private readonly gpu: Gpu,
    /** Keep every layer's activations apart (training, stage inputs); otherwise layers share them. */
    readonly perLayer: boolean,
  ) {}

  layer(name: string, layer: number, floats: number): GPUBuffer {
    const l = Activations.index(name, layer);
    return this.take('layer', this.perLayer ? `${name}@${l}` : name, floats);
  }

  kept(name: string, layer: number, floats: number): GPUBuffer {
    return this.take('kept', `${name}@${Activations.index(name, layer)}`, floats);
  }

  scratch(name: string, floats: number): GPUBuffer {
    return this.take('scratch', name, floats);
  }

  /** A scratch buffer of `values` f16 values (shader-f16 copies), one per name for the whole model. */
  half(name: string, values: number): GPUBuffer {
    const key = `half ${name}`;
    let b = this.bufs.get(key);
    if (!b) {
      b = this.gpu.packedBuffer(values, 'f16', name);
      this.bufs.set(key, b);
    } else if (b.size < Math.ceil(values / 2) * 4) throw new Error(`activation ${name} requested with two sizes`);
    return b;
  }

  private static index(name: string, layer: number): number {
    if (!Number.isInteger(layer) || layer < 0) throw new Error(`activation ${name}: ${layer} is not a layer index`);
    return layer;
  }

  private take(kind: 'layer' | 'kept' | 'scratch', key: string, floats: number): GPUBuffer {
    let b = this.bufs.get(`${kind} ${key}`);
    if (!b || b.size < floats * 4) {
      if (b) throw new Error(`activation ${key} requested with two sizes`);
      b = this.gpu.buffer(Math.max(floats, 4) * 4, key);
      this.bufs.set(`${kind} ${key}`, b);
    }
    return b;
  }

  release(): void {
    for (const b of this.bufs.values()) this.gpu.release(b);
    this.bufs.clear();
  }
}

export interface Io {
  batch: number;
  L: number;
}

/** What a block's attention or MLP is built on: the model, its layer, the sequences, and where its activations go. */
export interface LayerArgs {
  c: ArchConfig;
  w: Weights;
  layer: number;
  io: Io;
  acts: Activations;
}

export function activationKind(c: ArchConfig): Unary {
  switch (c.activation) {
    case 'gelu':
      return 'gelu';
    case 'gelu_tanh':
      return 'geluTanh';
    case 'silu':
      return 'silu';
    default:
      throw new Error(`config.json: the MLP activation ${c.activation} has no kernel in this build (supported: gelu, gelu_new/gelu_tanh, silu)`);
  }
}

/** What a block's modules keep: the architecture, weights, layer index, sequence shape and activations. */
abstract class LayerModule {
  protected readonly c: ArchConfig;
  protected readonly w: Weights;
  protected readonly layer: number;
  protected readonly io: Io;
  protected readonly acts: Activations;

  constructor(
    protected readonly gpu: Gpu,
    a: LayerArgs,
  ) {
    ({ c: this.c, w: this.w, layer: this.layer, io: this.io, acts: this.acts } = a);
  }
}

/**
 * Causal multi-head attention of layer `layer`: u (rows, d) → out (rows, d), after the output projection.
 * q, k → per-head RMSNorm (qkNorm) → RoPE (theta's or the scaled frequencies) → softmax of the scaled
 * scores over the keys the window leaves (all j ≤ i without one). The window, the RoPE and the scale
 * are the layer's own (layerAttention: gemma3's sliding and full layers differ).
 *
 * With `half` (a frozen teacher on a device with shader-f16; DecoderOptions.halfAttention) the
 * softmax reads f16 copies of the rotated q, k and v, made right before it in scratch buffers every
 * layer shares: the key and value blocks the flash kernel reads again for every query block move
 * half the bytes, and the arithmetic stays f32. q, k, v themselves stay f32 for whatever else reads
 * them (stage 1's attention matrices). Forward only.
 */
export class AttentionMixer extends LayerModule {
  readonly q: GPUBuffer;
  readonly k: GPUBuffer;
  /** The normed q and k (qkNorm), or q and k themselves. */
  private readonly qn: GPUBuffer;
  private readonly kn: GPUBuffer;
  private readonly invFreq: Float64Array | undefined;
  private readonly theta: number;
  private readonly window: number | null;
  /** The scores' scale where it is not the kernels' default 1/√headDim. */
  private readonly scale: number | undefined;
  readonly v: GPUBuffer;
  readonly o: GPUBuffer;
  readonly lse: GPUBuffer;
  private readonly qr: GPUBuffer;
  private readonly kr: GPUBuffer;
  private readonly half: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer } | null = null;

  constructor(gpu: Gpu, a: LayerArgs & { half?: boolean }) {
    super(gpu, a);
    const { c, layer, io, acts } = a;
    const rows = io.batch * io.L;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    this.q = acts.layer('attn.q', layer, rows * qDim);
    this.k = acts.layer('attn.k', layer, rows * kvDim);
    this.v = acts.layer('attn.v', layer, rows * kvDim);
    this.qn = c.qkNorm ? acts.layer('attn.q_normed', layer, rows * qDim) : this.q;
    this.kn = c.qkNorm ? acts.layer('attn.k_normed', layer, rows * kvDim) : this.k;
    this.qr = c.rotaryDim > 0 ? acts.layer('attn.q_rot', layer, rows * qDim) : this.qn;
    this.kr = c.rotaryDim > 0 ? acts.layer('attn.k_rot', layer, rows * kvDim) : this.kn;
    const la = layerAttention(c, layer);
    this.theta = la.ropeTheta ?? 10000;
    this.invFreq = la.ropeScaling ? ropeInverseFrequencies({ ropeTheta: la.ropeTheta, rotaryDim: c.rotaryDim, ropeScaling: la.ropeScaling }) : undefined;
    this.window = la.window;
    this.scale = c.attnScale !== null ? la.scale : undefined;
    this.o = acts.layer('attn.o', layer, rows * qDim);
    this.lse = acts.layer('attn.lse', layer, io.batch * c.heads * io.L);
    if (a.half) {
      if (!hasHalf(gpu)) throw new Error(`f16 attention needs shader-f16, which this GPU adapter (${gpu.info.description || gpu.info.vendor}) does not offer`);
      this.half = { q: acts.half('attn.q_f16', rows * qDim), k: acts.half('attn.k_f16', rows * kvDim), v: acts.half('attn.v_f16', rows * kvDim) };
    }
  }

  /** The rotated queries and keys the softmax reads. */
  get rotated(): { q: GPUBuffer; k: GPUBuffer } {
    return { q: this.qr, k: this.kr };
  }

  private u: Bindable | null = null;

  forward(u: Bindable, out: Bindable): Op[] {
    const { gpu, c, w, io } = this;
    this.u = u;
    const rows = io.batch * io.L;
    const p = `layers.${this.layer}.attn.`;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    const ops = [
      ...linear(gpu, { w, name: p + 'q', x: u, y: this.q, rows, outDim: qDim, inDim: c.dModel }),
      ...linear(gpu, { w, name: p + 'k', x: u, y: this.k, rows, outDim: kvDim, inDim: c.dModel }),
      ...linear(gpu, { w, name: p + 'v', x: u, y: this.v, rows, outDim: kvDim, inDim: c.dModel }),
    ];
    if (c.qkNorm) ops.push(...this.headNorm('q', this.q, this.qn), ...this.headNorm('k', this.k, this.kn));
    if (c.rotaryDim > 0) {
      const rope = { batch: io.batch, L: io.L, headDim: c.headDim, rotaryDim: c.rotaryDim, theta: this.theta, ...(this.invFreq ? { invFreq: this.invFreq } : {}) };
      ops.push(...rotary(gpu, { x: this.qn, out: this.qr, heads: c.heads, ...rope }), ...rotary(gpu, { x: this.kn, out: this.kr, heads: c.kvHeads, ...rope }));
    }
    if (this.half) {
      const h = this.half;
      ops.push(...toHalf(gpu, { x: this.qr, y: h.q, n: rows * qDim }), ...toHalf(gpu, { x: this.kr, y: h.k, n: rows * kvDim }), ...toHalf(gpu, { x: this.v, y: h.v, n: rows * kvDim }));
      ops.push(...flashAttention(gpu, this.shape, { q: h.q, k: h.k, v: h.v, o: this.o, lse: this.lse }, { half: true }));
    } else ops.push(...flashAttention(gpu, this.shape, { q: this.qr, k: this.kr, v: this.v, o: this.o, lse: this.lse }));
    ops.push(...linear(gpu, { w, name: p + 'o', x: this.o, y: out, rows, outDim: c.dModel, inDim: qDim }));
    return ops;
  }

  private get shape(): AttentionShape {
    const { c, io } = this;
    const s: AttentionShape = { batch: io.batch, L: io.L, hq: c.heads, hkv: c.kvHeads, d: c.headDim };
    if (this.window !== null) s.window = this.window;
    if (this.scale !== undefined) s.scale = this.scale;
    return s;
  }

  private headRows(which: 'q' | 'k'): number {
    return this.io.batch * this.io.L * (which === 'q' ? this.c.heads : this.c.kvHeads);
  }

  /** q_norm / k_norm (qwen3, gemma3): RMSNorm over each head's headDim, one row per (token, head). */
  private headNorm(which: 'q' | 'k', x: Bindable, y: Bindable): Op[] {
    const { c, acts, layer } = this;
    const rows = this.headRows(which);
    const rstd = acts.layer(`attn.${which}_norm.rstd`, layer, rows);
    return rmsNorm(this.gpu, { x, w: this.w.get(`layers.${layer}.attn.${which}_norm.weight`), y, rstd, rows, d: c.headDim, eps: c.normEps });
  }

  private headNormBackward(which: 'q' | 'k', x: Bindable, dy: Bindable, dx: Bindable): Op[] {
    const { c, acts, layer, w } = this;
    const rows = this.headRows(which);
    const name = `layers.${layer}.attn.${which}_norm.weight`;
    const rstd = acts.layer(`attn.${which}_norm.rstd`, layer, rows);
    return rmsNormBackward(this.gpu, { x, w: w.get(name), rstd, dy, dx, dw: gradOf(w, name), rows, d: c.headDim, accumulate: false, accumulateDw: true });
  }

  /** dU (overwritten, or added to with accumulate) and the gradients of trained weights, from dOut. */
  backward(dOut: Bindable, dU: Bindable | undefined, opts: { accumulate?: boolean } = {}): Op[] {
    const { gpu, c, w, io } = this;
    const u = this.u;
    if (!u) throw new Error('attention backward before its forward');
    if (this.half) throw new Error('f16 attention is forward only (a frozen teacher)');
    const rows = io.batch * io.L;
    const p = `layers.${this.layer}.attn.`;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    const g = this.grads;
    const ops = linearBackward(gpu, { w, name: p + 'o', x: this.o, dY: dOut, dX: g.dO, rows, outDim: c.dModel, inDim: qDim });
    const rot = c.rotaryDim > 0;
    const nrm = c.qkNorm;
    // Gradients walk back: dQr (softmax) → dQn (before RoPE) → dQ (before the head norm).
    const dQn = nrm ? g.dQn : g.dQ;
    const dKn = nrm ? g.dKn : g.dK;
    ops.push(...flashAttentionBackward(gpu, this.shape, { q: this.qr, k: this.kr, v: this.v, o: this.o, lse: this.lse, dO: g.dO, dQ: rot ? g.dQr : dQn, dK: rot ? g.dKr : dKn, dV: g.dV }));
    if (rot) {
      const rope = { batch: io.batch, L: io.L, headDim: c.headDim, rotaryDim: c.rotaryDim, theta: this.theta, inverse: true, ...(this.invFreq ? { invFreq: this.invFreq } : {}) };
      ops.push(...rotary(gpu, { x: g.dQr, out: dQn, heads: c.heads, ...rope }), ...rotary(gpu, { x: g.dKr, out: dKn, heads: c.kvHeads, ...rope }));
    }
    if (nrm) ops.push(...this.headNormBackward('q', this.q, g.dQn, g.dQ), ...this.headNormBackward('k', this.k, g.dKn, g.dK));
    ops.push(
      ...linearBackward(gpu, { w, name: p + 'q', x: u, dY: g.dQ, dX: dU, rows, outDim: qDim, inDim: c.dModel, accumulate: opts.accumulate }),
      ...linearBackward(gpu, { w, name: p + 'k', x: u, dY: g.dK, dX: dU, rows, outDim: kvDim, inDim: c.dModel, accumulate: true }),
      ...linearBackward(gpu, { w, name: p + 'v', x: u, dY: g.dV, dX: dU, rows, outDim: kvDim, inDim: c.dModel, accumulate: true }),
    );
    return ops;
  }

  private get grads() {
    const rows = this.io.batch * this.io.L;
    const qDim = this.c.heads * this.c.headDim;
    const kvDim = this.c.kvHeads * this.c.headDim;
    const a = this.acts;
    // Gradient scratch is shared by all layers: a layer's backward is done before the next begins.
    return {
      dO: a.scratch('attn.dO', rows * qDim),
      dQ: a.scratch('attn.dQ', rows * qDim),
      dK: a.scratch('attn.dK', rows * kvDim),
      dV: a.scratch('attn.dV', rows * kvDim),
      dQr: a.scratch('attn.dQr', rows * qDim),
      dKr: a.scratch('attn.dKr', rows * kvDim),
      dQn: a.scratch('attn.dQn', rows * qDim),
      dKn: a.scratch('attn.dKn', rows * kvDim),
    };
  }

  /** The causal softmax matrices (batch, heads, L, L) of the last forward, for stage 1 (0 outside a sliding window). */
  probabilities(out: Bindable): Op[] {
    const { c, io } = this;
    const window = this.window ?? undefined;
    return attnMatrix(this.gpu, { q: this.qr, k: this.kr, out, batch: io.batch, L: io.L, hq: c.heads, hkv: c.kvHeads, d: c.headDim, window, scale: this.scale });
  }
}

/** The MLP of layer `layer`: fc2(act(fc1(u))) or down(act(gate(u))·up(u)) (SwiGLU, gemma3's GeGLU). */
export class Mlp extends LayerModule {
  readonly up: GPUBuffer;
  readonly gate: GPUBuffer | null;
  readonly act: GPUBuffer;

  constructor(gpu: Gpu, a: LayerArgs) {
    super(gpu, a);
    const { c, layer, io, acts } = a;
    const rows = io.batch * io.L;
    this.up = acts.layer('mlp.up', layer, rows * c.intermediate);
    this.gate = c.gatedMlp ? acts.layer('mlp.gate', layer, rows * c.intermediate) : null;
    this.act = acts.layer('mlp.act', layer, rows * c.intermediate);
    activationKind(c);
  }

  forward(u: Bindable, out: Bindable): Op[] {
    const { gpu, c, w } = this;
    const rows = this.io.batch * this.io.L;
    const f = c.intermediate;
    const p = `layers.${this.layer}.mlp.`;
    const ops = linear(gpu, { w, name: p + 'up', x: u, y: this.up, rows, outDim: f, inDim: c.dModel });
    if (this.gate) {
      ops.push(...linear(gpu, { w, name: p + 'gate', x: u, y: this.gate, rows, outDim: f, inDim: c.dModel }));
      ops.push(...swiglu(gpu, { kind: activationKind(c), gate: this.gate, up: this.up, out: this.act, rows, cols: f }));
    } else {
      ops.push(...unary(gpu, { kind: activationKind(c), x: this.up, y: this.act, n: rows * f, cols: f }));
    }
    ops.push(...linear(gpu, { w, name: p + 'down', x: this.act, y: out, rows, outDim: c.dModel, inDim: f }));
    return ops;
  }

  /** dU (overwritten, or added to with accumulate) and trained weights' gradients, from dOut; u as in forward. */
  backward(u: Bindable, dOut: Bindable, dU: Bindable, opts: { accumulate?: boolean } = {}): Op[] {
    const { gpu, c, w } = this;
    const rows = this.io.batch * this.io.L;
    const f = c.intermediate;
    const p = `layers.${this.layer}.mlp.`;
    const dAct = this.acts.scratch('mlp.dAct', rows * f);
    const dUp = this.acts.scratch('mlp.dUp', rows * f);
    const ops = linearBackward(gpu, { w, name: p + 'down', x: this.act, dY: dOut, dX: dAct, rows, outDim: c.dModel, inDim: f });
    if (this.gate) {
      const dGate = this.acts.scratch('mlp.dGate', rows * f);
      ops.push(...swigluBackward(gpu, { kind: activationKind(c), gate: this.gate, up: this.up, dOut: dAct, dGate, dUp, rows, cols: f }));
      ops.push(...linearBackward(gpu, { w, name: p + 'gate', x: u, dY: dGate, dX: dU, rows, outDim: f, inDim: c.dModel, accumulate: opts.accumulate }));
      ops.push(...linearBackward(gpu, { w, name: p + 'up', x: u, dY: dUp, dX: dU, rows, outDim: f, inDim: c.dModel, accumulate: true }));
    } else {
      ops.push(...unaryBackward(gpu, { kind: activationKind(c), x: this.up, dy: dAct, dx: dUp, n: rows * f, cols: f }));
      ops.push(...linearBackward(gpu, { w, name: p + 'up', x: u, dY: dUp, dX: dU, rows, outDim: f, inDim: c.dModel, accumulate: opts.accumulate }));
    }
    return ops;
  }
}
