// float64 reference for src/kernels/conv1d-step.ts, contiguous layouts: x, y (batch, channels);
// window (batch, K−1, channels), oldest input first; w (channels, K); bias (channels).
//   y[b,c] = bias[c] + Σ_{k<K−1} w[c,k]·window[b,k,c] + w[c,K−1]·x[b,c]

export function conv1dStepRef(
  window: Float64Array,
  x: Float64Array,
  w: Float64Array,
  bias: Float64Array,
  s: { batch: number; channels: number; K: number },
): { y: Float64Array; window: Float64Array } {
  const { batch, channels: C, K } = s;
  const y = new Float64Array(batch * C);
  const next = new Float64Array(window.length);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < C; c++) {
      const at = (k: number) => (b * (K - 1) + k) * C + c;
      let acc = bias[c];
      for (let k = 0; k < K - 1; k++) acc += w[c * K + k] * window[at(k)];
      acc += w[c * K + K - 1] * x[b * C + c];
      y[b * C + c] = acc;
      for (let k = 0; k + 1 < K - 1; k++) next[at(k)] = window[at(k + 1)];
      next[at(K - 2)] = x[b * C + c];
    }
  }
  return { y, window: next };
}
