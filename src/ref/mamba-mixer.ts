// float64 reference for src/models/mamba-mixer.ts: the discrete Mamba-2 mixer of Phi-Mamba, per batch
// row and token, u (batch·L, d) row-major:
//   zin = u·in_projᵀ = [x | B | C | z | A_log]      (widths dInner, nQK·N, nQK·N, dInner, nV)
//   [x | B | C] ← causal depthwise conv1d (kernel 4, bias, no activation)
//   a = −softplus(A_log)                             log-decay per head
//   y = SSD(x, a, B, C) + D·x                        heads of x (nV, p), B and C (nQK, N)
//   out = (y ⊙ silu(z + z_bias))·out_projᵀ (+ out_proj.bias)
// Phi-Mamba feeds the scan x/softplus(A_log) with dt = softplus(A_log) and A = −1: the dt factors
// cancel, leaving the plain recurrence above.
// Built from the references of the parts (matmul, conv1d, activations, ssd-scan); the backward runs
// them backwards and returns the gradient of u and of every parameter for Σ dOut∘out.
import { MIXER_CONV_K, mixerDims, mixerParamShapes, type MixerIo, type MixerShape } from '../models/mamba-mixer-shape';
import { gatedSiluBackwardRef, gatedSiluRef, unaryBackwardRef, unaryRef } from './activations';
import { conv1dBackwardRef, conv1dRef } from './conv1d';
import { matmulBackwardRef, matmulRef } from './matmul';
import { ssdScanBackwardRef, ssdScanRef } from './ssd-scan';
import type { SsdShape } from '../kernels/ssd-scan';

export type { MixerIo };

/** Parameters by local name ('in_proj.weight', 'conv1d.weight', …), canonical layouts. */
export type MixerParams = Map<string, Float64Array>;

/** The forward's intermediates, all (batch·L, width) row-major. */
export interface MixerTape {
  zin: Float64Array;
  /** [x | B | C] after the conv. */
  xBC: Float64Array;
  x: Float64Array;
  B: Float64Array;
  C: Float64Array;
  z: Float64Array;
  Alog: Float64Array;
  a: Float64Array;
  /** SSD output including D·x. */
  y: Float64Array;
  /** y ⊙ silu(z + z_bias), out_proj's input. */
  g: Float64Array;
  out: Float64Array;
}

/** Gradients of the SSD's inputs: what the MOHAWK stage-1 matrix backward starts from. */
export interface MixerSsdGrads {
  dB: Float64Array;
  dC: Float64Array;
  da: Float64Array;
  dD: Float64Array;
}

export interface MixerGrads {
  dU: Float64Array;
  /** By parameter name, laid out like the parameter. */
  params: Map<string, Float64Array>;
  ssd: MixerSsdGrads;
}

/** Columns [off, off + n) of a (rows × stride) matrix, as (rows × n). */
export function takeColumns(src: Float64Array, rows: number, stride: number, off: number, n: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) out[r * n + j] = src[r * stride + off + j];
  return out;
}

/** Writes (rows × n) into columns [off, off + n) of a (rows × stride) matrix. */
export function putColumns(dst: Float64Array, src: Float64Array, rows: number, stride: number, off: number, n: number): void {
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) dst[r * stride + off + j] = src[r * n + j];
}

function param(P: MixerParams, name: string): Float64Array {
  const v = P.get(name);
  if (!v) throw new Error(`mamba mixer reference: no parameter ${name}`);
  return v;
}

function ssdShape(s: MixerShape, io: MixerIo): SsdShape {
  return { batch: io.batch, L: io.L, h: s.nV, p: s.dInner / s.nV, g: s.nQK, n: s.N };
}

function checkParams(s: MixerShape, P: MixerParams): void {
  for (const [name, shape] of mixerParamShapes(s)) {
    const want = shape.reduce((a, b) => a * b, 1);
    if (param(P, name).length !== want) throw new Error(`mamba mixer reference: ${name} has ${param(P, name).length} values for shape [${shape}]`);
  }
}

export function mambaMixerRef(s: MixerShape, io: MixerIo, P: MixerParams, u: Float64Array): MixerTape {
  checkParams(s, P);
  const m = mixerDims(s);
  const rows = io.batch * io.L;
  const zin = matmulRef({ M: rows, N: m.proj, K: s.d, transB: true }, u, param(P, 'in_proj.weight'));
  const pre = takeColumns(zin, rows, m.proj, 0, m.convCh);
  const xBC = conv1dRef(pre, param(P, 'conv1d.weight'), param(P, 'conv1d.bias'), { batch: io.batch, L: io.L, channels: m.convCh, K: MIXER_CONV_K });
  const x = takeColumns(xBC, rows, m.convCh, 0, s.dInner);
  const B = takeColumns(xBC, rows, m.convCh, m.bOff, m.gN);
  const C = takeColumns(xBC, rows, m.convCh, m.cOff, m.gN);
  const z = takeColumns(zin, rows, m.proj, m.zOff, s.dInner);
  const Alog = takeColumns(zin, rows, m.proj, m.aOff, s.nV);
  const a = unaryRef('negSoftplus', Alog);
  const { y } = ssdScanRef(ssdShape(s, io), { x, a, B, C, D: param(P, 'D') });
  const g = gatedSiluRef(y, z, param(P, 'z_bias'), s.dInner);
  const out = matmulRef({ M: rows, N: s.d, K: s.dInner, transB: true }, g, param(P, 'out_proj.weight'), { bias: s.outBias ? param(P, 'out_proj.bias') : undefined });
  return { zin, xBC, x, B, C, z, Alog, a, y, g, out };
}

/**
 * From the gradients of the conv's outputs (dx, dB, dC; dx may be absent, meaning 0), of A_log's
 * log-decay (da) and of z (absent: 0): the gradient of in_proj's output (dZin) and the conv's
 * parameter gradients.
 */
function projGrads(
  s: MixerShape,
  io: MixerIo,
  P: MixerParams,
  t: MixerTape,
  g: { dx?: Float64Array; dB: Float64Array; dC: Float64Array; da: Float64Array; dz?: Float64Array },
): { dZin: Float64Array; dConvW: Float64Array; dConvB: Float64Array } {
  const m = mixerDims(s);
  const rows = io.batch * io.L;
  const dxBC = new Float64Array(rows * m.convCh);
  if (g.dx) putColumns(dxBC, g.dx, rows, m.convCh, 0, s.dInner);
  putColumns(dxBC, g.dB, rows, m.convCh, m.bOff, m.gN);
  putColumns(dxBC, g.dC, rows, m.convCh, m.cOff, m.gN);
  const pre = takeColumns(t.zin, rows, m.proj, 0, m.convCh);
  const conv = conv1dBackwardRef(pre, param(P, 'conv1d.weight'), dxBC, { batch: io.batch, L: io.L, channels: m.convCh, K: MIXER_CONV_K });
  const dZin = new Float64Array(rows * m.proj);
  putColumns(dZin, conv.dx, rows, m.proj, 0, m.convCh);
  if (g.dz) putColumns(dZin, g.dz, rows, m.proj, m.zOff, s.dInner);
  putColumns(dZin, unaryBackwardRef('negSoftplus', t.Alog, g.da), rows, m.proj, m.aOff, s.nV);
  return { dZin, dConvW: conv.dw, dConvB: conv.dbias };
}

export function mambaMixerBackwardRef(s: MixerShape, io: MixerIo, P: MixerParams, u: Float64Array, dOut: Float64Array, tape?: MixerTape): MixerGrads {
  const t = tape ?? mambaMixerRef(s, io, P, u);
  const m = mixerDims(s);
  const rows = io.batch * io.L;
  const grads = new Map<string, Float64Array>();

  const outMm = matmulBackwardRef({ M: rows, N: s.d, K: s.dInner, transB: true }, t.g, param(P, 'out_proj.weight'), dOut);
  grads.set('out_proj.weight', outMm.dB);
  if (s.outBias) grads.set('out_proj.bias', outMm.dBias);
  const gate = gatedSiluBackwardRef(t.y, t.z, param(P, 'z_bias'), outMm.dA, s.dInner);
  grads.set('z_bias', gate.dzBias);
  const ssd = ssdScanBackwardRef(ssdShape(s, io), { x: t.x, a: t.a, B: t.B, C: t.C, D: param(P, 'D') }, gate.dy);
  grads.set('D', ssd.dD);

  const pg = projGrads(s, io, P, t, { dx: ssd.dx, dB: ssd.dB, dC: ssd.dC, da: ssd.da, dz: gate.dz });
  grads.set('conv1d.weight', pg.dConvW);
  grads.set('conv1d.bias', pg.dConvB);
  const inMm = matmulBackwardRef({ M: rows, N: m.proj, K: s.d, transB: true }, u, param(P, 'in_proj.weight'), pg.dZin);
  grads.set('in_proj.weight', inMm.dB);
  return { dU: inMm.dA, params: grads, ssd: { dB: ssd.dB, dC: ssd.dC, da: ssd.da, dD: ssd.dD } };
}

/**
 * MOHAWK stage 1: the gradients that dB, dC (of the conv'd B and C), da (of the log-decay) and dD
 * send to in_proj (rows of B, C and A_log; the x and z rows get 0), the conv (channels of B and C;
 * 0 for x) and D.
 */
export function mixerMatrixBackwardRef(s: MixerShape, io: MixerIo, P: MixerParams, u: Float64Array, g: MixerSsdGrads, tape?: MixerTape): Map<string, Float64Array> {
  const t = tape ?? mambaMixerRef(s, io, P, u);
  const m = mixerDims(s);
  const rows = io.batch * io.L;
  const pg = projGrads(s, io, P, t, g);
  const inMm = matmulBackwardRef({ M: rows, N: m.proj, K: s.d, transB: true }, u, param(P, 'in_proj.weight'), pg.dZin);
  return new Map([
    ['in_proj.weight', inMm.dB],
    ['conv1d.weight', pg.dConvW],
    ['conv1d.bias', pg.dConvB],
    ['D', Float64Array.from(g.dD)],
  ]);
}
