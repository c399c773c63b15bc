// Causal softmax attention without the L×L matrix (FlashAttention-2), forward and backward:
//   s_ij = scale·q_i·k_j (j ≤ i),  lse_i = log Σ_{j≤i} exp(s_ij),  o_i = Σ_{j≤i} exp(s_ij − lse_i) v_j
// Query head h reads kv head h / (hq/hkv) (grouped-query attention). Rotary, if any, is already in q, k.
//
// Layouts (row-major, last index fastest; one flat f32 buffer each):
//   q, o, dO, dQ   (batch, L, hq, d)
//   k, v, dK, dV   (batch, L, hkv, d)     dK, dV summed over the hq/hkv query heads of each kv head
//   lse            (batch, hq, L)         natural log of Σ exp of the scaled scores
// d is any multiple of 4 up to 256 (vec4 loads). 48 KiB of workgroup memory holds only 16-32 whole
// rows of d 128 per tile; tiles with a head-dim chunk (FlashTile.DK) stage the score products' rows a
// chunk at a time instead, which leaves room for 64-128 rows.
//
// Forward: a workgroup owns R query rows of one head and walks the key blocks up to its diagonal
// with an online softmax. Backward: one pass computes D_i = dO_i·o_i and dQ (over key blocks per
// query block), a second dK and dV (over query blocks, and the heads of the group, per key block);
// every sum has one owner, so results are deterministic.
//
// Scores are scale·q·k, kept unscaled by log2(e): exponents are fma(s, log2 e, −m) with m the
// row's running max (forward) or lse (backward) times log2(e). The rounding of m·log2(e) is one
// offset shared by the whole row, which cancels in the softmax, so the scores' own f32 rounding is
// the only per-entry error (exact scores give exact probabilities up to exp2's rounding).
//
// A sliding window (window W: keys i − W < j ≤ i) has kernels of its own, generated with the window's
// masks and narrower block ranges; without one the kernels are the plain causal ones.
//
// Half storage (forward only, feature shader-f16): q, k and v are read as f16 (a frozen teacher's
// copies, src/kernels/half.ts) and widened on their way into the workgroup tiles, so every product
// and sum is f32 as in the f32 kernel; only the inputs' rounding to f16 differs. The key and value
// blocks, which every query block reads again, move half the bytes.
//
// The WGSL is generated per head dim and tile: Tint does not unroll loops, and the register tiles
// only stay in registers when every accumulator is a named variable.
import { packedDtype, Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';

export interface AttentionShape {
  batch: number;
  L: number;
  hq: number;
  hkv: number;
  d: number;
  /** Default 1/√d. */
  scale?: number;
  /**
   * Sliding window (Mistral): query i sees keys j with i − window < j ≤ i. Undefined, or at least L,
   * is plain causal attention, which keeps the kernels without the window's masks.
   */
  window?: number;
}

/**
 * A workgroup has RG·CG threads. Each holds 4·RR "rows" (queries in the forward and dQ kernels,
 * keys in the dK/dV kernel), in groups of 4 consecutive rows RG·4 apart, and TC "columns" of the
 * score block (column cg + CG·c); a workgroup covers 4·RG·RR rows and blocks of CG·TC columns.
 * Along the head dim a thread holds the vec4 groups cg + CG·g.
 */
export interface FlashTile {
  RG: number;
  CG: number;
  TC: number;
  /** Default 1. */
  RR?: number;
  /**
   * vec4s of the head dim per chunk of the score products (S = Q·Kᵀ, dP = dO·Vᵀ); default the whole
   * head. With a chunk, the operand that is only needed for the scores is staged a chunk at a time:
   * the query rows (Q, and dO in dQ) and the key columns not needed whole afterwards (K in the
   * forward, V in dQ), or the key rows (K, V) in dK/dV. That frees workgroup memory for larger row
   * and column tiles at d 128, at the price of reloading the chunked rows for every block.
   */
  DK?: number;
}

export interface FlashTiles {
  fwd?: FlashTile;
  dq?: FlashTile;
  dkv?: FlashTile;
}

/** The three kernels: forward, dQ (with D), dK/dV. */
export type FlashKernel = 'fwd' | 'dq' | 'dkv';
type Kind = FlashKernel;

// Per kernel, fastest first. Measured on an H100 (batch 8, L 2048, 32 heads of 64, 48 KiB of
// workgroup memory): forward 16×16×2 and 16×8×4 6.4 ms, 8×16×2 7.5, 8×8×4 11.6; dQ 8×16×2
// 10.2 ms, 16×8×2 and 16×16×1 11.3, 8×8×4 14.6; dK/dV 8×16×2 11.9 ms, 8×16×1 14.9, 8×8×4 20.1.
// Threads per workgroup matter most; two row groups per thread (RR 2) were slower throughout.
// The tiles with a head-dim chunk (DK) come where whole rows of d 128 stop fitting 48 KiB: at d 128
// they allow 64-128 query rows (fwd, dQ) or 64 key rows (dK/dV) where whole rows allow 16-32, in
// the order of the H200 sweep at d 128 (`mohawk bench --tiles`, 2026-12-04, batch 8, L 2048, 16
// heads): forward 16×16×2/8 7.7 ms (the unchunked 8×16×1 8.7), dQ 16×16×2/8 10.5 (4×16×1 18.7),
// dK/dV 16×16×1/8 14.3 (4×16×1 22.9). At d 64 every kernel's unchunked first tile stayed fastest.
export const CANDIDATES: Record<Kind, FlashTile[]> = {
  fwd: [
    { RG: 16, CG: 16, TC: 2 },
    { RG: 16, CG: 8, TC: 4 },
    { RG: 8, CG: 16, TC: 2 },
    { RG: 16, CG: 16, TC: 2, DK: 8 },
    { RG: 8, CG: 16, TC: 2, DK: 16 },
    { RG: 32, CG: 8, TC: 4, DK: 4 },
    { RG: 8, CG: 16, TC: 2, RR: 2, DK: 8 },
    { RG: 16, CG: 8, TC: 4, DK: 8 },
    { RG: 16, CG: 8, TC: 2, DK: 8 },
    { RG: 16, CG: 16, TC: 4, DK: 4 }, // 64×64 at d 64 only
    { RG: 8, CG: 16, TC: 1 },
    { RG: 16, CG: 4, TC: 4 },
    { RG: 8, CG: 8, TC: 4 },
    { RG: 8, CG: 8, TC: 2 },
    { RG: 8, CG: 4, TC: 4 },
    { RG: 4, CG: 8, TC: 2 },
    { RG: 4, CG: 8, TC: 1 },
    { RG: 4, CG: 4, TC: 2 },
    { RG: 2, CG: 4, TC: 1 },
  ],
  dq: [
    { RG: 8, CG: 16, TC: 2 },
    { RG: 16, CG: 8, TC: 2 },
    { RG: 16, CG: 16, TC: 2, DK: 8 },
    { RG: 8, CG: 16, TC: 2, RR: 2, DK: 8 },
    { RG: 16, CG: 8, TC: 4, DK: 8 },
    { RG: 8, CG: 16, TC: 1, DK: 8 },
    { RG: 8, CG: 16, TC: 2, DK: 8 },
    { RG: 16, CG: 8, TC: 2, DK: 8 },
    { RG: 8, CG: 16, TC: 1 },
    { RG: 4, CG: 16, TC: 1 },
    { RG: 16, CG: 4, TC: 4 },
    { RG: 8, CG: 8, TC: 4 },
    { RG: 8, CG: 8, TC: 2 },
    { RG: 8, CG: 4, TC: 4 },
    { RG: 4, CG: 8, TC: 2 },
    { RG: 4, CG: 8, TC: 1 },
    { RG: 4, CG: 4, TC: 2 },
    { RG: 2, CG: 4, TC: 1 },
  ],
  dkv: [
    { RG: 8, CG: 16, TC: 2 },
    { RG: 16, CG: 16, TC: 1, DK: 8 },
    { RG: 8, CG: 16, TC: 1, RR: 2, DK: 8 },
    { RG: 16, CG: 8, TC: 2, DK: 8 },
    { RG: 8, CG: 16, TC: 2, DK: 4 },
    { RG: 8, CG: 16, TC: 1, DK: 8 },
    { RG: 8, CG: 8, TC: 2, DK: 8 },
    { RG: 8, CG: 16, TC: 1 },
    { RG: 4, CG: 16, TC: 1 },
    { RG: 16, CG: 4, TC: 4 },
    { RG: 8, CG: 8, TC: 4 },
    { RG: 8, CG: 8, TC: 2 },
    { RG: 8, CG: 4, TC: 4 },
    { RG: 4, CG: 8, TC: 2 },
    { RG: 4, CG: 8, TC: 1 },
    { RG: 4, CG: 4, TC: 2 },
    { RG: 2, CG: 4, TC: 1 },
  ],
};

interface Geometry {
  D4: number; // vec4s per head row
  // vec4 stride of a row in a workgroup tile whose rows are read by 8 threads at once (the
  // columns of the scores): odd, so that 8 consecutive rows hit 8 banks. Tiles read only one or
  // four rows at a time are stored at D4.
  ST: number;
  RR: number;
  RV: number; // vec4s of rows per workgroup (R / 4)
  PST: number; // row stride of the vec4-over-rows score tiles, odd for the same reason
  NG: number; // vec4 groups of the head dim per thread
  NT: number;
  R: number; // rows per workgroup
  C: number; // columns per block
  DK: number; // vec4s of the head dim per chunk of the score products (D4: not chunked)
  SK: number; // vec4 stride of a chunk tile read by column threads, odd like ST
}

function geometry(d: number, t: FlashTile): Geometry {
  const D4 = d / 4;
  const RR = t.RR ?? 1;
  const RV = t.RG * RR;
  const DK = Math.min(t.DK ?? D4, D4);
  return {
    D4,
    ST: D4 % 2 ? D4 : D4 + 1,
    RR,
    RV,
    PST: RV % 2 ? RV : RV + 1,
    NG: Math.ceil(D4 / t.CG),
    NT: t.RG * t.CG,
    R: 4 * RV,
    C: t.CG * t.TC,
    DK,
    SK: DK % 2 ? DK : DK + 1,
  };
}

/** Bytes of workgroup memory a kernel uses with this tile. */
export function flashTileBytes(kind: Kind, d: number, t: FlashTile): number {
  const g = geometry(d, t);
  const vec4s =
    kind === 'fwd'
      ? g.R * g.DK + g.C * g.SK + g.C * g.D4 + g.C * g.PST + t.CG * g.PST
      : kind === 'dq'
        ? 2 * g.R * g.DK + g.C * g.ST + g.C * g.SK + g.C * g.PST + g.RV
        : 2 * g.R * g.DK + 2 * g.C * g.ST + 2 * g.C * g.PST;
  return vec4s * 16;
}

/** The head dim from which pickFlashTile takes head-dim-chunked tiles. */
const CHUNKED_FROM_D = 128;

/**
 * The tile a kernel uses when none is given: the first of its candidates that fits, skipping those
 * with more column threads than the head dim has vec4s (they would idle through o += P·V).
 */
export function pickFlashTile(kind: Kind, d: number, workgroupBytes: number): FlashTile {
  const fits = (t: FlashTile) => flashTileBytes(kind, d, t) <= workgroupBytes;
  // Chunked tiles won the sweep at d 128 only; below it, where whole rows fit large tiles, they
  // only reload rows.
  const measured = d >= CHUNKED_FROM_D ? CANDIDATES[kind] : CANDIDATES[kind].filter((t) => t.DK === undefined);
  const narrow = measured.find((t) => t.CG <= Math.max(4, d / 4) && fits(t));
  if (narrow) return narrow;
  for (const t of measured) if (fits(t)) return t;
  throw new Error(`flash attention ${kind}: no tile for d=${d} fits ${workgroupBytes} bytes of workgroup memory`);
}

const sources = new Map<string, string>();

/** The WGSL of one kernel (exported for inspection and benchmarks). */
export function flashWgsl(kind: Kind, d: number, tile: FlashTile, windowed = false, half = false): string {
  if (half && kind !== 'fwd') throw new Error(`flash attention ${kind}: half storage is for the forward only`);
  const key = `${kind}/${d}/${tile.RG}/${tile.CG}/${tile.TC}/${tile.RR ?? 1}/${geometry(d, tile).DK}${windowed ? '/window' : ''}${half ? '/half' : ''}`;
  let code = sources.get(key);
  if (!code) {
    code = generate(kind, d, tile, windowed, half);
    sources.set(key, code);
  }
  return code;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const XYZW = ['x', 'y', 'z', 'w'];

function generate(kind: Kind, d: number, tile: FlashTile, windowed: boolean, half: boolean): string {
  const { RG, CG, TC } = tile;
  const { D4, ST, RR, PST, NG, NT, R, C, DK, SK } = geometry(d, tile);
  const chunked = DK < D4;
  const L: string[] = [];
  const e = (s: string) => L.push(s);
  const R4 = range(4);
  const RRs = range(RR);
  const Qs4 = range(4 * RR); // a thread's rows
  const TCs = range(TC);
  const NGs = range(NG);
  /** Tile row of a thread's row q, less the thread's first row 4·rg. */
  const rowOff = (q: number) => 4 * RG * (q >> 2) + (q & 3);
  /** The thread's vec4 of rows 4·rr..4·rr+3 in a vec4-over-rows tile. */
  const rowVec = (rr: number) => (rr ? `rg + ${RG * rr}u` : 'rg');
  // Head-dim groups past D4 exist only when CG does not divide D4; their values are never stored.
  const gValid = (g: number) => (CG * (g + 1) > D4 ? `cg + ${CG * g}u < ${D4}u` : '');

  /**
   * Copies rows first..first+count of a (·, L, heads, d) tensor into a workgroup tile of row
   * stride `stride`, zero past L, times `mul` when given. Each thread moves vec4s t, t + NT, ...
   * With `chunk`, only the head-dim chunk k0..k0+DK of each row (zero past the head dim).
   */
  const loadRows = (dst: string, stride: number, src: string, base: string, rowStride: string, first: string, count: number, mul?: string, chunk = false) => {
    const W = chunk ? DK : D4;
    const total = count * W;
    for (let n = 0; n * NT < total; n++) {
      const partial = (n + 1) * NT > total;
      e(`  {`);
      e(`    let e = t + ${n * NT}u;`);
      if (partial) e(`    if (e < ${total}u) {`);
      e(`    let row = e / ${W}u;`);
      e(`    let i = ${first} + row;`);
      e(`    let col = ${chunk ? 'k0 + ' : ''}e % ${W}u;`);
      e(`    var x = vec4<f32>(0.0);`);
      const inside = chunk && D4 % DK ? `i < L && col < ${D4}u` : 'i < L';
      const read = `${src}[${base} + i * ${rowStride} + col]`;
      e(`    if (${inside}) { x = ${half ? `vec4<f32>(${read})` : read}${mul ? ` * ${mul}` : ''}; }`);
      e(`    ${dst}[row * ${stride}u + e % ${W}u] = x;`);
      if (partial) e(`    }`);
      e(`  }`);
    }
  };

  /** One product of `dots`: acc += A·Bᵀ, A at row stride SA, B at SB from vec4 column bOff on. */
  interface Dot {
    acc: string;
    A: string;
    SA: number;
    B: string;
    SB: number;
    bOff?: string;
  }
  const declScores = (accs: string[]) => {
    for (const acc of accs) for (const q of Qs4) for (const c of TCs) e(`    var ${acc}${q}_${c} = 0.0;`);
  };
  /** acc_q_c += A[thread row q]·B[row cg + CG·c] over n vec4s of the head dim, for every Dot. */
  const dots = (pairs: Dot[], n: number) => {
    for (const { acc, SA, SB, bOff } of pairs) {
      e(`    let ${acc}ar = rg * ${4 * SA}u; // this thread's first row in the row tile`);
      e(`    let ${acc}bc = cg * ${SB}u${bOff ? ` + ${bOff}` : ''}; // its first column in the column tile`);
    }
    e(`    for (var k4 = 0u; k4 < ${n}u; k4++) {`);
    for (const { acc, A, SA, B, SB } of pairs) {
      for (const q of Qs4) e(`      let ${acc}a${q} = ${A}[${acc}ar + ${rowOff(q) * SA}u + k4];`);
      for (const c of TCs) e(`      let ${acc}b${c} = ${B}[${acc}bc + ${c * CG * SB}u + k4];`);
      for (const q of Qs4) {
        for (const c of TCs) {
          const [a, b, s] = [`${acc}a${q}`, `${acc}b${c}`, `${acc}${q}_${c}`];
          e(`      ${s} = fma(${a}.w, ${b}.w, fma(${a}.z, ${b}.z, fma(${a}.y, ${b}.y, fma(${a}.x, ${b}.x, ${s}))));`);
        }
      }
    }
    e(`    }`);
  };

  /** Stores v_q_c (rows 4·rr..4·rr+3 of column c) as vec4s at T[(cg + CG·c)·PST + rg + RG·rr]. */
  const storeColumns = (T: string, v: string) => {
    for (const c of TCs) {
      for (const rr of RRs) {
        e(`    ${T}[(cg + ${CG * c}u) * ${PST}u + ${rowVec(rr)}] = vec4<f32>(${R4.map((r) => `${v}${4 * rr + r}_${c}`).join(', ')});`);
      }
    }
  };

  /** acc_q_g += T[col][row q] · B[col][cg + CG·g] over the block's columns; B at stride `stride`. */
  const outer = (pairs: [string, string, string][], cols: number, stride: number) => {
    e(`    for (var c = 0u; c < ${cols}u; c++) {`);
    for (const [acc, T, B] of pairs) {
      for (const rr of RRs) e(`      let ${acc}p${rr} = ${T}[c * ${PST}u + ${rowVec(rr)}];`);
      for (const g of NGs) e(`      let ${acc}v${g} = ${B}[c * ${stride}u + cg + ${g * CG}u];`);
      for (const q of Qs4) {
        for (const g of NGs) e(`      ${acc}${q}_${g} = fma(vec4<f32>(${acc}p${q >> 2}.${XYZW[q & 3]}), ${acc}v${g}, ${acc}${q}_${g});`);
      }
    }
    e(`    }`);
  };

  const accDecl = (name: string) => {
    for (const q of Qs4) for (const g of NGs) e(`  var ${name}${q}_${g} = vec4<f32>(0.0);`);
  };

  /** Writes acc_q_g·mul(q) to the thread's rows (those < L) of a (·, L, heads, d) tensor. */
  const storeRows = (dst: string, acc: string, base: string, rowStride: string, first: string, mul: (q: number) => string) => {
    for (const q of Qs4) {
      e(`  if (${first} + ${rowOff(q)}u < L) {`);
      e(`    let ix = ${base} + (${first} + ${rowOff(q)}u) * ${rowStride} + cg;`);
      for (const g of NGs) {
        const st = `${dst}[ix + ${g * CG}u] = ${acc}${q}_${g} * ${mul(q)};`;
        const v = gValid(g);
        e(v ? `    if (${v}) { ${st} }` : `    ${st}`);
      }
      e(`  }`);
    }
  };

  /** vec4(f(4·rr), …, f(4·rr + 3)). */
  const v4 = (rr: number, f: (q: number) => string) => `vec4<f32>(${R4.map((r) => f(4 * rr + r)).join(', ')})`;

  if (half) e(`enable f16;`);
  e(`// flash attention ${kind}, d = ${d}, tile ${JSON.stringify(tile)}${windowed ? ', sliding window' : ''}${half ? ', f16 q, k, v' : ''} (generated by src/kernels/flash-attention.ts)`);
  e(`struct U { L: u32, hq: u32, hkv: u32, group: u32, nb: u32, scale: f32${windowed ? ', win: u32' : ''} }`);
  const bindings =
    kind === 'fwd'
      ? ['q', 'k', 'v', '|o', '|lse']
      : kind === 'dq'
        ? ['q', 'k', 'v', 'o', 'lse', 'dO', '|dQ', '|Dg']
        : ['q', 'k', 'v', 'lse', 'Dg', 'dO', '|dK', '|dV'];
  bindings.forEach((name, i) => {
    const rw = name.startsWith('|');
    const n = rw ? name.slice(1) : name;
    const ty = n === 'lse' || n === 'Dg' ? 'f32' : half && !rw ? 'vec4<f16>' : 'vec4<f32>';
    e(`@group(0) @binding(${i}) var<storage, ${rw ? 'read_write' : 'read'}> ${n}: array<${ty}>;`);
  });
  e(`@group(0) @binding(${bindings.length}) var<uniform> u: U;`);
  // Masked scores: far below any real one, yet finite after the ·log2(e) below.
  e(`const NEG = -1.0e30;`);
  e(`const LN2 = 0.6931471805599453;`);
  e(`const LOG2E = 1.4426950408889634;`);

  const shared = (name: string, n: number) => e(`var<workgroup> ${name}: array<vec4<f32>, ${n}>;`);
  // Row tiles and chunked column tiles hold DK vec4s of each row (all D4 when not chunked).
  if (kind === 'fwd') {
    shared('Qs', R * DK);
    shared('Ks', C * SK);
    shared('Vs', C * D4);
    shared('Ps', C * PST);
    shared('Mx', CG * PST);
  } else if (kind === 'dq') {
    shared('Qs', R * DK);
    shared('dOs', R * DK);
    shared('Ks', C * ST);
    shared('Vs', C * SK);
    shared('Ss', C * PST);
    shared('Ds', R / 4);
  } else {
    shared('Ks', R * DK);
    shared('Vs', R * DK);
    shared('Qs', C * ST);
    shared('dOs', C * ST);
    shared('Ps', C * PST);
    shared('Ss', C * PST);
  }

  e(`@compute @workgroup_size(${NT})`);
  e(`fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3u) {`);
  e(`  let cg = t % ${CG}u;`);
  e(`  let rg = t / ${CG}u;`);
  e(`  let L = u.L;`);
  e(`  let b = wg.z;`);
  e(`  let qs = u.hq * ${D4}u;`);
  e(`  let ks = u.hkv * ${D4}u;`);

  if (kind === 'fwd' || kind === 'dq') {
    e(`  let h = wg.y;`);
    e(`  let qBase = b * L * qs + h * ${D4}u;`);
    e(`  let kBase = b * L * ks + (h / u.group) * ${D4}u;`);
    e(`  let lBase = (b * u.hq + h) * L;`);
    // The last query blocks see the most keys: start them first.
    e(`  let r0 = (u.nb - 1u - wg.x) * ${R}u;`);
    e(`  let i0 = r0 + rg * 4u; // this thread's first query`);
    e(`  let nkb = (min(r0 + ${R}u, L) - 1u) / ${C}u + 1u;`);
    // Unchunked, the query rows stay in the workgroup for every key block; chunked, they are loaded
    // a chunk at a time with the keys.
    if (!chunked) loadRows('Qs', D4, 'q', 'qBase', 'qs', 'r0', R, 'u.scale');
    if (kind === 'dq') {
      if (!chunked) loadRows('dOs', D4, 'dO', 'qBase', 'qs', 'r0', R);
      e(`  workgroupBarrier();`);
      // D_i = dO_i·o_i, for this kernel (Ds) and for the dK/dV kernel (Dg).
      const dORow = chunked ? (k4: string) => `dO[qBase + i * qs + ${k4}]` : (k4: string) => `dOs[row * ${D4}u + ${k4}]`;
      for (let n = 0; n * NT < R; n++) {
        e(`  if (t + ${n * NT}u < ${R}u) {`);
        e(`    let row = t + ${n * NT}u;`);
        e(`    let i = r0 + row;`);
        e(`    var D = 0.0;`);
        e(`    if (i < L) {`);
        e(`      for (var k4 = 0u; k4 < ${D4}u; k4++) { D += dot(${dORow('k4')}, o[qBase + i * qs + k4]); }`);
        e(`      Dg[lBase + i] = D;`);
        e(`    }`);
        e(`    Ds[row / 4u][row % 4u] = D;`);
        e(`  }`);
      }
      for (const rr of RRs) {
        e(`  var lse2${rr} = vec4<f32>(0.0);`);
        for (const r of R4) {
          const i = `i0 + ${rowOff(4 * rr + r)}u`;
          e(`  if (${i} < L) { lse2${rr}.${XYZW[r]} = lse[lBase + ${i}] * LOG2E; }`);
        }
      }
      e(`  workgroupBarrier();`);
      for (const rr of RRs) e(`  let Dr${rr} = Ds[${rowVec(rr)}];`);
      accDecl('dq');
    } else {
      for (const rr of RRs) {
        e(`  var m${rr} = vec4<f32>(NEG);`);
        e(`  var l${rr} = vec4<f32>(0.0);`);
      }
      accDecl('o');
    }
    if (windowed) {
      // Key blocks wholly left of the first row's window hold nothing any row of this block sees.
      e(`  let kb0 = select(0u, (r0 + 1u - u.win) / ${C}u, r0 + 1u > u.win);`);
      e(`  for (var kb = kb0; kb < nkb; kb++) {`);
    } else e(`  for (var kb = 0u; kb < nkb; kb++) {`);
    e(`    let c0 = kb * ${C}u;`);
    if (!chunked) {
      loadRows('Ks', ST, 'k', 'kBase', 'ks', 'c0', C);
      loadRows('Vs', kind === 'fwd' ? D4 : ST, 'v', 'kBase', 'ks', 'c0', C);
      e(`    workgroupBarrier();`);
      declScores(kind === 'fwd' ? ['s'] : ['s', 'dp']);
      const S: Dot = { acc: 's', A: 'Qs', SA: D4, B: 'Ks', SB: ST };
      dots(kind === 'fwd' ? [S] : [S, { acc: 'dp', A: 'dOs', SA: D4, B: 'Vs', SB: ST }], D4);
    } else {
      // Whole rows of what o += P·V (V) or dQ += dS·K (K) needs; chunks of the rest.
      if (kind === 'fwd') loadRows('Vs', D4, 'v', 'kBase', 'ks', 'c0', C);
      else loadRows('Ks', ST, 'k', 'kBase', 'ks', 'c0', C);
      declScores(kind === 'fwd' ? ['s'] : ['s', 'dp']);
      e(`    for (var k0 = 0u; k0 < ${D4}u; k0 += ${DK}u) {`);
      loadRows('Qs', DK, 'q', 'qBase', 'qs', 'r0', R, 'u.scale', true);
      if (kind === 'fwd') loadRows('Ks', SK, 'k', 'kBase', 'ks', 'c0', C, undefined, true);
      else {
        loadRows('dOs', DK, 'dO', 'qBase', 'qs', 'r0', R, undefined, true);
        loadRows('Vs', SK, 'v', 'kBase', 'ks', 'c0', C, undefined, true);
      }
      e(`    workgroupBarrier();`);
      if (kind === 'fwd') dots([{ acc: 's', A: 'Qs', SA: DK, B: 'Ks', SB: SK }], DK);
      else dots([{ acc: 's', A: 'Qs', SA: DK, B: 'Ks', SB: ST, bOff: 'k0' }, { acc: 'dp', A: 'dOs', SA: DK, B: 'Vs', SB: SK }], DK);
      e(`    workgroupBarrier();`);
      e(`    }`);
    }
    // Only blocks that reach past the first row's diagonal hold masked entries.
    // With a window every block may hold keys left of some row's window: all are masked. The
    // window's tests use the non-short-circuit | (no branch per entry: SwiftShader compiles the
    // branchy form very slowly).
    const maskBlock = windowed ? 'true' : `c0 + ${C - 1}u > r0`;
    const masked = (q: number, c: number) =>
      windowed
        ? `(c0 + cg + ${CG * c}u > i0 + ${rowOff(q)}u) | (c0 + cg + ${CG * c}u + u.win <= i0 + ${rowOff(q)}u)`
        : `c0 + cg + ${CG * c}u > i0 + ${rowOff(q)}u`;
    if (kind === 'fwd') {
      e(`    if (${maskBlock}) {`);
      for (const q of Qs4) for (const c of TCs) e(`      s${q}_${c} = select(s${q}_${c}, NEG, ${masked(q, c)});`);
      e(`    }`);
      const rowMax = (q: number) => TCs.map((c) => `s${q}_${c}`).reduce((a, b) => `max(${a}, ${b})`);
      for (const rr of RRs) e(`    Mx[cg * ${PST}u + ${rowVec(rr)}] = ${v4(rr, rowMax)};`);
      e(`    workgroupBarrier();`);
      for (const rr of RRs) {
        e(`    var bm${rr} = Mx[${rowVec(rr)}];`);
        for (let x = 1; x < CG; x++) e(`    bm${rr} = max(bm${rr}, Mx[${x * PST}u + ${rowVec(rr)}]);`);
        e(`    let mn${rr} = max(m${rr}, bm${rr} * LOG2E);`);
        e(`    let al${rr} = exp2(m${rr} - mn${rr});`);
        e(`    m${rr} = mn${rr};`);
      }
      for (const q of Qs4) for (const g of NGs) e(`    o${q}_${g} *= al${q >> 2}.${XYZW[q & 3]};`);
      for (const q of Qs4) for (const c of TCs) e(`    let p${q}_${c} = exp2(fma(s${q}_${c}, LOG2E, -mn${q >> 2}.${XYZW[q & 3]}));`);
      const rowSum = (q: number) => TCs.map((c) => `p${q}_${c}`).join(' + ');
      for (const rr of RRs) e(`    l${rr} = l${rr} * al${rr} + ${v4(rr, rowSum)};`);
      storeColumns('Ps', 'p');
      e(`    workgroupBarrier();`);
      outer([['o', 'Ps', 'Vs']], C, D4);
    } else {
      for (const q of Qs4) for (const c of TCs) e(`    var p${q}_${c} = exp2(fma(s${q}_${c}, LOG2E, -lse2${q >> 2}.${XYZW[q & 3]}));`);
      e(`    if (${maskBlock}) {`);
      for (const q of Qs4) for (const c of TCs) e(`      p${q}_${c} = select(p${q}_${c}, 0.0, ${masked(q, c)});`);
      e(`    }`);
      for (const q of Qs4) for (const c of TCs) e(`    let ds${q}_${c} = p${q}_${c} * (dp${q}_${c} - Dr${q >> 2}.${XYZW[q & 3]});`);
      storeColumns('Ss', 'ds');
      e(`    workgroupBarrier();`);
      outer([['dq', 'Ss', 'Ks']], C, ST);
    }
    e(`    workgroupBarrier();`);
    e(`  }`);
    if (kind === 'fwd') {
      for (const rr of RRs) e(`  Mx[cg * ${PST}u + ${rowVec(rr)}] = l${rr};`);
      e(`  workgroupBarrier();`);
      for (const rr of RRs) {
        e(`  var lt${rr} = Mx[${rowVec(rr)}];`);
        for (let x = 1; x < CG; x++) e(`  lt${rr} += Mx[${x * PST}u + ${rowVec(rr)}];`);
        e(`  let inv${rr} = 1.0 / lt${rr};`);
      }
      storeRows('o', 'o', 'qBase', 'qs', 'i0', (q) => `inv${q >> 2}.${XYZW[q & 3]}`);
      e(`  if (cg == 0u) {`);
      for (const q of Qs4) {
        const [rr, x] = [q >> 2, XYZW[q & 3]];
        const i = `i0 + ${rowOff(q)}u`;
        e(`    if (${i} < L) { lse[lBase + ${i}] = (m${rr}.${x} + log2(lt${rr}.${x})) * LN2; }`);
      }
      e(`  }`);
    } else {
      storeRows('dQ', 'dq', 'qBase', 'qs', 'i0', () => 'u.scale');
    }
  } else {
    // dK, dV: rows are the keys c0 + 4·rg + … of kv head hk, columns the queries of a block.
    e(`  let hk = wg.y;`);
    e(`  let kBase = b * L * ks + hk * ${D4}u;`);
    e(`  let c0 = wg.x * ${R}u;`);
    e(`  let j0 = c0 + rg * 4u; // this thread's first key`);
    // Unchunked, the key rows stay in the workgroup throughout; chunked, they are reloaded a chunk
    // at a time for every query block (the query columns are needed whole by dK, dV += ·Q, ·dO).
    if (!chunked) {
      loadRows('Ks', D4, 'k', 'kBase', 'ks', 'c0', R, 'u.scale');
      loadRows('Vs', D4, 'v', 'kBase', 'ks', 'c0', R);
    }
    accDecl('dk');
    accDecl('dv');
    e(`  for (var hh = 0u; hh < u.group; hh++) {`);
    e(`  let h = hk * u.group + hh;`);
    e(`  let qBase = b * L * qs + h * ${D4}u;`);
    e(`  let lBase = (b * u.hq + h) * L;`);
    // Query blocks before the one holding c0 see none of these keys.
    if (windowed) {
      // ... and query blocks past the last key's window (query c0 + R − 1 + W − 1) see none either.
      e(`  let qbEnd = min(u.nb, (c0 + ${R - 2}u + u.win) / ${C}u + 1u);`);
      e(`  for (var qb = c0 / ${C}u; qb < qbEnd; qb++) {`);
    } else e(`  for (var qb = c0 / ${C}u; qb < u.nb; qb++) {`);
    e(`    let r0 = qb * ${C}u;`);
    loadRows('Qs', ST, 'q', 'qBase', 'qs', 'r0', C);
    loadRows('dOs', ST, 'dO', 'qBase', 'qs', 'r0', C);
    for (const c of TCs) {
      e(`    let i${c} = r0 + cg + ${CG * c}u;`);
      e(`    var lse2${c} = 0.0;`);
      e(`    var D${c} = 0.0;`);
      e(`    if (i${c} < L) { lse2${c} = lse[lBase + i${c}] * LOG2E; D${c} = Dg[lBase + i${c}]; }`);
    }
    declScores(['s', 'dp']);
    if (!chunked) {
      e(`    workgroupBarrier();`);
      dots([{ acc: 's', A: 'Ks', SA: D4, B: 'Qs', SB: ST }, { acc: 'dp', A: 'Vs', SA: D4, B: 'dOs', SB: ST }], D4);
    } else {
      e(`    for (var k0 = 0u; k0 < ${D4}u; k0 += ${DK}u) {`);
      loadRows('Ks', DK, 'k', 'kBase', 'ks', 'c0', R, 'u.scale', true);
      loadRows('Vs', DK, 'v', 'kBase', 'ks', 'c0', R, undefined, true);
      e(`    workgroupBarrier();`);
      dots([{ acc: 's', A: 'Ks', SA: DK, B: 'Qs', SB: ST, bOff: 'k0' }, { acc: 'dp', A: 'Vs', SA: DK, B: 'dOs', SB: ST, bOff: 'k0' }], DK);
      e(`    workgroupBarrier();`);
      e(`    }`);
    }
    for (const q of Qs4) for (const c of TCs) e(`    var p${q}_${c} = exp2(fma(s${q}_${c}, LOG2E, -lse2${c}));`);
    // Masked: key after query, or query past L (its lse is not defined).
    e(windowed ? `    {` : `    if (r0 < c0 + ${R - 1}u || r0 + ${C}u > L) {`);
    const dkvMask = (q: number, c: number) =>
      windowed
        ? `(j0 + ${rowOff(q)}u > i${c}) | (i${c} >= L) | (j0 + ${rowOff(q)}u + u.win <= i${c})`
        : `j0 + ${rowOff(q)}u > i${c} || i${c} >= L`;
    for (const q of Qs4) for (const c of TCs) e(`      p${q}_${c} = select(p${q}_${c}, 0.0, ${dkvMask(q, c)});`);
    e(`    }`);
    for (const q of Qs4) for (const c of TCs) e(`    let ds${q}_${c} = p${q}_${c} * (dp${q}_${c} - D${c});`);
    storeColumns('Ps', 'p');
    storeColumns('Ss', 'ds');
    e(`    workgroupBarrier();`);
    outer([['dv', 'Ps', 'dOs'], ['dk', 'Ss', 'Qs']], C, ST);
    e(`    workgroupBarrier();`);
    e(`  }`);
    e(`  }`);
    storeRows('dK', 'dk', 'kBase', 'ks', 'j0', () => 'u.scale');
    storeRows('dV', 'dv', 'kBase', 'ks', 'j0', () => '1.0');
  }
  e(`}`);
  return L.join('\n');
}

function checkShape(name: string, s: AttentionShape): { scale: number; shape: string; window: number | null } {
  const { batch, L, hq, hkv, d } = s;
  const scale = s.scale ?? 1 / Math.sqrt(d);
  const shape = `(batch=${batch}, L=${L}, hq=${hq}, hkv=${hkv}, d=${d}${s.window !== undefined ? `, window=${s.window}` : ''})`;
  if (s.window !== undefined && (!Number.isInteger(s.window) || s.window < 1)) throw new Error(`${name} ${shape}: window must be a positive integer`);
  for (const v of [batch, L, hq, hkv, d]) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} ${shape}: sizes must be positive integers`);
  }
  if (hq % hkv !== 0) throw new Error(`${name} ${shape}: hq must be a multiple of hkv`);
  if (d % 4 !== 0 || d > 256) throw new Error(`${name} ${shape}: d must be a multiple of 4, at most 256`);
  if (!Number.isFinite(scale)) throw new Error(`${name} ${shape}: scale ${scale}`);
  if (batch * L * hq * d > 0xffffffff) throw new Error(`${name} ${shape}: more than 2^32 elements`);
  // A window of L or more hides nothing: the plain causal kernels.
  return { scale, shape, window: s.window !== undefined && s.window < L ? s.window : null };
}

function needer(name: string, shape: string) {
  return (what: string, b: Bindable, floats: number) => {
    const bytes = slice(b).size;
    if (bytes < floats * 4) throw new Error(`${name} ${shape}: ${what} holds ${bytes} bytes, needs ${floats * 4}`);
  };
}

function tileFor(gpu: Gpu, kind: Kind, d: number, given: FlashTile | undefined): FlashTile {
  const limit = gpu.info.limits.maxComputeWorkgroupStorageSize;
  if (!given) return pickFlashTile(kind, d, limit);
  const { RG, CG, TC, RR = 1, DK = 1 } = given;
  if (![RG, CG, TC, RR, DK].every((v) => Number.isInteger(v) && v >= 1) || RG * CG > gpu.info.limits.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`flash attention ${kind}: bad tile ${JSON.stringify(given)}`);
  }
  if (flashTileBytes(kind, d, given) > limit) throw new Error(`flash attention ${kind}: tile ${JSON.stringify(given)} needs more than ${limit} bytes`);
  return given;
}

function params(s: AttentionShape, scale: number, nb: number, window: number | null): ArrayBuffer {
  const p = new Params().u32(s.L).u32(s.hq).u32(s.hkv).u32(s.hq / s.hkv).u32(nb).f32(scale);
  if (window !== null) p.u32(window);
  return p.build();
}

/**
 * o and lse of causal attention; `tile` overrides the workgroup tile (tests, benchmarks). With `half`,
 * q, k and v are f16 buffers (feature shader-f16; see the header); o and lse stay f32.
 */
export function flashAttention(
  gpu: Gpu,
  s: AttentionShape,
  t: { q: Bindable; k: Bindable; v: Bindable; o: Bindable; lse: Bindable },
  opts: { tile?: FlashTile; half?: boolean } = {},
): Op[] {
  const { scale, shape, window } = checkShape('flashAttention', s);
  const { batch, L, hq, hkv, d } = s;
  const need = needer('flashAttention', shape);
  const half = opts.half === true;
  if (half && !gpu.info.shaderF16) throw new Error(`flashAttention ${shape}: half storage needs shader-f16, which this GPU adapter does not offer`);
  const needIn = (what: string, b: Bindable, values: number) => {
    if (!half) return need(what, b, values);
    if (packedDtype(b) !== 'f16') throw new Error(`flashAttention ${shape}: with half, ${what} must be an f16 buffer`);
    need(what, b, values / 2);
  };
  needIn('q', t.q, batch * L * hq * d);
  needIn('k', t.k, batch * L * hkv * d);
  needIn('v', t.v, batch * L * hkv * d);
  need('o', t.o, batch * L * hq * d);
  need('lse', t.lse, batch * hq * L);
  const tile = tileFor(gpu, 'fwd', d, opts.tile);
  const nb = Math.ceil(L / geometry(d, tile).R);
  return [
    gpu.op({
      shader: 'flash_attention_fwd',
      code: flashWgsl('fwd', d, tile, window !== null, half),
      reads: [t.q, t.k, t.v],
      writes: [t.o, t.lse],
      params: params(s, scale, nb, window),
      workgroups: [nb, hq, batch],
    }),
  ];
}

/**
 * dQ, dK, dV of causal attention given o and lse from flashAttention and the output gradient dO.
 * dK and dV are overwritten (not accumulated). Allocates one scratch buffer (D, batch·hq·L floats).
 */
export function flashAttentionBackward(
  gpu: Gpu,
  s: AttentionShape,
  t: { q: Bindable; k: Bindable; v: Bindable; o: Bindable; lse: Bindable; dO: Bindable; dQ: Bindable; dK: Bindable; dV: Bindable },
  opts: { tiles?: FlashTiles } = {},
): Op[] {
  const { scale, shape, window } = checkShape('flashAttentionBackward', s);
  const { batch, L, hq, hkv, d } = s;
  const need = needer('flashAttentionBackward', shape);
  for (const [what, b] of [['q', t.q], ['o', t.o], ['dO', t.dO], ['dQ', t.dQ]] as const) need(what, b, batch * L * hq * d);
  for (const [what, b] of [['k', t.k], ['v', t.v], ['dK', t.dK], ['dV', t.dV]] as const) need(what, b, batch * L * hkv * d);
  need('lse', t.lse, batch * hq * L);
  const dqTile = tileFor(gpu, 'dq', d, opts.tiles?.dq);
  const dkvTile = tileFor(gpu, 'dkv', d, opts.tiles?.dkv);
  const D = gpu.buffer(batch * hq * L * 4, 'flash attention D');
  const nq = Math.ceil(L / geometry(d, dqTile).R);
  const nk = Math.ceil(L / geometry(d, dkvTile).R);
  return [
    gpu.op({
      shader: 'flash_attention_dq',
      code: flashWgsl('dq', d, dqTile, window !== null),
      reads: [t.q, t.k, t.v, t.o, t.lse, t.dO],
      writes: [t.dQ, D],
      params: params(s, scale, nq, window),
      workgroups: [nq, hq, batch],
    }),
    gpu.op({
      shader: 'flash_attention_dkv',
      code: flashWgsl('dkv', d, dkvTile, window !== null),
      reads: [t.q, t.k, t.v, t.lse, D, t.dO],
      writes: [t.dK, t.dV],
      params: params(s, scale, Math.ceil(L / geometry(d, dkvTile).C), window),
      workgroups: [nk, hkv, batch],
    }),
  ];
}
