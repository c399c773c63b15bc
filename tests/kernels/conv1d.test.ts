import { describe, expect, it } from 'vitest';
import type { Bindable } from '../../src/gpu/runtime';
import { conv1d, conv1dBackward } from '../../src/kernels/conv1d';
import { conv1dBackwardRef, conv1dRef, type Conv1dShape } from '../../src/ref/conv1d';
import { randn, relErr, testGpu } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);

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

/** Floats of `all` outside the columns [offset, offset + cols) of each stride-row equal `orig`. */
function outsideUnchanged(all: Float32Array, orig: Float32Array, cols: number, stride: number, offset: number): boolean {
  return all.every((v, i) => {
    const j = (i % stride) - offset;
    return (j >= 0 && j < cols) || v === orig[i];
  });
}

function data(s: Conv1dShape, seed: number) {
  const n = s.batch * s.L * s.channels;
  return { x: randn(n, seed, 2), w: randn(s.channels * s.K, seed + 1), bias: randn(s.channels, seed + 2), dy: randn(n, seed + 3) };
}

describe('conv1d reference', () => {
  it('is causal with w[c, K−1] on the current token (PyTorch padding K−1, first L outputs)', () => {
    const y = conv1dRef(f64([1, 2, 3]), f64([10, 1]), f64([0.5]), { batch: 1, L: 3, channels: 1, K: 2 });
    expect([...y]).toEqual([1.5, 12.5, 23.5]);
  });

  it('has gradients that match central finite differences (float64)', () => {
    const s = { batch: 2, L: 5, channels: 3, K: 4 };
    const d = data(s, 1);
    const x = f64(d.x);
    const w = f64(d.w);
    const bias = f64(d.bias);
    const r = f64(d.dy); // loss = Σ r·y
    const loss = () => conv1dRef(x, w, bias, s).reduce((acc, v, i) => acc + v * r[i], 0);
    const g = conv1dBackwardRef(x, w, r, s);
    for (const [arr, grad] of [[x, g.dx], [w, g.dw], [bias, g.dbias]] as const) {
      const fd = fdGrad(arr, loss);
      for (let i = 0; i < arr.length; i++) expect(Math.abs(fd[i] - grad[i])).toBeLessThan(1e-8);
    }
  });
});

describe('conv1d kernel', () => {
  async function contiguous(s: Conv1dShape, seed: number) {
    const gpu = await testGpu();
    const d = data(s, seed);
    const n = s.batch * s.L * s.channels;
    const bx = gpu.upload(d.x);
    const bw = gpu.upload(d.w);
    const bb = gpu.upload(d.bias);
    const by = gpu.upload(randn(n, seed + 4));
    const bdy = gpu.upload(d.dy);
    const bdx = gpu.upload(randn(n, seed + 5));
    const bdw = gpu.upload(randn(s.channels * s.K, seed + 6));
    const bdb = gpu.upload(randn(s.channels, seed + 7));
    gpu.run([
      ...conv1d(gpu, { x: bx, w: bw, bias: bb, y: by, ...s }),
      ...conv1dBackward(gpu, { x: bx, w: bw, dy: bdy, dx: bdx, dw: bdw, dbias: bdb, ...s }),
    ]);
    const y = await gpu.read(by, n);
    const dx = await gpu.read(bdx, n);
    const dw = await gpu.read(bdw, s.channels * s.K);
    const db = await gpu.read(bdb, s.channels);
    await gpu.check();
    for (const b of [bx, bw, bb, by, bdy, bdx, bdw, bdb]) gpu.release(b);
    const want = conv1dRef(f64(d.x), f64(d.w), f64(d.bias), s);
    const wantD = conv1dBackwardRef(f64(d.x), f64(d.w), f64(d.dy), s);
    expect(relErr(y, want), `y ${JSON.stringify(s)}`).toBeLessThan(1e-4);
    expect(relErr(dx, wantD.dx), `dx ${JSON.stringify(s)}`).toBeLessThan(1e-3);
    expect(relErr(dw, wantD.dw), `dw ${JSON.stringify(s)}`).toBeLessThan(1e-3);
    expect(relErr(db, wantD.dbias), `dbias ${JSON.stringify(s)}`).toBeLessThan(1e-3);
  }

  it('matches the reference on shapes that are not multiples of any tile', async () => {
    await contiguous({ batch: 2, L: 77, channels: 70, K: 4 }, 10);
    await contiguous({ batch: 1, L: 290, channels: 5, K: 4 }, 20); // several dw tiles of 128
    await contiguous({ batch: 3, L: 2, channels: 3, K: 4 }, 30); // L shorter than the kernel
  });

  it('handles other kernel widths', async () => {
    for (const [K, seed] of [[1, 40], [2, 50], [3, 60], [8, 70]]) await contiguous({ batch: 2, L: 41, channels: 66, K }, seed);
  });

  it('reads and writes column slices of wider rows, and accumulates', async () => {
    const gpu = await testGpu();
    const s = { batch: 2, L: 45, channels: 37, K: 4 };
    const rows = s.batch * s.L;
    const C = s.channels;
    const d = data(s, 80);
    // x is the middle slice of a fused row [x | B | C]-like of width 3C + 5, at column C + 2.
    const W = 3 * C + 5;
    const xo = C + 2;
    const xBuf = place(d.x, rows, C, W, xo, 81);
    const yBuf = place(new Float32Array(rows * C), rows, C, C + 3, 1, 82);
    const dyBuf = place(d.dy, rows, C, 2 * C, C, 83);
    const dx0 = randn(rows * C, 84);
    const dxBuf = place(dx0, rows, C, W, xo, 85);
    const dw0 = randn(C * s.K, 86);
    const db0 = randn(C, 87);
    // dw and dbias are slices of one flat gradient buffer, as a parameter table lays them out.
    const gradBuf = new Float32Array(1024);
    gradBuf.set(dw0, 0);
    gradBuf.set(db0, 512);
    const bx = gpu.upload(xBuf);
    const bw = gpu.upload(d.w);
    const bb = gpu.upload(d.bias);
    const by = gpu.upload(yBuf);
    const bdy = gpu.upload(dyBuf);
    const bdx = gpu.upload(dxBuf);
    const bg = gpu.upload(gradBuf);
    const dw: Bindable = { buffer: bg, offset: 0, size: C * s.K * 4 };
    const dbias: Bindable = { buffer: bg, offset: 2048, size: C * 4 };
    gpu.run([
      ...conv1d(gpu, { x: bx, w: bw, bias: bb, y: by, ...s, inStride: W, inOffset: xo, outStride: C + 3, outOffset: 1 }),
      ...conv1dBackward(gpu, {
        x: bx, w: bw, dy: bdy, dx: bdx, dw, dbias, ...s,
        inStride: W, inOffset: xo, outStride: 2 * C, outOffset: C, accumulate: true, accumulateParams: true,
      }),
    ]);
    const yAll = await gpu.read(by, yBuf.length);
    const dxAll = await gpu.read(bdx, dxBuf.length);
    const g = await gpu.read(bg, 1024);
    await gpu.check();
    for (const b of [bx, bw, bb, by, bdy, bdx, bg]) gpu.release(b);
    const want = conv1dRef(f64(d.x), f64(d.w), f64(d.bias), s);
    const wantD = conv1dBackwardRef(f64(d.x), f64(d.w), f64(d.dy), s);
    expect(relErr(pick(yAll, rows, C, C + 3, 1), want)).toBeLessThan(1e-4);
    expect(outsideUnchanged(yAll, yBuf, C, C + 3, 1)).toBe(true);
    expect(relErr(pick(dxAll, rows, C, W, xo), wantD.dx.map((v, i) => v + dx0[i]))).toBeLessThan(1e-3);
    expect(outsideUnchanged(dxAll, dxBuf, C, W, xo)).toBe(true);
    expect(relErr(g.subarray(0, C * s.K), wantD.dw.map((v, i) => v + dw0[i]))).toBeLessThan(1e-3);
    expect(relErr(g.subarray(512, 512 + C), wantD.dbias.map((v, i) => v + db0[i]))).toBeLessThan(1e-3);
    expect(g.subarray(C * s.K, 512).every((v) => v === 0)).toBe(true);
  });

  it('convolves in place inside a fused row, and into a disjoint slice of the same buffer', async () => {
    const gpu = await testGpu();
    const s = { batch: 2, L: 70, channels: 24, K: 4 };
    const rows = s.batch * s.L;
    const C = s.channels;
    const W = 3 * C;
    const d = data(s, 90);
    const want = conv1dRef(f64(d.x), f64(d.w), f64(d.bias), s);
    const bw = gpu.upload(d.w);
    const bb = gpu.upload(d.bias);

    // Identical views: y overwrites x in columns [C, 2C) of rows of 3C.
    const fused = place(d.x, rows, C, W, C, 91);
    const bf = gpu.upload(fused);
    gpu.run(conv1d(gpu, { x: bf, w: bw, bias: bb, y: bf, ...s, inStride: W, inOffset: C, outStride: W, outOffset: C }));
    const all = await gpu.read(bf, fused.length);
    expect(relErr(pick(all, rows, C, W, C), want)).toBeLessThan(1e-4);
    expect(outsideUnchanged(all, fused, C, W, C)).toBe(true);

    // Disjoint slices of one buffer bound at different offsets: x in the first columns of rows of
    // 2C at byte 0, y as a contiguous tensor bound from byte 256·k past x's end.
    const xBytes = ((rows - 1) * 2 * C + C) * 4;
    const yStart = Math.ceil(xBytes / 256) * 256;
    const both = new Float32Array(yStart / 4 + rows * C);
    place(d.x, rows, C, 2 * C, 0, 0, both);
    const bboth = gpu.upload(both);
    const x: Bindable = { buffer: bboth, offset: 0, size: xBytes };
    const y: Bindable = { buffer: bboth, offset: yStart, size: rows * C * 4 };
    gpu.run(conv1d(gpu, { x, w: bw, bias: bb, y, ...s, inStride: 2 * C }));
    const got = await gpu.read(bboth, both.length);
    expect(relErr(got.subarray(yStart / 4), want)).toBeLessThan(1e-4);
    expect(relErr(pick(got, rows, C, 2 * C, 0), d.x)).toBe(0);
    await gpu.check();
    for (const b of [bw, bb, bf, bboth]) gpu.release(b);
  });

  it('computes dx in place over dy, or beside it in the same buffer', async () => {
    const gpu = await testGpu();
    const s = { batch: 3, L: 50, channels: 19, K: 4 };
    const rows = s.batch * s.L;
    const C = s.channels;
    const d = data(s, 100);
    const wantD = conv1dBackwardRef(f64(d.x), f64(d.w), f64(d.dy), s);
    const bx = gpu.upload(d.x);
    const bw = gpu.upload(d.w);
    const bdw = gpu.zeros(C * s.K);
    const bdb = gpu.zeros(C);

    const g = place(d.dy, rows, C, 2 * C, C, 101);
    const bg = gpu.upload(g);
    gpu.run(conv1dBackward(gpu, { x: bx, w: bw, dy: bg, dx: bg, dw: bdw, dbias: bdb, ...s, outStride: 2 * C, outOffset: C, dxStride: 2 * C, dxOffset: C }));
    const all = await gpu.read(bg, g.length);
    expect(relErr(pick(all, rows, C, 2 * C, C), wantD.dx)).toBeLessThan(1e-3);
    expect(outsideUnchanged(all, g, C, 2 * C, C)).toBe(true);
    // dw and dbias were taken from dy before dx overwrote it.
    expect(relErr(await gpu.read(bdw, C * s.K), wantD.dw)).toBeLessThan(1e-3);
    expect(relErr(await gpu.read(bdb, C), wantD.dbias)).toBeLessThan(1e-3);

    // dy in columns [C, 2C), dx accumulated into columns [0, C) of the same rows.
    const dx0 = randn(rows * C, 102);
    const h = place(d.dy, rows, C, 2 * C, C, 103);
    place(dx0, rows, C, 2 * C, 0, 0, h);
    const bh = gpu.upload(h);
    gpu.run(conv1dBackward(gpu, { x: bx, w: bw, dy: bh, dx: bh, dw: bdw, dbias: bdb, ...s, outStride: 2 * C, outOffset: C, dxStride: 2 * C, dxOffset: 0, accumulate: true }));
    const all2 = await gpu.read(bh, h.length);
    expect(relErr(pick(all2, rows, C, 2 * C, 0), wantD.dx.map((v, i) => v + dx0[i]))).toBeLessThan(1e-3);
    expect(relErr(pick(all2, rows, C, 2 * C, C), d.dy)).toBe(0);
    await gpu.check();
    for (const b of [bx, bw, bdw, bdb, bg, bh]) gpu.release(b);
  });

  it('gives bit-identical results on repeated runs', async () => {
    const gpu = await testGpu();
    const s = { batch: 2, L: 300, channels: 33, K: 4 };
    const d = data(s, 110);
    const bx = gpu.upload(d.x);
    const bw = gpu.upload(d.w);
    const bdy = gpu.upload(d.dy);
    const bdx = gpu.zeros(d.x.length);
    const bdw = gpu.zeros(s.channels * s.K);
    const bdb = gpu.zeros(s.channels);
    const ops = conv1dBackward(gpu, { x: bx, w: bw, dy: bdy, dx: bdx, dw: bdw, dbias: bdb, ...s });
    gpu.run(ops);
    const first = await gpu.read(bdw);
    gpu.run(ops);
    expect([...(await gpu.read(bdw))]).toEqual([...first]);
    await gpu.check();
    for (const b of [bx, bw, bdy, bdx, bdw, bdb]) gpu.release(b);
  });

  it('rejects bad shapes and overlapping in-place views', async () => {
    const gpu = await testGpu();
    const s = { batch: 2, L: 10, channels: 4, K: 4 };
    const big = gpu.zeros(400);
    const w = gpu.zeros(16);
    const b = gpu.zeros(4);
    const small = gpu.zeros(16);
    expect(() => conv1d(gpu, { x: small, w, bias: b, y: big, ...s })).toThrow(/batch=2, L=10, channels=4, K=4.*x holds/);
    expect(() => conv1d(gpu, { x: big, w, bias: b, y: big, ...s, K: 9 })).toThrow(/at most 8/);
    expect(() => conv1d(gpu, { x: big, w, bias: b, y: big, ...s, inStride: 3 })).toThrow(/stride/);
    // y one column to the right of x in the same rows: overlapping, not identical.
    expect(() => conv1d(gpu, { x: big, w, bias: b, y: big, ...s, inStride: 8, outStride: 8, outOffset: 1 })).toThrow(/overlap/);
    expect(() => conv1d(gpu, { x: big, w, bias: b, y: big, ...s, inStride: 8, outStride: 8, outOffset: 4 })).not.toThrow();
    expect(() => conv1dBackward(gpu, { x: big, w, dy: small, dx: big, dw: w, dbias: b, ...s })).toThrow(/dy holds/);
    expect(() => conv1dBackward(gpu, { x: big, w, dy: big, dx: big, dw: small, dbias: b, ...s, accumulate: true })).toThrow(/accumulate/);
  });
});
