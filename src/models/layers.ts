// The forward pieces of a decoder block, built from the kernel library: attention (the teacher's
// mixer, or one a hybrid student keeps), the MLP, and the norms. Weights are looked up by canonical
// name (src/models/DESIGN.md); activations are (batch·L, features) row-major.
import type { Bindable, Gpu, Op } from '../gpu/runtime';
import type { ArchConfig } from '../io/config';
import { matmul } from '../kernels/matmul';
import { rmsNorm, layerNorm } from '../kernels/norm';
import { rotary } from '../kernels/rotary';
import { flashAttention } from '../kernels/flash-attention';
import { attnMatrix } from '../kernels/attn-matrix';
import { unary, swiglu, type Unary } from '../kernels/activations';

/** Canonical weights of one model on the GPU. */
export interface Weights {
  get(name: string): Bindable;
  has(name: string): boolean;
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
    acts: Activations,
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

  forward(u: Bindable, out: Bindable): Op[] {
    const { gpu, c, w, io } = this;
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
    acts: Activations,
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
}
