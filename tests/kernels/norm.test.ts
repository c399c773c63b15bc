import { describe, expect, it } from 'vitest';
import { layerNorm, layerNormBackward, rmsNorm, rmsNormBackward } from '../../src/kernels/norm';
import { layerNormBackwardRef, layerNormRef, rmsNormBackwardRef, rmsNormRef, type NormShape } from '../../src/ref/norm';
import { randn, relErr, testGpu } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);

/** Central finite differences of loss() against grad over every element of arr. */
function fdCheck(arr: Float64Array, grad: Float64Array, loss: () => number): void {
  const fd = fdGrad(arr, loss);
  for (let i = 0; i < arr.length; i++) expect(Math.abs(fd[i] - grad[i])).toBeLessThan(1e-7);
}

const dot = (a: Float64Array, b: Float64Array) => a.reduce((acc, v, i) => acc + v * b[i], 0);

describe('norm reference', () => {
  it('normalises known rows', () => {
    const r = rmsNormRef(f64([3, 4]), f64([1, 2]), { rows: 1, d: 2, eps: 0 });
    expect(r.rstd[0]).toBeCloseTo(1 / Math.sqrt(12.5), 14);
    expect(r.y[1]).toBeCloseTo((4 * 2) / Math.sqrt(12.5), 14);
    const l = layerNormRef(f64([1, 3]), f64([2, 2]), f64([0.5, 0.5]), { rows: 1, d: 2, eps: 0 });
    expect([...l.y]).toEqual([-1.5, 2.5]);
    expect([l.mean[0], l.rstd[0]]).toEqual([2, 1]);
  });

  it('has RMSNorm gradients that match central finite differences (float64)', () => {
    const s = { rows: 3, d: 5, eps: 1e-2 };
    const x = f64(randn(15, 1));
    const w = f64(randn(5, 2));
    const r = f64(randn(15, 3));
    const g = rmsNormBackwardRef(x, w, r, s);
    const loss = () => dot(rmsNormRef(x, w, s).y, r);
    fdCheck(x, g.dx, loss);
    fdCheck(w, g.dw, loss);
  });

  it('has LayerNorm gradients that match central finite differences (float64)', () => {
    const s = { rows: 3, d: 5, eps: 1e-2 };
    const x = f64(randn(15, 4));
    const w = f64(randn(5, 5));
    const b = f64(randn(5, 6));
    const r = f64(randn(15, 7));
    const g = layerNormBackwardRef(x, w, r, s);
    const loss = () => dot(layerNormRef(x, w, b, s).y, r);
    fdCheck(x, g.dx, loss);
    fdCheck(w, g.dw, loss);
    fdCheck(b, g.db, loss);
  });
});

interface Case extends NormShape {
  seed: number;
  /** Added to x: LayerNorm must not lose the variance to a large mean. */
  shift?: number;
  accumulate?: boolean;
}

async function rmsCase(c: Case) {
  const gpu = await testGpu();
  const { rows, d } = c;
  const n = rows * d;
  const x = randn(n, c.seed, 2).map((v) => v + (c.shift ?? 0));
  const w = randn(d, c.seed + 1);
  const dy = randn(n, c.seed + 2);
  const dx0 = randn(n, c.seed + 3);
  const dw0 = randn(d, c.seed + 4);
  const b = { x: gpu.upload(x), w: gpu.upload(w), y: gpu.zeros(n), rstd: gpu.zeros(rows), dy: gpu.upload(dy), dx: gpu.upload(dx0), dw: gpu.upload(dw0) };
  gpu.run([
    ...rmsNorm(gpu, { x: b.x, w: b.w, y: b.y, rstd: b.rstd, rows, d, eps: c.eps }),
    ...rmsNormBackward(gpu, { x: b.x, w: b.w, rstd: b.rstd, dy: b.dy, dx: b.dx, dw: b.dw, rows, d, accumulate: c.accumulate, accumulateDw: c.accumulate }),
  ]);
  const got = { y: await gpu.read(b.y, n), rstd: await gpu.read(b.rstd, rows), dx: await gpu.read(b.dx, n), dw: await gpu.read(b.dw, d) };
  await gpu.check();
  for (const buf of Object.values(b)) gpu.release(buf);
  const tag = JSON.stringify(c);
  const want = rmsNormRef(f64(x), f64(w), c);
  const g = rmsNormBackwardRef(f64(x), f64(w), f64(dy), c);
  const wantDx = c.accumulate ? g.dx.map((v, i) => v + dx0[i]) : g.dx;
  const wantDw = c.accumulate ? g.dw.map((v, i) => v + dw0[i]) : g.dw;
  expect(relErr(got.y, want.y), `y ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.rstd, want.rstd), `rstd ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.dx, wantDx), `dx ${tag}`).toBeLessThan(1e-3);
  expect(relErr(got.dw, wantDw), `dw ${tag}`).toBeLessThan(1e-3);
}

async function lnCase(c: Case) {
  const gpu = await testGpu();
  const { rows, d } = c;
  const n = rows * d;
  const x = randn(n, c.seed, 2).map((v) => v + (c.shift ?? 0));
  const w = randn(d, c.seed + 1);
  const bias = randn(d, c.seed + 2);
  const dy = randn(n, c.seed + 3);
  const dx0 = randn(n, c.seed + 4);
  // dw and db as two slices of one gradient buffer, db first, dw at the next 256-byte boundary.
  const at = Math.ceil((d + 1) / 64) * 64;
  const dwb0 = randn(at + d, c.seed + 5);
  const dwb = gpu.upload(dwb0);
  const dbSlice = { buffer: dwb, offset: 0, size: d * 4 };
  const dwSlice = { buffer: dwb, offset: at * 4 };
  const b = { x: gpu.upload(x), w: gpu.upload(w), bias: gpu.upload(bias), y: gpu.zeros(n), mean: gpu.zeros(rows), rstd: gpu.zeros(rows), dy: gpu.upload(dy), dx: gpu.upload(dx0), dwb };
  gpu.run([
    ...layerNorm(gpu, { x: b.x, w: b.w, b: b.bias, y: b.y, mean: b.mean, rstd: b.rstd, rows, d, eps: c.eps }),
    ...layerNormBackward(gpu, {
      x: b.x,
      w: b.w,
      mean: b.mean,
      rstd: b.rstd,
      dy: b.dy,
      dx: b.dx,
      dw: dwSlice,
      db: dbSlice,
      rows,
      d,
      accumulate: c.accumulate,
      accumulateDw: c.accumulate,
    }),
  ]);
  const all = await gpu.read(b.dwb, at + d);
  const got = { y: await gpu.read(b.y, n), mean: await gpu.read(b.mean, rows), rstd: await gpu.read(b.rstd, rows), dx: await gpu.read(b.dx, n) };
  await gpu.check();
  for (const buf of Object.values(b)) gpu.release(buf);
  const tag = JSON.stringify(c);
  const want = layerNormRef(f64(x), f64(w), f64(bias), c);
  const g = layerNormBackwardRef(f64(x), f64(w), f64(dy), c);
  const plus = (a: Float64Array, b0: Float32Array) => (c.accumulate ? a.map((v, i) => v + b0[i]) : a);
  expect(relErr(got.y, want.y), `y ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.mean, want.mean), `mean ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.rstd, want.rstd), `rstd ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.dx, plus(g.dx, dx0)), `dx ${tag}`).toBeLessThan(1e-3);
  expect(relErr(all.subarray(0, d), plus(g.db, dwb0.subarray(0, d))), `db ${tag}`).toBeLessThan(1e-3);
  expect(relErr(all.subarray(at), plus(g.dw, dwb0.subarray(at))), `dw ${tag}`).toBeLessThan(1e-3);
  expect(Array.from(all.subarray(d, at)), 'floats between db and dw untouched').toEqual(Array.from(dwb0.subarray(d, at)));
}

describe('norm kernels', () => {
  it('RMSNorm matches the reference for d = 8, 64, 100, 1000, 4096', async () => {
    await rmsCase({ rows: 37, d: 8, eps: 1e-5, seed: 10 });
    await rmsCase({ rows: 5, d: 64, eps: 1e-6, seed: 20 });
    await rmsCase({ rows: 70, d: 100, eps: 1e-5, seed: 30 });
    await rmsCase({ rows: 9, d: 1000, eps: 1e-5, seed: 40 });
    await rmsCase({ rows: 3, d: 4096, eps: 1e-6, seed: 50 });
  });

  it('LayerNorm matches the reference for d = 8, 64, 100, 1000, 4096, with a large mean', async () => {
    await lnCase({ rows: 37, d: 8, eps: 1e-5, seed: 60 });
    await lnCase({ rows: 5, d: 64, eps: 1e-5, seed: 70, shift: 100 });
    await lnCase({ rows: 70, d: 100, eps: 1e-5, seed: 80 });
    await lnCase({ rows: 9, d: 1000, eps: 1e-5, seed: 90, shift: -30 });
    await lnCase({ rows: 3, d: 4096, eps: 1e-5, seed: 100 });
  });

  it('sums weight gradients over many chunks of rows and accumulates', async () => {
    await rmsCase({ rows: 301, d: 8, eps: 1e-5, seed: 110, accumulate: true });
    await lnCase({ rows: 301, d: 65, eps: 1e-5, seed: 120, accumulate: true });
    await rmsCase({ rows: 1, d: 33, eps: 1e-5, seed: 130 });
    await lnCase({ rows: 1, d: 33, eps: 1e-5, seed: 140 });
  });

  it('leaves out weight gradients not asked for', async () => {
    const gpu = await testGpu();
    const rows = 4;
    const d = 20;
    const x = randn(rows * d, 150);
    const w = randn(d, 151);
    const dy = randn(rows * d, 152);
    const bx = gpu.upload(x);
    const bw = gpu.upload(w);
    const mean = gpu.zeros(rows);
    const rstd = gpu.zeros(rows);
    const dx = gpu.zeros(rows * d);
    const db = gpu.zeros(d);
    const ops = [
      ...layerNorm(gpu, { x: bx, w: bw, b: bw, y: gpu.zeros(rows * d), mean, rstd, rows, d, eps: 1e-5 }),
      ...layerNormBackward(gpu, { x: bx, w: bw, mean, rstd, dy: gpu.upload(dy), dx, db, rows, d }),
    ];
    gpu.run(ops);
    const g = layerNormBackwardRef(f64(x), f64(w), f64(dy), { rows, d, eps: 1e-5 });
    expect(relErr(await gpu.read(db), g.db)).toBeLessThan(1e-3);
    expect(relErr(await gpu.read(dx), g.dx)).toBeLessThan(1e-3);
    expect(rmsNormBackward(gpu, { x: bx, w: bw, rstd, dy: dx, dx: db, rows: 1, d })).toHaveLength(1); // dx alone
    await gpu.check();
  });

  it('rejects bad shapes and aliasing with the shape in the message', async () => {
    const gpu = await testGpu();
    const x = gpu.zeros(40);
    const w = gpu.zeros(8);
    const y = gpu.zeros(40);
    const r = gpu.zeros(5);
    expect(() => rmsNorm(gpu, { x, w, y, rstd: r, rows: 5, d: 9, eps: 1e-5 })).toThrow(/rows=5, d=9, eps=0.00001.*x holds 160 bytes, needs 180/);
    expect(() => rmsNorm(gpu, { x, w, y: x, rstd: r, rows: 5, d: 8, eps: 1e-5 })).toThrow(/y shares a buffer with x/);
    expect(() => rmsNorm(gpu, { x, w, y, rstd: r, rows: 5, d: 8, eps: -1 })).toThrow(/eps must be finite/);
    expect(() => layerNorm(gpu, { x, w, b: w, y, mean: { buffer: y, offset: 140 }, rstd: r, rows: 5, d: 8, eps: 1e-5 })).toThrow(/y overlaps mean/);
    expect(() => layerNormBackward(gpu, { x, w, mean: r, rstd: r, dy: y, dx: gpu.zeros(40), dw: w, rows: 5, d: 8 })).toThrow(/dw shares a buffer with w/);
    expect(() => rmsNormBackward(gpu, { x, w, rstd: r, dy: y, dx: gpu.zeros(40), rows: 0, d: 8 })).toThrow(/rows=0, d=8.*positive integers/);
  });
});
