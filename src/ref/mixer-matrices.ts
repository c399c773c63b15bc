// float64 references of the four structured mixer families of the MOHAWK paper's Table 3 (the "mixer
// lab", issue 15), forward and backward, over S independent samples whose parameters are free per
// sample. Every matrix is causal (0 above the diagonal); for j ≤ i:
//   Toeplitz:  M[i, j] = k[i − j]
//   low-rank:  M[i, j] = C_i·B_j                                   (causal masked linear attention)
//   SSD:       M[i, j] = (C_i·B_j)·exp(Σ_{t=j+1..i} a_t)           (one scalar log-decay per position)
//   SSM:       M[i, j] = Σ_n C[i, n]·B[j, n]·exp(Σ_{t=j+1..i} a[t, n])   (a log-decay per position and
//              state: the general diagonal SSM, whose matrix is semiseparable of rank N)
//
// Layouts (row-major, last index fastest):
//   k, dk          (S, L)
//   C, B, dC, dB   (S, L, N)
//   a, da          (S, L) for SSD, (S, L, N) for SSM; log-decays a ≤ 0 (a[s, 0, ·] never enters M)
//   M, dM          (S, L, L)
// Backward gives the gradients of Σ dM∘M. With E_ijn = exp(seg_n(i, j)), W_ijn = dM_ij·E_ijn:
//   dk[d]    = Σ_{i−j=d} dM_ij
//   dC[i, n] = Σ_{j≤i} W_ijn B[j, n],  dB[j, n] = Σ_{i≥j} W_ijn C[i, n]
//   da[t, n] = Σ_{i≥t} Σ_{j<t} W_ijn C[i, n] B[j, n]   (a[t, n] is in seg_n(i, j) exactly when j < t ≤ i)
// (low-rank: E = 1; SSD: E_ij shared by the states, da summed over n). Segment sums are summed token by
// token, never as differences of prefix sums, so exp(seg) keeps its precision for small decays.
import type { MixerMatShape } from '../kernels/ssm-matrix';
import { ssdMatrixBackwardRef, ssdMatrixRef } from './ssd-matrix';

export type { MixerMatShape };

export function toeplitzMatrixRef(s: MixerMatShape, k: Float64Array): Float64Array {
  const { S, L } = s;
  const M = new Float64Array(S * L * L);
  for (let b = 0; b < S; b++) {
    for (let i = 0; i < L; i++) for (let j = 0; j <= i; j++) M[(b * L + i) * L + j] = k[b * L + i - j];
  }
  return M;
}

export function toeplitzMatrixBackwardRef(s: MixerMatShape, dM: Float64Array): { dk: Float64Array } {
  const { S, L } = s;
  const dk = new Float64Array(S * L);
  for (let b = 0; b < S; b++) {
    for (let i = 0; i < L; i++) for (let j = 0; j <= i; j++) dk[b * L + i - j] += dM[(b * L + i) * L + j];
  }
  return { dk };
}

/** The SSM's per-state log-decays as a function (s, t, n) → a; the other families share its loops. */
type Decay = (b: number, t: number, n: number) => number;

/**
 * M[i, j] = Σ_n C[i, n]·B[j, n]·exp(seg_n(i, j)), seg_n summed token by token from i down to j + 1,
 * for the decay given (the low-rank matrix is the zero decay).
 */
function diagonalForward(s: MixerMatShape, B: Float64Array, C: Float64Array, decay: Decay): Float64Array {
  const { S, L, N } = s;
  const M = new Float64Array(S * L * L);
  for (let b = 0; b < S; b++) {
    for (let i = 0; i < L; i++) {
      const ci = (b * L + i) * N;
      for (let n = 0; n < N; n++) {
        let seg = 0;
        for (let j = i; j >= 0; j--) {
          M[(b * L + i) * L + j] += C[ci + n] * B[(b * L + j) * N + n] * Math.exp(seg);
          seg += decay(b, j, n);
        }
      }
    }
  }
  return M;
}

function diagonalBackward(
  s: MixerMatShape,
  B: Float64Array,
  C: Float64Array,
  decay: Decay,
  dM: Float64Array,
): { dB: Float64Array; dC: Float64Array; da: Float64Array } {
  const { S, L, N } = s;
  const dB = new Float64Array(S * L * N);
  const dC = new Float64Array(S * L * N);
  const da = new Float64Array(S * L * N); // per state; the SSD caller sums over n
  for (let b = 0; b < S; b++) {
    for (let n = 0; n < N; n++) {
      // seg[i·L + j] = seg_n(i, j), token by token.
      const seg = new Float64Array(L * L);
      for (let i = 0; i < L; i++) {
        let acc = 0;
        for (let j = i; j >= 0; j--) {
          seg[i * L + j] = acc;
          acc += decay(b, j, n);
        }
      }
      for (let i = 0; i < L; i++) {
        const ci = (b * L + i) * N + n;
        for (let j = 0; j <= i; j++) {
          const bj = (b * L + j) * N + n;
          const w = dM[(b * L + i) * L + j] * Math.exp(seg[i * L + j]);
          dC[ci] += w * B[bj];
          dB[bj] += w * C[ci];
          const g = w * C[ci] * B[bj];
          for (let t = j + 1; t <= i; t++) da[(b * L + t) * N + n] += g;
        }
      }
    }
  }
  return { dB, dC, da };
}

export function lowRankMatrixRef(s: MixerMatShape, B: Float64Array, C: Float64Array): Float64Array {
  return diagonalForward(s, B, C, () => 0);
}

export function lowRankMatrixBackwardRef(
  s: MixerMatShape,
  B: Float64Array,
  C: Float64Array,
  dM: Float64Array,
): { dB: Float64Array; dC: Float64Array } {
  const { dB, dC } = diagonalBackward(s, B, C, () => 0, dM);
  return { dB, dC };
}

/** The SSD family is src/ref/ssd-matrix.ts with batch = S, one head and group, D = 0. */
function ssdShape(s: MixerMatShape) {
  return { batch: s.S, L: s.L, h: 1, g: 1, n: s.N };
}

export function ssdMixerMatrixRef(s: MixerMatShape, B: Float64Array, C: Float64Array, a: Float64Array): Float64Array {
  return ssdMatrixRef(ssdShape(s), B, C, a, new Float64Array(1));
}

export function ssdMixerMatrixBackwardRef(
  s: MixerMatShape,
  B: Float64Array,
  C: Float64Array,
  a: Float64Array,
  dM: Float64Array,
): { dB: Float64Array; dC: Float64Array; da: Float64Array } {
  const { dB, dC, da } = ssdMatrixBackwardRef(ssdShape(s), B, C, a, dM);
  return { dB, dC, da };
}

function ssmDecay(s: MixerMatShape, a: Float64Array): Decay {
  const { L, N } = s;
  return (b, t, n) => a[(b * L + t) * N + n];
}

export function ssmMatrixRef(s: MixerMatShape, B: Float64Array, C: Float64Array, a: Float64Array): Float64Array {
  return diagonalForward(s, B, C, ssmDecay(s, a));
}

export function ssmMatrixBackwardRef(
  s: MixerMatShape,
  B: Float64Array,
  C: Float64Array,
  a: Float64Array,
  dM: Float64Array,
): { dB: Float64Array; dC: Float64Array; da: Float64Array } {
  return diagonalBackward(s, B, C, ssmDecay(s, a), dM);
}
