// Causal depthwise conv1d with bias (Mamba-2's conv over [x, B, C]; shaders/conv1d.wgsl):
//   y[b,t,c] = bias[c] + Σ_{k<K} w[c,k]·x[b, t−(K−1)+k, c],  x at negative times = 0,
// i.e. PyTorch Conv1d(groups=channels, padding=K−1) cut to the first L outputs: w[c, K−1] multiplies
// the current token.
//
// Layouts:
//   x, y, dx, dy  (batch, L, channels) views: token (b, t) starts at float (b·L + t)·stride + offset,
//                 its channels contiguous. Defaults stride = channels, offset = 0; a wider stride and
//                 an offset address a column slice of a fused row (e.g. the B or C part of in_proj).
//   w, dw         (channels, K) row-major, k fastest
//   bias, dbias   (channels)
// x and y may be the same buffer (convolution in place: identical views, or disjoint column
// slices of the same rows); so may dy and dx in the backward pass. In place, x is gone afterwards,
// and the backward pass needs it for dw.
// Backward: dx overwritten, or added to with `accumulate`; dw and dbias summed over batch and time
// in a fixed order (per-tile partials, then a sequential sum), overwritten or, with
// `accumulateParams`, added to.
// Where channels and every view's stride and offset are multiples of 4, the four-float entries run
// (four channels per invocation as vec4 lanes, four tokens at a time); otherwise the scalar ones.
import { Params, slice, type Bindable, type Gpu, type Op, type ScratchSource } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import conv1dWgsl from '../../shaders/conv1d.wgsl?raw';

// The window entries, stamped per binding set: apart (x and y, or dy and dx, in their own buffers)
// or `_one` (both views in one bound buffer, the history a tile needs taken from a halo buffer that
// a previous dispatch filled, because the tile before it overwrites those tokens). Each set gets its
// own prefix, as every entry point of a module needs its own binding names. With `v4` an entry works
// on four channels as vec4 lanes and walks its tile four tokens at a time (shaders/conv1d.wgsl); its
// uniform's channels, strides and offsets are in units of 4 floats, and the taps (w, scalar) are
// gathered per lane.
interface Window {
  entry: string;
  reads: string[];
  writes: string[];
  p: string; // binding-name prefix; the uniform is `${p}u`
  src: string; // the buffer the window slides over (x, or dy)
  dst: string; // the buffer written (y, or dx)
  history: string; // fills win[] before the tile's first token
  v4?: boolean;
}

// One invocation per channel c (or quad of channels) of tile wg.y of sequence wg.z, with its K taps in w[].
function windowHead(w: Window): string {
  const u = `${w.p}u`;
  const V = w.v4 ? 'vec4f' : 'f32';
  const tap = w.v4
    ? `vec4f(${w.p}_w[4u * c * K + k], ${w.p}_w[(4u * c + 1u) * K + k], ${w.p}_w[(4u * c + 2u) * K + k], ${w.p}_w[(4u * c + 3u) * K + k])`
    : `${w.p}_w[c * K + k]`;
  return `${bindings(w.reads, w.writes, `${u}: U`)}

@compute @workgroup_size(WG)
fn ${w.entry}(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let c = gid.x;
  if (c >= ${u}.channels) { return; }
  let b = wg.z;
  let t0 = wg.y * T;
  let t1 = min(t0 + T, ${u}.L);
  var w: array<${V}, KMAX>;
  for (var k = 0u; k < K; k++) { w[k] = ${tap}; }
  var win: array<${V}, KMAX>;
  ${w.history}`;
}

function forwardEntry(w: Window): string {
  const u = `${w.p}u`;
  const src = (t: string) => `${w.src}[at(b, ${t}, c, ${u}.L, ${u}.in_stride, ${u}.in_off)]`;
  const dst = (t: string) => `${w.dst}[at(b, ${t}, c, ${u}.L, ${u}.out_stride, ${u}.out_off)]`;
  if (!w.v4) {
    return `${windowHead(w)}
  let bias = ${w.p}_bias[c];
  for (var t = t0; t < t1; t++) {
    let xt = ${src('t')};
    ${dst('t')} = fwd_step(&win, &w, xt, bias);
  }
}`;
  }
  // In place (_one) the four tokens are this invocation's own: read before it writes any of them.
  return `${windowHead(w)}
  let bias = ${w.p}_bias[c];
  var t = t0;
  for (; t + 4u <= t1; t += 4u) {
    let x0 = ${src('t')};
    let x1 = ${src('t + 1u')};
    let x2 = ${src('t + 2u')};
    let x3 = ${src('t + 3u')};
    ${dst('t')} = fwd_step4(&win, &w, x0, bias);
    ${dst('t + 1u')} = fwd_step4(&win, &w, x1, bias);
    ${dst('t + 2u')} = fwd_step4(&win, &w, x2, bias);
    ${dst('t + 3u')} = fwd_step4(&win, &w, x3, bias);
  }
  for (; t < t1; t++) {
    let xt = ${src('t')};
    ${dst('t')} = fwd_step4(&win, &w, xt, bias);
  }
}`;
}

function dxEntry(w: Window): string {
  const u = `${w.p}u`;
  const src = (t: string) => `${w.src}[at(b, ${t}, c, ${u}.L, ${u}.in_stride, ${u}.in_off)]`;
  const at = (t: string) => `at(b, ${t}, c, ${u}.L, ${u}.out_stride, ${u}.out_off)`;
  // dst (+)= g: a branch, so that an overwrite never reads dx.
  const put = (i: string, g: string) => `if (acc) { ${w.dst}[${i}] = ${w.dst}[${i}] + ${g}; } else { ${w.dst}[${i}] = ${g}; }`;
  if (!w.v4) {
    return `${windowHead(w)}
  let acc = ${u}.acc == 1u;
  for (var t = t1; t > t0; t--) {
    let dyt = ${src('t - 1u')};
    let i = ${at('t - 1u')};
    let g = bwd_step(&win, &w, dyt);
    ${put('i', 'g')}
  }
}`;
  }
  return `${windowHead(w)}
  let acc = ${u}.acc == 1u;
  var t = t1;
  for (; t >= t0 + 4u; t -= 4u) {
    let d0 = ${src('t - 1u')};
    let d1 = ${src('t - 2u')};
    let d2 = ${src('t - 3u')};
    let d3 = ${src('t - 4u')};
    let g0 = bwd_step4(&win, &w, d0);
    ${put(at('t - 1u'), 'g0')}
    let g1 = bwd_step4(&win, &w, d1);
    ${put(at('t - 2u'), 'g1')}
    let g2 = bwd_step4(&win, &w, d2);
    ${put(at('t - 3u'), 'g2')}
    let g3 = bwd_step4(&win, &w, d3);
    ${put(at('t - 4u'), 'g3')}
  }
  for (; t > t0; t--) {
    let dyt = ${src('t - 1u')};
    let g = bwd_step4(&win, &w, dyt);
    ${put(at('t - 1u'), 'g')}
  }
}`;
}

// halo_fwd: halo[((b·tiles + j)·(K−1) + k)·channels + c] = x[b, j·T − (K−1) + k, c] (0 before t = 0);
// halo_bwd: the same of dy[b, (j+1)·T + k, c] (0 from t = L). `load` sets v for tap k.
function haloEntry(entry: string, load: string): string {
  return `@compute @workgroup_size(WG)
fn ${entry}(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let c = gid.x;
  if (c >= hu.channels) { return; }
  let b = wg.z;
  let j = wg.y;
  for (var k = 0u; k + 1u < K; k++) {
    var v = 0.0;
    ${load}
    h_out[((b * hu.tiles + j) * (K - 1u) + k) * hu.channels + c] = v;
  }
}`;
}

// The tile's halo slot for tap k, as halo_fwd / halo_bwd wrote it (for a four-float entry, the
// quad of its lanes: the halo bound as vec4s, channels counted in quads).
const haloAt = (p: string, k: string) => `${p}_halo[((b * ${p}u.tiles + wg.y) * (K - 1u) + ${k}) * ${p}u.channels + c]`;

/** The window entries of one form: forward, forward_one, dx, dx_one, or their four-float forms. */
function windowEntries(v4: boolean): string[] {
  const [T, z, n] = v4 ? ['array<vec4f>', 'vec4f(0.0)', '4'] : ['array<f32>', '0.0', ''];
  const p = (s: string) => `${s}${n}`;
  return [
    forwardEntry({
      entry: `forward${n}`,
      reads: [`${p('f')}_x: ${T}`, `${p('f')}_w: array<f32>`, `${p('f')}_bias: ${T}`],
      writes: [`${p('f')}_y: ${T}`],
      p: p('f'),
      src: `${p('f')}_x`,
      dst: `${p('f')}_y`,
      history: `for (var k = 0u; k + 1u < K; k++) {
    win[k] = ${z};
    if (t0 + k + 1u >= K) { win[k] = ${p('f')}_x[at(b, t0 + k + 1u - K, c, ${p('f')}u.L, ${p('f')}u.in_stride, ${p('f')}u.in_off)]; }
  }`,
      v4,
    }),
    forwardEntry({
      entry: `forward${n}_one`,
      reads: [`${p('o')}_w: array<f32>`, `${p('o')}_bias: ${T}`, `${p('o')}_halo: ${T}`],
      writes: [`${p('o')}_xy: ${T}`],
      p: p('o'),
      src: `${p('o')}_xy`,
      dst: `${p('o')}_xy`,
      history: `for (var k = 0u; k + 1u < K; k++) { win[k] = ${haloAt(p('o'), 'k')}; }`,
      v4,
    }),
    dxEntry({
      entry: `dx${n}`,
      reads: [`${p('d')}_w: array<f32>`, `${p('d')}_dy: ${T}`],
      writes: [`${p('d')}_dx: ${T}`],
      p: p('d'),
      src: `${p('d')}_dy`,
      dst: `${p('d')}_dx`,
      history: `for (var k = 1u; k < K; k++) {
    win[k] = ${z};
    if (t1 + k - 1u < ${p('d')}u.L) { win[k] = ${p('d')}_dy[at(b, t1 + k - 1u, c, ${p('d')}u.L, ${p('d')}u.in_stride, ${p('d')}u.in_off)]; }
  }`,
      v4,
    }),
    dxEntry({
      entry: `dx${n}_one`,
      reads: [`${p('e')}_w: array<f32>`, `${p('e')}_halo: ${T}`],
      writes: [`${p('e')}_d: ${T}`],
      p: p('e'),
      src: `${p('e')}_d`,
      dst: `${p('e')}_d`,
      history: `for (var k = 1u; k < K; k++) { win[k] = ${haloAt(p('e'), 'k - 1u')}; }`,
      v4,
    }),
  ];
}

const SHADER = shader('conv1d',
  conv1dWgsl,
  bindings(['p_x: array<f32>', 'p_dy: array<f32>'], ['p_part: array<f32>'], 'pu: U'), // wgrad_part
  bindings(['p4_x: array<vec4f>', 'p4_dy: array<vec4f>'], ['p4_part: array<f32>'], 'p4u: U'), // wgrad_part4
  bindings(['q_part: array<f32>'], ['q_dw: array<f32>', 'q_dbias: array<f32>'], 'qu: U'), // wgrad_final
  ...windowEntries(false),
  ...windowEntries(true),
  bindings(['h_src: array<f32>'], ['h_out: array<f32>'], 'hu: U'),
  haloEntry('halo_fwd', 'if (j * T + k + 1u >= K) { v = h_src[at(b, j * T + k + 1u - K, c, hu.L, hu.in_stride, hu.in_off)]; }'),
  haloEntry('halo_bwd', `let t = (j + 1u) * T + k;
    if (t < hu.L) { v = h_src[at(b, t, c, hu.L, hu.in_stride, hu.in_off)]; }`),
);
const WG = 64;
const T = 32; // tokens per invocation, forward and dx
const TW = 128; // tokens per invocation in the dw/dbias partials: fewer partials to sum
const KMAX = 8;

export interface Conv1dArgs {
  x: Bindable;
  w: Bindable;
  bias: Bindable;
  y: Bindable;
  batch: number;
  L: number;
  channels: number;
  /** Kernel width, 1..8; default 4. */
  K?: number;
  inStride?: number;
  inOffset?: number;
  outStride?: number;
  outOffset?: number;
}

export interface Conv1dBackwardArgs {
  x: Bindable;
  w: Bindable;
  dy: Bindable;
  dx: Bindable;
  dw: Bindable;
  dbias: Bindable;
  batch: number;
  L: number;
  channels: number;
  K?: number;
  /** x's view; dx's too unless dxStride/dxOffset say otherwise. */
  inStride?: number;
  inOffset?: number;
  /** dy's view (laid out like y). */
  outStride?: number;
  outOffset?: number;
  dxStride?: number;
  dxOffset?: number;
  /** Add into dx instead of overwriting it. */
  accumulate?: boolean;
  /** Add into dw and dbias instead of overwriting them (gradient accumulation). */
  accumulateParams?: boolean;
  /** Where the dw partial sums go (see ScratchSource); a buffer of this call's own by default. */
  scratch?: ScratchSource;
}

interface View {
  name: string;
  b: Bindable;
  stride: number;
  offset: number;
}

interface Shape {
  batch: number;
  L: number;
  channels: number;
  K: number;
}

function describe(s: Shape): string {
  return `(batch=${s.batch}, L=${s.L}, channels=${s.channels}, K=${s.K})`;
}

function checkShape(gpu: Gpu, fn: string, s: Shape, tile: number): void {
  const shape = describe(s);
  for (const v of [s.batch, s.L, s.channels, s.K]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${fn} ${shape}: sizes must be positive integers`);
  }
  if (s.K > KMAX) throw new Error(`${fn} ${shape}: K must be at most ${KMAX}`);
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  if (Math.ceil(s.L / tile) > maxWg || s.batch > maxWg || Math.ceil(s.channels / WG) > maxWg) {
    throw new Error(`${fn} ${shape}: too many workgroups for this adapter (limit ${maxWg} per dimension)`);
  }
}

function need(fn: string, s: Shape, name: string, b: Bindable, floats: number): void {
  const bytes = slice(b).size;
  if (bytes < floats * 4) throw new Error(`${fn} ${describe(s)}: ${name} holds ${bytes} bytes, needs ${floats * 4}`);
}

function checkView(fn: string, s: Shape, v: View): void {
  if (!Number.isInteger(v.stride) || !Number.isInteger(v.offset) || v.stride < s.channels || v.offset < 0) {
    throw new Error(`${fn} ${describe(s)}: ${v.name} view (stride ${v.stride}, offset ${v.offset}) needs integer stride ≥ channels and offset ≥ 0`);
  }
  const floats = (s.batch * s.L - 1) * v.stride + v.offset + s.channels;
  if (floats > 0xffffffff) throw new Error(`${fn} ${describe(s)}: ${v.name} spans more than 2^32 floats`);
  need(fn, s, v.name, v.b, floats);
}

const sameBuffer = (a: Bindable, b: Bindable) => slice(a).buffer === slice(b).buffer;

function base(v: View): number {
  return slice(v.b).offset / 4 + v.offset;
}

/** Whether two (rows × channels) views of one buffer share a float. */
function overlap(a: View, b: View, rows: number, cols: number): boolean {
  const d = base(b) - base(a);
  if (a.stride !== b.stride) {
    const endA = base(a) + (rows - 1) * a.stride + cols;
    const endB = base(b) + (rows - 1) * b.stride + cols;
    return base(a) < endB && base(b) < endA;
  }
  // (rA − rB)·stride + (jA − jB) = d needs |rA − rB| < rows, |jA − jB| < cols.
  for (const k of [Math.floor(d / a.stride), Math.ceil(d / a.stride)]) {
    if (Math.abs(k) < rows && Math.abs(d - k * a.stride) < cols) return true;
  }
  return false;
}

/**
 * For an input and an output view in one buffer: a single binding over both and the offsets of
 * the two views from its start. Throws unless the views are identical or disjoint, the two cases
 * in which each invocation reads its own tokens before it overwrites anything.
 */
function inPlace(fn: string, s: Shape, inp: View, out: View): { bind: Bindable; inOff: number; outOff: number } {
  const identical = base(inp) === base(out) && inp.stride === out.stride;
  if (!identical && overlap(inp, out, s.batch * s.L, s.channels)) {
    throw new Error(`${fn} ${describe(s)}: ${inp.name} and ${out.name} share a buffer and overlap without being the same view`);
  }
  const a = slice(inp.b);
  const b = slice(out.b);
  const start = Math.min(a.offset, b.offset);
  const end = Math.max(a.offset + a.size, b.offset + b.size);
  return {
    bind: { buffer: a.buffer, offset: start, size: end - start },
    inOff: (a.offset - start) / 4 + inp.offset,
    outOff: (b.offset - start) / 4 + out.offset,
  };
}

/** The uniform block; `f` = 4 gives channels, strides and offsets in quads (four-float entries). */
function params(s: Shape, tiles: number, inp: [number, number], out: [number, number], acc = false, f: 1 | 4 = 1): ArrayBuffer {
  return new Params().u32(s.batch).u32(s.L).u32(s.channels / f).u32(tiles).u32(inp[0] / f).u32(inp[1] / f).u32(out[0] / f).u32(out[1] / f).u32(acc ? 1 : 0).build();
}

/** 4 when every row of the views (strides and offsets in floats from the bound start) begins on a 16-byte boundary, else 1. */
function quadsOf(s: Shape, ...views: [number, number][]): 1 | 4 {
  return s.channels % 4 === 0 && views.every(([stride, offset]) => stride % 4 === 0 && offset % 4 === 0) ? 4 : 1;
}

export function conv1d(gpu: Gpu, a: Conv1dArgs): Op[] {
  const fn = 'conv1d';
  const s: Shape = { batch: a.batch, L: a.L, channels: a.channels, K: a.K ?? 4 };
  checkShape(gpu, fn, s, T);
  const xv: View = { name: 'x', b: a.x, stride: a.inStride ?? s.channels, offset: a.inOffset ?? 0 };
  const yv: View = { name: 'y', b: a.y, stride: a.outStride ?? s.channels, offset: a.outOffset ?? 0 };
  checkView(fn, s, xv);
  checkView(fn, s, yv);
  need(fn, s, 'w', a.w, s.channels * s.K);
  need(fn, s, 'bias', a.bias, s.channels);
  if (sameBuffer(a.w, a.y) || sameBuffer(a.bias, a.y)) throw new Error(`${fn} ${describe(s)}: y shares a buffer with w or bias`);

  const tiles = Math.ceil(s.L / T);
  const constants = { K: s.K, WG, T };
  const workgroups: [number, number, number] = [Math.ceil(s.channels / WG), tiles, s.batch];
  const label = `conv1d ${s.batch}x${s.L}x${s.channels} K=${s.K}`;
  if (!sameBuffer(a.x, a.y)) {
    const f = quadsOf(s, [xv.stride, xv.offset], [yv.stride, yv.offset]);
    const p = params(s, tiles, [xv.stride, xv.offset], [yv.stride, yv.offset], false, f);
    const entry = f === 4 ? 'forward4' : 'forward';
    return [gpu.op({ ...SHADER, entry, constants, reads: [a.x, a.w, a.bias], writes: [a.y], params: p, workgroups: [Math.ceil(s.channels / f / WG), tiles, s.batch], label })];
  }
  const one = inPlace(fn, s, xv, yv);
  const f = quadsOf(s, [xv.stride, one.inOff], [yv.stride, one.outOff]);
  // Owned by these ops for as long as they are used.
  const halo = gpu.buffer(s.batch * tiles * (s.K - 1) * s.channels * 4, 'conv1d halo');
  return [
    gpu.op({ ...SHADER, entry: 'halo_fwd', constants, reads: [a.x], writes: [halo], params: params(s, tiles, [xv.stride, xv.offset], [0, 0]), workgroups, label: `${label} halo` }),
    gpu.op({
      ...SHADER,
      entry: f === 4 ? 'forward4_one' : 'forward_one',
      constants,
      reads: [a.w, a.bias, halo],
      writes: [one.bind],
      params: params(s, tiles, [xv.stride, one.inOff], [yv.stride, one.outOff], false, f),
      workgroups: [Math.ceil(s.channels / f / WG), tiles, s.batch],
      label: `${label} in place`,
    }),
  ];
}

export function conv1dBackward(gpu: Gpu, a: Conv1dBackwardArgs): Op[] {
  const fn = 'conv1dBackward';
  const s: Shape = { batch: a.batch, L: a.L, channels: a.channels, K: a.K ?? 4 };
  checkShape(gpu, fn, s, T);
  const xv: View = { name: 'x', b: a.x, stride: a.inStride ?? s.channels, offset: a.inOffset ?? 0 };
  const dyv: View = { name: 'dy', b: a.dy, stride: a.outStride ?? s.channels, offset: a.outOffset ?? 0 };
  const dxv: View = { name: 'dx', b: a.dx, stride: a.dxStride ?? xv.stride, offset: a.dxOffset ?? xv.offset };
  for (const v of [xv, dyv, dxv]) checkView(fn, s, v);
  need(fn, s, 'w', a.w, s.channels * s.K);
  need(fn, s, 'dw', a.dw, s.channels * s.K);
  need(fn, s, 'dbias', a.dbias, s.channels);
  if (sameBuffer(a.w, a.dx)) throw new Error(`${fn} ${describe(s)}: dx shares a buffer with w`);
  for (const [name, b] of [['dw', a.dw], ['dbias', a.dbias]] as const) {
    if (sameBuffer(b, a.x) || sameBuffer(b, a.dy) || sameBuffer(b, a.w)) throw new Error(`${fn} ${describe(s)}: ${name} shares a buffer with an input`);
  }
  const dw = slice(a.dw);
  const db = slice(a.dbias);
  if (dw.buffer === db.buffer && dw.offset < db.offset + s.channels * 4 && db.offset < dw.offset + s.channels * s.K * 4) {
    throw new Error(`${fn} ${describe(s)}: dw and dbias overlap`);
  }
  const label = `conv1d backward ${s.batch}x${s.L}x${s.channels} K=${s.K}`;

  // dw and dbias first: an in-place dx overwrites dy, and dx may be where x was.
  const tilesW = Math.ceil(s.L / TW);
  const per = s.channels * (s.K + 1);
  const partBytes = s.batch * tilesW * per * 4;
  const part = a.scratch ? a.scratch('conv1d dw partials', partBytes) : gpu.buffer(partBytes, 'conv1d dw partials');
  const fw = quadsOf(s, [xv.stride, xv.offset], [dyv.stride, dyv.offset]);
  const ops: Op[] = [
    gpu.op({
      ...SHADER,
      entry: fw === 4 ? 'wgrad_part4' : 'wgrad_part',
      constants: { K: s.K, WG, T: TW },
      reads: [a.x, a.dy],
      writes: [part],
      params: params(s, tilesW, [xv.stride, xv.offset], [dyv.stride, dyv.offset], false, fw),
      workgroups: [Math.ceil(s.channels / fw / WG), tilesW, s.batch],
      label: `${label} dw partials`,
    }),
    gpu.op({
      ...SHADER,
      entry: 'wgrad_final',
      constants: { K: s.K, WG },
      reads: [part],
      writes: [a.dw, a.dbias],
      params: params(s, tilesW, [0, 0], [0, 0], a.accumulateParams),
      workgroups: [Math.ceil(per / WG)],
      label: `${label} dw`,
    }),
  ];

  const tiles = Math.ceil(s.L / T);
  const constants = { K: s.K, WG, T };
  const workgroups: [number, number, number] = [Math.ceil(s.channels / WG), tiles, s.batch];
  if (!sameBuffer(a.dy, a.dx)) {
    const f = quadsOf(s, [dyv.stride, dyv.offset], [dxv.stride, dxv.offset]);
    ops.push(
      gpu.op({
        ...SHADER,
        entry: f === 4 ? 'dx4' : 'dx',
        constants,
        reads: [a.w, a.dy],
        writes: [a.dx],
        params: params(s, tiles, [dyv.stride, dyv.offset], [dxv.stride, dxv.offset], a.accumulate, f),
        workgroups: [Math.ceil(s.channels / f / WG), tiles, s.batch],
        label: `${label} dx`,
      }),
    );
    return ops;
  }
  const one = inPlace(fn, s, dyv, dxv);
  if (a.accumulate && one.inOff === one.outOff) throw new Error(`${fn} ${describe(s)}: cannot accumulate into dx when it is dy itself`);
  const f = quadsOf(s, [dyv.stride, one.inOff], [dxv.stride, one.outOff]);
  const halo = gpu.buffer(s.batch * tiles * (s.K - 1) * s.channels * 4, 'conv1d dy halo');
  ops.push(
    gpu.op({ ...SHADER, entry: 'halo_bwd', constants, reads: [a.dy], writes: [halo], params: params(s, tiles, [dyv.stride, dyv.offset], [0, 0]), workgroups, label: `${label} halo` }),
    gpu.op({
      ...SHADER,
      entry: f === 4 ? 'dx4_one' : 'dx_one',
      constants,
      reads: [a.w, halo],
      writes: [one.bind],
      params: params(s, tiles, [dyv.stride, one.inOff], [dxv.stride, one.outOff], a.accumulate, f),
      workgroups: [Math.ceil(s.channels / f / WG), tiles, s.batch],
      label: `${label} dx in place`,
    }),
  );
  return ops;
}
