// float64 reference for src/kernels/rotary.ts. x, out (batch, L, heads, headDim) row-major; token t of
// every sequence sits at position posOffset + t. Per head, with half = rotaryDim/2 and, for i < half,
// a = pos·theta^(−2i/rotaryDim):
//   out[i] = x[i]·cos a − x[i+half]·sin a,   out[i+half] = x[i+half]·cos a + x[i]·sin a
// (x·cos + rotate_half(x)·sin over the first rotaryDim dims); dims ≥ rotaryDim are copied.

export interface RotaryShape {
  batch: number;
  L: number;
  heads: number;
  headDim: number;
  rotaryDim: number;
  theta: number;
  posOffset?: number;
  /** rotaryDim/2 inverse frequencies in place of theta^(−2i/rotaryDim) (scaled RoPE). */
  invFreq?: Float64Array;
}

/** Applies f(x1, x2, cos a, sin a) → [out1, out2] to every rotated pair; copies the rest. */
function eachPair(x: Float64Array, s: RotaryShape, f: (x1: number, x2: number, c: number, sn: number) => [number, number]): Float64Array {
  const { batch, L, heads, headDim, rotaryDim, theta } = s;
  const half = rotaryDim / 2;
  const out = Float64Array.from(x);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < L; t++) {
      const pos = (s.posOffset ?? 0) + t;
      for (let h = 0; h < heads; h++) {
        const base = ((b * L + t) * heads + h) * headDim;
        for (let i = 0; i < half; i++) {
          const a = pos * (s.invFreq ? s.invFreq[i]! : theta ** ((-2 * i) / rotaryDim));
          const [o1, o2] = f(x[base + i], x[base + i + half], Math.cos(a), Math.sin(a));
          out[base + i] = o1;
          out[base + i + half] = o2;
        }
      }
    }
  }
  return out;
}

export function rotaryRef(x: Float64Array, s: RotaryShape): Float64Array {
  return eachPair(x, s, (x1, x2, c, sn) => [x1 * c - x2 * sn, x2 * c + x1 * sn]);
}

/**
 * dx = Rᵀ·dOut for each pair's rotation R = [[cos, −sin], [sin, cos]]: the rotation by −a;
 * pass-through dims copy dOut.
 */
export function rotaryBackwardRef(dOut: Float64Array, s: RotaryShape): Float64Array {
  return eachPair(dOut, s, (g1, g2, c, sn) => [g1 * c + g2 * sn, g2 * c - g1 * sn]);
}
