// The forward pieces of a decoder block, built from the kernel library: attention (the teacher's
// mixer, or one a hybrid student keeps), the MLP, and the norms. Weights are looked up by canonical
// name (src/models/DESIGN.md); activations are (batch·L, features) row-major.
import type { Bindable, Gpu, Op } from '../gpu/runtime';
import type { ArchConfig } from '../io/config';
import { addColumnSums, matmul } from '../kernels/matmul';
import { rmsNorm, layerNorm, rmsNormBackward, layerNormBackward } from '../kernels/norm';
import { rotary } from '../kernels/rotary';
import { flashAttention, flashAttentionBackward } from '../kernels/flash-attention';
import { attnMatrix } from '../kernels/attn-matrix';
import { unary, unaryBackward, swiglu, swigluBackward, type Unary } from '../kernels/activations';

/** Canonical weights of one model on the GPU. */
export interface Weights {
  get(name: string): Bindable;
  has(name: string): boolean;
  /** The gradient of a trained weight (always added to), or undefined when it is frozen or not trained. */
  grad?(name: string): Bindable | undefined;
}

const gradOf = (w: Weights, name: string): Bindable | undefined => (w.grad && w.has(name) ? w.grad(name) : undefined);

/**
 * Backward of y = x·Wᵀ + b: dX (overwritten, or added to with accumulate) when given, and the
 * weight and bias gradients (added to) when the weights have them.
 */
export function linearBackward(
  gpu: Gpu, w: Weights, name: string, x: Bindable, dY: Bindable, dX: Bindable | undefined, rows: number, out: number, inp: number, accumulate = false,
): Op[] {
  const ops: Op[] = [];
  if (dX) ops.push(...matmul(gpu, { a: dY, b: w.get(`${name}.weight`), c: dX, M: rows, N: inp, K: out, accumulate }));
  const dW = gradOf(w, `${name}.weight`);
  if (dW) ops.push(...matmul(gpu, { a: dY, b: x, c: dW, M: out, N: inp, K: rows, transA: true, accumulate: true }));
  const db = gradOf(w, `${name}.bias`);
  if (db) ops.push(...addColumnSums(gpu, { x: dY, out: db, rows, cols: out }));
  return ops;
}

/** Backward of normForward: dx added to (the residual stream's gradient), dw/db added to when trained. */
export function normBackward(
  gpu: Gpu, c: ArchConfig, w: Weights, name: string, x: Bindable, dy: Bindable, dx: Bindable, rows: number, acts: Activations, layer: number, accumulate = true,
): Op[] {
  const d = c.dModel;
  const rstd = acts.get(`${name}.rstd`, layer, rows);
  const dw = gradOf(w, `${name}.weight`);
  if (c.norm === 'rmsnorm') return rmsNormBackward(gpu, { x, w: w.get(`${name}.weight`), rstd, dy, dx, dw, rows, d, accumulate, accumulateDw: true });
  const mean = acts.get(`${name}.mean`, layer, rows);
  const db = gradOf(w, `${name}.bias`);
  return layerNormBackward(gpu, { x, w: w.get(`${name}.weight`), mean, rstd, dy, dx, dw, db, rows, d, accumulate, accumulateDw: true });
}

/** Buffers of a model: one per (name, layer) when activations must be kept, else one per name. */
export class Activations {
  private readonly bufs = new Map<string, GPUBuffer>();
  constructor(
    private readonly gpu: Gpu,
    /** Keep every layer's activations apart (training, stage inputs); otherwise layers share them. */
    readonly perLayer: boolean,
  ) {}

  get(name: string, layer: number, floats: number): GPUBuffer {
    const key = this.perLayer || layer < 0 ? `${name}@${layer}` : name;
    let b = this.bufs.get(key);
    if (!b || b.size < floats * 4) {
      if (b) throw new Error(`activation ${key} requested with two sizes`);
      b = this.gpu.buffer(Math.max(floats, 4) * 4, key);
      this.bufs.set(key, b);
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

/** A norm's forward; `saved` receives the statistics its backward needs. */
export function normForward(gpu: Gpu, c: ArchConfig, w: Weights, name: string, x: Bindable, y: Bindable, rows: number, acts: Activations, layer: number): Op[] {
  const d = c.dModel;
  const rstd = acts.get(`${name}.rstd`, layer, rows);
  if (c.norm === 'rmsnorm') return rmsNorm(gpu, { x, w: w.get(`${name}.weight`), y, rstd, rows, d, eps: c.normEps });
  const mean = acts.get(`${name}.mean`, layer, rows);
  return layerNorm(gpu, { x, w: w.get(`${name}.weight`), b: w.get(`${name}.bias`), y, mean, rstd, rows, d, eps: c.normEps });
}

/** y = x·Wᵀ (+ b) for the canonical linear `name` (weight (out, in)). */
export function linear(gpu: Gpu, w: Weights, name: string, x: Bindable, y: Bindable, rows: number, out: number, inp: number): Op[] {
  const bias = w.has(`${name}.bias`) ? w.get(`${name}.bias`) : undefined;
  return matmul(gpu, { a: x, b: w.get(`${name}.weight`), c: y, bias, M: rows, N: out, K: inp, transB: true });
}

/** Causal multi-head attention of layer `layer`: u (rows, d) → out (rows, d), after the output projection. */
export class AttentionMixer {
  readonly q: GPUBuffer;
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  readonly o: GPUBuffer;
  readonly lse: GPUBuffer;
  private readonly qr: GPUBuffer;
  private readonly kr: GPUBuffer;

  constructor(
    private readonly gpu: Gpu,
    private readonly c: ArchConfig,
    private readonly w: Weights,
    private readonly layer: number,
    private readonly io: Io,
    private readonly acts: Activations,
  ) {
    const rows = io.batch * io.L;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    this.q = acts.get('attn.q', layer, rows * qDim);
    this.k = acts.get('attn.k', layer, rows * kvDim);
    this.v = acts.get('attn.v', layer, rows * kvDim);
    this.qr = c.rotaryDim > 0 ? acts.get('attn.q_rot', layer, rows * qDim) : this.q;
    this.kr = c.rotaryDim > 0 ? acts.get('attn.k_rot', layer, rows * kvDim) : this.k;
    this.o = acts.get('attn.o', layer, rows * qDim);
    this.lse = acts.get('attn.lse', layer, io.batch * c.heads * io.L);
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
      ...linear(gpu, w, p + 'q', u, this.q, rows, qDim, c.dModel),
      ...linear(gpu, w, p + 'k', u, this.k, rows, kvDim, c.dModel),
      ...linear(gpu, w, p + 'v', u, this.v, rows, kvDim, c.dModel),
    ];
    if (c.rotaryDim > 0) {
      const rope = { batch: io.batch, L: io.L, headDim: c.headDim, rotaryDim: c.rotaryDim, theta: c.ropeTheta ?? 10000 };
      ops.push(...rotary(gpu, { x: this.q, out: this.qr, heads: c.heads, ...rope }), ...rotary(gpu, { x: this.k, out: this.kr, heads: c.kvHeads, ...rope }));
    }
    const shape = { batch: io.batch, L: io.L, hq: c.heads, hkv: c.kvHeads, d: c.headDim };
    ops.push(...flashAttention(gpu, shape, { q: this.qr, k: this.kr, v: this.v, o: this.o, lse: this.lse }));
    ops.push(...linear(gpu, w, p + 'o', this.o, out, rows, c.dModel, qDim));
    return ops;
  }

  /** dU (overwritten, or added to with accumulate) and the gradients of trained weights, from dOut. */
  backward(dOut: Bindable, dU: Bindable | undefined, opts: { accumulate?: boolean } = {}): Op[] {
    const { gpu, c, w, io } = this;
    const u = this.u;
    if (!u) throw new Error('attention backward before its forward');
    const rows = io.batch * io.L;
    const p = `layers.${this.layer}.attn.`;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    const g = this.grads;
    const ops = linearBackward(gpu, w, p + 'o', this.o, dOut, g.dO, rows, c.dModel, qDim);
    const shape = { batch: io.batch, L: io.L, hq: c.heads, hkv: c.kvHeads, d: c.headDim };
    const rot = c.rotaryDim > 0;
    ops.push(...flashAttentionBackward(gpu, shape, { q: this.qr, k: this.kr, v: this.v, o: this.o, lse: this.lse, dO: g.dO, dQ: rot ? g.dQr : g.dQ, dK: rot ? g.dKr : g.dK, dV: g.dV }));
    if (rot) {
      const rope = { batch: io.batch, L: io.L, headDim: c.headDim, rotaryDim: c.rotaryDim, theta: c.ropeTheta ?? 10000, inverse: true };
      ops.push(...rotary(gpu, { x: g.dQr, out: g.dQ, heads: c.heads, ...rope }), ...rotary(gpu, { x: g.dKr, out: g.dK, heads: c.kvHeads, ...rope }));
    }
    ops.push(
      ...linearBackward(gpu, w, p + 'q', u, g.dQ, dU, rows, qDim, c.dModel, opts.accumulate),
      ...linearBackward(gpu, w, p + 'k', u, g.dK, dU, rows, kvDim, c.dModel, true),
      ...linearBackward(gpu, w, p + 'v', u, g.dV, dU, rows, kvDim, c.dModel, true),
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
      dO: a.get('attn.dO', -200, rows * qDim),
      dQ: a.get('attn.dQ', -201, rows * qDim),
      dK: a.get('attn.dK', -202, rows * kvDim),
      dV: a.get('attn.dV', -203, rows * kvDim),
      dQr: a.get('attn.dQr', -204, rows * qDim),
      dKr: a.get('attn.dKr', -205, rows * kvDim),
    };
  }

  /** The causal softmax matrices (batch, heads, L, L) of the last forward, for stage 1. */
  probabilities(out: Bindable): Op[] {
    const { c, io } = this;
    return attnMatrix(this.gpu, { q: this.qr, k: this.kr, out, batch: io.batch, L: io.L, hq: c.heads, hkv: c.kvHeads, d: c.headDim });
  }
}

/** The MLP of layer `layer`: fc2(act(fc1(u))) or down(silu(gate(u))·up(u)). */
export class Mlp {
  readonly up: GPUBuffer;
  readonly gate: GPUBuffer | null;
  readonly act: GPUBuffer;

  constructor(
    private readonly gpu: Gpu,
    private readonly c: ArchConfig,
    private readonly w: Weights,
    private readonly layer: number,
    private readonly io: Io,
    private readonly acts: Activations,
  ) {
    const rows = io.batch * io.L;
    this.up = acts.get('mlp.up', layer, rows * c.intermediate);
    this.gate = c.gatedMlp ? acts.get('mlp.gate', layer, rows * c.intermediate) : null;
    this.act = acts.get('mlp.act', layer, rows * c.intermediate);
    if (c.gatedMlp && c.activation !== 'silu') throw new Error(`config.json: a gated MLP with ${c.activation} is not supported (SwiGLU only)`);
    if (!c.gatedMlp) activationKind(c);
  }

  forward(u: Bindable, out: Bindable): Op[] {
    const { gpu, c, w } = this;
    const rows = this.io.batch * this.io.L;
    const f = c.intermediate;
    const p = `layers.${this.layer}.mlp.`;
    const ops = linear(gpu, w, p + 'up', u, this.up, rows, f, c.dModel);
    if (this.gate) {
      ops.push(...linear(gpu, w, p + 'gate', u, this.gate, rows, f, c.dModel));
      ops.push(...swiglu(gpu, { gate: this.gate, up: this.up, out: this.act, rows, cols: f }));
    } else {
      ops.push(...unary(gpu, { kind: activationKind(c), x: this.up, y: this.act, n: rows * f, cols: f }));
    }
    ops.push(...linear(gpu, w, p + 'down', this.act, out, rows, c.dModel, f));
    return ops;
  }

  /** dU (overwritten, or added to with accumulate) and trained weights' gradients, from dOut; u as in forward. */
  backward(u: Bindable, dOut: Bindable, dU: Bindable, opts: { accumulate?: boolean } = {}): Op[] {
    const { gpu, c, w } = this;
    const rows = this.io.batch * this.io.L;
    const f = c.intermediate;
    const p = `layers.${this.layer}.mlp.`;
    const dAct = this.acts.get('mlp.dAct', -210, rows * f);
    const dUp = this.acts.get('mlp.dUp', -211, rows * f);
    const ops = linearBackward(gpu, w, p + 'down', this.act, dOut, dAct, rows, c.dModel, f);
    if (this.gate) {
      const dGate = this.acts.get('mlp.dGate', -212, rows * f);
      ops.push(...swigluBackward(gpu, { gate: this.gate, up: this.up, dOut: dAct, dGate, dUp, rows, cols: f }));
      ops.push(...linearBackward(gpu, w, p + 'gate', u, dGate, dU, rows, f, c.dModel, opts.accumulate));
      ops.push(...linearBackward(gpu, w, p + 'up', u, dUp, dU, rows, f, c.dModel, true));
    } else {
      ops.push(...unaryBackward(gpu, { kind: activationKind(c), x: this.up, dy: dAct, dx: dUp, n: rows * f, cols: f }));
      ops.push(...linearBackward(gpu, w, p + 'up', u, dUp, dU, rows, f, c.dModel, opts.accumulate));
    }
    return ops;
  }
}
