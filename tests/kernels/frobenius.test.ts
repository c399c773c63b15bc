import { describe, expect, it } from 'vitest';
import { frobenius } from '../../src/kernels/frobenius';
import { frobeniusRef } from '../../src/ref/frobenius';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: Float32Array) => Float64Array.from(x);

async function runCase(p: Float32Array, t: Float32Array, mats: number, size: number, squared: boolean) {
  const gpu = await testGpu();
  const bp = gpu.upload(p);
  const bt = gpu.upload(t);
  // Outputs start as garbage so that a kernel that skips an element is caught.
  const dist = gpu.upload(randn(mats, 99));
  const loss = gpu.upload(randn(1, 98));
  const grad = gpu.upload(randn(mats * size, 97));
  gpu.run(frobenius(gpu, { p: bp, t: bt, mats, size, dist, loss, grad, squared }));
  const out = { dist: await gpu.read(dist, mats), loss: (await gpu.read(loss, 1))[0], grad: await gpu.read(grad, mats * size) };
  await gpu.check();
  for (const b of [bp, bt, dist, loss, grad]) gpu.release(b);
  return { out, want: frobeniusRef(f64(p), f64(t), mats, size, squared) };
}

describe('frobenius reference', () => {
  it('computes a hand-worked distance', () => {
    // P − T = [3, 4] → ‖·‖ = 5; the second matrix matches exactly.
    const r = frobeniusRef(Float64Array.from([3, 4, 1, 1]), Float64Array.from([0, 0, 1, 1]), 2, 2);
    expect([...r.dist]).toEqual([5, 0]);
    expect(r.loss).toBe(2.5);
    [0.3, 0.4, 0, 0].forEach((g, i) => expect(r.grad[i]).toBeCloseTo(g, 14));
    expect(frobeniusRef(Float64Array.from([3, 4]), Float64Array.from([0, 0]), 1, 2, true).loss).toBe(25);
  });

  it('has gradients that match central finite differences (float64)', () => {
    const mats = 3;
    const size = 5;
    const t = f64(randn(mats * size, 5));
    for (const squared of [false, true]) {
      const p = f64(randn(mats * size, 6));
      const { grad } = frobeniusRef(p, t, mats, size, squared);
      const eps = 1e-6;
      for (let e = 0; e < p.length; e++) {
        const x = p[e];
        p[e] = x + eps;
        const up = frobeniusRef(p, t, mats, size, squared).loss;
        p[e] = x - eps;
        const down = frobeniusRef(p, t, mats, size, squared).loss;
        p[e] = x;
        expect(Math.abs((up - down) / (2 * eps) - grad[e])).toBeLessThan(1e-7);
      }
    }
  });
});

describe('frobenius kernel', () => {
  for (const squared of [false, true]) {
    it(`matches the reference on odd sizes (${squared ? 'squared' : 'plain'})`, async () => {
      for (const [mats, size, seed] of [[3, 37 * 45, 1], [5, 4097, 2], [1, 1, 3]]) {
        const { out, want } = await runCase(randn(mats * size, seed), randn(mats * size, seed + 10, 0.5), mats, size, squared);
        expect(relErr(out.dist, want.dist)).toBeLessThan(1e-4);
        expect(Math.abs(out.loss - want.loss) / want.loss).toBeLessThan(1e-4);
        expect(relErr(out.grad, want.grad)).toBeLessThan(1e-4);
      }
    });
  }

  it('gives distance 0 and gradient 0, not NaN, where P equals T', async () => {
    const mats = 2;
    const size = 300;
    const p = randn(mats * size, 7);
    const t = p.slice();
    t.set(randn(size, 8), size); // only the second matrix differs
    const { out, want } = await runCase(p, t, mats, size, false);
    expect(out.dist[0]).toBe(0);
    expect(out.grad.subarray(0, size).every((g) => g === 0)).toBe(true);
    expect(relErr(out.grad, want.grad)).toBeLessThan(1e-4);
    expect(Math.abs(out.loss - want.loss) / want.loss).toBeLessThan(1e-4);
  });

  it('reduces full 2048×2048 matrices', async () => {
    const mats = 2;
    const size = 2048 * 2048;
    const { out, want } = await runCase(randn(mats * size, 11), randn(mats * size, 12), mats, size, false);
    expect(relErr(out.dist, want.dist)).toBeLessThan(1e-4);
    expect(Math.abs(out.loss - want.loss) / want.loss).toBeLessThan(1e-4);
    expect(relErr(out.grad, want.grad)).toBeLessThan(1e-4);
  });

  it('rejects bad shapes', async () => {
    const gpu = await testGpu();
    const small = gpu.zeros(4);
    expect(() => frobenius(gpu, { p: small, t: small, mats: 2, size: 4, dist: small, loss: small })).toThrow(/mats=2, size=4/);
    expect(() => frobenius(gpu, { p: small, t: small, mats: 0, size: 4, dist: small, loss: small })).toThrow(/positive/);
  });
});
