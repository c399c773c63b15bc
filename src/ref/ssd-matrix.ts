// float64 reference for src/kernels/ssd-matrix.ts (same layouts):
//   T[b, h, i, j] = (C_i·B_j)·E_ij + [i = j]·D_h for j ≤ i, 0 above,  E_ij = exp(seg(i, j)),
//   seg(i, j) = Σ_{k=j+1..i} a_k,  B and C of group h / (h_count / g_count).
// Backward of Σ dT∘T, with W_ij = dT_ij·E_ij and M_ij = C_i·B_j:
//   dC_i += Σ_{j≤i} W_ij B_j,  dB_j += Σ_{i≥j} W_ij C_i  (over all heads of the group)
//   da_k  = Σ_{i≥k} Σ_{j<k} W_ij M_ij   (a_k is in seg(i, j) exactly when j < k ≤ i)
//   dD_h  = Σ_b Σ_i dT_ii
import type { SsdMatrixShape } from '../kernels/ssd-matrix';

interface Index {
  bc: (b: number, l: number, g: number) => number;
  a: (b: number, l: number, h: number) => number;
  t: (b: number, h: number, i: number, j: number) => number;
  group: (h: number) => number;
}

function index(s: SsdMatrixShape): Index {
  const { L, h: H, g: G, n } = s;
  return {
    bc: (b, l, g) => ((b * L + l) * G + g) * n,
    a: (b, l, h) => (b * L + l) * H + h,
    t: (b, h, i, j) => ((b * H + h) * L + i) * L + j,
    group: (h) => Math.floor(h / (H / G)),
  };
}

/** seg[i·L + j] = Σ_{k=j+1..i} a_k for j ≤ i, summed token by token. */
function segments(s: SsdMatrixShape, a: Float64Array, b: number, h: number): Float64Array {
  const { L } = s;
  const ix = index(s);
  const seg = new Float64Array(L * L);
  for (let i = 0; i < L; i++) {
    let acc = 0;
    for (let j = i; j >= 0; j--) {
      seg[i * L + j] = acc;
      acc += a[ix.a(b, j, h)];
    }
  }
  return seg;
}

function dotBC(s: SsdMatrixShape, x: Float64Array, xi: number, y: Float64Array, yi: number): number {
  let d = 0;
  for (let k = 0; k < s.n; k++) d += x[xi + k] * y[yi + k];
  return d;
}

export function ssdMatrixRef(s: SsdMatrixShape, B: Float64Array, C: Float64Array, a: Float64Array, D: Float64Array): Float64Array {
  const { batch, L, h: H } = s;
  const ix = index(s);
  const T = new Float64Array(batch * H * L * L);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const g = ix.group(h);
      const seg = segments(s, a, b, h);
      for (let i = 0; i < L; i++) {
        for (let j = 0; j <= i; j++) {
          const m = dotBC(s, C, ix.bc(b, i, g), B, ix.bc(b, j, g));
          T[ix.t(b, h, i, j)] = m * Math.exp(seg[i * L + j]) + (i === j ? D[h] : 0);
        }
      }
    }
  }
  return T;
}

export function ssdMatrixBackwardRef(
  s: SsdMatrixShape,
  B: Float64Array,
  C: Float64Array,
  a: Float64Array,
  dT: Float64Array,
): { dB: Float64Array; dC: Float64Array; da: Float64Array; dD: Float64Array } {
  const { batch, L, h: H, n } = s;
  const ix = index(s);
  const dB = new Float64Array(B.length);
  const dC = new Float64Array(C.length);
  const da = new Float64Array(a.length);
  const dD = new Float64Array(H);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const g = ix.group(h);
      const seg = segments(s, a, b, h);
      for (let i = 0; i < L; i++) {
        dD[h] += dT[ix.t(b, h, i, i)];
        const ci = ix.bc(b, i, g);
        for (let j = 0; j <= i; j++) {
          const bj = ix.bc(b, j, g);
          const w = dT[ix.t(b, h, i, j)] * Math.exp(seg[i * L + j]);
          for (let k = 0; k < n; k++) {
            dC[ci + k] += w * B[bj + k];
            dB[bj + k] += w * C[ci + k];
          }
          const gm = w * dotBC(s, C, ci, B, bj);
          for (let k = j + 1; k <= i; k++) da[ix.a(b, k, h)] += gm;
        }
      }
    }
  }
  return { dB, dC, da, dD };
}
