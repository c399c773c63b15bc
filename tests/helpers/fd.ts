/**
 * Central finite differences of f() with respect to every entry of x, which f reads: entry i is
 * moved by ±eps, f evaluated, and restored. The float64 references' gradients are held to these.
 */
export function fdGrad(x: Float64Array, f: () => number, eps = 1e-6): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v + eps;
    const up = f();
    x[i] = v - eps;
    const down = f();
    x[i] = v;
    out[i] = (up - down) / (2 * eps);
  }
  return out;
}
