// float64 reference for src/kernels/activations.ts. Tensors are contiguous here: (rows × cols)
// row-major, channel fastest; the GPU's strided views are the tests' business.
import type { Unary } from '../kernels/activations';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

export function sigmoidRef(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** PyTorch softplus, beta 1, threshold 20. */
export function softplusRef(x: number): number {
  return x > 20 ? x : Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/**
 * erfc in float64. For z < 3 through erf's series with positive terms,
 *   erf(z) = (2/√π)·e^{−z²}·Σ_n 2ⁿ z^{2n+1} / (1·3·…·(2n+1)),
 * which never cancels; beyond, the continued fraction
 *   erfc(z) = (e^{−z²}/√π)·1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + …))))),
 * evaluated bottom-up with enough terms for 1e-16 at z = 3.
 */
export function erfcRef(z: number): number {
  if (z < 0) return 2 - erfcRef(-z);
  if (z < 3) return 1 - erfRef(z);
  let f = z;
  for (let k = 120; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

export function erfRef(z: number): number {
  if (z < 0) return -erfRef(-z);
  if (z >= 3) return 1 - erfcRef(z);
  let term = z;
  let sum = z;
  for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
    term *= (2 * z * z) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
}

/** Φ(x), the standard normal CDF, = ½·erfc(−x/√2). */
export function normalCdfRef(x: number): number {
  return 0.5 * erfcRef(-x / Math.SQRT2);
}

export function activationRef(kind: Unary, x: number): number {
  switch (kind) {
    case 'softplus':
      return softplusRef(x);
    case 'negSoftplus':
      return -softplusRef(x);
    case 'silu':
      return x * sigmoidRef(x);
    case 'sigmoid':
      return sigmoidRef(x);
    case 'geluTanh':
      // ½x(1 + tanh u) = x·σ(2u); the tanh form rounds to 0 in float64 for x < −7 or so.
      return x * sigmoidRef(2 * SQRT_2_OVER_PI * (x + GELU_C * x ** 3));
    case 'gelu':
      return x * normalCdfRef(x);
  }
}

/** d activation / dx. */
export function activationGradRef(kind: Unary, x: number): number {
  switch (kind) {
    case 'softplus':
      return x > 20 ? 1 : sigmoidRef(x);
    case 'negSoftplus':
      return x > 20 ? -1 : -sigmoidRef(x);
    case 'silu': {
      // (xσ)' = σ + xσ(1 − σ)
      const s = sigmoidRef(x);
      return s + x * s * sigmoidRef(-x);
    }
    case 'sigmoid':
      return sigmoidRef(x) * sigmoidRef(-x);
    case 'geluTanh': {
      // ½(1 + tanh u) + ½x(1 − tanh²u)·u' = σ(2u) + 2x·σ(2u)σ(−2u)·u',  u = √(2/π)(x + 0.044715x³)
      const u = SQRT_2_OVER_PI * (x + GELU_C * x ** 3);
      const du = SQRT_2_OVER_PI * (1 + 3 * GELU_C * x * x);
      return sigmoidRef(2 * u) + 2 * x * sigmoidRef(2 * u) * sigmoidRef(-2 * u) * du;
    }
    case 'gelu':
      // (xΦ)' = Φ + xφ
      return normalCdfRef(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
  }
}

export function unaryRef(kind: Unary, x: Float64Array): Float64Array {
  return x.map((v) => activationRef(kind, v));
}

/** dx = f'(x)·dy. */
export function unaryBackwardRef(kind: Unary, x: Float64Array, dy: Float64Array): Float64Array {
  return x.map((v, i) => activationGradRef(kind, v) * dy[i]);
}

/** out = act(gate)·up, elementwise (SwiGLU with silu, GeGLU with gelu / geluTanh). */
export function swigluRef(gate: Float64Array, up: Float64Array, kind: Unary = 'silu'): Float64Array {
  return gate.map((g, i) => activationRef(kind, g) * up[i]);
}

/** dGate = dOut·up·act'(gate), dUp = dOut·act(gate). */
export function swigluBackwardRef(gate: Float64Array, up: Float64Array, dOut: Float64Array, kind: Unary = 'silu'): { dGate: Float64Array; dUp: Float64Array } {
  const dGate = gate.map((g, i) => dOut[i] * up[i] * activationGradRef(kind, g));
  const dUp = gate.map((g, i) => dOut[i] * activationRef(kind, g));
  return { dGate, dUp };
}

/** out[r, c] = y[r, c]·silu(z[r, c] + zBias[c]) over (rows × channels); zBias null means 0. */
export function gatedSiluRef(y: Float64Array, z: Float64Array, zBias: Float64Array | null, channels: number): Float64Array {
  return y.map((v, i) => {
    const zz = z[i] + (zBias ? zBias[i % channels] : 0);
    return v * zz * sigmoidRef(zz);
  });
}

/** dy = dOut·silu(z'), dz = dOut·y·silu'(z'), dzBias[c] = Σ_r dz[r, c], with z' = z + zBias. */
export function gatedSiluBackwardRef(
  y: Float64Array,
  z: Float64Array,
  zBias: Float64Array | null,
  dOut: Float64Array,
  channels: number,
): { dy: Float64Array; dz: Float64Array; dzBias: Float64Array } {
  const dy = new Float64Array(y.length);
  const dz = new Float64Array(y.length);
  const dzBias = new Float64Array(channels);
  for (let i = 0; i < y.length; i++) {
    const zz = z[i] + (zBias ? zBias[i % channels] : 0);
    dy[i] = dOut[i] * zz * sigmoidRef(zz);
    dz[i] = dOut[i] * y[i] * activationGradRef('silu', zz);
    dzBias[i % channels] += dz[i];
  }
  return { dy, dz, dzBias };
}
