// float64 reference for src/kernels/flash-attention.ts (same layouts):
//   q (batch, L, hq, d), k and v (batch, L, hkv, d), o (batch, L, hq, d), lse (batch, hq, L);
//   query head h reads kv head h / (hq/hkv).
// Forward, for each (b, h, i):
//   s_ij = scale · q_i·k_j  (j ≤ i),  lse_i = log Σ_{j≤i} exp(s_ij),  P_ij = exp(s_ij − lse_i),
//   o_i = Σ_{j≤i} P_ij v_j.
// Backward of a loss with gradient dO:
//   dv_j += Σ_{i≥j} P_ij dO_i,   dP_ij = dO_i·v_j,   D_i = Σ_j P_ij dP_ij = dO_i·o_i,
//   dS_ij = P_ij (dP_ij − D_i),  dq_i = scale Σ_j dS_ij k_j,  dk_j += scale Σ_i dS_ij q_i,
// with dk and dv summed over the query heads that share a kv head. With a sliding window W the sums
// run over i − W < j ≤ i only (P_ij = 0 for the rest).
import type { AttentionShape } from '../kernels/flash-attention';

interface Index {
  q: (b: number, i: number, h: number) => number;
  kv: (b: number, j: number, hk: number) => number;
  lse: (b: number, h: number, i: number) => number;
  kvHead: (h: number) => number;
  scale: number;
  /** First key query i sees. */
  first: (i: number) => number;
}

function index(s: AttentionShape): Index {
  const { L, hq, hkv, d } = s;
  const group = hq / hkv;
  return {
    q: (b, i, h) => ((b * L + i) * hq + h) * d,
    kv: (b, j, hk) => ((b * L + j) * hkv + hk) * d,
    lse: (b, h, i) => (b * hq + h) * L + i,
    kvHead: (h) => Math.floor(h / group),
    scale: s.scale ?? 1 / Math.sqrt(d),
    first: (i) => (s.window === undefined ? 0 : Math.max(0, i - s.window + 1)),
  };
}

function dot(x: Float64Array, xi: number, y: Float64Array, yi: number, d: number): number {
  let acc = 0;
  for (let t = 0; t < d; t++) acc += x[xi + t] * y[yi + t];
  return acc;
}

/** The probabilities P_i· of row i (length i + 1) and its log-sum-exp. */
function softmaxRow(s: AttentionShape, ix: Index, q: Float64Array, k: Float64Array, b: number, h: number, i: number) {
  const hk = ix.kvHead(h);
  const scores = new Float64Array(i + 1);
  const j0 = ix.first(i);
  let max = -Infinity;
  for (let j = j0; j <= i; j++) {
    scores[j] = ix.scale * dot(q, ix.q(b, i, h), k, ix.kv(b, j, hk), s.d);
    max = Math.max(max, scores[j]);
  }
  let sum = 0;
  for (let j = j0; j <= i; j++) sum += Math.exp(scores[j] - max);
  const lse = max + Math.log(sum);
  for (let j = j0; j <= i; j++) scores[j] = Math.exp(scores[j] - lse);
  return { p: scores, lse };
}

export function attentionRef(
  s: AttentionShape,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
): { o: Float64Array; lse: Float64Array } {
  const { batch, L, hq, d } = s;
  const ix = index(s);
  const o = new Float64Array(batch * L * hq * d);
  const lse = new Float64Array(batch * hq * L);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < hq; h++) {
      const hk = ix.kvHead(h);
      for (let i = 0; i < L; i++) {
        const row = softmaxRow(s, ix, q, k, b, h, i);
        lse[ix.lse(b, h, i)] = row.lse;
        const oi = ix.q(b, i, h);
        for (let j = 0; j <= i; j++) {
          const vj = ix.kv(b, j, hk);
          for (let t = 0; t < d; t++) o[oi + t] += row.p[j] * v[vj + t];
        }
      }
    }
  }
  return { o, lse };
}

export function attentionBackwardRef(
  s: AttentionShape,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  dO: Float64Array,
): { dQ: Float64Array; dK: Float64Array; dV: Float64Array } {
  const { batch, L, hq, d } = s;
  const ix = index(s);
  const dQ = new Float64Array(q.length);
  const dK = new Float64Array(k.length);
  const dV = new Float64Array(v.length);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < hq; h++) {
      const hk = ix.kvHead(h);
      for (let i = 0; i < L; i++) {
        const { p } = softmaxRow(s, ix, q, k, b, h, i);
        const qi = ix.q(b, i, h);
        const dP = new Float64Array(i + 1);
        let D = 0;
        for (let j = 0; j <= i; j++) {
          dP[j] = dot(dO, qi, v, ix.kv(b, j, hk), d);
          D += p[j] * dP[j];
        }
        for (let j = 0; j <= i; j++) {
          const kj = ix.kv(b, j, hk);
          const dS = p[j] * (dP[j] - D);
          for (let t = 0; t < d; t++) {
            dV[kj + t] += p[j] * dO[qi + t];
            dQ[qi + t] += ix.scale * dS * k[kj + t];
            dK[kj + t] += ix.scale * dS * q[qi + t];
          }
        }
      }
    }
  }
  return { dQ, dK, dV };
}
