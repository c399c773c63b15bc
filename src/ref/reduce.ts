// float64 reference for src/kernels/reduce.ts: x is rows×n row-major, one result per row.
import type { ReduceKind } from '../kernels/reduce';

/** out[r] = reduce(x[r·n .. r·n+n) · mask): sum, mean (sum/n), max, sumsq (Σx²) or norm (√Σx²). */
export function reduceRef(x: Float64Array, n: number, kind: ReduceKind, rows = 1, mask?: Float64Array): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = kind === 'max' ? -Infinity : 0;
    for (let j = 0; j < n; j++) {
      const v = x[r * n + j] * (mask ? mask[r * n + j] : 1);
      if (kind === 'max') acc = Math.max(acc, v);
      else if (kind === 'sumsq' || kind === 'norm') acc += v * v;
      else acc += v;
    }
    out[r] = kind === 'mean' ? acc / n : kind === 'norm' ? Math.sqrt(acc) : acc;
  }
  return out;
}

/**
 * ∂L/∂x given dOut = ∂L/∂out (no mask):
 *   sum: dOut;  mean: dOut/n;  max: dOut at the first maximum, 0 elsewhere;
 *   sumsq: 2x·dOut;  norm: x/‖x‖·dOut (0 where ‖x‖ = 0, the subgradient PyTorch picks).
 */
export function reduceBackwardRef(x: Float64Array, n: number, kind: ReduceKind, rows: number, dOut: Float64Array): Float64Array {
  const dx = new Float64Array(rows * n);
  const out = reduceRef(x, n, kind, rows);
  for (let r = 0; r < rows; r++) {
    const g = dOut[r];
    if (kind === 'max') {
      let arg = 0;
      for (let j = 1; j < n; j++) if (x[r * n + j] > x[r * n + arg]) arg = j;
      dx[r * n + arg] = g;
      continue;
    }
    for (let j = 0; j < n; j++) {
      const v = x[r * n + j];
      dx[r * n + j] =
        kind === 'sum' ? g : kind === 'mean' ? g / n : kind === 'sumsq' ? 2 * v * g : out[r] === 0 ? 0 : (v / out[r]) * g;
    }
  }
  return dx;
}
