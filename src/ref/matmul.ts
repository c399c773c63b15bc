// float64 reference for src/kernels/matmul.ts: same layouts, same strides (0 broadcasts).
//   C[bt] = (accumulate ? C[bt] : 0) + alpha·op(A[bt])·op(B[bt]) + bias
// op(A)[m][k] = transA ? A[k·M + m] : A[m·K + k];  op(B)[k][n] = transB ? B[n·K + k] : B[k·N + n].

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
}

interface Resolved {
  M: number;
  N: number;
  K: number;
  batch: number;
  sA: number;
  sB: number;
  sC: number;
  tA: boolean;
  tB: boolean;
  alpha: number;
}

function resolve(s: MatmulShape): Resolved {
  return {
    M: s.M,
    N: s.N,
    K: s.K,
    batch: s.batch ?? 1,
    sA: s.strideA ?? s.M * s.K,
    sB: s.strideB ?? s.K * s.N,
    sC: s.strideC ?? s.M * s.N,
    tA: s.transA ?? false,
    tB: s.transB ?? false,
    alpha: s.alpha ?? 1,
  };
}

/** Flat index of op(A)[m][k] in batch bt, and of op(B)[k][n]. */
const idxA = (r: Resolved, bt: number, m: number, k: number) => bt * r.sA + (r.tA ? k * r.M + m : m * r.K + k);
const idxB = (r: Resolved, bt: number, k: number, n: number) => bt * r.sB + (r.tB ? n * r.K + k : k * r.N + n);

/** Number of floats a batched operand spans. */
export function spanOf(batch: number, stride: number, size: number): number {
  return (batch - 1) * stride + size;
}

/**
 * The whole C buffer after the product: a copy of `c` when accumulating (or to keep what lies
 * between strided batch matrices), zeros otherwise.
 */
export function matmulRef(
  shape: MatmulShape,
  a: Float64Array,
  b: Float64Array,
  opts: { bias?: Float64Array; c?: Float64Array; accumulate?: boolean } = {},
): Float64Array {
  const r = resolve(shape);
  const out = opts.c ? Float64Array.from(opts.c) : new Float64Array(spanOf(r.batch, r.sC, r.M * r.N));
  for (let bt = 0; bt < r.batch; bt++) {
    for (let m = 0; m < r.M; m++) {
      for (let n = 0; n < r.N; n++) {
        let s = 0;
        for (let k = 0; k < r.K; k++) s += a[idxA(r, bt, m, k)] * b[idxB(r, bt, k, n)];
        const o = bt * r.sC + m * r.N + n;
        out[o] = (opts.accumulate ? out[o] : 0) + r.alpha * s + (opts.bias ? opts.bias[n] : 0);
      }
    }
  }
  return out;
}

/**
 * Gradients of a loss L given dC = ∂L/∂C (laid out like C), each in its operand's own storage
 * layout. Broadcast operands (stride 0) sum their gradient over the batch.
 *   ∂L/∂op(A) = alpha·dC·op(B)ᵀ,  ∂L/∂op(B) = alpha·op(A)ᵀ·dC,  ∂L/∂bias[n] = Σ_bt Σ_m dC[bt][m][n]
 * (accumulate only adds the old C, whose gradient is dC itself.)
 */
export function matmulBackwardRef(
  shape: MatmulShape,
  a: Float64Array,
  b: Float64Array,
  dC: Float64Array,
): { dA: Float64Array; dB: Float64Array; dBias: Float64Array } {
  const r = resolve(shape);
  const dA = new Float64Array(spanOf(r.batch, r.sA, r.M * r.K));
  const dB = new Float64Array(spanOf(r.batch, r.sB, r.K * r.N));
  const dBias = new Float64Array(r.N);
  for (let bt = 0; bt < r.batch; bt++) {
    for (let m = 0; m < r.M; m++) {
      for (let n = 0; n < r.N; n++) {
        const g = dC[bt * r.sC + m * r.N + n];
        dBias[n] += g;
        for (let k = 0; k < r.K; k++) {
          dA[idxA(r, bt, m, k)] += r.alpha * g * b[idxB(r, bt, k, n)];
          dB[idxB(r, bt, k, n)] += r.alpha * g * a[idxA(r, bt, m, k)];
        }
      }
    }
  }
  return { dA, dB, dBias };
}
