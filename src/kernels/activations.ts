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
// bytes), each in a scalar form and a four-float form (`4`, see shaders/activations.wgsl). They differ
// only in their bindings and element type, so each is stamped from one template; `p` prefixes an
// entry's binding names (every entry of a module needs its own) and names its uniform.

/** `dst[i] (+)= v`: a branch on the uniform flag, so that an overwrite never reads dst. */
function store(dst: string, i: string, v: string, acc: string): string {
  return `if (${acc}) { ${dst}[${i}] = ${dst}[${i}] + ${v}; } else { ${dst}[${i}] = ${v}; }`;
}

function swigluBwdEntry(entry: string, p: string, one: boolean, v4: boolean): string {
  const [dg, du] = one ? [`${p}_d`, `${p}_d`] : [`${p}_dgate`, `${p}_dup`];
  const T = v4 ? 'array<vec4f>' : 'array<f32>';
  const decl = bindings([`${p}_gate: ${T}`, `${p}_up: ${T}`, `${p}_dout: ${T}`], one ? [`${dg}: ${T}`] : [`${dg}: ${T}`, `${du}: ${T}`], `${p}: SB`);
  const head = `@compute @workgroup_size(WG)
fn ${entry}(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {`;
  if (!v4) {
    return `${decl}

${head}
  let e = linear_id(wg, nwg, li);
  if (e >= ${p}.n) { return; }
  let d = swiglu_grads(${p}_gate[at(e, ${p}.cols, ${p}.gs, ${p}.go)], ${p}_up[at(e, ${p}.cols, ${p}.gs, ${p}.uo)], ${p}_dout[at(e, ${p}.cols, ${p}.dos, ${p}.doo)]);
  let ig = at(e, ${p}.cols, ${p}.ds, ${p}.dgo);
  let iu = at(e, ${p}.cols, ${p}.ds, ${p}.duo);
  let acc = ${p}.acc == 1u;
  ${store(dg, 'ig', 'd.x', 'acc')}
  ${store(du, 'iu', 'd.y', 'acc')}
}`;
  }
  const grads = (q: string) =>
    `swiglu_grads4(${p}_gate[at4(${q}, ${p}.cols, ${p}.gs, ${p}.go)], ${p}_up[at4(${q}, ${p}.cols, ${p}.gs, ${p}.uo)], ${p}_dout[at4(${q}, ${p}.cols, ${p}.dos, ${p}.doo)])`;
  const put = (q: string, d: string) => `${store(dg, `at4(${q}, ${p}.cols, ${p}.ds, ${p}.dgo)`, `${d}[0]`, 'acc')}
    ${store(du, `at4(${q}, ${p}.cols, ${p}.ds, ${p}.duo)`, `${d}[1]`, 'acc')}`;
  return `${decl}

${head}
  let q0 = quad_id(wg, nwg, li);
  let q1 = q0 + WG;
  let acc = ${p}.acc == 1u;
  if (q1 < ${p}.n) {
    let d0 = ${grads('q0')};
    let d1 = ${grads('q1')};
    ${put('q0', 'd0')}
    ${put('q1', 'd1')}
  } else if (q0 < ${p}.n) {
    let d0 = ${grads('q0')};
    ${put('q0', 'd0')}
  }
}`;
}

function gatedBwdEntry(entry: string, p: string, one: boolean, v4: boolean): string {
  const [dy, dz] = one ? [`${p}_d`, `${p}_d`] : [`${p}_dy`, `${p}_dz`];
  const T = v4 ? 'array<vec4f>' : 'array<f32>';
  const writes = one ? [`${dy}: ${T}`] : [`${dy}: ${T}`, `${dz}: ${T}`];
  const [V, zero, grads, gx, gy] = v4 ? ['vec4f', 'vec4f(0.0)', 'gated_grads4', 'd[0]', 'd[1]'] : ['f32', '0.0', 'gated_grads', 'd.x', 'd.y'];
  return `${bindings([`${p}_y: ${T}`, `${p}_z: ${T}`, `${p}_bias: ${T}`, `${p}_dout: ${T}`], [...writes, `${p}_part: ${T}`], `${p}: GB`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let c = gid.x;
  if (c >= ${p}.cols) { return; }
  var bias: ${V} = ${zero};
  if (HAS_BIAS == 1u) { bias = ${p}_bias[c]; }
  let r0 = wg.y * ROWS;
  let r1 = min(r0 + ROWS, ${p}.rows);
  let acc = ${p}.acc == 1u;
  var sum: ${V} = ${zero};
  for (var r = r0; r < r1; r++) {
    let z = ${p}_z[r * ${p}.zs + ${p}.zo + c] + bias;
    let d = ${grads}(${p}_y[r * ${p}.ys + ${p}.yo + c], z, ${p}_dout[r * ${p}.dos + ${p}.doo + c]);
    let iy = r * ${p}.dys + ${p}.dyo + c;
    let iz = r * ${p}.dzs + ${p}.dzo + c;
    ${store(dy, 'iy', gx, 'acc')}
    ${store(dz, 'iz', gy, 'acc')}
    sum = sum + ${gy};
  }
  ${p}_part[wg.y * ${p}.cols + c] = sum;
}`;
}

const SHADER = shader('activations',
  activationsWgsl,
  bindings(['uf_x: array<f32>'], ['uf_y: array<f32>'], 'uf: UF'), // unary_fwd
  bindings(['uf4_x: array<vec4f>'], ['uf4_y: array<vec4f>'], 'uf4: UF'), // unary_fwd4
  bindings(['ub_x: array<f32>', 'ub_dy: array<f32>'], ['ub_dx: array<f32>'], 'ub: UB'), // unary_bwd
  bindings(['ub4_x: array<vec4f>', 'ub4_dy: array<vec4f>'], ['ub4_dx: array<vec4f>'], 'ub4: UB'), // unary_bwd4
  bindings(['sf_gate: array<f32>', 'sf_up: array<f32>'], ['sf_out: array<f32>'], 'sf: SF'), // swiglu_fwd
  bindings(['sf4_gate: array<vec4f>', 'sf4_up: array<vec4f>'], ['sf4_out: array<vec4f>'], 'sf4: SF'), // swiglu_fwd4
  bindings(['gf_y: array<f32>', 'gf_z: array<f32>', 'gf_bias: array<f32>'], ['gf_out: array<f32>'], 'gf: GF'), // gated_fwd
  bindings(['gf4_y: array<vec4f>', 'gf4_z: array<vec4f>', 'gf4_bias: array<vec4f>'], ['gf4_out: array<vec4f>'], 'gf4: GF'), // gated_fwd4
  bindings(['cs_part: array<f32>'], ['cs_out: array<f32>'], 'cs: CS'), // colsum
  swigluBwdEntry('swiglu_bwd', 'sb', false, false),
  swigluBwdEntry('swiglu_bwd_one', 'sb1', true, false),
  swigluBwdEntry('swiglu_bwd4', 'sb4', false, true),
  swigluBwdEntry('swiglu_bwd4_one', 'sb41', true, true),
  gatedBwdEntry('gated_bwd', 'gb', false, false),
  gatedBwdEntry('gated_bwd_one', 'gb1', true, false),
  gatedBwdEntry('gated_bwd4', 'gb4', false, true),
  gatedBwdEntry('gated_bwd4_one', 'gb41', true, true),
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

/** How an op's four-float entry covers it: quads of the views, and the floats left to the scalar entry. */
interface Quads {
  n4: number;
  cols4: number;
  dense: number;
  /** Floats after the last quad of a flat view (0 to 3), done by the scalar entry from E0 = 4·n4. */
  tail: number;
}

/**
 * The four-float form of an op when its views allow it: every row starts on a 16-byte boundary
 * (cols, strides and offsets multiples of 4), or, with `flat`, the views are contiguous (stride =
 * cols) and start on one, so the tensor is one run of n floats, n4 = ⌊n/4⌋ quads and a short tail.
 * Offsets are in floats from the bound slice, whose own offset WebGPU aligns to at least 32 bytes.
 * Null when neither holds: the scalar entry takes every float.
 */
function quads(rows: number, cols: number, views: Placed[], flat: boolean): Quads | null {
  const aligned = views.every((v) => v.offset % 4 === 0);
  if (aligned && cols % 4 === 0 && views.every((v) => v.stride % 4 === 0)) {
    return { n4: (rows * cols) / 4, cols4: cols / 4, dense: dense(cols, views), tail: 0 };
  }
  const n = rows * cols;
  if (flat && aligned && dense(cols, views) === 1 && n >= 4) {
    const n4 = Math.floor(n / 4);
    return { n4, cols4: n4, dense: 1, tail: n - 4 * n4 };
  }
  return null;
}

interface Elementwise {
  fn: string;
  /** The scalar entry; `entry4` is its four-float form. */
  entry: string;
  entry4: string;
  rows: number;
  cols: number;
  /** Every view the op reads or writes, offsets as bound (after any joint shift). */
  views: Placed[];
  /** Whether the op may run a contiguous tensor as one flat run (no per-column operand). */
  flat: boolean;
  constants: Record<string, number>;
  reads: Bindable[];
  writes: Bindable[];
  /** The uniform block with n and cols as given and every stride and offset divided by `div`. */
  params: (div: 1 | 4, n: number, cols: number) => ArrayBuffer;
  label: string;
}

/** The ops of an elementwise kernel: its four-float entry where the views allow, the scalar one for the rest. */
function elementwiseOps(gpu: Gpu, o: Elementwise): Op[] {
  const n = o.rows * o.cols;
  const base = { ...SHADER, reads: o.reads, writes: o.writes, label: o.label };
  const q = quads(o.rows, o.cols, o.views, o.flat);
  if (!q) {
    return [
      gpu.op({
        ...base,
        entry: o.entry,
        constants: { ...o.constants, WG, DENSE: dense(o.cols, o.views) },
        params: o.params(1, n, o.cols),
        workgroups: linearGrid(gpu, o.fn, Math.ceil(n / WG)),
      }),
    ];
  }
  const ops = [
    gpu.op({
      ...base,
      entry: o.entry4,
      constants: { ...o.constants, WG, DENSE: q.dense },
      params: o.params(4, q.n4, q.cols4),
      workgroups: linearGrid(gpu, o.fn, Math.ceil(q.n4 / (2 * WG))),
    }),
  ];
  if (q.tail) {
    ops.push(
      gpu.op({
        ...base,
        entry: o.entry,
        constants: { ...o.constants, WG, DENSE: 1, E0: 4 * q.n4 },
        params: o.params(1, n, o.cols),
        workgroups: [1],
        label: `${o.label} tail`,
      }),
    );
  }
  return ops;
}

/** A stride or offset in units of `div` floats (a flat run's strides are never read: floor is fine). */
const per = (div: number, v: number) => Math.floor(v / div);

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
  return elementwiseOps(gpu, {
    fn,
    entry: 'unary_fwd',
    entry4: 'unary_fwd4',
    rows,
    cols,
    views: [xv, yv],
    flat: true,
    constants: { KIND: k },
    reads: [a.x],
    writes: [a.y],
    params: (f, n, c) => new Params().u32(n).u32(c).u32(per(f, xv.stride)).u32(per(f, xv.offset)).u32(per(f, yv.stride)).u32(per(f, yv.offset)).build(),
    label: `${a.kind} ${a.n}`,
  });
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
  return elementwiseOps(gpu, {
    fn,
    entry: 'unary_bwd',
    entry4: 'unary_bwd4',
    rows,
    cols,
    views: [xv, dyv, dxv],
    flat: true,
    constants: { KIND: k },
    reads: [a.x, a.dy],
    writes: [a.dx],
    params: (f, n, c) =>
      new Params()
        .u32(n).u32(c).u32(a.accumulate ? 1 : 0)
        .u32(per(f, xv.stride)).u32(per(f, xv.offset)).u32(per(f, dyv.stride)).u32(per(f, dyv.offset)).u32(per(f, dxv.stride)).u32(per(f, dxv.offset))
        .build(),
    label: `${a.kind} backward ${a.n}`,
  });
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
  return elementwiseOps(gpu, {
    fn,
    entry: 'swiglu_fwd',
    entry4: 'swiglu_fwd4',
    rows,
    cols,
    views: [gv, uv, ov],
    flat: true,
    constants: { KIND: k },
    reads: [a.gate, a.up],
    writes: [a.out],
    params: (f, n, c) => new Params().u32(n).u32(c).u32(per(f, stride)).u32(per(f, gv.offset)).u32(per(f, uv.offset)).u32(per(f, ov.stride)).u32(per(f, ov.offset)).build(),
    label: `${kind}-gated ${rows}x${cols}`,
  });
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
  const one = joint(a.dGate, a.dUp);
  // As bound: offsets from the start of the one binding when dGate and dUp share it.
  const dgb = { ...dgv, offset: dgv.offset + (one?.shiftA ?? 0) };
  const dub = { ...duv, offset: duv.offset + (one?.shiftB ?? 0) };
  return elementwiseOps(gpu, {
    fn,
    entry: one ? 'swiglu_bwd_one' : 'swiglu_bwd',
    entry4: one ? 'swiglu_bwd4_one' : 'swiglu_bwd4',
    rows,
    cols,
    views: [gv, uv, dov, dgb, dub],
    flat: true,
    constants: { KIND: k },
    reads: [a.gate, a.up, a.dOut],
    writes: one ? [one.bind] : [a.dGate, a.dUp],
    params: (f, n, c) =>
      new Params()
        .u32(n).u32(c).u32(a.accumulate ? 1 : 0)
        .u32(per(f, stride)).u32(per(f, gv.offset)).u32(per(f, uv.offset)).u32(per(f, dov.stride)).u32(per(f, dov.offset))
        .u32(per(f, dStride)).u32(per(f, dgb.offset)).u32(per(f, dub.offset))
        .build(),
    label: `${kind}-gated backward ${rows}x${cols}`,
  });
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
  return elementwiseOps(gpu, {
    fn,
    entry: 'gated_fwd',
    entry4: 'gated_fwd4',
    rows,
    cols,
    views: [yv, zv, ov],
    // The bias is per column: a flat run would cut its quads across rows.
    flat: false,
    constants: { HAS_BIAS: a.zBias ? 1 : 0 },
    // Without a bias the shader never reads binding 2; z stands in for it.
    reads: [a.y, a.z, a.zBias ?? a.z],
    writes: [a.out],
    params: (f, n, c) =>
      new Params().u32(n).u32(c).u32(per(f, yv.stride)).u32(per(f, yv.offset)).u32(per(f, zv.stride)).u32(per(f, zv.offset)).u32(per(f, ov.stride)).u32(per(f, ov.offset)).build(),
    label: `gated silu ${rows}x${cols}`,
  });
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
  const dyb = { ...dyv, offset: dyv.offset + (one?.shiftA ?? 0) };
  const dzb = { ...dzv, offset: dzv.offset + (one?.shiftB ?? 0) };
  // Four channels per invocation where every row starts on a 16-byte boundary; the partials keep
  // their layout (block-major, channel fastest) either way.
  const f = quads(rows, cols, [yv, zv, dov, dyb, dzb], false) ? 4 : 1;
  const params = new Params()
    .u32(rows).u32(cols / f).u32(a.accumulate ? 1 : 0)
    .u32(yv.stride / f).u32(yv.offset / f).u32(zv.stride / f).u32(zv.offset / f).u32(dov.stride / f).u32(dov.offset / f)
    .u32(dyb.stride / f).u32(dyb.offset / f).u32(dzb.stride / f).u32(dzb.offset / f)
    .build();
  const CW = 64;
  const v = f === 4 ? '4' : '';
  const ops = [
    gpu.op({
      ...SHADER,
      entry: one ? `gated_bwd${v}_one` : `gated_bwd${v}`,
      constants: { WG: CW, ROWS, HAS_BIAS: a.zBias ? 1 : 0 },
      reads: [a.y, a.z, a.zBias ?? a.z, a.dOut],
      writes: one ? [one.bind, part] : [a.dy, a.dz, part],
      params,
      workgroups: [Math.ceil(cols / f / CW), blocks],
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
