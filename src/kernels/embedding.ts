// Token embedding with optional learned positions (GPT-2's wpe), forward and backward
// (shaders/embedding.wgsl):
//   out[t, j] = table[id(t), j] + pos[t mod L, j],   id(t) = min(ids[t], vocab − 1)
//
// Layouts (row-major, last index fastest):
//   ids           (tokens) u32; tokens = batch·L flattened, sequence-major
//   table, dTable (vocab, d)
//   out, dOut     (tokens, d)
//   pos.table, pos.dTable (≥ L, d): row p is position p; only rows 0..L−1 are read or written
// Out-of-range ids are clamped to vocab − 1 (in the backward pass too, so the gradient goes to the
// row the forward pass read); they never read or write out of bounds. Checking ids is the caller's job.
//
// Backward: dTable[v] = Σ of the dOut rows of the tokens whose id is v. A stable GPU radix sort of
// (id, token) pairs lines each id's tokens up in increasing order; the sorted list is cut into
// pieces of 64 and a run's sum is (its part of its first piece, in token order) + (its part of
// each following piece, each summed in token order), so the result depends on the ids alone and is
// bitwise reproducible, and a very common id (padding) costs no long serial sum. Rows no token uses
// are zeroed, or left as they are with `accumulate`. dPos[p] = Σ over sequences, in order.
import { packedDtype, Params, slice, type Bindable, type Gpu, type Op, type PackedDtype, linearGrid } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import embeddingWgsl from '../../shaders/embedding.wgsl?raw';

// gather and gather_pos differ only in the position table: its binding and the term it adds; their
// _bf16 and _f16 forms read a table packed two values per u32 (gpu/runtime.ts PackedDtype).
function gatherEntry(entry: string, p: string, pos: boolean, packed?: PackedDtype): string {
  const reads = [`${p}_ids: array<u32>`, `${p}_table: array<${packed ? 'u32' : 'f32'}>`, ...(pos ? [`${p}_pos: array<f32>`] : [])];
  const at = `v * ${p}.d + j`;
  const word = `${p}_table[(${at}) >> 1u]`;
  const odd = `((${at}) & 1u) == 1u`;
  const value =
    packed === 'bf16' ? `bitcast<f32>(select(${word} << 16u, ${word} & 0xffff0000u, ${odd}))`
    : packed === 'f16' ? `unpack2x16float(${word})[(${at}) & 1u]`
    : `${p}_table[${at}]`;
  const row = value + (pos ? ` + ${p}_pos[(t % ${p}.L) * ${p}.d + j]` : '');
  return `${bindings(reads, [`${p}_out: array<f32>`], `${p}: U`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear(wg, nwg, lid);
  if (i >= ${p}.tokens * ${p}.d) { return; }
  let t = i / ${p}.d;
  let j = i - t * ${p}.d;
  let v = min(${p}_ids[t], ${p}.vocab - 1u);
  ${p}_out[i] = ${row};
}`;
}

// The same four floats at a time (`4`), when d is a multiple of 4: quads of a row, two per
// invocation WG apart, both loaded before either is stored (embedding.wgsl's quad_id). A packed
// table is read as vec2u, four 16-bit values.
function gather4Entry(entry: string, p: string, pos: boolean, packed?: PackedDtype): string {
  const reads = [`${p}_ids: array<u32>`, `${p}_table: array<${packed ? 'vec2u' : 'vec4f'}>`, ...(pos ? [`${p}_pos: array<vec4f>`] : [])];
  const value = (q: string) => {
    const at = `v${q} * d4 + j${q}`;
    const word = `${p}_table[${at}]`;
    const row =
      packed === 'bf16' ? `bitcast<vec4f>(vec4u(${word}.x << 16u, ${word}.x & 0xffff0000u, ${word}.y << 16u, ${word}.y & 0xffff0000u))`
      : packed === 'f16' ? `vec4f(unpack2x16float(${word}.x), unpack2x16float(${word}.y))`
      : word;
    return row + (pos ? ` + ${p}_pos[(t${q} % ${p}.L) * d4 + j${q}]` : '');
  };
  const quad = (q: string) => `let t${q} = q${q} / d4;
    let j${q} = q${q} - t${q} * d4;
    let v${q} = min(${p}_ids[t${q}], ${p}.vocab - 1u);`;
  return `${bindings(reads, [`${p}_out: array<vec4f>`], `${p}: U`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d4 = ${p}.d / 4u;
  let n4 = ${p}.tokens * d4;
  let q0 = quad_id(wg, nwg, lid);
  let q1 = q0 + WG;
  if (q1 < n4) {
    ${quad('0')}
    ${quad('1')}
    let r0 = ${value('0')};
    let r1 = ${value('1')};
    ${p}_out[q0] = r0;
    ${p}_out[q1] = r1;
  } else if (q0 < n4) {
    ${quad('0')}
    ${p}_out[q0] = ${value('0')};
  }
}`;
}

// run_heads and run_sum (shaders/embedding.wgsl): one invocation per (piece or sorted position,
// column), or with `v4` per quad of columns, dOut, heads and dTable then bound as vec4s.
function runHeadsEntry(v4: boolean): string {
  const [n, T, zero] = v4 ? ['4', 'vec4f', 'vec4f(0.0)'] : ['', 'f32', '0.0'];
  const p = `a${n}`;
  return `${bindings([`${p}_kv: array<vec2u>`, `${p}_dout: array<${T}>`], [`${p}_heads: array<${T}>`], `${p}u: U`)}

@compute @workgroup_size(WG)
fn run_heads${n}(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d = ${p}u.d${v4 ? ' / 4u' : ''};
  let i = linear(wg, nwg, lid);
  let pieces = (${p}u.tokens + PIECE - 1u) / PIECE;
  if (i >= pieces * d) { return; }
  let c = i / d;
  let j = i - c * d;
  let k0 = c * PIECE;
  let key = ${p}_kv[k0].x;
  if (c == 0u || ${p}_kv[k0 - 1u].x != key) { return; }
  let k1 = min(k0 + PIECE, ${p}u.tokens);
  var s = ${zero};
  for (var q = k0; q < k1; q++) {
    let e = ${p}_kv[q];
    if (e.x != key) { break; }
    s += ${p}_dout[e.y * d + j];
  }
  ${p}_heads[i] = s;
}`;
}

function runSumEntry(v4: boolean): string {
  const [n, T, zero] = v4 ? ['4', 'vec4f', 'vec4f(0.0)'] : ['', 'f32', '0.0'];
  const p = `r${n}`;
  return `${bindings([`${p}_kv: array<vec2u>`, `${p}_dout: array<${T}>`, `${p}_heads: array<${T}>`], [`${p}_dtable: array<${T}>`], `${p}u: U`)}

@compute @workgroup_size(WG)
fn run_sum${n}(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d = ${p}u.d${v4 ? ' / 4u' : ''};
  let i = linear(wg, nwg, lid);
  if (i >= ${p}u.tokens * d) { return; }
  let k = i / d;
  let j = i - k * d;
  let key = ${p}_kv[k].x;
  if (k > 0u && ${p}_kv[k - 1u].x == key) { return; }
  let c0 = k / PIECE;
  let k1 = min((c0 + 1u) * PIECE, ${p}u.tokens);
  var s = ${zero};
  for (var q = k; q < k1; q++) {
    let e = ${p}_kv[q];
    if (e.x != key) { break; }
    s += ${p}_dout[e.y * d + j];
  }
  // Runs are contiguous in sorted order: the run goes on into piece c iff piece c starts with its key.
  for (var c = c0 + 1u; c * PIECE < ${p}u.tokens; c++) {
    if (${p}_kv[c * PIECE].x != key) { break; }
    s += ${p}_heads[c * d + j];
  }
  let o = key * d + j;
  if (${p}u.acc == 1u) { ${p}_dtable[o] = ${p}_dtable[o] + s; } else { ${p}_dtable[o] = s; }
}`;
}

const SHADER = shader('embedding',
  embeddingWgsl,
  gatherEntry('gather', 'gu', false),
  gatherEntry('gather_pos', 'pu', true),
  gatherEntry('gather_bf16', 'gbu', false, 'bf16'),
  gatherEntry('gather_pos_bf16', 'pbu', true, 'bf16'),
  gatherEntry('gather_f16', 'ghu', false, 'f16'),
  gatherEntry('gather_pos_f16', 'phu', true, 'f16'),
  gather4Entry('gather4', 'g4u', false),
  gather4Entry('gather4_pos', 'p4u', true),
  gather4Entry('gather4_bf16', 'g4bu', false, 'bf16'),
  gather4Entry('gather4_pos_bf16', 'p4bu', true, 'bf16'),
  gather4Entry('gather4_f16', 'g4hu', false, 'f16'),
  gather4Entry('gather4_pos_f16', 'p4hu', true, 'f16'),
  bindings(['i_ids: array<u32>'], ['i_kv: array<vec2u>'], 'iu: U'), // sort_init
  bindings(['h_kv: array<vec2u>'], ['h_hist: array<u32>'], 'hu: U'), // sort_hist
  bindings([], ['s_hist: array<u32>'], 'su: U'), // sort_scan
  bindings(['c_kv: array<vec2u>', 'c_hist: array<u32>'], ['c_out: array<vec2u>'], 'cu: U'), // sort_scatter
  bindings([], ['z_out: array<f32>'], 'zu: U'), // table_zero
  bindings([], ['z4_out: array<vec4f>'], 'z4u: U'), // table_zero4
  runHeadsEntry(false),
  runHeadsEntry(true),
  runSumEntry(false),
  runSumEntry(true),
  bindings(['q_dout: array<f32>'], ['q_dpos: array<f32>'], 'qu: U'), // pos_grad
);
const WG = 256;
const RADIX = 256;
const PIECE = 64; // shaders/embedding.wgsl: sorted positions per piece of a run

export interface EmbeddingArgs {
  ids: Bindable;
  table: Bindable;
  out: Bindable;
  tokens: number;
  d: number;
  vocab: number;
  /** Learned absolute positions: token t adds row t mod L of `table`; tokens must be a multiple of L. */
  pos?: { table: Bindable; L: number };
}

export interface EmbeddingBackwardArgs {
  ids: Bindable;
  dOut: Bindable;
  dTable: Bindable;
  tokens: number;
  d: number;
  vocab: number;
  /** Add into dTable (and pos.dTable) instead of overwriting them. */
  accumulate?: boolean;
  /** Gradient of the learned position table, rows 0..L−1 written. */
  pos?: { dTable: Bindable; L: number };
}

interface Shape {
  tokens: number;
  d: number;
  vocab: number;
  L: number;
}

const describe = (s: Shape) => `(tokens=${s.tokens}, d=${s.d}, vocab=${s.vocab}${s.L ? `, L=${s.L}` : ''})`;

function check(fn: string, s: Shape): void {
  for (const [k, v] of [['tokens', s.tokens], ['d', s.d], ['vocab', s.vocab]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${fn} ${describe(s)}: ${k} must be a positive integer`);
  }
  if (s.tokens * s.d >= 2 ** 32 || s.vocab * s.d >= 2 ** 32) throw new Error(`${fn} ${describe(s)}: tensors must hold fewer than 2^32 floats`);
  if (s.L !== 0 && (!Number.isInteger(s.L) || s.L < 1 || s.tokens % s.L !== 0)) {
    throw new Error(`${fn} ${describe(s)}: L must be a positive integer dividing tokens`);
  }
}

function need(fn: string, s: Shape, name: string, b: Bindable, words: number): void {
  const bytes = slice(b).size;
  if (bytes < words * 4) throw new Error(`${fn} ${describe(s)}: ${name} holds ${bytes} bytes, needs ${words * 4}`);
}

function distinct(fn: string, s: Shape, out: [string, Bindable], ins: [string, Bindable][]): void {
  for (const [name, b] of ins) {
    if (slice(b).buffer === slice(out[1]).buffer) throw new Error(`${fn} ${describe(s)}: ${out[0]} shares a buffer with ${name}`);
  }
}

/** Workgroups [x, y] for `n` invocations of WG threads within the per-dimension limit. */
function grid(gpu: Gpu, fn: string, n: number): [number, number] {
  return linearGrid(gpu, fn, Math.max(1, Math.ceil(n / WG)));
}

function params(s: Shape, shift = 0, blocks = 0, acc = false): ArrayBuffer {
  return new Params().u32(s.tokens).u32(s.d).u32(s.vocab).u32(s.L).u32(shift).u32(blocks).u32(acc ? 1 : 0).build();
}

export function embedding(gpu: Gpu, a: EmbeddingArgs): Op[] {
  const fn = 'embedding';
  const s: Shape = { tokens: a.tokens, d: a.d, vocab: a.vocab, L: a.pos?.L ?? 0 };
  check(fn, s);
  need(fn, s, 'ids', a.ids, s.tokens);
  const packed = packedDtype(a.table);
  need(fn, s, 'table', a.table, packed ? Math.ceil((s.vocab * s.d) / 2) : s.vocab * s.d);
  need(fn, s, 'out', a.out, s.tokens * s.d);
  const ins: [string, Bindable][] = [['ids', a.ids], ['table', a.table]];
  if (a.pos) {
    need(fn, s, 'pos.table', a.pos.table, s.L * s.d);
    ins.push(['pos.table', a.pos.table]);
  }
  distinct(fn, s, ['out', a.out], ins);
  // Rows of d a multiple of 4 start on 16-byte boundaries in every tensor: four floats at a time,
  // two quads per invocation.
  const v4 = s.d % 4 === 0;
  const workgroups = v4 ? linearGrid(gpu, fn, Math.max(1, Math.ceil((s.tokens * s.d) / 4 / (2 * WG)))) : grid(gpu, fn, s.tokens * s.d);
  const label = `embedding ${describe(s)}`;
  const entry = `gather${v4 ? '4' : ''}${a.pos ? '_pos' : ''}${packed ? `_${packed}` : ''}`;
  const reads = a.pos ? [a.ids, a.table, a.pos.table] : [a.ids, a.table];
  return [gpu.op({ ...SHADER, entry, constants: { WG }, reads, writes: [a.out], params: params(s), workgroups, label })];
}

/** Key bits of ids clamped to vocab − 1, hence the number of 8-bit radix passes. */
function radixPasses(vocab: number): number {
  const bits = vocab > 1 ? (vocab - 1).toString(2).length : 0;
  return Math.ceil(bits / 8);
}

export function embeddingBackward(gpu: Gpu, a: EmbeddingBackwardArgs): Op[] {
  const fn = 'embeddingBackward';
  const s: Shape = { tokens: a.tokens, d: a.d, vocab: a.vocab, L: a.pos?.L ?? 0 };
  check(fn, s);
  need(fn, s, 'ids', a.ids, s.tokens);
  need(fn, s, 'dOut', a.dOut, s.tokens * s.d);
  need(fn, s, 'dTable', a.dTable, s.vocab * s.d);
  distinct(fn, s, ['dTable', a.dTable], [['ids', a.ids], ['dOut', a.dOut]]);
  if (a.pos) {
    need(fn, s, 'pos.dTable', a.pos.dTable, s.L * s.d);
    distinct(fn, s, ['pos.dTable', a.pos.dTable], [['ids', a.ids], ['dOut', a.dOut]]);
    const t = slice(a.dTable);
    const p = slice(a.pos.dTable);
    if (t.buffer === p.buffer && t.offset < p.offset + s.L * s.d * 4 && p.offset < t.offset + s.vocab * s.d * 4) {
      throw new Error(`${fn} ${describe(s)}: pos.dTable overlaps dTable`);
    }
  }
  const blocks = Math.ceil(s.tokens / RADIX);
  if (blocks > gpu.info.limits.maxComputeWorkgroupsPerDimension) throw new Error(`${fn} ${describe(s)}: too many tokens for one sort`);
  const label = `embedding backward ${describe(s)}`;
  const acc = a.accumulate ?? false;

  // Owned by these ops for as long as they are used.
  const kv = [gpu.buffer(s.tokens * 8, 'embedding sort A'), gpu.buffer(s.tokens * 8, 'embedding sort B')];
  const hist = gpu.buffer(RADIX * blocks * 4, 'embedding sort histogram');
  const pieces = Math.ceil(s.tokens / PIECE);
  const heads = gpu.buffer(pieces * s.d * 4, 'embedding run heads');
  const ops: Op[] = [
    gpu.op({ ...SHADER, entry: 'sort_init', constants: { WG }, reads: [a.ids], writes: [kv[0]], params: params(s), workgroups: grid(gpu, fn, s.tokens), label: `${label} sort init` }),
  ];
  const passes = radixPasses(s.vocab);
  for (let p = 0; p < passes; p++) {
    const src = kv[p % 2];
    const dst = kv[(p + 1) % 2];
    const pp = params(s, 8 * p, blocks);
    const tag = `${label} sort pass ${p}`;
    ops.push(
      gpu.op({ ...SHADER, entry: 'sort_hist', reads: [src], writes: [hist], params: pp, workgroups: [blocks], label: `${tag} histogram` }),
      gpu.op({ ...SHADER, entry: 'sort_scan', writes: [hist], params: pp, workgroups: [1], label: `${tag} scan` }),
      gpu.op({ ...SHADER, entry: 'sort_scatter', reads: [src, hist], writes: [dst], params: pp, workgroups: [blocks], label: `${tag} scatter` }),
    );
  }
  const sorted = kv[passes % 2];
  if (!acc) {
    const v4 = (s.vocab * s.d) % 4 === 0;
    ops.push(
      gpu.op({
        ...SHADER,
        entry: v4 ? 'table_zero4' : 'table_zero',
        constants: { WG },
        writes: [a.dTable],
        params: params(s),
        workgroups: grid(gpu, fn, v4 ? s.vocab * s.d / 4 : s.vocab * s.d),
        label: `${label} zero`,
      }),
    );
  }
  // A quad of columns per invocation where d allows: four times the bytes in flight per load.
  const f = s.d % 4 === 0 ? 4 : 1;
  const v = f === 4 ? '4' : '';
  ops.push(
    gpu.op({
      ...SHADER,
      entry: `run_heads${v}`,
      constants: { WG },
      reads: [sorted, a.dOut],
      writes: [heads],
      params: params(s),
      workgroups: grid(gpu, fn, (pieces * s.d) / f),
      label: `${label} run heads`,
    }),
    gpu.op({
      ...SHADER,
      entry: `run_sum${v}`,
      constants: { WG },
      reads: [sorted, a.dOut, heads],
      writes: [a.dTable],
      params: params(s, 0, blocks, acc),
      workgroups: grid(gpu, fn, (s.tokens * s.d) / f),
      label: `${label} rows`,
    }),
  );
  if (a.pos) {
    ops.push(
      gpu.op({
        ...SHADER,
        entry: 'pos_grad',
        constants: { WG },
        reads: [a.dOut],
        writes: [a.pos.dTable],
        params: params(s, 0, 0, acc),
        workgroups: grid(gpu, fn, s.L * s.d),
        label: `${label} positions`,
      }),
    );
  }
  return ops;
}
