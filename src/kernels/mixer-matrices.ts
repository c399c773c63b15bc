// The mixer lab's structured families other than the general SSM (src/kernels/ssm-matrix.ts), over S
// independent samples of L×L causal matrices (issue 15, the MOHAWK paper's Table 3):
//   Toeplitz:  M[s, i, j] = k[s, i − j]                                        for j ≤ i, 0 above
//   low-rank:  M[s, i, j] = C[s, i]·B[s, j]                                    (causal masked linear attention)
//   SSD:       M[s, i, j] = (C[s, i]·B[s, j])·exp(Σ_{t=j+1..i} a[s, t])        (src/kernels/ssd-matrix.ts)
//
// Layouts (row-major, last index fastest):
//   k, dk                 (S, L)
//   C, B, dC, dB          (S, L, N)
//   a, da                 (S, L)      SSD's log-decay, a ≤ 0
//   M, dM                 (S, L, L)
// Backward gives the gradients of Σ dM∘M (see src/ref/mixer-matrices.ts); outputs are overwritten, or
// added to with `accumulate`.
//
// Low-rank is SSD with a = 0 exactly (segment sums of zeros are 0, exp(0) = 1, D = 0 adds an exact
// 0), but it has kernels of its own here: SSD's backward would spend its da pass and scratch for nothing.
import { Params, linearGrid, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import mixerWgsl from '../../shaders/mixer_matrices.wgsl?raw';
import { ssdMatrixBackward, ssdMatrixForward, type SsdMatrixShape } from './ssd-matrix';
import { checkMixerMat, type MixerMatShape } from './ssm-matrix';

const WG = 64; // the shader's default workgroup size
const SHADER = shader('mixer_matrices',
  mixerWgsl,
  bindings(['tf_k: array<f32>'], ['tf_m: array<f32>'], 'tf: U'), // toeplitz_fwd
  bindings(['tb_dm: array<f32>'], ['tb_dk: array<f32>'], 'tb: U'), // toeplitz_bwd
  bindings(['lf_b: array<f32>', 'lf_c: array<f32>'], ['lf_m: array<f32>'], 'lf: U'), // lowrank_fwd
  bindings(['lc_b: array<f32>', 'lc_dm: array<f32>'], ['lc_dc: array<f32>'], 'lc: U'), // lowrank_dc
  bindings(['lb_c: array<f32>', 'lb_dm: array<f32>'], ['lb_db: array<f32>'], 'lb: U'), // lowrank_db
);

function params(s: MixerMatShape, accumulate = false): ArrayBuffer {
  return new Params().u32(s.S).u32(s.L).u32(s.N).u32(accumulate ? 1 : 0).build();
}

function grid(gpu: Gpu, fn: string, threads: number): [number, number] {
  return linearGrid(gpu, fn, Math.ceil(threads / WG));
}

/** Toeplitz takes no state size; its shape's N is ignored. */
export function toeplitzMatrixForward(gpu: Gpu, s: MixerMatShape, t: { k: Bindable; out: Bindable }): Op[] {
  const m = s.S * s.L * s.L;
  checkMixerMat('toeplitzMatrixForward', s, { k: [t.k, s.S * s.L], out: [t.out, m] });
  return [gpu.op({ ...SHADER, entry: 'toeplitz_fwd', reads: [t.k], writes: [t.out], params: params(s), workgroups: grid(gpu, 'toeplitzMatrixForward', m) })];
}

export function toeplitzMatrixBackward(gpu: Gpu, s: MixerMatShape, t: { dM: Bindable; dk: Bindable }, opts: { accumulate?: boolean } = {}): Op[] {
  const n = s.S * s.L;
  checkMixerMat('toeplitzMatrixBackward', s, { dM: [t.dM, s.S * s.L * s.L], dk: [t.dk, n] });
  const p = params(s, opts.accumulate ?? false);
  return [gpu.op({ ...SHADER, entry: 'toeplitz_bwd', reads: [t.dM], writes: [t.dk], params: p, workgroups: grid(gpu, 'toeplitzMatrixBackward', n) })];
}

export function lowRankMatrixForward(gpu: Gpu, s: MixerMatShape, t: { B: Bindable; C: Bindable; out: Bindable }): Op[] {
  const bc = s.S * s.L * s.N;
  const m = s.S * s.L * s.L;
  checkMixerMat('lowRankMatrixForward', s, { B: [t.B, bc], C: [t.C, bc], out: [t.out, m] });
  return [gpu.op({ ...SHADER, entry: 'lowrank_fwd', reads: [t.B, t.C], writes: [t.out], params: params(s), workgroups: grid(gpu, 'lowRankMatrixForward', m) })];
}

export function lowRankMatrixBackward(
  gpu: Gpu,
  s: MixerMatShape,
  t: { B: Bindable; C: Bindable; dM: Bindable; dB: Bindable; dC: Bindable },
  opts: { accumulate?: boolean } = {},
): Op[] {
  const bc = s.S * s.L * s.N;
  checkMixerMat('lowRankMatrixBackward', s, { B: [t.B, bc], C: [t.C, bc], dM: [t.dM, s.S * s.L * s.L], dB: [t.dB, bc], dC: [t.dC, bc] });
  const p = params(s, opts.accumulate ?? false);
  const workgroups = grid(gpu, 'lowRankMatrixBackward', bc);
  return [
    gpu.op({ ...SHADER, entry: 'lowrank_dc', reads: [t.B, t.dM], writes: [t.dC], params: p, workgroups }),
    gpu.op({ ...SHADER, entry: 'lowrank_db', reads: [t.C, t.dM], writes: [t.dB], params: p, workgroups }),
  ];
}

/** SSD over S samples is the SSD matrix with batch = S, one head and group, and D = 0. */
function ssdShape(s: MixerMatShape): SsdMatrixShape {
  return { batch: s.S, L: s.L, h: 1, g: 1, n: s.N };
}

/** SSD's forward; makes a one-float D = 0 buffer (collected with the caller's other scratch). */
export function ssdMixerMatrixForward(gpu: Gpu, s: MixerMatShape, t: { B: Bindable; C: Bindable; a: Bindable; out: Bindable }): Op[] {
  checkMixerMat('ssdMixerMatrixForward', s, {});
  return ssdMatrixForward(gpu, ssdShape(s), { ...t, D: gpu.zeros(1, 'ssd mixer D = 0') });
}

/** SSD's backward; D's gradient goes to a one-float scratch buffer nothing reads. */
export function ssdMixerMatrixBackward(
  gpu: Gpu,
  s: MixerMatShape,
  t: { B: Bindable; C: Bindable; a: Bindable; dM: Bindable; dB: Bindable; dC: Bindable; da: Bindable },
  opts: { accumulate?: boolean } = {},
): Op[] {
  checkMixerMat('ssdMixerMatrixBackward', s, {});
  const { dM, ...rest } = t;
  return ssdMatrixBackward(gpu, ssdShape(s), { ...rest, dT: dM, dD: gpu.buffer(4, 'ssd mixer dD (unused)') }, opts);
}
