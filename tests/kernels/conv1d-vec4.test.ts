// The four-float entries of the causal conv1d (four channels as vec4 lanes, tiles walked four tokens
// at a time with a remainder): which entries a view takes, and each held to the float64 reference
// with the tolerances of conv1d.test.ts, apart, strided, accumulated and in place.
import { describe, expect, it } from 'vitest';
import type { Op } from '../../src/gpu/runtime';
import { conv1d, conv1dBackward } from '../../src/kernels/conv1d';
import { conv1dBackwardRef, conv1dRef, type Conv1dShape } from '../../src/ref/conv1d';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);
const entries = (ops: Op[]) => ops.map((o) => o.pipeline.label.split(':')[1]);

/** (rows × cols) placed at r·stride + offset + j of a buffer of garbage. */
function place(x: Float32Array, rows: number, cols: number, stride: number, offset: number, seed: number, into?: Float32Array): Float32Array {
  const buf = into ?? randn((rows - 1) * stride + offset + cols, seed, 50);
  for (let r = 0; r < rows; r++) buf.set(x.subarray(r * cols, (r + 1) * cols), r * stride + offset);
  return buf;
}

function pick(buf: Float32Array, rows: number, cols: number, stride: number, offset: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(buf.subarray(r * stride + offset, r * stride + offset + cols), r * cols);
  return out;
}

function data(s: Conv1dShape, seed: number) {
  const n = s.batch * s.L * s.channels;
  return { x: randn(n, seed, 2), w: randn(s.channels * s.K, seed + 1), bias: randn(s.channels, seed + 2), dy: randn(n, seed + 3) };
}

interface Views {
  xs: number;
  xo: number;
  ys: number;
  yo: number;
  dys: number;
  dyo: number;
}

/** Forward and accumulated backward over views of wider rows; returns the entries run. */
async function run(s: Conv1dShape, v: Views, seed: number): Promise<string[]> {
  const gpu = await testGpu();
  const rows = s.batch * s.L;
  const C = s.channels;
  const d = data(s, seed);
  const yBuf = place(new Float32Array(rows * C), rows, C, v.ys, v.yo, seed + 4);
  const dx0 = randn(rows * C, seed + 5);
  const dxBuf = place(dx0, rows, C, v.xs, v.xo, seed + 6);
  const dw0 = randn(C * s.K, seed + 7);
  const db0 = randn(C, seed + 8);
  const b = {
    x: gpu.upload(place(d.x, rows, C, v.xs, v.xo, seed + 9)), w: gpu.upload(d.w), bias: gpu.upload(d.bias), y: gpu.upload(yBuf),
    dy: gpu.upload(place(d.dy, rows, C, v.dys, v.dyo, seed + 10)), dx: gpu.upload(dxBuf), dw: gpu.upload(dw0), db: gpu.upload(db0),
  };
  const fwd = conv1d(gpu, { x: b.x, w: b.w, bias: b.bias, y: b.y, ...s, inStride: v.xs, inOffset: v.xo, outStride: v.ys, outOffset: v.yo });
  const bwd = conv1dBackward(gpu, {
    x: b.x, w: b.w, dy: b.dy, dx: b.dx, dw: b.dw, dbias: b.db, ...s,
    inStride: v.xs, inOffset: v.xo, outStride: v.dys, outOffset: v.dyo, accumulate: true, accumulateParams: true,
  });
  gpu.run([...fwd, ...bwd]);
  const y = pick(await gpu.read(b.y, yBuf.length), rows, C, v.ys, v.yo);
  const dx = pick(await gpu.read(b.dx, dxBuf.length), rows, C, v.xs, v.xo);
  const dw = await gpu.read(b.dw, C * s.K);
  const db = await gpu.read(b.db, C);
  await gpu.check();
  for (const buf of Object.values(b)) gpu.release(buf);
  const tag = JSON.stringify({ ...s, ...v });
  const want = conv1dRef(f64(d.x), f64(d.w), f64(d.bias), s);
  const g = conv1dBackwardRef(f64(d.x), f64(d.w), f64(d.dy), s);
  expect(relErr(y, want), `y ${tag}`).toBeLessThan(1e-4);
  expect(relErr(dx, g.dx.map((u, i) => u + dx0[i])), `dx ${tag}`).toBeLessThan(1e-3);
  expect(relErr(dw, g.dw.map((u, i) => u + dw0[i])), `dw ${tag}`).toBeLessThan(1e-3);
  expect(relErr(db, g.dbias.map((u, i) => u + db0[i])), `dbias ${tag}`).toBeLessThan(1e-3);
  return [...entries(fwd), ...entries(bwd)];
}

const contiguous = (C: number): Views => ({ xs: C, xo: 0, ys: C, yo: 0, dys: C, dyo: 0 });
const V4 = ['forward4', 'wgrad_part4', 'wgrad_final', 'dx4'];

describe('conv1d four channels at a time', () => {
  it('runs contiguous tensors of channels a multiple of 4 as quads: tiles with a remainder of tokens, kernel widths 1 to 8', async () => {
    // L 77: tiles of 32, 32 and 13 (three rounds of four tokens and one left); L 3 and 2: no round of four.
    expect(await run({ batch: 2, L: 77, channels: 68, K: 4 }, contiguous(68), 1)).toEqual(V4);
    for (const [K, L, seed] of [[1, 41, 2], [3, 35, 3], [8, 66, 4], [4, 3, 5], [4, 2, 6]]) {
      expect(await run({ batch: 2, L, channels: 12, K }, contiguous(12), seed)).toEqual(V4);
    }
    // dw over several 128-token tiles.
    expect(await run({ batch: 1, L: 290, channels: 8, K: 4 }, contiguous(8), 7)).toEqual(V4);
  });

  it('reads and writes aligned column slices of wider rows as quads, and misaligned ones float by float', async () => {
    const C = 36;
    const s = { batch: 2, L: 45, channels: C, K: 4 };
    expect(await run(s, { xs: 3 * C + 8, xo: C + 4, ys: C + 4, yo: 4, dys: 2 * C, dyo: C }, 10)).toEqual(V4);
    // x one float off a 16-byte boundary: the forward and dw take the scalar entries, dx (dy's view and
    // dx's, which is x's) too; dy aligned alone changes nothing.
    expect(await run(s, { xs: 3 * C + 8, xo: C + 5, ys: C + 4, yo: 4, dys: 2 * C, dyo: C }, 11)).toEqual(['forward', 'wgrad_part', 'wgrad_final', 'dx']);
    // y misaligned alone: only the forward falls back.
    expect(await run(s, { xs: 3 * C + 8, xo: C + 4, ys: C + 3, yo: 1, dys: 2 * C, dyo: C }, 12)).toEqual(['forward', 'wgrad_part4', 'wgrad_final', 'dx4']);
  });

  it('convolves in place and computes dx in place or beside dy in the same buffer, as quads', async () => {
    const gpu = await testGpu();
    const s = { batch: 2, L: 70, channels: 20, K: 4 };
    const rows = s.batch * s.L;
    const C = s.channels;
    const d = data(s, 20);
    const want = conv1dRef(f64(d.x), f64(d.w), f64(d.bias), s);
    const g = conv1dBackwardRef(f64(d.x), f64(d.w), f64(d.dy), s);
    const bw = gpu.upload(d.w);
    const bb = gpu.upload(d.bias);
    const bx = gpu.upload(d.x);
    const bdw = gpu.zeros(C * s.K);
    const bdb = gpu.zeros(C);

    // y over x in columns [C, 2C) of rows of 3C.
    const fused = place(d.x, rows, C, 3 * C, C, 21);
    const bf = gpu.upload(fused);
    const fwd = conv1d(gpu, { x: bf, w: bw, bias: bb, y: bf, ...s, inStride: 3 * C, inOffset: C, outStride: 3 * C, outOffset: C });
    expect(entries(fwd)).toEqual(['halo_fwd', 'forward4_one']);
    gpu.run(fwd);
    expect(relErr(pick(await gpu.read(bf, fused.length), rows, C, 3 * C, C), want)).toBeLessThan(1e-4);

    // dx over dy in columns [C, 2C) of rows of 2C.
    const gb = place(d.dy, rows, C, 2 * C, C, 22);
    const bg = gpu.upload(gb);
    const over = conv1dBackward(gpu, { x: bx, w: bw, dy: bg, dx: bg, dw: bdw, dbias: bdb, ...s, outStride: 2 * C, outOffset: C, dxStride: 2 * C, dxOffset: C });
    expect(entries(over)).toEqual(['wgrad_part4', 'wgrad_final', 'halo_bwd', 'dx4_one']);
    gpu.run(over);
    expect(relErr(pick(await gpu.read(bg, gb.length), rows, C, 2 * C, C), g.dx)).toBeLessThan(1e-3);
    expect(relErr(await gpu.read(bdw, C * s.K), g.dw)).toBeLessThan(1e-3);
    expect(relErr(await gpu.read(bdb, C), g.dbias)).toBeLessThan(1e-3);

    // dy in columns [C, 2C), dx accumulated into columns [0, C) of the same rows.
    const dx0 = randn(rows * C, 23);
    const h = place(d.dy, rows, C, 2 * C, C, 24);
    place(dx0, rows, C, 2 * C, 0, 0, h);
    const bh = gpu.upload(h);
    const beside = conv1dBackward(gpu, { x: bx, w: bw, dy: bh, dx: bh, dw: bdw, dbias: bdb, ...s, outStride: 2 * C, outOffset: C, dxStride: 2 * C, dxOffset: 0, accumulate: true });
    expect(entries(beside).at(-1)).toBe('dx4_one');
    gpu.run(beside);
    const all = await gpu.read(bh, h.length);
    expect(relErr(pick(all, rows, C, 2 * C, 0), g.dx.map((v, i) => v + dx0[i]))).toBeLessThan(1e-3);
    expect(relErr(pick(all, rows, C, 2 * C, C), d.dy)).toBe(0);
    await gpu.check();
    for (const b of [bw, bb, bx, bdw, bdb, bf, bg, bh]) gpu.release(b);
  });
});
