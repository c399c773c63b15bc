// float64 reference for src/kernels/columns.ts (same layouts and defaults):
//   dst[b·dstBatchStride + r·dstStride + dstOffset + j]  (+)=  src[b·srcBatchStride + r·srcStride + srcOffset + j]
import { columnsLayout, type CopyColumnsArgs } from '../kernels/columns';

/** dst after the copy (a new array; dst itself is left as it was). */
export function copyColumnsRef(src: Float64Array, dst: Float64Array, a: Omit<CopyColumnsArgs, 'src' | 'dst'>): Float64Array {
  const l = columnsLayout(a);
  const out = Float64Array.from(dst);
  for (let b = 0; b < l.batch; b++) {
    for (let r = 0; r < l.rows; r++) {
      for (let j = 0; j < l.cols; j++) {
        const o = b * l.dstBatchStride + r * l.dstStride + l.dstOffset + j;
        const v = src[b * l.srcBatchStride + r * l.srcStride + l.srcOffset + j];
        out[o] = a.accumulate ? out[o] + v : v;
      }
    }
  }
  return out;
}
