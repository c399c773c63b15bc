// The general diagonal SSM's mixing matrix (the mixer lab's "SSM" family, issue 15), forward and
// backward, over S independent samples:
//   M[s, i, j] = Σ_n C[s, i, n]·B[s, j, n]·exp(Σ_{t=j+1..i} a[s, t, n])   for j ≤ i, 0 above,
// the semiseparable matrix of rank N with a log-decay per position and state (SSD shares one decay
// across the states: src/kernels/ssd-matrix.ts). Segment sums keep f32 relative precision for any
// a ≤ 0 (see shaders/ssm_matrix.wgsl). One invocation per row or per gradient entry, walking away
// from the diagonal: O(L²·N) for M, dC and dB, O(L³·N) for da (less where decays cut the walks short),
// or O(L²·N) for da by differences (decayGrad, for fitting: see SsmDecayGrad).
//
// Layouts (row-major, last index fastest):
//   C, B, a, dC, dB, da   (S, L, N)   a ≤ 0; a[s, 0, ·] never enters M (its gradient is 0)
//   M, dM                 (S, L, L)
// Backward of Σ dM∘M, with W_ijn = dM_ij·exp(seg_n(i, j)):
//   dC[i, n] = Σ_{j≤i} W_ijn B[j, n],  dB[j, n] = Σ_{i≥j} W_ijn C[i, n],
//   da[t, n] = Σ_{i≥t} Σ_{j<t} W_ijn C[i, n] B[j, n].
import { Params, linearGrid, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import ssmMatrixWgsl from '../../shaders/ssm_matrix.wgsl?raw';

/** Sizes of one batch of mixer matrices: S samples, L×L each, state size N. */
export interface MixerMatShape {
  S: number;
  L: number;
  N: number;
}

const WG = 64; // the shader's default workgroup size
const SHADER = shader('ssm_matrix',
  ssmMatrixWgsl,
  bindings(['f_b: array<f32>', 'f_c: array<f32>', 'f_a: array<f32>'], ['f_m: array<f32>'], 'uf: U'), // forward
  bindings(['c_b: array<f32>', 'c_a: array<f32>', 'c_dm: array<f32>'], ['c_dc: array<f32>'], 'uc: U'), // grad_c
  bindings(['b_c: array<f32>', 'b_a: array<f32>', 'b_dm: array<f32>'], ['b_db: array<f32>'], 'ub: U'), // grad_b
  bindings(['a_b: array<f32>', 'a_c: array<f32>', 'a_a: array<f32>', 'a_dm: array<f32>'], ['a_da: array<f32>'], 'ua: U'), // grad_a
  bindings(['p_b: array<f32>', 'p_c: array<f32>', 'p_a: array<f32>', 'p_dm: array<f32>'], ['p_parts: array<f32>'], 'up: U'), // grad_a_parts
  bindings(['s_parts: array<f32>'], ['s_da: array<f32>'], 'us: U'), // grad_a_scan
);

/** Throws on sizes that are not positive integers, on M past 2^32 elements and on short buffers. */
export function checkMixerMat(fn: string, s: MixerMatShape, bufs: Record<string, [Bindable, number]>): void {
  const shape = `(S=${s.S}, L=${s.L}, N=${s.N})`;
  for (const v of [s.S, s.L, s.N]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${fn} ${shape}: sizes must be positive integers`);
  }
  if (s.S * s.L * s.L > 0xffffffff) throw new Error(`${fn} ${shape}: M exceeds 2^32 elements`);
  for (const [name, [b, floats]] of Object.entries(bufs)) {
    const bytes = slice(b).size;
    if (bytes < floats * 4) throw new Error(`${fn} ${shape}: ${name} holds ${bytes} bytes, needs ${floats * 4}`);
  }
}

function params(s: MixerMatShape, accumulate = false): ArrayBuffer {
  return new Params().u32(s.S).u32(s.L).u32(s.N).u32(accumulate ? 1 : 0).build();
}

export function ssmMatrixForward(gpu: Gpu, s: MixerMatShape, t: { B: Bindable; C: Bindable; a: Bindable; out: Bindable }): Op[] {
  const bc = s.S * s.L * s.N;
  checkMixerMat('ssmMatrixForward', s, { B: [t.B, bc], C: [t.C, bc], a: [t.a, bc], out: [t.out, s.S * s.L * s.L] });
  return [
    gpu.op({
      ...SHADER,
      entry: 'forward',
      reads: [t.B, t.C, t.a],
      writes: [t.out],
      params: params(s),
      workgroups: linearGrid(gpu, 'ssmMatrixForward', Math.ceil((s.S * s.L) / WG)),
    }),
  ];
}

/**
 * How da is summed: 'pairs' (the default) walks every pair (i, j) around t, O(L³·N) per sample, each
 * term to f32 relative precision; 'differences' sums Q_u − R_u along u (see the shader), O(L²·N)
 * like the other gradients, but a pair left of t leaves an f32 rounding of its own size in da[t]:
 * for fitting (the mixer lab), not for checking.
 */
export type SsmDecayGrad = 'pairs' | 'differences';

/** Gradients of Σ dM∘M; outputs are overwritten, or added to with `accumulate`. */
export function ssmMatrixBackward(
  gpu: Gpu,
  s: MixerMatShape,
  t: { B: Bindable; C: Bindable; a: Bindable; dM: Bindable; dB: Bindable; dC: Bindable; da: Bindable },
  opts: { accumulate?: boolean; decayGrad?: SsmDecayGrad } = {},
): Op[] {
  const bc = s.S * s.L * s.N;
  checkMixerMat('ssmMatrixBackward', s, {
    B: [t.B, bc],
    C: [t.C, bc],
    a: [t.a, bc],
    dM: [t.dM, s.S * s.L * s.L],
    dB: [t.dB, bc],
    dC: [t.dC, bc],
    da: [t.da, bc],
  });
  const p = params(s, opts.accumulate ?? false);
  const workgroups = linearGrid(gpu, 'ssmMatrixBackward', Math.ceil(bc / WG));
  return [
    gpu.op({ ...SHADER, entry: 'grad_c', reads: [t.B, t.a, t.dM], writes: [t.dC], params: p, workgroups }),
    gpu.op({ ...SHADER, entry: 'grad_b', reads: [t.C, t.a, t.dM], writes: [t.dB], params: p, workgroups }),
    ...(opts.decayGrad === 'differences'
      ? decayGradByDifferences(gpu, s, t, p, workgroups)
      : [gpu.op({ ...SHADER, entry: 'grad_a', reads: [t.B, t.C, t.a, t.dM], writes: [t.da], params: p, workgroups })]),
  ];
}

/** da as the running sum of Q_u − R_u (a scratch of S·L·N floats, collected with the caller's). */
function decayGradByDifferences(
  gpu: Gpu,
  s: MixerMatShape,
  t: { B: Bindable; C: Bindable; a: Bindable; dM: Bindable; da: Bindable },
  p: ArrayBuffer,
  workgroups: [number, number],
): Op[] {
  const parts = gpu.buffer(s.S * s.L * s.N * 4, 'ssm da differences');
  return [
    gpu.op({ ...SHADER, entry: 'grad_a_parts', reads: [t.B, t.C, t.a, t.dM], writes: [parts], params: p, workgroups }),
    gpu.op({ ...SHADER, entry: 'grad_a_scan', reads: [parts], writes: [t.da], params: p, workgroups: linearGrid(gpu, 'ssmMatrixBackward', Math.ceil((s.S * s.N) / WG)) }),
  ];
}
