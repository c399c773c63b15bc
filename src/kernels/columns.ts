// Strided block copy (shaders/columns.wgsl): for b < batch, r < rows, j < cols
//   dst[b·dstBatchStride + r·dstStride + dstOffset + j]  (+)=  src[b·srcBatchStride + r·srcStride + srcOffset + j]
// Every offset and stride is in floats, so a column slice of a fused row (the B part of [x | B | C],
// the rows of one part of a weight) is reached without a binding at a misaligned byte offset.
// Defaults: strides = cols (contiguous rows), offsets 0, batch 1, batch strides = rows·stride. Source
// strides may be 0 (one row or block repeated); destination rows and batches must not overlap.
// With `accumulate` the block is added to dst. src and dst must be different buffers.
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import columnsWgsl from '../../shaders/columns.wgsl?raw';

const SHADER = shader('columns',
  columnsWgsl,
  bindings(['src: array<f32>'], ['dst: array<f32>'], 'u: U'), // main
);
const WG = 256;

export interface CopyColumnsArgs {
  src: Bindable;
  dst: Bindable;
  rows: number;
  cols: number;
  batch?: number;
  srcStride?: number;
  srcOffset?: number;
  srcBatchStride?: number;
  dstStride?: number;
  dstOffset?: number;
  dstBatchStride?: number;
  accumulate?: boolean;
}

/** The resolved strides and offsets of a copy (the reference uses the same defaults). */
export interface ColumnsLayout {
  rows: number;
  cols: number;
  batch: number;
  srcStride: number;
  srcOffset: number;
  srcBatchStride: number;
  dstStride: number;
  dstOffset: number;
  dstBatchStride: number;
}

export function columnsLayout(a: Omit<CopyColumnsArgs, 'src' | 'dst' | 'accumulate'>): ColumnsLayout {
  const srcStride = a.srcStride ?? a.cols;
  const dstStride = a.dstStride ?? a.cols;
  return {
    rows: a.rows,
    cols: a.cols,
    batch: a.batch ?? 1,
    srcStride,
    srcOffset: a.srcOffset ?? 0,
    srcBatchStride: a.srcBatchStride ?? a.rows * srcStride,
    dstStride,
    dstOffset: a.dstOffset ?? 0,
    dstBatchStride: a.dstBatchStride ?? a.rows * dstStride,
  };
}

/** Floats a view spans from its buffer's start: the last element's index + 1. */
function span(batch: number, rows: number, cols: number, bStride: number, rStride: number, offset: number): number {
  return (batch - 1) * bStride + (rows - 1) * rStride + offset + cols;
}

export function copyColumns(gpu: Gpu, a: CopyColumnsArgs): Op[] {
  const l = columnsLayout(a);
  const shape = `(batch=${l.batch}, rows=${l.rows}, cols=${l.cols}; src ${l.srcBatchStride}/${l.srcStride}/+${l.srcOffset}, dst ${l.dstBatchStride}/${l.dstStride}/+${l.dstOffset})`;
  for (const v of [l.rows, l.cols, l.batch]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`copyColumns ${shape}: sizes must be positive integers`);
  }
  for (const v of [l.srcStride, l.srcOffset, l.srcBatchStride, l.dstStride, l.dstOffset, l.dstBatchStride]) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`copyColumns ${shape}: strides and offsets must be non-negative integers`);
  }
  if (l.rows > 1 && l.dstStride < l.cols) throw new Error(`copyColumns ${shape}: destination rows overlap (stride < cols)`);
  const block = (l.rows - 1) * l.dstStride + l.cols;
  if (l.batch > 1 && l.dstBatchStride < block) throw new Error(`copyColumns ${shape}: destination batches overlap`);
  const srcSpan = span(l.batch, l.rows, l.cols, l.srcBatchStride, l.srcStride, l.srcOffset);
  const dstSpan = span(l.batch, l.rows, l.cols, l.dstBatchStride, l.dstStride, l.dstOffset);
  if (Math.max(srcSpan, dstSpan, l.rows * l.cols) > 0xffffffff) throw new Error(`copyColumns ${shape}: views span more than 2^32 floats`);
  const s = slice(a.src);
  const d = slice(a.dst);
  if (s.size < srcSpan * 4) throw new Error(`copyColumns ${shape}: src holds ${s.size} bytes, needs ${srcSpan * 4}`);
  if (d.size < dstSpan * 4) throw new Error(`copyColumns ${shape}: dst holds ${d.size} bytes, needs ${dstSpan * 4}`);
  if (s.buffer === d.buffer) throw new Error(`copyColumns ${shape}: src and dst share a buffer`);

  const count = l.rows * l.cols;
  const groups = Math.ceil(count / WG);
  const max = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  const nx = Math.min(groups, max);
  const ny = Math.ceil(groups / nx);
  if (ny > max || l.batch > max) throw new Error(`copyColumns ${shape}: too many workgroups (limit ${max} per dimension)`);
  const params = new Params()
    .u32(l.rows).u32(l.cols).u32(count)
    .u32(l.srcStride).u32(l.srcBatchStride).u32(l.srcOffset)
    .u32(l.dstStride).u32(l.dstBatchStride).u32(l.dstOffset)
    .u32(a.accumulate ? 1 : 0)
    .build();
  return [
    gpu.op({
      ...SHADER,
      constants: { WG },
      reads: [a.src],
      writes: [a.dst],
      params,
      workgroups: [nx, ny, l.batch],
      label: `columns ${l.batch}x${l.rows}x${l.cols}${a.accumulate ? ' add' : ''}`,
    }),
  ];
}
