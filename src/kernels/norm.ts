// RMSNorm and LayerNorm over the last dimension, forward and backward (shaders/norm.wgsl):
//   RMSNorm:   rstd = (mean(x²) + eps)^(−1/2),               y = x·rstd·w
//   LayerNorm: mean = mean(x), rstd = (var(x) + eps)^(−1/2),  y = (x − mean)·rstd·w + b
// (biased variance, as torch.nn.LayerNorm and Hugging Face's RMSNorm classes.)
//
// Layouts (row-major, element j of row r at r·d + j):
//   x, y, dy, dx  (rows, d)
//   w, b, dw, db  (d)
//   mean, rstd    (rows): saved by the forward pass for the backward pass
// Outputs never share a buffer with inputs (no in-place normalisation); outputs may be disjoint
// slices of one buffer. With `residual` the forward normalises x + residual.add and writes that sum
// to residual.sum in the same pass (the residual add before a block's second norm).
// Backward: dx overwritten, or added to with `accumulate`; dw and db (each optional) are summed
// over rows in a fixed order (partials over chunks of rows, then a sum over chunks), overwritten
// or, with `accumulateDw`, added to.
//
// Two forms: when d is a multiple of 4 (and at most 4·256·MAX_NV), the four-float row kernels of
// norm-rows.ts (a row read once into registers as vec4s, subgroup sums where the device has them,
// dx and the weight-gradient partials in one pass); otherwise the scalar kernels of norm.wgsl.
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader, wgsl } from '../gpu/wgsl';
import normWgsl from '../../shaders/norm.wgsl?raw';
import { MAX_NV, normRowsWgsl } from './norm-rows';

const SHADER = shader('norm',
  normWgsl,
  bindings(['rf_x: array<f32>', 'rf_w: array<f32>'], ['rf_y: array<f32>', 'rf_rstd: array<f32>'], 'rfu: U'), // rms_fwd
  bindings(['lf_x: array<f32>', 'lf_w: array<f32>', 'lf_b: array<f32>'], ['lf_y: array<f32>', 'lf_mean: array<f32>', 'lf_rstd: array<f32>'], 'lfu: U'), // ln_fwd
  bindings(['rd_x: array<f32>', 'rd_w: array<f32>', 'rd_rstd: array<f32>', 'rd_dy: array<f32>'], ['rd_dx: array<f32>'], 'rdu: U'), // rms_dx
  bindings(['ld_x: array<f32>', 'ld_w: array<f32>', 'ld_mean: array<f32>', 'ld_rstd: array<f32>', 'ld_dy: array<f32>'], ['ld_dx: array<f32>'], 'ldu: U'), // ln_dx
  bindings(['rp_x: array<f32>', 'rp_rstd: array<f32>', 'rp_dy: array<f32>'], ['rp_part: array<f32>'], 'rpu: U'), // rms_wpart
  bindings(['lp_x: array<f32>', 'lp_mean: array<f32>', 'lp_rstd: array<f32>', 'lp_dy: array<f32>'], ['lp_part: array<f32>'], 'lpu: U'), // ln_wpart
  bindings(['wf_part: array<f32>'], ['wf_out: array<f32>'], 'wfu: U'), // wgrad_final
  bindings(['wd_part: array<f32>'], ['wd_fold: array<f32>'], 'wdu: U'), // wgrad_fold
  bindings(['ra_x: array<f32>', 'ra_a: array<f32>', 'ra_w: array<f32>'], ['ra_y: array<f32>', 'ra_rstd: array<f32>', 'ra_h: array<f32>'], 'rau: U'), // rms_add_fwd
  bindings(['la_x: array<f32>', 'la_a: array<f32>', 'la_w: array<f32>', 'la_b: array<f32>'], ['la_y: array<f32>', 'la_mean: array<f32>', 'la_rstd: array<f32>', 'la_h: array<f32>'], 'lau: U'), // ln_add_fwd
);
const WCOLS = 64; // columns per workgroup in the weight-gradient passes

/** The module with the four-float row kernels for NV quads per invocation, with or without subgroups. */
const rowModules = new Map<string, { shader: string; code: string }>();
function rowsShader(nv: number, subgroups: boolean): { shader: string; code: string } {
  const key = `${nv}/${subgroups}`;
  let m = rowModules.get(key);
  if (!m) {
    // `enable` must open the module, ahead of norm.wgsl's declarations.
    m = { shader: 'norm', code: subgroups ? wgsl('enable subgroups;', SHADER.code, normRowsWgsl(nv, true)) : wgsl(SHADER.code, normRowsWgsl(nv, false)) };
    rowModules.set(key, m);
  }
  return m;
}

/** Workgroup size and quads per invocation of the four-float kernels for rows of d, or null for the scalar ones. */
interface RowPlan {
  wg: number;
  nv: number;
  subgroups: boolean;
}

function rowPlan(gpu: Gpu, d: number): RowPlan | null {
  const d4 = d / 4;
  if (d % 4 !== 0 || d4 > 256 * MAX_NV) return null;
  // About four quads (16 floats) per invocation: the whole row in flight with few threads to sum over.
  const wg = Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(d4 / 4)))));
  return { wg, nv: Math.ceil(d4 / wg), subgroups: gpu.info.subgroups };
}

/**
 * The four-float backward's weight-gradient partials and their folds, in two buffers per device
 * shared by every norm backward (as matmul-splitk.ts shares its scratch): ops run in queue order,
 * and each backward's sums have read its partials before the next backward writes them. Made
 * outside the runtime's pool and collections, counted in gpu.memory, grown by replacement; ops
 * built earlier keep the smaller buffer they were bound to.
 */
const partials = new WeakMap<Gpu, [GPUBuffer | null, GPUBuffer | null]>();
function sharedPartials(gpu: Gpu, which: 0 | 1, floats: number): Bindable {
  const bytes = Math.max(16, Math.ceil(floats / 4) * 16);
  const held = partials.get(gpu) ?? [null, null];
  let buf = held[which];
  if (!buf || buf.size < bytes) {
    buf = gpu.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: `norm weight ${which ? 'folds' : 'partials'}` });
    held[which] = buf;
    partials.set(gpu, held);
  }
  return { buffer: buf, offset: 0, size: bytes };
}

/** Rows a four-float backward workgroup walks: few enough for about a thousand workgroups, at most 16. */
function bwdChunk(rows: number): number {
  return Math.min(16, Math.max(4, Math.ceil(rows / 1024)));
}

/**
 * A residual add folded into the norm's pass: the norm's input is x + add (rows, d), which is also
 * written to `sum` (the residual stream going on), so h is read and written once instead of
 * written by an add and read back by the norm. `sum` is an output like y.
 */
export interface ResidualAdd {
  add: Bindable;
  sum: Bindable;
}

export interface RmsNormArgs {
  x: Bindable;
  w: Bindable;
  y: Bindable;
  rstd: Bindable;
  rows: number;
  d: number;
  eps: number;
  residual?: ResidualAdd;
}

export interface RmsNormBackwardArgs {
  x: Bindable;
  w: Bindable;
  rstd: Bindable;
  dy: Bindable;
  dx: Bindable;
  dw?: Bindable;
  rows: number;
  d: number;
  /** Add into dx instead of overwriting it. */
  accumulate?: boolean;
  /** Add into dw instead of overwriting it. */
  accumulateDw?: boolean;
}

export interface LayerNormArgs {
  x: Bindable;
  w: Bindable;
  b: Bindable;
  y: Bindable;
  mean: Bindable;
  rstd: Bindable;
  rows: number;
  d: number;
  eps: number;
  residual?: ResidualAdd;
}

export interface LayerNormBackwardArgs {
  x: Bindable;
  w: Bindable;
  mean: Bindable;
  rstd: Bindable;
  dy: Bindable;
  dx: Bindable;
  dw?: Bindable;
  db?: Bindable;
  rows: number;
  d: number;
  /** Add into dx instead of overwriting it. */
  accumulate?: boolean;
  /** Add into dw and db instead of overwriting them. */
  accumulateDw?: boolean;
}

interface Shape {
  rows: number;
  d: number;
}

type Named = [string, Bindable];

function check(gpu: Gpu, fn: string, s: Shape, eps?: number): string {
  const shape = `(rows=${s.rows}, d=${s.d}${eps === undefined ? '' : `, eps=${eps}`})`;
  if (!Number.isInteger(s.rows) || s.rows < 1 || !Number.isInteger(s.d) || s.d < 1) throw new Error(`${fn} ${shape}: rows and d must be positive integers`);
  if (s.rows * s.d >= 2 ** 32) throw new Error(`${fn} ${shape}: rows·d must stay below 2^32`);
  if (eps !== undefined && !(eps >= 0 && Number.isFinite(eps))) throw new Error(`${fn} ${shape}: eps must be finite and ≥ 0`);
  const max = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  if (Math.ceil(s.rows / max) > max) throw new Error(`${fn} ${shape}: too many rows for this adapter`);
  return shape;
}

function need(fn: string, shape: string, [name, b]: Named, floats: number): void {
  const bytes = slice(b).size;
  if (bytes < floats * 4) throw new Error(`${fn} ${shape}: ${name} holds ${bytes} bytes, needs ${floats * 4}`);
}

/** An output and the floats it is written over. */
type Out = [string, Bindable, number];

/** Outputs share no buffer with inputs and do not overlap each other (slices of one buffer are fine). */
function distinct(fn: string, shape: string, outs: Out[], ins: Named[]): void {
  outs.forEach(([o, ob, n], k) => {
    const x = slice(ob);
    for (const [i, ib] of ins) {
      if (slice(ib).buffer === x.buffer) throw new Error(`${fn} ${shape}: ${o} shares a buffer with ${i}`);
    }
    for (const [p, pb, m] of outs.slice(k + 1)) {
      const y = slice(pb);
      if (x.buffer === y.buffer && x.offset < y.offset + m * 4 && y.offset < x.offset + n * 4) throw new Error(`${fn} ${shape}: ${o} overlaps ${p}`);
    }
  });
}

/** A workgroup just wide enough for a row: 32 to 256 threads, about 8 elements each. */
function rowWg(d: number): number {
  return Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(d / 8)))));
}

/** One workgroup per row, spread over x and y. */
function rowGrid(gpu: Gpu, rows: number): [number, number] {
  const nx = Math.min(rows, gpu.info.limits.maxComputeWorkgroupsPerDimension);
  return [nx, Math.ceil(rows / nx)];
}

/** Rows per weight-gradient partial: about √rows, so both levels add about as many terms. */
function chunkRows(rows: number): number {
  return Math.max(8, Math.ceil(Math.sqrt(rows)));
}

function params(s: Shape, eps = 0, chunk = 1, stride = 0, colOff = 0, acc = false, group = 0): ArrayBuffer {
  return new Params().u32(s.rows).u32(s.d).f32(eps).u32(chunk).u32(stride).u32(colOff).u32(acc ? 1 : 0).u32(group).build();
}

/** Checks a residual add's tensors and lists them with the op's inputs and outputs. */
function residual(fn: string, shape: string, s: Shape, r: ResidualAdd | undefined, ins: Named[], outs: Out[]): ResidualAdd | undefined {
  if (!r) return undefined;
  need(fn, shape, ['residual.add', r.add], s.rows * s.d);
  ins.push(['residual.add', r.add]);
  outs.push(['residual.sum', r.sum, s.rows * s.d]);
  return r;
}

export function rmsNorm(gpu: Gpu, a: RmsNormArgs): Op[] {
  const fn = 'rmsNorm';
  const s: Shape = { rows: a.rows, d: a.d };
  const shape = check(gpu, fn, s, a.eps);
  const ins: Named[] = [['x', a.x], ['w', a.w]];
  const outs: Out[] = [['y', a.y, s.rows * s.d], ['rstd', a.rstd, s.rows]];
  need(fn, shape, ins[0], s.rows * s.d);
  need(fn, shape, ins[1], s.d);
  const r = residual(fn, shape, s, a.residual, ins, outs);
  for (const [n, b, f] of outs) need(fn, shape, [n, b], f);
  distinct(fn, shape, outs, ins);
  const plan = rowPlan(gpu, s.d);
  return [
    gpu.op({
      ...(plan ? rowsShader(plan.nv, plan.subgroups) : SHADER),
      entry: `rms_${r ? 'add_' : ''}fwd${plan ? '4' : ''}`,
      constants: { WG: plan ? plan.wg : rowWg(s.d) },
      reads: r ? [a.x, r.add, a.w] : [a.x, a.w],
      writes: r ? [a.y, a.rstd, r.sum] : [a.y, a.rstd],
      params: params(s, a.eps),
      workgroups: rowGrid(gpu, s.rows),
      label: `rmsNorm ${shape}`,
    }),
  ];
}

export function layerNorm(gpu: Gpu, a: LayerNormArgs): Op[] {
  const fn = 'layerNorm';
  const s: Shape = { rows: a.rows, d: a.d };
  const shape = check(gpu, fn, s, a.eps);
  const ins: Named[] = [['x', a.x], ['w', a.w], ['b', a.b]];
  const outs: Out[] = [['y', a.y, s.rows * s.d], ['mean', a.mean, s.rows], ['rstd', a.rstd, s.rows]];
  need(fn, shape, ins[0], s.rows * s.d);
  need(fn, shape, ins[1], s.d);
  need(fn, shape, ins[2], s.d);
  const r = residual(fn, shape, s, a.residual, ins, outs);
  for (const [n, b, f] of outs) need(fn, shape, [n, b], f);
  distinct(fn, shape, outs, ins);
  const plan = rowPlan(gpu, s.d);
  return [
    gpu.op({
      ...(plan ? rowsShader(plan.nv, plan.subgroups) : SHADER),
      entry: `ln_${r ? 'add_' : ''}fwd${plan ? '4' : ''}`,
      constants: { WG: plan ? plan.wg : rowWg(s.d) },
      reads: r ? [a.x, r.add, a.w, a.b] : [a.x, a.w, a.b],
      writes: r ? [a.y, a.mean, a.rstd, r.sum] : [a.y, a.mean, a.rstd],
      params: params(s, a.eps),
      workgroups: rowGrid(gpu, s.rows),
      label: `layerNorm ${shape}`,
    }),
  ];
}

/** The partials pass and one final pass per requested weight gradient. */
function weightGrads(gpu: Gpu, label: string, s: Shape, part: { entry: string; reads: Bindable[]; perChunk: number }, outs: [Bindable | undefined, number][], acc: boolean): Op[] {
  if (outs.every(([o]) => !o)) return [];
  const chunk = chunkRows(s.rows);
  const chunks = Math.ceil(s.rows / chunk);
  // Owned by these ops for as long as they are used.
  const buf = gpu.buffer(chunks * part.perChunk * 4, `${label} partials`);
  const cols = Math.ceil(s.d / WCOLS);
  const ops = [
    gpu.op({
      ...SHADER,
      entry: part.entry,
      constants: { WG: WCOLS },
      reads: part.reads,
      writes: [buf],
      params: params(s, 0, chunk, part.perChunk),
      workgroups: [cols, chunks],
      label: `${label} weight partials`,
    }),
  ];
  for (const [out, colOff] of outs) {
    if (!out) continue;
    ops.push(
      gpu.op({
        ...SHADER,
        entry: 'wgrad_final',
        constants: { WG: WCOLS },
        reads: [buf],
        writes: [out],
        params: params(s, 0, chunk, part.perChunk, colOff, acc),
        workgroups: [cols],
        label: `${label} weight sum`,
      }),
    );
  }
  return ops;
}

/**
 * The four-float backward: dx for every row and, when a weight gradient is asked for, per-chunk
 * partials (perChunk floats each), folded in groups when there are many, then summed per output.
 */
function rowsBackward(gpu: Gpu, label: string, s: Shape, plan: RowPlan, k: { entry: string; reads: Bindable[]; dx: Bindable; perChunk: number; acc: boolean }, outs: [Bindable | undefined, number][], accDw: boolean): Op[] {
  const rows = { ...rowsShader(plan.nv, plan.subgroups), constants: { WG: plan.wg } };
  if (outs.every(([o]) => !o)) {
    return [
      gpu.op({
        ...rows,
        entry: `${k.entry}_dx4`,
        reads: k.reads,
        writes: [k.dx],
        params: params(s, 0, 1, 0, 0, k.acc),
        workgroups: rowGrid(gpu, s.rows),
        label: `${label} dx`,
      }),
    ];
  }
  const chunk = bwdChunk(s.rows);
  const chunks = Math.ceil(s.rows / chunk);
  const part = sharedPartials(gpu, 0, chunks * k.perChunk);
  const ops = [
    gpu.op({
      ...rows,
      entry: `${k.entry}_bwd4`,
      reads: k.reads,
      writes: [k.dx, part],
      params: params(s, 0, chunk, 0, 0, k.acc),
      workgroups: rowGrid(gpu, chunks),
      label: `${label} dx and weight partials`,
    }),
  ];
  const cols = Math.ceil(k.perChunk / WCOLS);
  // wgrad_final sums `terms` partials of `sumRows` rows in chunks of `sumChunk`.
  let [terms, sumRows, sumChunk]: [Bindable, number, number] = [part, s.rows, chunk];
  if (chunks > 16) {
    // One thread per column would add ~1000 partials in a row; fold groups of about √chunks first.
    const group = Math.ceil(Math.sqrt(chunks));
    const folds = Math.ceil(chunks / group);
    const fold = sharedPartials(gpu, 1, folds * k.perChunk);
    ops.push(
      gpu.op({
        ...SHADER,
        entry: 'wgrad_fold',
        constants: { WG: WCOLS },
        reads: [part],
        writes: [fold],
        params: params(s, 0, chunk, k.perChunk, 0, false, group),
        workgroups: [cols, folds],
        label: `${label} weight partials folded`,
      }),
    );
    [terms, sumRows, sumChunk] = [fold, folds, 1];
  }
  for (const [out, colOff] of outs) {
    if (!out) continue;
    ops.push(
      gpu.op({
        ...SHADER,
        entry: 'wgrad_final',
        constants: { WG: WCOLS },
        reads: [terms],
        writes: [out],
        params: params({ rows: sumRows, d: s.d }, 0, sumChunk, k.perChunk, colOff, accDw),
        workgroups: [Math.ceil(s.d / WCOLS)],
        label: `${label} weight sum`,
      }),
    );
  }
  return ops;
}

export function rmsNormBackward(gpu: Gpu, a: RmsNormBackwardArgs): Op[] {
  const fn = 'rmsNormBackward';
  const s: Shape = { rows: a.rows, d: a.d };
  const shape = check(gpu, fn, s);
  const ins: Named[] = [['x', a.x], ['w', a.w], ['rstd', a.rstd], ['dy', a.dy]];
  const outs: Out[] = [['dx', a.dx, s.rows * s.d]];
  if (a.dw) outs.push(['dw', a.dw, s.d]);
  need(fn, shape, ins[0], s.rows * s.d);
  need(fn, shape, ins[1], s.d);
  need(fn, shape, ins[2], s.rows);
  need(fn, shape, ins[3], s.rows * s.d);
  for (const [n, b, f] of outs) need(fn, shape, [n, b], f);
  distinct(fn, shape, outs, ins);
  const label = `rmsNormBackward ${shape}`;
  const plan = rowPlan(gpu, s.d);
  if (plan) {
    const k = { entry: 'rms', reads: [a.x, a.w, a.rstd, a.dy], dx: a.dx, perChunk: s.d, acc: a.accumulate ?? false };
    return rowsBackward(gpu, label, s, plan, k, [[a.dw, 0]], a.accumulateDw ?? false);
  }
  return [
    ...weightGrads(gpu, label, s, { entry: 'rms_wpart', reads: [a.x, a.rstd, a.dy], perChunk: s.d }, [[a.dw, 0]], a.accumulateDw ?? false),
    gpu.op({
      ...SHADER,
      entry: 'rms_dx',
      constants: { WG: rowWg(s.d) },
      reads: [a.x, a.w, a.rstd, a.dy],
      writes: [a.dx],
      params: params(s, 0, 1, 0, 0, a.accumulate),
      workgroups: rowGrid(gpu, s.rows),
      label: `${label} dx`,
    }),
  ];
}

export function layerNormBackward(gpu: Gpu, a: LayerNormBackwardArgs): Op[] {
  const fn = 'layerNormBackward';
  const s: Shape = { rows: a.rows, d: a.d };
  const shape = check(gpu, fn, s);
  const ins: Named[] = [['x', a.x], ['w', a.w], ['mean', a.mean], ['rstd', a.rstd], ['dy', a.dy]];
  const outs: Out[] = [['dx', a.dx, s.rows * s.d]];
  if (a.dw) outs.push(['dw', a.dw, s.d]);
  if (a.db) outs.push(['db', a.db, s.d]);
  need(fn, shape, ins[0], s.rows * s.d);
  need(fn, shape, ins[1], s.d);
  need(fn, shape, ins[2], s.rows);
  need(fn, shape, ins[3], s.rows);
  need(fn, shape, ins[4], s.rows * s.d);
  for (const [n, b, f] of outs) need(fn, shape, [n, b], f);
  distinct(fn, shape, outs, ins);
  const label = `layerNormBackward ${shape}`;
  const plan = rowPlan(gpu, s.d);
  if (plan) {
    const k = { entry: 'ln', reads: [a.x, a.w, a.mean, a.rstd, a.dy], dx: a.dx, perChunk: 2 * s.d, acc: a.accumulate ?? false };
    return rowsBackward(gpu, label, s, plan, k, [[a.dw, 0], [a.db, s.d]], a.accumulateDw ?? false);
  }
  return [
    ...weightGrads(gpu, label, s, { entry: 'ln_wpart', reads: [a.x, a.mean, a.rstd, a.dy], perChunk: 2 * s.d }, [[a.dw, 0], [a.db, s.d]], a.accumulateDw ?? false),
    gpu.op({
      ...SHADER,
      entry: 'ln_dx',
      constants: { WG: rowWg(s.d) },
      reads: [a.x, a.w, a.mean, a.rstd, a.dy],
      writes: [a.dx],
      params: params(s, 0, 1, 0, 0, a.accumulate),
      workgroups: rowGrid(gpu, s.rows),
      label: `${label} dx`,
    }),
  ];
}
