import { describe, expect, it } from 'vitest';
import { copyColumns, type CopyColumnsArgs } from '../../src/kernels/columns';
import { copyColumnsRef } from '../../src/ref/columns';
import { randn, relErr, testGpu } from '../helpers/gpu';

type Layout = Omit<CopyColumnsArgs, 'src' | 'dst'>;

async function run(l: Layout, srcLen: number, dstLen: number, seed: number) {
  const gpu = await testGpu();
  const src = randn(srcLen, seed, 3);
  const dst = randn(dstLen, seed + 1, 3);
  const sb = gpu.upload(src);
  const db = gpu.upload(dst);
  gpu.run(copyColumns(gpu, { ...l, src: sb, dst: db }));
  const got = await gpu.read(db, dstLen);
  await gpu.check();
  const want = copyColumnsRef(Float64Array.from(src), Float64Array.from(dst), l);
  return { got, want };
}

describe('columns (strided block copy)', () => {
  it('gathers a column slice of fused rows into a contiguous tensor', async () => {
    const l: Layout = { rows: 74, cols: 7, srcStride: 45, srcOffset: 13 };
    const { got, want } = await run(l, 74 * 45, 74 * 7, 1);
    expect([...got]).toEqual([...Float32Array.from(want)]);
  });

  it('scatters into columns of a wider row and leaves the other columns alone', async () => {
    const l: Layout = { rows: 37, cols: 5, dstStride: 19, dstOffset: 11 };
    const { got, want } = await run(l, 37 * 5, 37 * 19, 2);
    expect([...got]).toEqual([...Float32Array.from(want)]);
  });

  it('adds with accumulate', async () => {
    const l: Layout = { rows: 29, cols: 300, srcStride: 301, srcOffset: 1, dstStride: 333, dstOffset: 20, accumulate: true };
    const { got, want } = await run(l, 29 * 301, 29 * 333, 3);
    expect(relErr(got, want)).toBeLessThan(1e-6);
  });

  it('copies batched blocks of rows, with a broadcast source', async () => {
    // The last 3 of 10 rows of each of 3 sequences into a (3, 4, 6) window, then a zero row repeated.
    const l: Layout = { batch: 3, rows: 3, cols: 6, srcStride: 8, srcOffset: 7 * 8 + 2, srcBatchStride: 10 * 8, dstStride: 6, dstOffset: 6, dstBatchStride: 24 };
    const { got, want } = await run(l, 30 * 8, 72, 4);
    expect([...got]).toEqual([...Float32Array.from(want)]);
    const b: Layout = { batch: 3, rows: 2, cols: 6, srcStride: 0, srcBatchStride: 0, dstBatchStride: 24 };
    const r = await run(b, 6, 72, 5);
    expect([...r.got]).toEqual([...Float32Array.from(r.want)]);
  });

  it('rejects aliasing, short buffers and overlapping destinations with the shape in the message', async () => {
    const gpu = await testGpu();
    const a = gpu.zeros(64);
    const b = gpu.zeros(64);
    const big = gpu.zeros(256);
    expect(() => copyColumns(gpu, { src: a, dst: a, rows: 2, cols: 4, dstOffset: 16 })).toThrow(/share a buffer/);
    expect(() => copyColumns(gpu, { src: big, dst: b, rows: 9, cols: 8 })).toThrow(/rows=9, cols=8.*dst holds 256 bytes, needs 288/);
    expect(() => copyColumns(gpu, { src: a, dst: b, rows: 4, cols: 4, dstStride: 3 })).toThrow(/destination rows overlap/);
    expect(() => copyColumns(gpu, { src: a, dst: b, batch: 2, rows: 2, cols: 4, dstBatchStride: 5 })).toThrow(/destination batches overlap/);
  });
});
