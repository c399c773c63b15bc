// What a streamed stage-1/2 step (streamed-stage.ts) holds on the GPU, counted from the buffers it
// makes: the plan's estimate of a streamed stage (plan.ts, stageMemory) adds the student kept on the
// GPU and the f16 attention copies to it. tests/mohawk/streamed-memory.test.ts holds this count to
// what a step holds on small models, and to what the H200 measured at real shapes.
import type { ArchConfig } from '../io/config';
import { pickMatmulPlan } from '../kernels/matmul';
import { MIXER_CONV_K, mixerChunk, mixerDims, mixerParamShapes, stage1Narrow, type MixerShape } from '../models/mamba-mixer-shape';
import { FlatParams } from '../models/params';

export interface StreamedStageShape {
  c: ArchConfig;
  mixer: MixerShape;
  stage: 1 | 2;
  batch: number;
  L: number;
  /** Steps of residual streams the window keeps (streamWindowSteps). */
  windowSteps: number;
  accumulate: number;
  /** One layer of the teacher in its GPU precision, and its embedding table (and learned positions). */
  teacherBytes: number;
  /** The student stays in its own GPU buffers (then the slot is copied back by the GPU, with no staging). */
  studentOnGpu: boolean;
}

/**
 * Bytes of the step's own buffers: the teacher's layer and tables, the mixer's slot, the window's
 * residual streams, one teacher block's activations, the mixer's saved state and its backward's
 * scratch, the stage's objective and the kernels' scratch. Left out: a few floats per layer and step
 * (losses, norms, distances, ids), the norms' row statistics and the rotary tables (under 0.1% at
 * the shapes measured).
 */
export function streamedStageBytes(s: StreamedStageShape): number {
  const { c, mixer: mx, stage, batch, L } = s;
  const rows = batch * L;
  const d = c.dModel;
  const ff = c.intermediate;
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const m = mixerDims(mx);
  const h = mx.nV;

  // The slot: the mixer's parameters, gradients and two moments, and (student on the host) two
  // copy-back staging buffers of one chunk each (one chunk: a mixer fits one binding).
  const mixerFloats = FlatParams.of(mixerParamShapes(mx)).size;
  const slot = (s.studentOnGpu ? 4 : 6) * mixerFloats * 4;
  const window = s.windowSteps * s.accumulate * rows * d * 4;

  // Per token: the block's input and output, then the teacher block's activations (one layer's,
  // shared by all): the normed input, attention's and the MLP's outputs, a sequential block's mid
  // residual and second norm (a parallel one's second norm, phi's none), the post norms'; the MLP's
  // up, activation and gate; q, k, v, their normed and rotated copies where made, and the attention
  // output before o_proj.
  const block = d * (3 + (c.parallelResidual ? (c.modelType === 'phi' ? 0 : 1) : 2) + (c.postNorms ? 2 : 0)) + ff * (c.gatedMlp ? 3 : 2);
  const attention = (qDim + kvDim) * (1 + (c.qkNorm ? 1 : 0) + (c.rotaryDim > 0 ? 1 : 0)) + kvDim + qDim;
  // The mixer's saved state (made whichever stage runs): its input, in_proj's output, the conv's, x, B, C, a, y, the gated y.
  const state = d + m.proj + m.convCh + 3 * mx.dInner + 2 * m.gN + h;
  // The conv's weight-gradient partials, per 128 tokens of each sequence (both stages train the conv).
  const convParts = (batch * Math.ceil(L / 128) * m.convCh * (MIXER_CONV_K + 1)) / rows;
  let perRow = 2 * d + block + attention + state + convParts;
  if (stage === 1) {
    // The teacher's attention matrices, the SSD matrices and their gradient (batch × heads × L² each),
    // the gradients of B, C and a, and matrixBackward's conv-output and in_proj-output gradients: of
    // the B, C and A_log rows alone where stage 1 computes only those (stage1Narrow), else
    // zero-filled full-width ones.
    perRow += 3 * c.heads * L + 2 * m.gN + h + (stage1Narrow(mx, rows) ? 4 * m.gN + h : m.convCh + m.proj);
    // ssdMatrixBackward's scratch per (sequence, head): the a-gradient partials over 64-token tiles
    // and the segment sums (forward and backward), and dB and dC per head before the group sum.
    const Lp = Math.ceil(L / 64) * 64;
    const nb = Lp / 64;
    perRow += (h * (2 * Lp * nb + nb * nb + Lp * 64 + 2 * (3 * Lp + Lp / 4 + nb))) / L + 2 * h * mx.N;
  } else {
    // The mixer's output and its gradient, then the mixer backward's scratch: the gradients of the
    // gated output, y, x, B, C, a, the conv's output and in_proj's output; the gate's bias partials.
    perRow += 2 * d + 3 * mx.dInner + 2 * m.gN + h + m.convCh + m.proj + mx.dInner / 32;
    // The SSD scan's scratch, the forward's and the backward's own (each call makes its own here):
    // C·Bᵀ per chunk of Q tokens (forward, backward) and its gradient, chunk states (one region forward,
    // two backward), the cumulative decays, and the backward's row, column and state partials.
    const Q = mixerChunk(mx, L);
    const padded = (Math.ceil(L / Q) * Q) / L;
    const tiles = (n: number) => Math.ceil(n / 64);
    perRow += padded * (3 * mx.nQK * Q + (3 * mx.dInner * mx.N) / Q + 4 * h + 2 * h * tiles(Q) + 2 * h * tiles(m.p));
  }
  return s.teacherBytes + slot + window + rows * perRow * 4 + splitKBytes(s);
}

/**
 * The device's split-K partials (matmul-splitk.ts: one buffer, as large as the largest split GEMM
 * asks, kept for every later matmul): the teacher block's projections and the mixer's GEMMs of the
 * stage, as matmul plans them.
 */
export function splitKBytes(s: StreamedStageShape): number {
  const { c, mixer: mx, stage } = s;
  const rows = s.batch * s.L;
  const d = c.dModel;
  const proj = mixerDims(mx).proj;
  const kv = c.kvHeads * c.headDim;
  const q = c.heads * c.headDim;
  // [M, N, K, transA, transB, accumulate]
  const gemms: [number, number, number, boolean, boolean, boolean][] = [
    [rows, q, d, false, true, false],
    [rows, kv, d, false, true, false],
    [rows, d, q, false, true, false],
    [rows, c.intermediate, d, false, true, false],
    [rows, d, c.intermediate, false, true, false],
  ];
  // Stage 1 applies and differentiates in_proj's B, C and A_log rows alone where their views align.
  const bc = 2 * mixerDims(mx).gN;
  if (stage === 1 && stage1Narrow(mx, rows)) gemms.push([rows, bc, d, false, true, false], [rows, mx.nV, d, false, true, false], [bc, d, rows, true, false, true], [mx.nV, d, rows, true, false, true]);
  else gemms.push([rows, proj, d, false, true, false], [proj, d, rows, true, false, true]);
  if (stage === 2) gemms.push([rows, d, mx.dInner, false, true, false], [d, mx.dInner, rows, true, false, true], [rows, mx.dInner, d, false, false, false]);
  let most = 0;
  for (const [M, N, K, transA, transB, accumulate] of gemms) {
    const { splitK } = pickMatmulPlan(M, N, K, { transA, transB, accumulate });
    if (splitK > 1) most = Math.max(most, splitK * M * N * 4);
  }
  return most;
}
