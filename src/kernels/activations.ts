// Elementwise activations, forward and backward (shaders/activations.wgsl).
//
// Every tensor is a row view: a (rows × cols) matrix whose element (r, j) sits at float
// r·stride + offset + j of its buffer (j fastest). The defaults (stride = cols, offset = 0) are a
// contiguous row-major tensor; a wider stride and an offset pick a column slice of a wider row,
// e.g. the z part of a fused in_proj output. Strides must be ≥ cols.
//
// Functions (x in, y out):
//   softplus     y = log(1 + eˣ), y = x above 20 (PyTorch's threshold);  y' = σ(x) (1 above 20)
//   negSoftplus  y = −softplus(x), the SSM log-decay a = −softplus(Â)
//   silu         y = x·σ(x)
//   sigmoid      y = σ(x)
//   geluTanh     y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))  (HF gelu_new / gelu_pytorch_tanh)
//   gelu         y = x·Φ(x) = ½x(1 + erf(x/√2)), erf from a fitted erfc (Φ within 9e-8 absolute)
// Backward passes write dx = f'(x)·dy, or add it to dx with `accumulate`. The gated MLP's
// act(gate)·up (swiglu: SwiGLU with silu, GeGLU with gelu or geluTanh) takes any of them.
import { Params, slice, type Bindable, type Gpu, type Op, linearGrid } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import activationsWgsl from '../../shaders/activations.wgsl?raw';

export type Unary = 'softplus' | 'negSoftplus' | 'silu' | 'sigmoid' | 'geluTanh' | 'gelu';

const KIND: Record<Unary, number> = { softplus: 0, negSoftplus: 1, silu: 2, sigmoid: 3, geluTanh: 4, gelu: 5 };

// The backward entries of the two-output ops come apart (dGate and dUp, or dy and dz, in their own
// buffers) and `_one` (both in one bound buffer: WebGPU forbids two writable bindings over the same
// bytes). The pairs differ only in their bindings, so each is stamped from one template; `p`
// prefixes an entry's binding names (every entry of a module needs its own) and names its uniform.
function swigluBwdEntry(entry: string, p: string, one: boolean): string {
  const [dg, du] = one ? [`${p}_d`, `${p}_d`] : [`${p}_dgate`, `${p}_dup`];
  return `${bindings([`${p}_gate: array<f32>`, `${p}_up: array<f32>`, `${p}_dout: array<f32>`], one ? [`${dg}: array<f32>`] : [`${dg}: array<f32>`, `${du}: array<f32>`], `${p}: SB`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= ${p}.n) { return; }
  let d = swiglu_grads(${p}_gate[at(e, ${p}.cols, ${p}.gs, ${p}.go)], ${p}_up[at(e, ${p}.cols, ${p}.gs, ${p}.uo)], ${p}_dout[at(e, ${p}.cols, ${p}.dos, ${p}.doo)]);
  let ig = at(e, ${p}.cols, ${p}.ds, ${p}.dgo);
  let iu = at(e, ${p}.cols, ${p}.ds, ${p}.duo);
  let acc = ${p}.acc == 1u;
  ${dg}[ig] = select(d.x, ${dg}[ig] + d.x, acc);
  ${du}[iu] = select(d.y, ${du}[iu] + d.y, acc);
}`;
}

function gatedBwdEntry(entry: string, p: string, one: boolean): string {
  const [dy, dz] = one ? [`${p}_d`, `${p}_d`] : [`${p}_dy`, `${p}_dz`];
  const writes = one ? [`${dy}: array<f32>`] : [`${dy}: array<f32>`, `${dz}: array<f32>`];
  return `${bindings([`${p}_y: array<f32>`, `${p}_z: array<f32>`, `${p}_bias: array<f32>`, `${p}_dout: array<f32>`], [...writes, `${p}_part: array<f32>`], `${p}: GB`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let c = gid.x;
  if (c >= ${p}.cols) { return; }
  var bias = 0.0;
  if (HAS_BIAS == 1u) { bias = ${p}_bias[c]; }
  let r0 = wg.y * ROWS;
  let r1 = min(r0 + ROWS, ${p}.rows);
  let acc = ${p}.acc == 1u;
  var sum = 0.0;
  for (var r = r0; r < r1; r++) {
    let z = ${p}_z[r * ${p}.zs + ${p}.zo + c] + bias;
    let d = gated_grads(${p}_y[r * ${p}.ys + ${p}.yo + c], z, ${p}_dout[r * ${p}.dos + ${p}.doo + c]);
    let iy = r * ${p}.dys + ${p}.dyo + c;
    let iz = r * ${p}.dzs + ${p}.dzo + c;
    ${dy}[iy] = select(d.x, ${dy}[iy] + d.x, acc);
    ${dz}[iz] = select(d.y, ${dz}[iz] + d.y, acc);
    sum = sum + d.y;
  }
  ${p}_part[wg.y * ${p}.cols + c] = sum;
}`;
}

const SHADER = shader('activations',
  activationsWgsl,
  bindings(['uf_x: array<f32>'], ['uf_y: array<f32>'], 'uf: UF'), // unary_fwd
  bindings(['ub_x: array<f32>', 'ub_dy: array<f32>'], ['ub_dx: array<f32>'], 'ub: UB'), // unary_bwd
  bindings(['sf_gate: array<f32>', 'sf_up: array<f32>'], ['sf_out: array<f32>'], 'sf: SF'), // swiglu_fwd
  bindings(['gf_y: array<f32>', 'gf_z: array<f32>', 'gf_bias: array<f32>'], ['gf_out: array<f32>'], 'gf: GF'), // gated_fwd
  bindings(['cs_part: array<f32>'], ['cs_out: array<f32>'], 'cs: CS'), // colsum
  swigluBwdEntry('swiglu_bwd', 'sb', false),
  swigluBwdEntry('swiglu_bwd_one', 'sb1', true),
  gatedBwdEntry('gated_bwd', 'gb', false),
  gatedBwdEntry('gated_bwd_one', 'gb1', true),
);
const WG = 256;
const ROWS = 32; // rows one gated_bwd invocation walks (bias-gradient partials per 32 rows)

export interface UnaryArgs {
  kind: Unary;
  x: Bindable;
  y: Bindable;
  /** Elements: rows·cols. */
  n: number;
  /** Row length of the views; default n (one row). */
  cols?: number;
  xStride?: number;
  xOffset?: number;
  yStride?: number;
  yOffset?: number;
}

export interface UnaryBackwardArgs {
  kind: Unary;
  x: Bindable;
  dy: Bindable;
  /** Written (or added to, with accumulate); must not share a buffer with x or dy. */
  dx: Bindable;
  n: number;
  cols?: number;
  accumulate?: boolean;
  xStride?: number;
  xOffset?: number;
  dyStride?: number;
  dyOffset?: number;
  dxStride?: number;
  dxOffset?: number;
}

/**
 * out = act(gate)·up over (rows × cols): SwiGLU with silu (the default), GeGLU with gelu or geluTanh;
 * gate and up share the row stride `stride` (default cols).
 */
export interface SwigluArgs {
  kind?: Unary;
  gate: Bindable;
  up: Bindable;
  out: Bindable;
  rows: number;
  cols: number;
  /** Row stride of gate and up: cols for separate buffers, 2·cols for [gate | up] halves of one row. */
  stride?: number;
  gateOffset?: number;
  /** For halves of one row pass the same buffer as gate and up, with upOffset = cols. */
  upOffset?: number;
  outStride?: number;
  outOffset?: number;
}

export interface SwigluBackwardArgs {
  /** The gate's activation, as in the forward. */
  kind?: Unary;
  gate: Bindable;
  up: Bindable;
  dOut: Bindable;
  /** dGate and dUp may be one buffer (halves of a row, like gate and up) with disjoint views. */
  dGate: Bindable;
  dUp: Bindable;
  rows: number;
  cols: number;
  stride?: number;
  gateOffset?: number;
  upOffset?: number;
  dOutStride?: number;
  dOutOffset?: number;
  /** Row stride of dGate and dUp (default cols). */
  dStride?: number;
  dGateOffset?: number;
  dUpOffset?: number;
  accumulate?: boolean;
}

/** out[r, c] = y[r, c]·silu(z[r, c] + zBias[c]) over (rows × channels); zBias (channels) is optional. */
export interface GatedSiluArgs {
  y: Bindable;
  z: Bindable;
  zBias?: Bindable;
  out: Bindable;
  rows: number;
  channels: number;
  yStride?: number;
  yOffset?: number;
  zStride?: number;
  zOffset?: number;
  outStride?: number;
  outOffset?: number;
}

export interface GatedSiluBackwardArgs {
  y: Bindable;
  z: Bindable;
  zBias?: Bindable;
  dOut: Bindable;
  /** dL/dy = dOut·silu(z + zBias). */
  dy: Bindable;
  /** dL/dz = dOut·y·silu'(z + zBias). dy and dz may be one buffer with disjoint views. */
  dz: Bindable;
  /** dL/dzBias (channels) = Σ_rows dz, summed in a fixed order; needs zBias. */
  dzBias?: Bindable;
  rows: number;
  channels: number;
  yStride?: number;
  yOffset?: number;
  zStride?: number;
  zOffset?: number;
  dOutStride?: number;
  dOutOffset?: number;
  dyStride?: number;
  dyOffset?: number;
  dzStride?: number;
  dzOffset?: number;
  /** Add into dy and dz instead of overwriting them. */
  accumulate?: boolean;
  /** Add into dzBias instead of overwriting it (gradient accumulation over micro-batches). */
  accumulateParams?: boolean;
}

interface Placed {
  name: string;
  b: Bindable;
  stride: number;
  offset: number;
  /** Rows of this view when not the op's (a per-channel bias is one row). */
  rows?: number;
}

/** Checks sizes and views, and that no output shares a buffer with an input or overlaps another output. */
function checkViews(fn: string, shape: string, rows: number, cols: number, reads: Placed[], writes: Placed[]): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new Error(`${fn} ${shape}: sizes must be positive integers`);
  }
  for (const v of [...reads, ...writes]) {
    if (!Number.isInteger(v.stride) || !Number.isInteger(v.offset) || v.stride < cols || v.offset < 0) {
      throw new Error(`${fn} ${shape}: ${v.name} view (stride ${v.stride}, offset ${v.offset}) needs integer stride ≥ cols and offset ≥ 0`);
    }
    const floats = ((v.rows ?? rows) - 1) * v.stride + v.offset + cols;
    if (floats > 0xffffffff) throw new Error(`${fn} ${shape}: ${v.name} spans more than 2^32 floats`);
    const bytes = slice(v.b).size;
    if (bytes < floats * 4) throw new Error(`${fn} ${shape}: ${v.name} holds ${bytes} bytes, needs ${floats * 4}`);
  }
  for (const w of writes) {
    for (const r of reads) {
      if (slice(w.b).buffer === slice(r.b).buffer) {
        throw new Error(`${fn} ${shape}: output ${w.name} shares a buffer with input ${r.name}`);
      }
    }
  }
  for (let i = 0; i < writes.length; i++) {
    for (let k = i + 1; k < writes.length; k++) {
      if (viewsOverlap(writes[i], writes[k], rows, cols)) {
        throw new Error(`${fn} ${shape}: outputs ${writes[i].name} and ${writes[k].name} overlap`);
      }
    }
  }
}

/** Whether two (rows × cols) views write any common float. */
function viewsOverlap(a: Placed, b: Placed, rows: number, cols: number): boolean {
  const sa = slice(a.b);
  const sb = slice(b.b);
  if (sa.buffer !== sb.buffer) return false;
  const baseA = sa.offset / 4 + a.offset;
  const baseB = sb.offset / 4 + b.offset;
  if (a.stride !== b.stride) {
    // Different strides: compare the spans, which is conservative.
    const endA = baseA + (rows - 1) * a.stride + cols;
    const endB = baseB + (rows - 1) * b.stride + cols;
    return baseA < endB && baseB < endA;
  }
  // Equal strides s: (rA − rB)·s + (jA − jB) = baseB − baseA must have a solution with
  // |rA − rB| < rows and |jA − jB| < cols; only the two row differences nearest d/s can work.
  const d = baseB - baseA;
  const s = a.stride;
  for (const k of [Math.floor(d / s), Math.ceil(d / s)]) {
    if (Math.abs(k) < rows && Math.abs(d - k * s) < cols) return true;
  }
  return false;
}

/**
 * One binding covering two outputs that are slices of the same buffer (WebGPU rejects two writable
 * bindings over common bytes), with each output's start in floats from the binding's start; null
 * when they live in different buffers.
 */
function joint(a: Bindable, b: Bindable): { bind: Bindable; shiftA: number; shiftB: number } | null {
  const sa = slice(a);
  const sb = slice(b);
  if (sa.buffer !== sb.buffer) return null;
  const start = Math.min(sa.offset, sb.offset);
  const end = Math.max(sa.offset + sa.size, sb.offset + sb.size);
  return { bind: { buffer: sa.buffer, offset: start, size: end - start }, shiftA: (sa.offset - start) / 4, shiftB: (sb.offset - start) / 4 };
}

/** The DENSE override: 1 when no view needs the row/column split (every stride equals cols). */
function dense(cols: number, views: Placed[]): number {
  return views.every((v) => v.stride === cols) ? 1 : 0;
}


function rowsOf(fn: string, n: number, cols: number | undefined): [number, number] {
  const c = cols ?? n;
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(c) || c < 1 || n % c !== 0) {
    throw new Error(`${fn} (n=${n}, cols=${c}): n must be a positive multiple of cols`);
  }
  return [n / c, c];
}

function kindOf(fn: string, kind: Unary): number {
  const k = KIND[kind];
  if (k === undefined) throw new Error(`${fn}: unknown activation "${kind}"`);
  return k;
}

export function unary(gpu: Gpu, a: UnaryArgs): Op[] {
  const fn = 'unary';
  const k = kindOf(fn, a.kind);
  const [rows, cols] = rowsOf(fn, a.n, a.cols);
  const shape = `${a.kind} (n=${a.n}, cols=${cols})`;
  const xv = { name: 'x', b: a.x, stride: a.xStride ?? cols, offset: a.xOffset ?? 0 };
  const yv = { name: 'y', b: a.y, stride: a.yStride ?? cols, offset: a.yOffset ?? 0 };
  checkViews(fn, shape, rows, cols, [xv], [yv]);
  const params = new Params().u32(a.n).u32(cols).u32(xv.stride).u32(xv.offset).u32(yv.stride).u32(yv.offset).build();
  return [
    gpu.op({
      ...SHADER,
      entry: 'unary_fwd',
      constants: { WG, KIND: k, DENSE: dense(cols, [xv, yv]) },
      reads: [a.x],
      writes: [a.y],
      params,
      workgroups: linearGrid(gpu, fn, Math.ceil(a.n / WG)),
      label: `${a.kind} ${a.n}`,
    }),
  ];
}

export function unaryBackward(gpu: Gpu, a: UnaryBackwardArgs): Op[] {
  const fn = 'unaryBackward';
  const k = kindOf(fn, a.kind);
  const [rows, cols] = rowsOf(fn, a.n, a.cols);
  const shape = `${a.kind} (n=${a.n}, cols=${cols})`;
  const xv = { name: 'x', b: a.x, stride: a.xStride ?? cols, offset: a.xOffset ?? 0 };
  const dyv = { name: 'dy', b: a.dy, stride: a.dyStride ?? cols, offset: a.dyOffset ?? 0 };
  const dxv = { name: 'dx', b: a.dx, stride: a.dxStride ?? cols, offset: a.dxOffset ?? 0 };
  checkViews(fn, shape, rows, cols, [xv, dyv], [dxv]);
  const params = new Params()
    .u32(a.n).u32(cols).u32(a.accumulate ? 1 : 0)
    .u32(xv.stride).u32(xv.offset).u32(dyv.stride).u32(dyv.offset).u32(dxv.stride).u32(dxv.offset)
    .build();
  return [
    gpu.op({
      ...SHADER,
      entry: 'unary_bwd',
      constants: { WG, KIND: k, DENSE: dense(cols, [xv, dyv, dxv]) },
      reads: [a.x, a.dy],
      writes: [a.dx],
      params,
      workgroups: linearGrid(gpu, fn, Math.ceil(a.n / WG)),
      label: `${a.kind} backward ${a.n}`,
    }),
  ];
}

export function swiglu(gpu: Gpu, a: SwigluArgs): Op[] {
  const fn = 'swiglu';
  const kind = a.kind ?? 'silu';
  const k = kindOf(fn, kind);
  const { rows, cols } = a;
  const shape = `(rows=${rows}, cols=${cols})`;
  const stride = a.stride ?? cols;
  const gv = { name: 'gate', b: a.gate, stride, offset: a.gateOffset ?? 0 };
  const uv = { name: 'up', b: a.up, stride, offset: a.upOffset ?? 0 };
  const ov = { name: 'out', b: a.out, stride: a.outStride ?? cols, offset: a.outOffset ?? 0 };
  checkViews(fn, shape, rows, cols, [gv, uv], [ov]);
  const n = rows * cols;
  const params = new Params().u32(n).u32(cols).u32(stride).u32(gv.offset).u32(uv.offset).u32(ov.stride).u32(ov.offset).build();
  return [
    gpu.op({
      ...SHADER,
      entry: 'swiglu_fwd',
      constants: { WG, KIND: k, DENSE: dense(cols, [gv, uv, ov]) },
      reads: [a.gate, a.up],
      writes: [a.out],
      params,
      workgroups: linearGrid(gpu, fn, Math.ceil(n / WG)),
      label: `${kind}-gated ${rows}x${cols}`,
    }),
  ];
}

export function swigluBackward(gpu: Gpu, a: SwigluBackwardArgs): Op[] {
  const fn = 'swigluBackward';
  const kind = a.kind ?? 'silu';
  const k = kindOf(fn, kind);
  const { rows, cols } = a;
  const shape = `(rows=${rows}, cols=${cols})`;
  const stride = a.stride ?? cols;
  const dStride = a.dStride ?? cols;
  const gv = { name: 'gate', b: a.gate, stride, offset: a.gateOffset ?? 0 };
  const uv = { name: 'up', b: a.up, stride, offset: a.upOffset ?? 0 };
  const dov = { name: 'dOut', b: a.dOut, stride: a.dOutStride ?? cols, offset: a.dOutOffset ?? 0 };
  const dgv = { name: 'dGate', b: a.dGate, stride: dStride, offset: a.dGateOffset ?? 0 };
  const duv = { name: 'dUp', b: a.dUp, stride: dStride, offset: a.dUpOffset ?? 0 };
  checkViews(fn, shape, rows, cols, [gv, uv, dov], [dgv, duv]);
  const n = rows * cols;
  const one = joint(a.dGate, a.dUp);
  const params = new Params()
    .u32(n).u32(cols).u32(a.accumulate ? 1 : 0)
    .u32(stride).u32(gv.offset).u32(uv.offset).u32(dov.stride).u32(dov.offset)
    .u32(dStride).u32(dgv.offset + (one?.shiftA ?? 0)).u32(duv.offset + (one?.shiftB ?? 0))
    .build();
  return [
    gpu.op({
      ...SHADER,
      entry: one ? 'swiglu_bwd_one' : 'swiglu_bwd',
      constants: { WG, KIND: k, DENSE: dense(cols, [gv, uv, dov, dgv, duv]) },
      reads: [a.gate, a.up, a.dOut],
      writes: one ? [one.bind] : [a.dGate, a.dUp],
      params,
      workgroups: linearGrid(gpu, fn, Math.ceil(n / WG)),
      label: `${kind}-gated backward ${rows}x${cols}`,
    }),
  ];
}

export function gatedSilu(gpu: Gpu, a: GatedSiluArgs): Op[] {
  const fn = 'gatedSilu';
  const { rows, channels: cols } = a;
  const shape = `(rows=${rows}, channels=${cols})`;
  const yv = { name: 'y', b: a.y, stride: a.yStride ?? cols, offset: a.yOffset ?? 0 };
  const zv = { name: 'z', b: a.z, stride: a.zStride ?? cols, offset: a.zOffset ?? 0 };
  const ov = { name: 'out', b: a.out, stride: a.outStride ?? cols, offset: a.outOffset ?? 0 };
  const reads: Placed[] = [yv, zv];
  if (a.zBias) reads.push({ name: 'zBias', b: a.zBias, stride: cols, offset: 0, rows: 1 });
  checkViews(fn, shape, rows, cols, reads, [ov]);
  const n = rows * cols;
  const params = new Params().u32(n).u32(cols).u32(yv.stride).u32(yv.offset).u32(zv.stride).u32(zv.offset).u32(ov.stride).u32(ov.offset).build();
  return [
    gpu.op({
      ...SHADER,
      entry: 'gated_fwd',
      constants: { WG, HAS_BIAS: a.zBias ? 1 : 0, DENSE: dense(cols, [yv, zv, ov]) },
      // Without a bias the shader never reads binding 2; z stands in for it.
      reads: [a.y, a.z, a.zBias ?? a.z],
      writes: [a.out],
      params,
      workgroups: linearGrid(gpu, fn, Math.ceil(n / WG)),
      label: `gated silu ${rows}x${cols}`,
    }),
  ];
}

export function gatedSiluBackward(gpu: Gpu, a: GatedSiluBackwardArgs): Op[] {
  const fn = 'gatedSiluBackward';
  const { rows, channels: cols } = a;
  const shape = `(rows=${rows}, channels=${cols})`;
  if (a.dzBias && !a.zBias) throw new Error(`${fn} ${shape}: dzBias needs zBias`);
  const yv = { name: 'y', b: a.y, stride: a.yStride ?? cols, offset: a.yOffset ?? 0 };
  const zv = { name: 'z', b: a.z, stride: a.zStride ?? cols, offset: a.zOffset ?? 0 };
  const dov = { name: 'dOut', b: a.dOut, stride: a.dOutStride ?? cols, offset: a.dOutOffset ?? 0 };
  const dyv = { name: 'dy', b: a.dy, stride: a.dyStride ?? cols, offset: a.dyOffset ?? 0 };
  const dzv = { name: 'dz', b: a.dz, stride: a.dzStride ?? cols, offset: a.dzOffset ?? 0 };
  const reads: Placed[] = [yv, zv, dov];
  if (a.zBias) reads.push({ name: 'zBias', b: a.zBias, stride: cols, offset: 0, rows: 1 });
  const writes = [dyv, dzv];
  checkViews(fn, shape, rows, cols, reads, writes);
  if (a.dzBias) {
    const db = slice(a.dzBias);
    if (db.size < cols * 4) throw new Error(`${fn} ${shape}: dzBias holds ${db.size} bytes, needs ${cols * 4}`);
    for (const v of [...reads, ...writes]) {
      if (slice(v.b).buffer === db.buffer) throw new Error(`${fn} ${shape}: dzBias shares a buffer with ${v.name}`);
    }
  }

  const blocks = Math.ceil(rows / ROWS);
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  if (blocks > maxWg) throw new Error(`${fn} ${shape}: ${blocks} row blocks exceed ${maxWg} workgroups`);
  // Per-block bias-gradient partials; written even without dzBias so the op has one shape.
  const part = gpu.buffer(blocks * cols * 4, 'gated silu bias partials');
  const one = joint(a.dy, a.dz);
  const params = new Params()
    .u32(rows).u32(cols).u32(a.accumulate ? 1 : 0)
    .u32(yv.stride).u32(yv.offset).u32(zv.stride).u32(zv.offset).u32(dov.stride).u32(dov.offset)
    .u32(dyv.stride).u32(dyv.offset + (one?.shiftA ?? 0)).u32(dzv.stride).u32(dzv.offset + (one?.shiftB ?? 0))
    .build();
  const CW = 64;
  const ops = [
    gpu.op({
      ...SHADER,
      entry: one ? 'gated_bwd_one' : 'gated_bwd',
      constants: { WG: CW, ROWS, HAS_BIAS: a.zBias ? 1 : 0 },
      reads: [a.y, a.z, a.zBias ?? a.z, a.dOut],
      writes: one ? [one.bind, part] : [a.dy, a.dz, part],
      params,
      workgroups: [Math.ceil(cols / CW), blocks],
      label: `gated silu backward ${rows}x${cols}`,
    }),
  ];
  if (a.dzBias) {
    ops.push(
      gpu.op({
        ...SHADER,
        entry: 'colsum',
        constants: { WG: CW },
        reads: [part],
        writes: [a.dzBias],
        params: new Params().u32(cols).u32(blocks).u32(a.accumulateParams ? 1 : 0).build(),
        workgroups: [Math.ceil(cols / CW)],
        label: `gated silu dzBias ${cols}`,
      }),
    );
  }
  return ops;
}
