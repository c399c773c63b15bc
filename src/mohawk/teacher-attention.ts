// The teacher side of stage 1 for one Llama-style layer: token ids → embedding → input norm (the
// student's input too) → q, k projections → rotary → causal softmax attention matrices per head.
// Layer 0 only needs the embedding; deeper layers take their residual stream from the full teacher forward.
import type { Bindable, Gpu, Op } from '../gpu/runtime';
import { embedding } from '../kernels/embedding';
import { rmsNorm } from '../kernels/norm';
import { matmul } from '../kernels/matmul';
import { rotary } from '../kernels/rotary';
import { attnMatrix } from '../kernels/attn-matrix';

export interface TeacherShape {
  dModel: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  normEps: number;
  ropeTheta: number;
  rotaryDim: number;
}

export interface TeacherLayerWeights {
  embed: Bindable; // (vocab, d)
  inputNorm: Bindable; // (d)
  wq: Bindable; // (heads·headDim, d)
  wk: Bindable; // (kvHeads·headDim, d)
}

export interface TeacherAttention {
  ops: Op[];
  /** The normed layer input (batch·L, d): what both attention and the student mixer read. */
  normedInput: GPUBuffer;
  /** Causal softmax attention (batch, heads, L, L). */
  attention: GPUBuffer;
}

export function teacherAttentionOps(
  gpu: Gpu,
  t: TeacherShape,
  w: TeacherLayerWeights,
  io: { ids: Bindable; batch: number; L: number },
): TeacherAttention {
  const { batch, L } = io;
  const rows = batch * L;
  const d = t.dModel;
  const qDim = t.heads * t.headDim;
  const kDim = t.kvHeads * t.headDim;
  const x = gpu.buffer(rows * d * 4, 'teacher residual');
  const u = gpu.buffer(rows * d * 4, 'teacher normed input');
  const rstd = gpu.buffer(rows * 4, 'teacher rstd');
  const q = gpu.buffer(rows * qDim * 4, 'q');
  const k = gpu.buffer(rows * kDim * 4, 'k');
  const qr = gpu.buffer(rows * qDim * 4, 'q rotated');
  const kr = gpu.buffer(rows * kDim * 4, 'k rotated');
  const attention = gpu.buffer(batch * t.heads * L * L * 4, 'teacher attention');
  const rope = { batch, L, headDim: t.headDim, rotaryDim: t.rotaryDim, theta: t.ropeTheta };
  const ops: Op[] = [
    ...embedding(gpu, { ids: io.ids, table: w.embed, out: x, tokens: rows, d, vocab: t.vocab }),
    ...rmsNorm(gpu, { x, w: w.inputNorm, y: u, rstd, rows, d, eps: t.normEps }),
    ...matmul(gpu, { a: u, b: w.wq, c: q, M: rows, N: qDim, K: d, transB: true }),
    ...matmul(gpu, { a: u, b: w.wk, c: k, M: rows, N: kDim, K: d, transB: true }),
    ...rotary(gpu, { x: q, out: qr, heads: t.heads, ...rope }),
    ...rotary(gpu, { x: k, out: kr, heads: t.kvHeads, ...rope }),
    ...attnMatrix(gpu, { q: qr, k: kr, out: attention, batch, L, hq: t.heads, hkv: t.kvHeads, d: t.headDim }),
  ];
  return { ops, normedInput: u, attention };
}
