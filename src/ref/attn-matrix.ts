// float64 reference for src/kernels/attn-matrix.ts (same layouts):
//   A[b, h, i − row0, j] = exp(s_ij − max_{j' ≤ i} s_ij') / Σ_{j' ≤ i} exp(s_ij' − max)  for j ≤ i, else 0,
//   s_ij = scale · Σ_t Q[b, i, h, t]·K[b, j, h / (hq/hkv), t]
// with a sliding window W, over i − W < j ≤ i only (0 elsewhere).

export interface AttnMatrixShape {
  batch: number;
  L: number;
  hq: number;
  hkv: number;
  d: number;
  row0?: number;
  rows?: number;
  scale?: number;
  window?: number;
}

export function attnMatrixRef(s: AttnMatrixShape, q: Float64Array, k: Float64Array): Float64Array {
  const { batch, L, hq, hkv, d } = s;
  const row0 = s.row0 ?? 0;
  const rows = s.rows ?? L - row0;
  const scale = s.scale ?? 1 / Math.sqrt(d);
  const group = hq / hkv;
  const out = new Float64Array(batch * hq * rows * L);
  const scores = new Float64Array(L);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < hq; h++) {
      const hk = Math.floor(h / group);
      for (let r = 0; r < rows; r++) {
        const i = row0 + r;
        const j0 = s.window === undefined ? 0 : Math.max(0, i - s.window + 1);
        let max = -Infinity;
        for (let j = j0; j <= i; j++) {
          let dot = 0;
          for (let t = 0; t < d; t++) dot += q[((b * L + i) * hq + h) * d + t] * k[((b * L + j) * hkv + hk) * d + t];
          scores[j] = scale * dot;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = j0; j <= i; j++) sum += Math.exp(scores[j] - max);
        const row = ((b * hq + h) * rows + r) * L;
        for (let j = j0; j <= i; j++) out[row + j] = Math.exp(scores[j] - max) / sum;
      }
    }
  }
  return out;
}
