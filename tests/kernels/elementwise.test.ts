import { describe, expect, it } from 'vitest';
import { add, axpy, scale } from '../../src/kernels/elementwise';
import { addRef, axpyRef } from '../../src/ref/elementwise';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: Float32Array) => Float64Array.from(x);

describe('elementwise', () => {
  it('adds two and three buffers, including sizes past one workgroup', async () => {
    const gpu = await testGpu();
    for (const n of [4, 1028, 70_000]) {
      const a = randn(n, 1), b = randn(n, 2), c = randn(n, 3);
      const out2 = gpu.zeros(n), out3 = gpu.zeros(n);
      const A = gpu.upload(a), B = gpu.upload(b), C = gpu.upload(c);
      gpu.run([...add(gpu, { a: A, b: B, out: out2, n }), ...add(gpu, { a: A, b: B, c: C, out: out3, n })]);
      expect(relErr(await gpu.read(out2, n), addRef(f64(a), f64(b)))).toBeLessThan(1e-4);
      expect(relErr(await gpu.read(out3, n), addRef(f64(a), f64(b), f64(c)))).toBeLessThan(1e-4);
    }
    await gpu.check();
  });

  it('accumulates y += alpha·x, scales y in place, and refuses aliasing and odd sizes', async () => {
    const gpu = await testGpu();
    const n = 1003;
    const x = randn(n, 4), y = randn(n, 5);
    const Y = gpu.upload(y);
    gpu.run(axpy(gpu, { x: gpu.upload(x), y: Y, n, alpha: -0.5 }));
    expect(relErr(await gpu.read(Y, n), axpyRef(f64(x), f64(y), -0.5))).toBeLessThan(1e-4);
    const Z = gpu.upload(x);
    gpu.run(scale(gpu, { y: Z, n, alpha: 0.25 }));
    expect(relErr(await gpu.read(Z, n), f64(x).map((v) => v * 0.25))).toBeLessThan(1e-6);
    expect(() => axpy(gpu, { x: Y, y: Y, n })).toThrow(/share/);
    expect(() => add(gpu, { a: Y, b: Y, out: gpu.zeros(8), n: 6 })).toThrow(/multiple of 4/);
    expect(() => add(gpu, { a: Y, b: Y, out: Y, n: 8 })).toThrow(/shares/);
    await gpu.check();
  });
});
