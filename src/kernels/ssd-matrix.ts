// Mamba-2's SSD mixing matrix L∘(C·Bᵀ) + D·I (the student side of MOHAWK stage 1), forward and backward:
//   T[b, h, i, j] = (C[b, i, g]·B[b, j, g])·exp(Σ_{k=j+1..i} a[b, k, h]) + [i = j]·D[h]   for j ≤ i, 0 above,
// where head h reads group g = h / (h_count / g_count). Segment sums keep f32 relative precision for
// any a ≤ 0 (see shaders/ssd_matrix.wgsl).
//
// Layouts (row-major, last index fastest):
//   B, C, dB, dC  (batch, L, g, n)
//   a, da         (batch, L, h)    log-decay, a ≤ 0
//   D, dD         (h)              dD summed over the batch
//   T, dT         (batch, h, L, L)
// Backward, with M = C·Bᵀ, E_ij = exp(seg(i, j)), W = dT∘E (j ≤ i):
//   dC_i = Σ_{j≤i} W_ij B_j,  dB_j = Σ_{i≥j} W_ij C_i  (summed over the heads of each group),
//   da_k = Σ_{i≥k} Σ_{j<k} W_ij M_ij,  dD_h = Σ_{b,i} dT_ii.
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import treeSum from '../../shaders/lib/tree_sum.wgsl?raw';
import ssdMatrix from '../../shaders/ssd_matrix.wgsl?raw';

export interface SsdMatrixShape {
  batch: number;
  L: number;
  h: number;
  g: number;
  n: number;
}

const TILE = 64; // keep in step with the shader
const SHADER = shader('ssd_matrix',
  treeSum,
  ssdMatrix,
  bindings(['pa: array<f32>'], ['segw: array<f32>'], 'uprep: U'), // prep
  bindings(['ag: array<f32>'], ['ada: array<f32>'], 'ua: U'), // grad_a
  bindings(['ddT: array<f32>'], ['ddD: array<f32>'], 'ud: U'), // grad_d
  bindings(['xh: array<f32>'], ['xg: array<f32>'], 'us: U'), // group_sum
);

interface Dims {
  BH: number;
  Lp: number;
  nb: number;
  /** Floats of the prep scratch per (batch, head). */
  segStride: number;
}

function dims(s: SsdMatrixShape): Dims {
  const Lp = Math.ceil(s.L / TILE) * TILE;
  const nb = Lp / TILE;
  return { BH: s.batch * s.h, Lp, nb, segStride: 3 * Lp + Lp / 4 + nb };
}

function describe(s: SsdMatrixShape): string {
  return `(batch=${s.batch}, L=${s.L}, h=${s.h}, g=${s.g}, n=${s.n})`;
}

function check(gpu: Gpu, fn: string, s: SsdMatrixShape, bufs: Record<string, [Bindable, number]>): void {
  const shape = describe(s);
  for (const v of [s.batch, s.L, s.h, s.g, s.n]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${fn} ${shape}: sizes must be positive integers`);
  }
  if (s.h % s.g !== 0) throw new Error(`${fn} ${shape}: h must be a multiple of g`);
  if (s.batch * s.h * s.L * s.L > 0xffffffff) throw new Error(`${fn} ${shape}: T exceeds 2^32 elements`);
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  if (s.batch * s.h > maxWg) throw new Error(`${fn} ${shape}: batch·h exceeds ${maxWg} workgroups`);
  for (const [name, [b, floats]] of Object.entries(bufs)) {
    const bytes = slice(b).size;
    if (bytes < floats * 4) throw new Error(`${fn} ${shape}: ${name} holds ${bytes} bytes, needs ${floats * 4}`);
  }
}

function params(s: SsdMatrixShape, d: Dims, accumulate = false, count = 0): ArrayBuffer {
  return new Params()
    .u32(s.L).u32(d.Lp).u32(d.nb).u32(s.h)
    .u32(s.g).u32(s.n).u32(s.h / s.g).u32(s.batch)
    .u32(accumulate ? 1 : 0).u32(count)
    .build();
}

/** The segment-sum scratch of `a` and the op that fills it. */
function prep(gpu: Gpu, s: SsdMatrixShape, d: Dims, a: Bindable): { segs: GPUBuffer; op: Op } {
  const segs = gpu.buffer(d.BH * d.segStride * 4, 'ssd segment sums');
  const op = gpu.op({ ...SHADER, entry: 'prep', reads: [a], writes: [segs], params: params(s, d), workgroups: [Math.ceil((d.BH * d.nb) / 64)] });
  return { segs, op };
}

export function ssdMatrixForward(
  gpu: Gpu,
  s: SsdMatrixShape,
  t: { B: Bindable; C: Bindable; a: Bindable; D: Bindable; out: Bindable },
): Op[] {
  const bc = s.batch * s.L * s.g * s.n;
  check(gpu, 'ssdMatrixForward', s, {
    B: [t.B, bc],
    C: [t.C, bc],
    a: [t.a, s.batch * s.L * s.h],
    D: [t.D, s.h],
    out: [t.out, s.batch * s.h * s.L * s.L],
  });
  const d = dims(s);
  const { segs, op } = prep(gpu, s, d, t.a);
  return [
    op,
    gpu.op({
      ...SHADER,
      entry: 'forward',
      reads: [segs, t.B, t.C, t.D],
      writes: [t.out],
      params: params(s, d),
      workgroups: [d.nb, d.nb, d.BH],
    }),
  ];
}

/** Gradients of Σ dT∘T; outputs are overwritten, or added to with `accumulate`. */
export function ssdMatrixBackward(
  gpu: Gpu,
  s: SsdMatrixShape,
  t: { B: Bindable; C: Bindable; a: Bindable; dT: Bindable; dB: Bindable; dC: Bindable; da: Bindable; dD: Bindable },
  opts: { accumulate?: boolean } = {},
): Op[] {
  const bc = s.batch * s.L * s.g * s.n;
  check(gpu, 'ssdMatrixBackward', s, {
    B: [t.B, bc],
    C: [t.C, bc],
    a: [t.a, s.batch * s.L * s.h],
    dT: [t.dT, s.batch * s.h * s.L * s.L],
    dB: [t.dB, bc],
    dC: [t.dC, bc],
    da: [t.da, s.batch * s.L * s.h],
    dD: [t.dD, s.h],
  });
  const d = dims(s);
  const acc = opts.accumulate ?? false;
  const { segs, op } = prep(gpu, s, d, t.a);
  const parts = gpu.buffer(d.BH * (2 * d.Lp * d.nb + d.nb * d.nb + d.Lp * TILE) * 4, 'ssd da partial sums');
  const perHead = d.BH * s.L * s.n * 4;
  const dCh = gpu.buffer(perHead, 'ssd dC per head');
  const dBh = gpu.buffer(perHead, 'ssd dB per head');
  const tileReads = [segs, t.B, t.C, t.dT];
  const nChunks = Math.ceil(s.n / TILE);
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  const groups = Math.ceil(bc / 256);
  const gx = Math.min(groups, maxWg);
  const gy = Math.ceil(groups / gx);
  const sumParams = params(s, d, acc, bc);
  return [
    op,
    gpu.op({ ...SHADER, entry: 'grad_tiles', reads: tileReads, writes: [parts], params: params(s, d), workgroups: [d.nb, d.nb, d.BH] }),
    gpu.op({ ...SHADER, entry: 'grad_a', reads: [parts], writes: [t.da], params: params(s, d, acc), workgroups: [d.nb, d.BH] }),
    gpu.op({ ...SHADER, entry: 'grad_d', reads: [t.dT], writes: [t.dD], params: params(s, d, acc), workgroups: [s.h] }),
    gpu.op({ ...SHADER, entry: 'grad_c', reads: tileReads, writes: [dCh], params: params(s, d), workgroups: [d.nb, nChunks, d.BH] }),
    gpu.op({ ...SHADER, entry: 'grad_b', reads: tileReads, writes: [dBh], params: params(s, d), workgroups: [d.nb, nChunks, d.BH] }),
    gpu.op({ ...SHADER, entry: 'group_sum', reads: [dCh], writes: [t.dC], params: sumParams, workgroups: [gx, gy] }),
    gpu.op({ ...SHADER, entry: 'group_sum', reads: [dBh], writes: [t.dB], params: sumParams, workgroups: [gx, gy] }),
  ];
}
