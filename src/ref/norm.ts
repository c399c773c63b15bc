// float64 reference for src/kernels/norm.ts. x, y, dy, dx (rows, d) row-major; w, b, dw, db (d);
// mean, rstd (rows).
//   RMSNorm:   rstd = (Σ_j x²/d + eps)^(−1/2),                  y = x·rstd·w
//   LayerNorm: mean = Σ_j x/d, rstd = (Σ_j (x−mean)²/d + eps)^(−1/2), y = (x−mean)·rstd·w + b

export interface NormShape {
  rows: number;
  d: number;
  eps: number;
}

export function rmsNormRef(x: Float64Array, w: Float64Array, s: NormShape): { y: Float64Array; rstd: Float64Array } {
  const { rows, d, eps } = s;
  const y = new Float64Array(rows * d);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[r * d + j] ** 2;
    rstd[r] = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = x[r * d + j] * rstd[r] * w[j];
  }
  return { y, rstd };
}

/**
 * With x̂ = x·rstd and g = dy·w: ∂rstd/∂x_k = −rstd³·x_k/d, so
 *   dx_k = rstd·(g_k − x̂_k·Σ_j g_j·x̂_j / d),   dw_j = Σ_rows dy_j·x̂_j.
 */
export function rmsNormBackwardRef(x: Float64Array, w: Float64Array, dy: Float64Array, s: NormShape): { dx: Float64Array; dw: Float64Array } {
  const { rows, d } = s;
  const { rstd } = rmsNormRef(x, w, s);
  const dx = new Float64Array(rows * d);
  const dw = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const rs = rstd[r];
    let gx = 0;
    for (let j = 0; j < d; j++) gx += dy[r * d + j] * w[j] * x[r * d + j] * rs;
    for (let j = 0; j < d; j++) {
      const xh = x[r * d + j] * rs;
      dx[r * d + j] = rs * (dy[r * d + j] * w[j] - (xh * gx) / d);
      dw[j] += dy[r * d + j] * xh;
    }
  }
  return { dx, dw };
}

export function layerNormRef(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  s: NormShape,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const { rows, d, eps } = s;
  const y = new Float64Array(rows * d);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let j = 0; j < d; j++) m += x[r * d + j];
    m /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[r * d + j] - m) ** 2;
    mean[r] = m;
    rstd[r] = 1 / Math.sqrt(v / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = (x[r * d + j] - m) * rstd[r] * w[j] + b[j];
  }
  return { y, mean, rstd };
}

/**
 * With x̂ = (x − mean)·rstd and g = dy·w (the mean and the variance both depend on every x_k):
 *   dx_k = rstd·(g_k − Σ_j g_j/d − x̂_k·Σ_j g_j·x̂_j/d),   dw_j = Σ_rows dy_j·x̂_j,   db_j = Σ_rows dy_j.
 */
export function layerNormBackwardRef(
  x: Float64Array,
  w: Float64Array,
  dy: Float64Array,
  s: NormShape,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const { rows, d } = s;
  const { mean, rstd } = layerNormRef(x, w, new Float64Array(d), s);
  const dx = new Float64Array(rows * d);
  const dw = new Float64Array(d);
  const db = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const xh = (j: number) => (x[r * d + j] - mean[r]) * rstd[r];
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[r * d + j] * w[j];
      sg += g;
      sgx += g * xh(j);
    }
    for (let j = 0; j < d; j++) {
      dx[r * d + j] = rstd[r] * (dy[r * d + j] * w[j] - sg / d - (xh(j) * sgx) / d);
      dw[j] += dy[r * d + j] * xh(j);
      db[j] += dy[r * d + j];
    }
  }
  return { dx, dw, db };
}
