// float64 reference for src/kernels/conv1d.ts, contiguous layouts:
//   x, y, dx, dy (batch, L, channels) row-major, channel fastest; w, dw (channels, K); bias (channels).
//   y[b,t,c] = bias[c] + Σ_{k<K} w[c,k]·x[b, t−(K−1)+k, c]   (x at negative times = 0)

export interface Conv1dShape {
  batch: number;
  L: number;
  channels: number;
  K: number;
}

export function conv1dRef(x: Float64Array, w: Float64Array, bias: Float64Array, s: Conv1dShape): Float64Array {
  const { batch, L, channels: C, K } = s;
  const y = new Float64Array(batch * L * C);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < L; t++) {
      for (let c = 0; c < C; c++) {
        let acc = bias[c];
        for (let k = 0; k < K; k++) {
          const tt = t - (K - 1) + k;
          if (tt >= 0) acc += w[c * K + k] * x[(b * L + tt) * C + c];
        }
        y[(b * L + t) * C + c] = acc;
      }
    }
  }
  return y;
}

/**
 * Gradients of Σ dy·y: each product w[c,k]·x[b,tt,c] that fed y[b,t,c] (tt = t−(K−1)+k) sends
 * dy[b,t,c]·w[c,k] to dx[b,tt,c] and dy[b,t,c]·x[b,tt,c] to dw[c,k]; dbias[c] = Σ_{b,t} dy[b,t,c].
 */
export function conv1dBackwardRef(
  x: Float64Array,
  w: Float64Array,
  dy: Float64Array,
  s: Conv1dShape,
): { dx: Float64Array; dw: Float64Array; dbias: Float64Array } {
  const { batch, L, channels: C, K } = s;
  const dx = new Float64Array(batch * L * C);
  const dw = new Float64Array(C * K);
  const dbias = new Float64Array(C);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < L; t++) {
      for (let c = 0; c < C; c++) {
        const g = dy[(b * L + t) * C + c];
        dbias[c] += g;
        for (let k = 0; k < K; k++) {
          const tt = t - (K - 1) + k;
          if (tt < 0) continue;
          dx[(b * L + tt) * C + c] += g * w[c * K + k];
          dw[c * K + k] += g * x[(b * L + tt) * C + c];
        }
      }
    }
  }
  return { dx, dw, dbias };
}
