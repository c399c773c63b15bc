// Row reductions: out[r] = reduce(x[r·n .. r·n + n)) for r < rows.
//
// Layouts: x is rows×n row-major (element j of row r at r·n + j); out holds rows floats; the
// optional mask is laid out like x and multiplies it elementwise before reducing (0 leaves an
// element out of sums and norms; under 'max' a masked element counts as 0).
// kinds: sum Σx, mean Σx/n, max, sumsq Σx², norm √Σx².
//
// Two levels: chunks of WG·ITEMS elements per workgroup into a partials buffer (rows × parts),
// then one workgroup per row over its partials. A row that fits one chunk takes one pass.
import { Params, slice, type Bindable, type Gpu, type Op, linearGrid } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import reduceWgsl from '../../shaders/reduce.wgsl?raw';

// chunks and chunks_masked differ only in the mask binding and the factor it puts on each element.
function chunksEntry(entry: string, p: string, masked: boolean): string {
  const item = masked ? `${p}_x[base + e] * ${p}_mask[base + e]` : `${p}_x[base + e]`;
  return `${bindings([`${p}_x: array<f32>`, ...(masked ? [`${p}_mask: array<f32>`] : [])], [`${p}_dst: array<f32>`], `${p}: P`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(local_invocation_index) i: u32, @builtin(workgroup_id) wg: vec3u) {
  let w = wg.y * ${p}.nx + wg.x;
  if (w >= ${p}.groups) { return; }
  let start = (w % ${p}.parts) * WG * ITEMS;
  let end = min(start + WG * ITEMS, ${p}.n);
  let base = (w / ${p}.parts) * ${p}.n;
  var acc = ${p}.identity;
  for (var e = start + i; e < end; e += WG) { acc = comb(acc, lift(${item})); }
  let r = tree(i, acc);
  if (i == 0u) { ${p}_dst[w] = finish(r, ${p}.n); }
}`;
}

const SHADER = shader('reduce',
  reduceWgsl,
  chunksEntry('chunks', 'c', false),
  chunksEntry('chunks_masked', 'cm', true),
  bindings(['x: array<f32>'], ['dst: array<f32>'], 'p: P'), // rows: the partials as x, the result as dst
);

export type ReduceKind = 'sum' | 'mean' | 'max' | 'sumsq' | 'norm';

export interface ReduceArgs {
  x: Bindable;
  n: number;
  out: Bindable;
  kind: ReduceKind;
  /** Default 1. */
  rows?: number;
  /** Optional, laid out like x: reduces x·mask. */
  mask?: Bindable;
}

const WG = 256;
const ITEMS = 16;
const CHUNK = WG * ITEMS;

const KIND = { sum: 0, mean: 0, max: 1, sumsq: 2, norm: 2 } as const;
const FINAL = { sum: 0, mean: 1, max: 0, sumsq: 0, norm: 2 } as const;

export function reduce(gpu: Gpu, args: ReduceArgs): Op[] {
  const { x, n, out, kind, mask } = args;
  const rows = args.rows ?? 1;
  const shape = `n=${n} rows=${rows} kind=${kind}`;
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(rows) || rows < 1) {
    throw new Error(`reduce: n and rows must be positive integers (${shape})`);
  }
  if (!(kind in KIND)) throw new Error(`reduce: unknown kind (${shape})`);
  const floats = (b: Bindable) => slice(b).size / 4;
  if (floats(x) < rows * n) throw new Error(`reduce: x holds ${floats(x)} floats, needs ${rows * n} (${shape})`);
  if (mask && floats(mask) < rows * n) throw new Error(`reduce: mask holds ${floats(mask)} floats, needs ${rows * n} (${shape})`);
  if (floats(out) < rows) throw new Error(`reduce: out holds ${floats(out)} floats, needs ${rows} (${shape})`);
  if (rows * n >= 2 ** 32) throw new Error(`reduce: rows·n must stay below 2³² (${shape})`);

  const parts = Math.ceil(n / CHUNK);
  const identity = kind === 'max' ? -Infinity : 0;
  // A row of one chunk gets a workgroup just large enough for it (many short rows).
  const wg = parts === 1 ? Math.min(WG, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(n / ITEMS))))) : WG;
  const constants = { WG: wg, ITEMS, KIND: KIND[kind] };
  const params = (groups: number, nx: number) => new Params().u32(n).u32(parts).u32(groups).u32(nx).f32(identity).build();
  const first = (dst: Bindable, FIN: number): Op => {
    const [nx, ny] = linearGrid(gpu, 'reduce', rows * parts);
    return gpu.op({
      ...SHADER,
      entry: mask ? 'chunks_masked' : 'chunks',
      constants: { ...constants, FINAL: FIN },
      reads: mask ? [x, mask] : [x],
      writes: [dst],
      params: params(rows * parts, nx),
      workgroups: [nx, ny],
      label: `reduce ${kind} ${rows}x${n}${parts > 1 ? ' chunks' : ''}`,
    });
  };
  if (parts === 1) return [first(out, FINAL[kind])];

  // The partials buffer belongs to these ops for as long as they are used.
  const partials = gpu.buffer(rows * parts * 4, 'reduce partials');
  const [nx, ny] = linearGrid(gpu, 'reduce', rows);
  return [
    first(partials, 0),
    gpu.op({
      ...SHADER,
      entry: 'rows',
      constants: { WG, ITEMS, KIND: KIND[kind], FINAL: FINAL[kind] },
      reads: [partials],
      writes: [out],
      params: params(rows, nx),
      workgroups: [nx, ny],
      label: `reduce ${kind} ${rows}x${n} rows`,
    }),
  ];
}
