// Rotary position embedding (RoPE), Hugging Face rotate_half convention, partial rotary
// (GPT-NeoX rotary_pct, Phi partial_rotary_factor), forward and backward (shaders/rotary.wgsl).
// Per head, half = rotaryDim/2, inv_freq_i = theta^(−2i/rotaryDim), a = pos·inv_freq_i, i < half:
//   out[i] = x[i]·cos a − x[i+half]·sin a,   out[i+half] = x[i+half]·cos a + x[i]·sin a,
// dims rotaryDim..headDim−1 pass through. `inverse` rotates by −a: the backward pass (dx from dOut).
//
// Layouts (row-major, last index fastest):
//   x, out   (batch, L, heads, headDim); token t of a sequence has position posOffset + t
//   table    (positions, rotaryDim/2) of (cos, sin) f32 pairs, row p for position p
// The angles and their cos/sin are computed in float64 on the CPU and rounded once to f32, so
// positions in the thousands are as exact as position 0. Tables are shared per device, theta and
// rotaryDim (grown in powers of two), or passed in from rotaryTables(). Scaled RoPE (Llama 3,
// linear) gives its own float64 inverse frequencies (`invFreq`) in place of theta's.
// x and out may be the same buffer at the same offset (rotation in place); other overlaps throw.
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import rotaryWgsl from '../../shaders/rotary.wgsl?raw';

// One template for the four entry points: apart (x and out bound separately, pass-through dims
// copied) or in place, one pair or four (vec4) per invocation. `p` prefixes the entry's binding
// names and names its uniform.
function rotateEntry(entry: string, p: string, vec4: boolean, inplace: boolean): string {
  const t = vec4 ? 'vec4f' : 'f32';
  const [x, out] = inplace ? [`${p}_x`, `${p}_x`] : [`${p}_x`, `${p}_out`];
  const reads = inplace ? [`${p}_cs: array<${vec4 ? 'vec4f' : 'vec2f'}>`] : [`${x}: array<${t}>`, `${p}_cs: array<${vec4 ? 'vec4f' : 'vec2f'}>`];
  // h: the rotated half in the entry's units; cos/sin: the rotation of pair(s) k.
  const h = vec4 ? 'h4' : `${p}.half`;
  const head = vec4 ? `let base = th * (${p}.head_dim / 4u);
  let h4 = ${p}.half / 4u;` : `let base = th * ${p}.head_dim;`;
  const [cos, sin] = vec4 ? ['cs[0]', 'cs[1]'] : ['cs.x', 's'];
  const table = vec4
    ? `let r = table4(th, k, ${p});
    let cs = unpack4(${p}_cs[r], ${p}_cs[r + 1u], ${p}.sign);`
    : `let t = th / ${p}.heads;
    let cs = ${p}_cs[((t % ${p}.L) + ${p}.pos_off) * ${p}.half + k];
    let s = ${p}.sign * cs.y;`;
  const rotate = `${table}
    let x1 = ${x}[base + k];
    let x2 = ${x}[base + k + ${h}];
    ${out}[base + k] = x1 * ${cos} - x2 * ${sin};
    ${out}[base + k + ${h}] = x2 * ${cos} + x1 * ${sin};`;
  const body = inplace
    ? rotate
    : `if (k < ${h}) {
    ${rotate}
  } else {
    ${out}[base + k + ${h}] = ${x}[base + k + ${h}];
  }`;
  return `${bindings(reads, inplace ? [`${x}: array<${t}>`] : [`${out}: array<${t}>`], `${p}: U`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i >= ${p}.tokens * ${p}.heads * ${p}.per_head) { return; }
  let th = i / ${p}.per_head; // token·heads + head
  let k = i - th * ${p}.per_head;
  ${head}
  ${body}
}`;
}

const SHADER = shader('rotary',
  rotaryWgsl,
  rotateEntry('rotate', 'ru', false, false),
  rotateEntry('rotate_inplace', 'pu', false, true),
  rotateEntry('rotate4', 'vu', true, false),
  rotateEntry('rotate4_inplace', 'wu', true, true),
);
const WG = 256;

export interface RotaryArgs {
  x: Bindable;
  out: Bindable;
  batch: number;
  L: number;
  heads: number;
  headDim: number;
  /** Even, 2..headDim: the leading dims of each head that rotate. */
  rotaryDim: number;
  theta: number;
  /** Position of each sequence's first token (generation with a cache); default 0. */
  posOffset?: number;
  /** Rotate by −angle: the backward pass, with dOut as x and dx as out. */
  inverse?: boolean;
  /** rotaryDim/2 inverse frequencies (float64) replacing theta^(−2i/rotaryDim): scaled RoPE. */
  invFreq?: Float64Array;
  /** A table from rotaryTables() with the same rotaryDim, theta and invFreq, covering posOffset + L positions. */
  table?: RotaryTable;
}

export interface RotaryTable {
  buffer: GPUBuffer;
  positions: number;
  rotaryDim: number;
  theta: number;
  /** The frequencies it was made from when not theta's, as text (the cache key). */
  freqKey?: string;
}

const freqKey = (invFreq: Float64Array | undefined): string | undefined => (invFreq ? Array.from(invFreq).join(',') : undefined);

/** cos and sin of p·theta^(−2i/rotaryDim) for p < positions, i < rotaryDim/2, interleaved (cos, sin). */
export function rotaryTableData(positions: number, rotaryDim: number, theta: number, freqs?: Float64Array): Float32Array {
  const half = rotaryDim / 2;
  if (freqs && freqs.length !== half) throw new Error(`rotary table: ${freqs.length} inverse frequencies for rotaryDim ${rotaryDim}`);
  const out = new Float32Array(positions * half * 2);
  for (let i = 0; i < half; i++) {
    const invFreq = freqs ? freqs[i]! : theta ** ((-2 * i) / rotaryDim);
    for (let p = 0; p < positions; p++) {
      const a = p * invFreq;
      out[(p * half + i) * 2] = Math.cos(a);
      out[(p * half + i) * 2 + 1] = Math.sin(a);
    }
  }
  return out;
}

function checkTableArgs(fn: string, positions: number, rotaryDim: number, theta: number): void {
  const what = `(positions=${positions}, rotaryDim=${rotaryDim}, theta=${theta})`;
  if (!Number.isInteger(positions) || positions < 1) throw new Error(`${fn} ${what}: positions must be a positive integer`);
  if (!Number.isInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0) throw new Error(`${fn} ${what}: rotaryDim must be even and at least 2`);
  if (!(theta > 0 && Number.isFinite(theta))) throw new Error(`${fn} ${what}: theta must be positive and finite`);
}

/** Uploads the cos/sin table for positions 0..positions−1. */
export function rotaryTables(gpu: Gpu, a: { positions: number; rotaryDim: number; theta: number; invFreq?: Float64Array }): RotaryTable {
  checkTableArgs('rotaryTables', a.positions, a.rotaryDim, a.theta);
  const buffer = gpu.upload(rotaryTableData(a.positions, a.rotaryDim, a.theta, a.invFreq), `rotary table theta=${a.theta} dim=${a.rotaryDim}${a.invFreq ? ' scaled' : ''}`);
  const t: RotaryTable = { buffer, positions: a.positions, rotaryDim: a.rotaryDim, theta: a.theta };
  if (a.invFreq) t.freqKey = freqKey(a.invFreq);
  return t;
}

// Older, smaller tables stay alive as long as the ops that bound them.
const shared = new WeakMap<Gpu, Map<string, RotaryTable>>();

function sharedTable(gpu: Gpu, positions: number, rotaryDim: number, theta: number, invFreq: Float64Array | undefined): RotaryTable {
  let byKey = shared.get(gpu);
  if (!byKey) shared.set(gpu, (byKey = new Map()));
  const fk = freqKey(invFreq);
  const key = fk === undefined ? `${theta}/${rotaryDim}` : `${theta}/${rotaryDim}/${fk}`;
  const have = byKey.get(key);
  if (have && have.positions >= positions) return have;
  const t = rotaryTables(gpu, { positions: Math.max(256, 2 ** Math.ceil(Math.log2(positions))), rotaryDim, theta, invFreq });
  gpu.lasting(t.buffer);
  byKey.set(key, t);
  return t;
}

export function rotary(gpu: Gpu, a: RotaryArgs): Op[] {
  const fn = a.inverse ? 'rotary (inverse)' : 'rotary';
  const posOffset = a.posOffset ?? 0;
  const { batch, L, heads, headDim, rotaryDim, theta } = a;
  const shape = `(batch=${batch}, L=${L}, heads=${heads}, headDim=${headDim}, rotaryDim=${rotaryDim}, theta=${theta}, posOffset=${posOffset})`;
  for (const [k, v] of [['batch', batch], ['L', L], ['heads', heads], ['headDim', headDim]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${fn} ${shape}: ${k} must be a positive integer`);
  }
  if (!Number.isInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    throw new Error(`${fn} ${shape}: rotaryDim must be even, at least 2 and at most headDim`);
  }
  if (!(theta > 0 && Number.isFinite(theta))) throw new Error(`${fn} ${shape}: theta must be positive and finite`);
  if (!Number.isInteger(posOffset) || posOffset < 0) throw new Error(`${fn} ${shape}: posOffset must be a non-negative integer`);
  if (a.invFreq && (a.invFreq.length !== rotaryDim / 2 || !a.invFreq.every((f) => f > 0 && Number.isFinite(f)))) {
    throw new Error(`${fn} ${shape}: invFreq must hold rotaryDim/2 positive finite frequencies (has ${a.invFreq.length})`);
  }
  const floats = batch * L * heads * headDim;
  if (floats >= 2 ** 32) throw new Error(`${fn} ${shape}: x must hold fewer than 2^32 floats`);
  for (const [name, b] of [['x', a.x], ['out', a.out]] as const) {
    const bytes = slice(b).size;
    if (bytes < floats * 4) throw new Error(`${fn} ${shape}: ${name} holds ${bytes} bytes, needs ${floats * 4}`);
  }
  const positions = posOffset + L;
  let table = a.table;
  if (table) {
    if (table.rotaryDim !== rotaryDim || table.theta !== theta || table.freqKey !== freqKey(a.invFreq) || table.positions < positions) {
      throw new Error(`${fn} ${shape}: the table (positions=${table.positions}, rotaryDim=${table.rotaryDim}, theta=${table.theta}) does not cover this call`);
    }
  } else {
    table = sharedTable(gpu, positions, rotaryDim, theta, a.invFreq);
  }

  const half = rotaryDim / 2;
  const x = slice(a.x);
  const o = slice(a.out);
  const inPlace = x.buffer === o.buffer;
  if (inPlace && x.offset !== o.offset) throw new Error(`${fn} ${shape}: x and out share a buffer at different offsets`);
  // Four pairs per invocation when the halves and the pass-through dims split into 16-byte vec4s.
  const v4 = half % 4 === 0 && headDim % 4 === 0;
  const lanes = v4 ? 4 : 1;
  const perHead = (inPlace ? half : half + headDim - rotaryDim) / lanes;
  const groups = Math.max(1, Math.ceil((batch * L * heads * perHead) / WG));
  const max = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  const nx = Math.min(groups, max);
  const ny = Math.ceil(groups / nx);
  if (ny > max) throw new Error(`${fn} ${shape}: too many workgroups for this adapter`);
  const params = new Params()
    .u32(batch * L)
    .u32(L)
    .u32(heads)
    .u32(headDim)
    .u32(half)
    .u32(perHead)
    .u32(posOffset)
    .f32(a.inverse ? -1 : 1)
    .build();
  const label = `${fn} ${shape}`;
  if (inPlace) {
    return [gpu.op({ ...SHADER, entry: v4 ? 'rotate4_inplace' : 'rotate_inplace', constants: { WG }, reads: [table.buffer], writes: [a.x], params, workgroups: [nx, ny], label })];
  }
  return [gpu.op({ ...SHADER, entry: v4 ? 'rotate4' : 'rotate', constants: { WG }, reads: [a.x, table.buffer], writes: [a.out], params, workgroups: [nx, ny], label })];
}
