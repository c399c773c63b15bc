import { describe, expect, it } from 'vitest';
import { reduce, type ReduceKind } from '../../src/kernels/reduce';
import { reduceBackwardRef, reduceRef } from '../../src/ref/reduce';
import { randn, relErr, testGpu } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';

const KINDS: ReduceKind[] = ['sum', 'mean', 'max', 'sumsq', 'norm'];
const f64 = (x: Float32Array) => Float64Array.from(x);

async function gpuReduce(x: Float32Array, n: number, kind: ReduceKind, rows = 1, mask?: Float32Array) {
  const gpu = await testGpu();
  const X = gpu.upload(x);
  const M = mask && gpu.upload(mask);
  const out = gpu.upload(new Float32Array(rows).fill(NaN));
  gpu.run(reduce(gpu, { x: X, n, out, kind, rows, mask: M }));
  const got = await gpu.read(out, rows);
  await gpu.check();
  return got;
}

describe('reduce reference', () => {
  it('computes hand-worked rows', () => {
    const x = Float64Array.from([3, -4, 1, 2]);
    expect([...reduceRef(x, 2, 'sum', 2)]).toEqual([-1, 3]);
    expect([...reduceRef(x, 2, 'mean', 2)]).toEqual([-0.5, 1.5]);
    expect([...reduceRef(x, 2, 'max', 2)]).toEqual([3, 2]);
    expect([...reduceRef(x, 2, 'sumsq', 2)]).toEqual([25, 5]);
    expect([...reduceRef(x, 2, 'norm', 2)]).toEqual([5, Math.sqrt(5)]);
    expect([...reduceRef(x, 4, 'sum', 1, Float64Array.from([1, 0, 1, 1]))]).toEqual([6]);
  });

  it('has gradients that match central finite differences (float64)', () => {
    const rows = 3, n = 7;
    const x = f64(randn(rows * n, 3));
    const w = f64(randn(rows, 4)); // L = Σ_r w[r]·out[r]
    for (const kind of KINDS) {
      const loss = () => reduceRef(x, n, kind, rows).reduce((a, v, r) => a + v * w[r], 0);
      expect(relErr(reduceBackwardRef(x, n, kind, rows, w), fdGrad(x, loss)), kind).toBeLessThan(1e-6);
    }
  });
});

describe('reduce on the GPU', () => {
  it('is exact on small integers, in one pass and in two', async () => {
    for (const [n, rows] of [[5, 3], [4097, 2], [9000, 1]]) {
      const x = Float32Array.from(randn(n * rows, n), (v) => Math.round(v * 8));
      for (const kind of ['sum', 'max', 'sumsq'] as const) {
        expect([...(await gpuReduce(x, n, kind, rows))], `${kind} n=${n}`).toEqual([...reduceRef(f64(x), n, kind, rows)]);
      }
    }
  });

  it('matches float64 within 1e-5 for a million random values, every kind', async () => {
    const n = 1_000_000;
    // Shifted so the sum does not cancel to near zero, and a zero-mean set for the cancelling case.
    for (const [seed, shift] of [[1, 0.1], [2, 0]]) {
      const x = Float32Array.from(randn(n, seed), (v) => v + shift);
      for (const kind of KINDS) {
        const got = await gpuReduce(x, n, kind);
        const want = reduceRef(f64(x), n, kind);
        expect(Math.abs(got[0] - want[0]) / Math.abs(want[0]), `${kind} shift=${shift}: ${got[0]} vs ${want[0]}`).toBeLessThan(1e-5);
      }
    }
  });

  it('reduces tens of millions of elements in two levels', async () => {
    const n = 20_000_000;
    const x = randn(n, 77);
    for (const kind of ['norm', 'max'] as const) {
      const got = await gpuReduce(x, n, kind);
      const want = reduceRef(f64(x), n, kind);
      expect(Math.abs(got[0] - want[0]) / want[0], kind).toBeLessThan(1e-5);
    }
  });

  it('reduces many rows of adversarial lengths', async () => {
    for (const [n, rows] of [[1, 5], [31, 3], [4095, 2], [4096, 3], [4097, 3], [12289, 2]]) {
      const x = randn(n * rows, n + rows, 3);
      for (const kind of KINDS) {
        expect(relErr(await gpuReduce(x, n, kind, rows), reduceRef(f64(x), n, kind, rows)), `${kind} n=${n} rows=${rows}`).toBeLessThan(1e-5);
      }
    }
  });

  it('handles all-negative rows under max and more rows than one grid dimension', async () => {
    const n = 3, rows = 70_000;
    const x = Float32Array.from(randn(n * rows, 9), (v) => v - 2);
    expect(relErr(await gpuReduce(x, n, 'max', rows), reduceRef(f64(x), n, 'max', rows))).toBe(0);
    expect(relErr(await gpuReduce(x, n, 'mean', rows), reduceRef(f64(x), n, 'mean', rows))).toBeLessThan(1e-6);
  });

  it('multiplies by a mask before reducing', async () => {
    const n = 5000, rows = 2;
    const x = randn(n * rows, 5);
    const mask = Float32Array.from(randn(n * rows, 6), (v) => (v > 0 ? 1 : 0));
    for (const kind of KINDS) {
      expect(relErr(await gpuReduce(x, n, kind, rows, mask), reduceRef(f64(x), n, kind, rows, f64(mask))), kind).toBeLessThan(1e-5);
    }
  });

  it('rejects bad shapes with the shape in the message', async () => {
    const gpu = await testGpu();
    const x = gpu.zeros(8), out = gpu.zeros(4);
    expect(() => reduce(gpu, { x, n: 5, rows: 2, out, kind: 'sum' })).toThrow(/x holds 8 floats, needs 10 \(n=5 rows=2/);
    expect(() => reduce(gpu, { x, n: 1, rows: 8, out, kind: 'sum' })).toThrow(/out holds 4 floats, needs 8/);
    expect(() => reduce(gpu, { x, n: 0, out, kind: 'max' })).toThrow(/positive integers/);
  });
});
