// The four-float row kernels of the norms (src/kernels/norm-rows.ts): which kernels a width takes,
// the last quad past the row, one to eight quads per invocation, the one-pass backward with its
// chunked weight-gradient partials (folded when many), with and without subgroups, all held to the
// float64 reference with the tolerances of norm.test.ts.
import { describe, expect, it } from 'vitest';
import type { Gpu, Op } from '../../src/gpu/runtime';
import { layerNorm, layerNormBackward, rmsNorm, rmsNormBackward } from '../../src/kernels/norm';
import { layerNormBackwardRef, layerNormRef, rmsNormBackwardRef, rmsNormRef } from '../../src/ref/norm';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);
const entries = (ops: Op[]) => ops.map((o) => o.pipeline.label.split(':')[1]);

/** The test device, or the same device as one without subgroups (the fallback's kernels). */
async function device(subgroups: boolean): Promise<Gpu> {
  const gpu = await testGpu();
  if (subgroups) return gpu;
  return Object.create(gpu, { info: { value: { ...gpu.info, subgroups: false } } }) as Gpu;
}

interface Case {
  rows: number;
  d: number;
  seed: number;
  /** Weight gradients asked for (LayerNorm: dw and db). */
  dw?: boolean;
  accumulate?: boolean;
  /** The entries the forward and backward run, in order. */
  want: [string[], string[]];
}

async function rms(gpu: Gpu, c: Case): Promise<void> {
  const { rows, d } = c;
  const n = rows * d;
  const eps = 1e-5;
  const x = randn(n, c.seed, 2);
  const w = randn(d, c.seed + 1);
  const dy = randn(n, c.seed + 2);
  const dx0 = randn(n, c.seed + 3);
  const dw0 = randn(d, c.seed + 4);
  const b = { x: gpu.upload(x), w: gpu.upload(w), y: gpu.zeros(n), rstd: gpu.zeros(rows), dy: gpu.upload(dy), dx: gpu.upload(dx0), dw: gpu.upload(dw0) };
  const fwd = rmsNorm(gpu, { x: b.x, w: b.w, y: b.y, rstd: b.rstd, rows, d, eps });
  const bwd = rmsNormBackward(gpu, { x: b.x, w: b.w, rstd: b.rstd, dy: b.dy, dx: b.dx, dw: c.dw ? b.dw : undefined, rows, d, accumulate: c.accumulate, accumulateDw: c.accumulate });
  const tag = JSON.stringify({ ...c, want: undefined, subgroups: gpu.info.subgroups });
  expect([entries(fwd), entries(bwd)], tag).toEqual(c.want);
  gpu.run([...fwd, ...bwd]);
  const got = { y: await gpu.read(b.y, n), rstd: await gpu.read(b.rstd, rows), dx: await gpu.read(b.dx, n), dw: await gpu.read(b.dw, d) };
  await gpu.check();
  for (const buf of Object.values(b)) gpu.release(buf);
  const want = rmsNormRef(f64(x), f64(w), { rows, d, eps });
  const g = rmsNormBackwardRef(f64(x), f64(w), f64(dy), { rows, d, eps });
  expect(relErr(got.y, want.y), `y ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.rstd, want.rstd), `rstd ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.dx, c.accumulate ? g.dx.map((v, i) => v + dx0[i]) : g.dx), `dx ${tag}`).toBeLessThan(1e-3);
  const wantDw = !c.dw ? f64(dw0) : c.accumulate ? g.dw.map((v, i) => v + dw0[i]) : g.dw;
  expect(relErr(got.dw, wantDw), `dw ${tag}`).toBeLessThan(1e-3);
}

async function ln(gpu: Gpu, c: Case & { shift?: number }): Promise<void> {
  const { rows, d } = c;
  const n = rows * d;
  const eps = 1e-5;
  const x = randn(n, c.seed, 2).map((v) => v + (c.shift ?? 0));
  const w = randn(d, c.seed + 1);
  const bias = randn(d, c.seed + 2);
  const dy = randn(n, c.seed + 3);
  const dx0 = randn(n, c.seed + 4);
  const dw0 = randn(d, c.seed + 5);
  const db0 = randn(d, c.seed + 6);
  const b = {
    x: gpu.upload(x), w: gpu.upload(w), bias: gpu.upload(bias), y: gpu.zeros(n), mean: gpu.zeros(rows), rstd: gpu.zeros(rows),
    dy: gpu.upload(dy), dx: gpu.upload(dx0), dw: gpu.upload(dw0), db: gpu.upload(db0),
  };
  const fwd = layerNorm(gpu, { x: b.x, w: b.w, b: b.bias, y: b.y, mean: b.mean, rstd: b.rstd, rows, d, eps });
  const bwd = layerNormBackward(gpu, {
    x: b.x, w: b.w, mean: b.mean, rstd: b.rstd, dy: b.dy, dx: b.dx, dw: c.dw ? b.dw : undefined, db: c.dw ? b.db : undefined,
    rows, d, accumulate: c.accumulate, accumulateDw: c.accumulate,
  });
  const tag = JSON.stringify({ ...c, want: undefined, subgroups: gpu.info.subgroups });
  expect([entries(fwd), entries(bwd)], tag).toEqual(c.want);
  gpu.run([...fwd, ...bwd]);
  const got = {
    y: await gpu.read(b.y, n), mean: await gpu.read(b.mean, rows), rstd: await gpu.read(b.rstd, rows),
    dx: await gpu.read(b.dx, n), dw: await gpu.read(b.dw, d), db: await gpu.read(b.db, d),
  };
  await gpu.check();
  for (const buf of Object.values(b)) gpu.release(buf);
  const want = layerNormRef(f64(x), f64(w), f64(bias), { rows, d, eps });
  const g = layerNormBackwardRef(f64(x), f64(w), f64(dy), { rows, d, eps });
  const plus = (a: Float64Array, a0: Float32Array) => (c.accumulate ? a.map((v, i) => v + a0[i]) : a);
  expect(relErr(got.y, want.y), `y ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.mean, want.mean), `mean ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.rstd, want.rstd), `rstd ${tag}`).toBeLessThan(1e-4);
  expect(relErr(got.dx, plus(g.dx, dx0)), `dx ${tag}`).toBeLessThan(1e-3);
  expect(relErr(got.dw, c.dw ? plus(g.dw, dw0) : f64(dw0)), `dw ${tag}`).toBeLessThan(1e-3);
  expect(relErr(got.db, c.dw ? plus(g.db, db0) : f64(db0)), `db ${tag}`).toBeLessThan(1e-3);
}

// With weight gradients: the one-pass backward, then (over 16 chunks of rows) the fold, then one sum per output.
const rmsW = (fold: boolean) => ['rms_bwd4', ...(fold ? ['wgrad_fold'] : []), 'wgrad_final'];
const lnW = (fold: boolean) => ['ln_bwd4', ...(fold ? ['wgrad_fold'] : []), 'wgrad_final', 'wgrad_final'];

for (const subgroups of [true, false]) {
  describe(`norms four floats at a time, ${subgroups ? 'subgroup sums where the device has them' : 'workgroup tree sums'}`, () => {
    it('RMSNorm: the last quad past the row, one to eight quads per invocation, with and without dw', async () => {
      const gpu = await device(subgroups);
      // d 100: 25 quads on 32 invocations; 1000: 250 on 64 × 4; 2048: 128 × 4 exactly; 8192: 256 × 8.
      await rms(gpu, { rows: 7, d: 100, seed: 1, dw: true, want: [['rms_fwd4'], rmsW(false)] });
      await rms(gpu, { rows: 9, d: 1000, seed: 2, dw: true, accumulate: true, want: [['rms_fwd4'], rmsW(false)] });
      await rms(gpu, { rows: 5, d: 2048, seed: 3, want: [['rms_fwd4'], ['rms_dx4']] });
      await rms(gpu, { rows: 2, d: 8192, seed: 4, dw: true, want: [['rms_fwd4'], rmsW(false)] });
      await rms(gpu, { rows: 3, d: 4, seed: 5, dw: true, accumulate: true, want: [['rms_fwd4'], rmsW(false)] });
    });

    it('RMSNorm: many rows, in chunks of 5 with a short last chunk, partials folded', async () => {
      const gpu = await device(subgroups);
      await rms(gpu, { rows: 5003, d: 12, seed: 6, dw: true, accumulate: true, want: [['rms_fwd4'], rmsW(true)] });
      await rms(gpu, { rows: 301, d: 36, seed: 7, dw: true, want: [['rms_fwd4'], rmsW(true)] });
    });

    it('LayerNorm: the last quad past the row, a large mean, one to eight quads per invocation, with and without dw and db', async () => {
      const gpu = await device(subgroups);
      await ln(gpu, { rows: 70, d: 100, seed: 10, dw: true, want: [['ln_fwd4'], lnW(true)] });
      await ln(gpu, { rows: 9, d: 1000, seed: 11, dw: true, accumulate: true, shift: -30, want: [['ln_fwd4'], lnW(false)] });
      await ln(gpu, { rows: 5, d: 2048, seed: 12, shift: 100, want: [['ln_fwd4'], ['ln_dx4']] });
      await ln(gpu, { rows: 2, d: 8192, seed: 13, dw: true, want: [['ln_fwd4'], lnW(false)] });
      await ln(gpu, { rows: 3, d: 4, seed: 14, dw: true, accumulate: true, want: [['ln_fwd4'], lnW(false)] });
    });

    it('LayerNorm: many rows, in chunks of 5 with a short last chunk, partials folded', async () => {
      const gpu = await device(subgroups);
      await ln(gpu, { rows: 5003, d: 12, seed: 15, dw: true, accumulate: true, want: [['ln_fwd4'], lnW(true)] });
    });
  });
}

/** The forward with a residual add folded in: sum = x + a exactly as f32 adds it, y of that sum. */
async function residualCase(gpu: Gpu, kind: 'rms' | 'ln', rows: number, d: number, seed: number, entry: string): Promise<void> {
  const n = rows * d;
  const eps = 1e-5;
  const x = randn(n, seed, 2);
  const add = randn(n, seed + 1, 2);
  const w = randn(d, seed + 2);
  const bias = randn(d, seed + 3);
  const b = { x: gpu.upload(x), a: gpu.upload(add), w: gpu.upload(w), bias: gpu.upload(bias), y: gpu.zeros(n), h: gpu.zeros(n), mean: gpu.zeros(rows), rstd: gpu.zeros(rows) };
  const residual = { add: b.a, sum: b.h };
  const ops =
    kind === 'rms'
      ? rmsNorm(gpu, { x: b.x, w: b.w, y: b.y, rstd: b.rstd, rows, d, eps, residual })
      : layerNorm(gpu, { x: b.x, w: b.w, b: b.bias, y: b.y, mean: b.mean, rstd: b.rstd, rows, d, eps, residual });
  const tag = `${kind} rows=${rows} d=${d} subgroups=${gpu.info.subgroups}`;
  expect(entries(ops), tag).toEqual([entry]);
  gpu.run(ops);
  const got = { y: await gpu.read(b.y, n), h: await gpu.read(b.h, n), mean: await gpu.read(b.mean, rows), rstd: await gpu.read(b.rstd, rows) };
  await gpu.check();
  for (const buf of Object.values(b)) gpu.release(buf);
  expect(got.h.every((v, i) => v === Math.fround(x[i] + add[i])), `sum ${tag}`).toBe(true);
  const h = Float64Array.from(x, (v, i) => v + add[i]);
  if (kind === 'rms') {
    const want = rmsNormRef(h, f64(w), { rows, d, eps });
    expect(relErr(got.y, want.y), `y ${tag}`).toBeLessThan(1e-4);
    expect(relErr(got.rstd, want.rstd), `rstd ${tag}`).toBeLessThan(1e-4);
  } else {
    const want = layerNormRef(h, f64(w), f64(bias), { rows, d, eps });
    expect(relErr(got.y, want.y), `y ${tag}`).toBeLessThan(1e-4);
    expect(relErr(got.mean, want.mean), `mean ${tag}`).toBeLessThan(1e-4);
    expect(relErr(got.rstd, want.rstd), `rstd ${tag}`).toBeLessThan(1e-4);
  }
}

describe('norms with a residual add folded in', () => {
  it('write x + a and normalise it, four floats at a time with and without subgroups, and float by float', async () => {
    for (const subgroups of [true, false]) {
      const gpu = await device(subgroups);
      await residualCase(gpu, 'rms', 9, 100, 30, 'rms_add_fwd4');
      await residualCase(gpu, 'rms', 3, 2048, 31, 'rms_add_fwd4');
      await residualCase(gpu, 'ln', 9, 1000, 32, 'ln_add_fwd4');
      await residualCase(gpu, 'ln', 4, 8, 33, 'ln_add_fwd4');
    }
    const gpu = await testGpu();
    await residualCase(gpu, 'rms', 7, 66, 34, 'rms_add_fwd');
    await residualCase(gpu, 'ln', 7, 8198, 35, 'ln_add_fwd');
  });

  it('refuses a sum that shares a buffer with an input or overlaps another output', async () => {
    const gpu = await testGpu();
    const x = gpu.zeros(40);
    const w = gpu.zeros(8);
    const y = gpu.zeros(40);
    const r = gpu.zeros(5);
    const a = gpu.zeros(40);
    expect(() => rmsNorm(gpu, { x, w, y, rstd: r, rows: 5, d: 8, eps: 1e-5, residual: { add: a, sum: x } })).toThrow(/residual.sum shares a buffer with x/);
    expect(() => rmsNorm(gpu, { x, w, y, rstd: r, rows: 5, d: 8, eps: 1e-5, residual: { add: a, sum: y } })).toThrow(/y overlaps residual.sum/);
    expect(() => layerNorm(gpu, { x, w, b: w, y, mean: r, rstd: gpu.zeros(5), rows: 5, d: 8, eps: 1e-5, residual: { add: gpu.zeros(8), sum: gpu.zeros(40) } })).toThrow(/residual.add holds 32 bytes, needs 160/);
  });
});

describe('norms float by float', () => {
  it('take rows not a multiple of 4, or longer than 8 quads per invocation can hold, in the scalar kernels', async () => {
    const gpu = await testGpu();
    await rms(gpu, { rows: 3, d: 8196, seed: 20, dw: true, want: [['rms_fwd'], ['rms_wpart', 'wgrad_final', 'rms_dx']] });
    await rms(gpu, { rows: 11, d: 66, seed: 21, want: [['rms_fwd'], ['rms_dx']] });
    await ln(gpu, { rows: 3, d: 8196, seed: 22, dw: true, want: [['ln_fwd'], ['ln_wpart', 'wgrad_final', 'wgrad_final', 'ln_dx']] });
    await ln(gpu, { rows: 11, d: 66, seed: 23, shift: 50, want: [['ln_fwd'], ['ln_dx']] });
  });
});
