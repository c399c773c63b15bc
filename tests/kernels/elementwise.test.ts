import { describe, expect, it } from 'vitest';
import { add, axpy, scale } from '../../src/kernels/elementwise';
import { addRef, axpyRef } from '../../src/ref/elementwise';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: Float32Array) => Float64Array.from(x);

describe('elementwise', () => {
  it('adds two and three buffers, including sizes past one workgroup', async () => {
    const gpu = await testGpu();
    // 4: one quad; 1028: an invocation with one quad; 70 000: many workgroups.
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

  it('accumulates y += alpha·x and scales y in place, four floats at a time and the last n mod 4 one by one', async () => {
    const gpu = await testGpu();
    // 1 and 3: no quad; 4, 4096: quads only; 1003, 70001: quads and a tail (which must stop at n).
    for (const n of [1, 3, 4, 1003, 4096, 70_001]) {
      const x = randn(n, 4), y = randn(n + 1, 5);
      const Y = gpu.upload(y);
      const ops = axpy(gpu, { x: gpu.upload(x), y: { buffer: Y, size: 4 * n }, n, alpha: -0.5 });
      const form = [...(n >= 4 ? ['4'] : []), ...(n % 4 ? [''] : [])];
      expect(ops.map((o) => o.pipeline.label), `n=${n}`).toEqual(form.map((f) => `elementwise:axpy${f}`));
      gpu.run(ops);
      const got = await gpu.read(Y, n + 1);
      expect(relErr(got.subarray(0, n), axpyRef(f64(x), f64(y.subarray(0, n)), -0.5)), `n=${n}`).toBeLessThan(1e-4);
      expect(got[n]).toBe(y[n]);
      const Z = gpu.upload(Float32Array.from([...x, 9]));
      const sc = scale(gpu, { y: { buffer: Z, size: 4 * n }, n, alpha: 0.25 });
      expect(sc.map((o) => o.pipeline.label), `n=${n}`).toEqual(form.map((f) => `elementwise:scale${f}`));
      gpu.run(sc);
      const z = await gpu.read(Z, n + 1);
      expect(relErr(z.subarray(0, n), f64(x).map((v) => v * 0.25)), `n=${n}`).toBeLessThan(1e-6);
      expect(z[n]).toBe(9);
    }
    await gpu.check();
  });

  it('refuses aliasing and odd sizes', async () => {
    const gpu = await testGpu();
    const Y = gpu.upload(randn(1003, 5));
    expect(() => axpy(gpu, { x: Y, y: Y, n: 1003 })).toThrow(/share/);
    expect(() => add(gpu, { a: Y, b: Y, out: gpu.zeros(8), n: 6 })).toThrow(/multiple of 4/);
    expect(() => add(gpu, { a: Y, b: Y, out: Y, n: 8 })).toThrow(/shares/);
    await gpu.check();
  });
});
