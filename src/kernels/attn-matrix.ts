// The teacher's causal softmax attention matrices (forward only), one row range at a time so that
// long sequences fit the binding limits:
//   A[b, h, i − row0, j] = softmax_{j ≤ i}(scale·Q[b, i, h]·K[b, j, h / (hq/hkv)])   for j ≤ i, 0 for j > i
// With a sliding window W (Mistral) the softmax runs over i − W < j ≤ i and the rest is 0.
//
// Layouts (row-major, last index fastest):
//   q   (batch, L, hq, d)    rotary already applied
//   k   (batch, L, hkv, d)   hq a multiple of hkv (grouped-query attention)
//   out (batch, hq, rows, L) row r holds query position row0 + r
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import attnMatrixWgsl from '../../shaders/attn_matrix.wgsl?raw';

const SHADER = shader('attn_matrix',
  attnMatrixWgsl,
  bindings(['q: array<f32>', 'k: array<f32>'], ['A: array<f32>'], 'u: U'), // main
);

const TILE = 64; // rows per workgroup; keep in step with the shader

export interface AttnMatrixArgs {
  q: Bindable;
  k: Bindable;
  out: Bindable;
  batch: number;
  L: number;
  hq: number;
  hkv: number;
  d: number;
  /** First query row written (default 0). */
  row0?: number;
  /** Number of query rows written (default L − row0). */
  rows?: number;
  /** Default 1/√d. */
  scale?: number;
  /** Sliding window: query i sees keys i − window < j ≤ i. */
  window?: number;
}

export function attnMatrix(gpu: Gpu, args: AttnMatrixArgs): Op[] {
  const { batch, L, hq, hkv, d } = args;
  const row0 = args.row0 ?? 0;
  const rows = args.rows ?? L - row0;
  const scale = args.scale ?? 1 / Math.sqrt(d);
  const shape = `(batch=${batch}, L=${L}, hq=${hq}, hkv=${hkv}, d=${d}, row0=${row0}, rows=${rows})`;
  for (const v of [batch, L, hq, hkv, d, rows]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`attnMatrix ${shape}: sizes must be positive integers`);
  }
  if (!Number.isInteger(row0) || row0 < 0 || row0 + rows > L) throw new Error(`attnMatrix ${shape}: rows outside [0, L)`);
  if (hq % hkv !== 0) throw new Error(`attnMatrix ${shape}: hq must be a multiple of hkv`);
  if (!Number.isFinite(scale)) throw new Error(`attnMatrix ${shape}: scale ${scale}`);
  const win = args.window ?? L;
  if (!Number.isInteger(win) || win < 1) throw new Error(`attnMatrix ${shape}: window ${args.window} must be a positive integer`);
  const need = (name: string, b: Bindable, floats: number) => {
    const bytes = slice(b).size;
    if (bytes < floats * 4) throw new Error(`attnMatrix ${shape}: ${name} holds ${bytes} bytes, needs ${floats * 4}`);
  };
  need('q', args.q, batch * L * hq * d);
  need('k', args.k, batch * L * hkv * d);
  need('out', args.out, batch * hq * rows * L);
  if (batch * hq * rows * L > 0xffffffff) throw new Error(`attnMatrix ${shape}: output exceeds 2^32 elements`);

  const params = new Params().u32(L).u32(hq).u32(hkv).u32(d).u32(row0).u32(rows).u32(hq / hkv).f32(scale).u32(Math.min(win, L)).build();
  return [
    gpu.op({
      ...SHADER,
      reads: [args.q, args.k],
      writes: [args.out],
      params,
      workgroups: [Math.ceil(rows / TILE), hq, batch],
    }),
  ];
}
