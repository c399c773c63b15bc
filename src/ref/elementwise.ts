// Float64 references of src/kernels/elementwise.ts.

export function addRef(a: Float64Array, b: Float64Array, c?: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]! + (c ? c[i]! : 0));
}

export function axpyRef(x: Float64Array, y: Float64Array, alpha = 1): Float64Array {
  return y.map((v, i) => v + alpha * x[i]!);
}
