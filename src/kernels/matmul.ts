// Batched f32 GEMM: C[bt] = (accumulate ? C[bt] : 0) + alpha·op(A[bt])·op(B[bt]) + bias.
//
// Layouts (all row-major, last index fastest; one flat f32 buffer per operand):
//   A[bt]: M×K (element (m,k) at bt·strideA + m·K + k), or with transA K×M (at bt·strideA + k·M + m)
//   B[bt]: K×N (element (k,n) at bt·strideB + k·N + n), or with transB N×K (at bt·strideB + n·K + k)
//   C[bt]: M×N (element (m,n) at bt·strideC + m·N + n)
//   bias:  N, added to every row of every batch
// A stride of 0 broadcasts one matrix over the batch (a shared weight).
//
// The WGSL is generated: Tint does not unroll loops, and the register-blocked inner product only
// runs fast when every accumulator is a named register and every shared-memory offset a constant.
import { bindableElements, packedDtype, Params, type Bindable, type Gpu, type Op, type PackedDtype } from '../gpu/runtime';
import { splitKReduce, splitKScratch, splitKSlices } from './matmul-splitk';

export interface MatmulArgs {
  a: Bindable;
  b: Bindable;
  c: Bindable;
  bias?: Bindable;
  M: number;
  N: number;
  K: number;
  /** Default 1; batch matrices stored back to back. */
  batch?: number;
  /** Elements between batch matrices; default M*K, K*N, M*N; 0 broadcasts (e.g. a shared weight). */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** A stored K×M (row-major) instead of M×K. */
  transA?: boolean;
  /** B stored N×K instead of K×N (PyTorch Linear weights are N×K: y = x·Wᵀ → transB). */
  transB?: boolean;
  /** C += result (gradient accumulation) instead of C = result. */
  accumulate?: boolean;
  /** Scales op(A)·op(B) (default 1); the bias is not scaled. */
  alpha?: number;
  /** false keeps an f16 B unpacked from u32 words where shader-f16 would read it natively. */
  nativeHalf?: boolean;
}

/**
 * A workgroup computes a BM×BN block of C with WX×WY threads; each thread holds GM·4 × GN·4
 * accumulators, as GM×GN blocks of 4×4 spread WY·4 rows / WX·4 columns apart so that a warp's
 * vec4 reads of the shared tiles are contiguous. BK is the depth of one shared tile.
 */
export interface MatmulTile {
  WX: number;
  WY: number;
  GM: number;
  GN: number;
  BK: number;
  /**
   * Shared tiles indexed by thread row first ([ty][g·BK + k]) rather than by k ([k][m/4]): no
   * per-read clamp or address arithmetic, faster for most tiles on an H100, slower for `large`
   * with B not transposed.
   */
  byThread?: boolean;
  /**
   * Two shared tiles per operand, used in turn: a slice's registers go into the tile not being
   * read, so one barrier per BK slice replaces the two of the single-tile loop (store, then read).
   * With one workgroup per SM (the 256-thread tiles) every barrier idles the whole SM while its
   * slowest warp finishes; with one, the warps drift apart by up to a slice. Twice the workgroup memory.
   */
  doubleBuffer?: boolean;
}

// Measured on an H100 through Dawn/Vulkan (TFLOP/s, f32; cuBLAS with TF32 off in brackets), with
// the plans pickMatmulPlan makes:
//   4096³: NN 41.5, NT 43.0, TN 42.8, TT 42.7 [51.6];  4096×1024×1024: 38-40 [49.0]
//   1024³: 33 [37];  256×1024×1024 (split-K): 22 [19];  the GEMMs of a GPT-2-small training step
//   over 4096 tokens (BENCHMARKS.md): 35-44 [35-52], weight gradients 35-37 by split-K [44-47]
export const MATMUL_TILES = {
  /** 128×128 blocks, 16×4 per thread, warps 32 wide: large matrices. */
  large: { WX: 32, WY: 8, GM: 4, GN: 1, BK: 16 },
  /** 128×128 blocks, 8×8 per thread: large matrices with A transposed and B not. */
  largeTN: { WX: 16, WY: 16, GM: 2, GN: 2, BK: 8, byThread: true },
  /** 128×64 blocks, 8×8 per thread, 128 threads: half the large tile's work, for finer waves. */
  tall: { WX: 8, WY: 16, GM: 2, GN: 2, BK: 16, byThread: true },
  /** 64×128 blocks, 8×8 per thread, 128 threads: the same, for C with few rows (column sums). */
  medium: { WX: 16, WY: 8, GM: 2, GN: 2, BK: 16, byThread: true },
  /** 64×64 blocks, 4×4 per thread: small matrices, where more workgroups matter most. */
  small: { WX: 16, WY: 16, GM: 1, GN: 1, BK: 16, byThread: true },
  /**
   * 128×128 blocks, 8×16 per thread, 128 threads, shared tiles by thread: 128 accumulators a
   * thread, 3 vec4 reads of shared memory per 64 FMAs where large's 16×4 takes 5. Fastest of the
   * H200 sweeps (2026-12-04, bench/results/2026-12-04-h200/tiles) on 4096³ in every transpose
   * (1.04-1.10× the previous pick) and on the stage-3 forward x·Wᵀ.
   */
  denseT: { WX: 8, WY: 16, GM: 2, GN: 4, BK: 16, byThread: true },
} as const satisfies Record<string, MatmulTile>;

/**
 * Tiles proposed for tuning (`mohawk bench --tiles` times each against MATMUL_TILES), not planned
 * by pickMatmulPlan: the H200 sweep of 2026-12-04 found none of these faster than MATMUL_TILES on
 * any of its shapes but high (double-buffered) on 4096³ TT, by 1%, and double buffering slower for
 * every tile but largeTN (within 1-2% either way). Each thread holds 128
 * accumulators instead of 64; per k it reads GM + GN vec4 of shared memory for 16·GM·GN FMAs: 3
 * per 64 FMAs at 16×8 or 8×16, against 4 at 8×8 and 5 at large's 16×4. deepK halves the slices,
 * so the barriers.
 */
export const MATMUL_TILE_CANDIDATES = {
  /** 128×128 blocks, 16×8 per thread, 128 threads. */
  dense: { WX: 16, WY: 8, GM: 4, GN: 2, BK: 16 },
  /** 128×256 blocks, 8×16 per thread, 256 threads. */
  wide: { WX: 16, WY: 16, GM: 2, GN: 4, BK: 8 },
  /** 256×128 blocks, 16×8 per thread, 256 threads. */
  high: { WX: 16, WY: 16, GM: 4, GN: 2, BK: 8 },
  /** The large tile 32 deep. */
  deepK: { WX: 32, WY: 8, GM: 4, GN: 1, BK: 32 },
} as const satisfies Record<string, MatmulTile>;

/** Bytes of workgroup memory a tile uses (shared tiles of vec4, one padding vec4 per row; two of each with doubleBuffer). */
export function matmulTileBytes(t: MatmulTile): number {
  const [rowsA, lenA] = t.byThread ? [t.WY, t.BK * t.GM] : [t.BK, t.WY * t.GM];
  const [rowsB, lenB] = t.byThread ? [t.WX, t.BK * t.GN] : [t.BK, t.WX * t.GN];
  return (rowsA * (lenA + 1) + rowsB * (lenB + 1)) * 16 * (t.doubleBuffer ? 2 : 1);
}

/** The tile with BK halved while it exceeds `workgroupBytes` (each thread still moving a vec4 of each shared tile). */
export function fitMatmulTile(tile: MatmulTile, workgroupBytes: number): MatmulTile {
  let t = tile;
  const canHalve = (u: MatmulTile) => (u.BK / 2) * Math.min(u.WY * u.GM, u.WX * u.GN) >= u.WX * u.WY;
  while (matmulTileBytes(t) > workgroupBytes && canHalve(t)) t = { ...t, BK: t.BK / 2 };
  return t;
}

/** How matmul() runs a shape: the tile, and how many K slices (split-K, matmul-splitk.ts; 1 = none). */
export interface MatmulPlan {
  tile: MatmulTile;
  splitK: number;
}

// pickMatmulPlan's cost model, fitted to a sweep of every tile × split over the GEMMs of a
// GPT-2-small training step on an H100 (BENCHMARKS.md): workgroups run in waves of one per SM; a
// wave costs its slice depth times its tile's share of a 128×128 tile, over the tile's
// efficiency; the split-K reduce costs its traffic plus a fixed overhead. The 1-per-SM wave fits
// the 128-thread tiles too: one alone on an SM runs at about the rate of two. Waves are what the
// old block-count thresholds missed: 4096×768 outputs are 192 large tiles, 1.45 waves of 132,
// where 384 tall ones (2.9 waves) ran 1.2-1.3× faster, and a 768×3072 weight gradient over
// K = 4096 ran 1.5× faster as 1008 workgroups over 7 K slices than as 144 over all of K.
const SMS = 132;
/** µs per unit of slice depth of one full wave of 128×128 tiles (≈ 43 TFLOP/s). */
const WAVE_US_PER_K = 0.1;
// denseT from two H200 sweeps (4096³ over large: NN 1.10, NT 1.09, TT 1.08; TN 1.04 over largeTN).
// The first sweep had TT at 0.8 of large, in a stretch where large itself ran 1.8× slower than in
// the second and than its default-plan case; the second agrees with the other transposes.
const EFFICIENCY = { large: 1, largeTN: 1, denseT: 1.08, tall: 0.96, medium: 0.92, small: 0.75 } as const;
const EFFICIENCY_TN = { denseT: 1.04 } as const;
/** The reduce's fixed cost (µs) and bandwidth (bytes/µs). */
const REDUCE_US = 12;
const REDUCE_BYTES_PER_US = 2e6;
const MIN_SLICE = 256;
const MAX_SPLIT = 16;
const SPLIT_SCRATCH = 64 * 2 ** 20;
/** WebGPU's default limit on workgroups along z, where batches × K slices go. */
const MAX_LAYERS = 65535;
/** Rows of C up to which column-sum-like shapes take the medium tile and as many slices as K allows. */
const SKINNY_ROWS = 32;

/**
 * The tile and K split matmul() uses when none is given: the candidate of least modelled time
 * (above). The 128-thread tiles split K only within one wave (more of them measured erratic);
 * C of at most SKINNY_ROWS rows (bias gradients as ones·dY) has work too small for the model and
 * gets the medium tile with up to MAX_SPLIT slices. Slices are at least MIN_SLICE deep, the
 * partials stay within SPLIT_SCRATCH bytes, and BK is halved for small workgroup memories.
 */
export function pickMatmulPlan(
  M: number,
  N: number,
  K: number,
  opts: { batch?: number; transA?: boolean; transB?: boolean; workgroupBytes?: number; scratchBytes?: number; accumulate?: boolean } = {},
): MatmulPlan {
  const batch = opts.batch ?? 1;
  const wgBytes = opts.workgroupBytes ?? 16384;
  const maxScratch = Math.floor(Math.min(SPLIT_SCRATCH, opts.scratchBytes ?? Infinity) / 4 / (batch * M * N));
  const maxSplit = Math.max(1, Math.min(MAX_SPLIT, Math.floor(K / MIN_SLICE), maxScratch));
  if (M <= SKINNY_ROWS) return { tile: fitMatmulTile(MATMUL_TILES.medium, wgBytes), splitK: maxSplit };
  const tn = opts.transA && !opts.transB;
  const big = tn ? 'largeTN' : 'large';
  // denseT was timed only at its full depth (BK 16, 16.4 KiB), so it is planned only where that fits.
  const dense = matmulTileBytes(MATMUL_TILES.denseT) <= wgBytes ? (['denseT'] as const) : [];
  let best: { plan: MatmulPlan; us: number } | undefined;
  for (const name of [big, ...dense, 'large', 'tall', 'medium', 'small'] as const) {
    const tile = fitMatmulTile(MATMUL_TILES[name], wgBytes);
    const efficiency = tn && name === 'denseT' ? EFFICIENCY_TN.denseT : EFFICIENCY[name];
    const BM = tile.WY * tile.GM * 4, BN = tile.WX * tile.GN * 4;
    const blocks = Math.ceil(M / BM) * Math.ceil(N / BN) * batch;
    // largeTN and denseT were timed unsplit only.
    for (let asked = 1; asked <= (name === 'largeTN' || name === 'denseT' ? 1 : maxSplit); asked++) {
      const { Kc, S } = splitKSlices(K, asked, tile.BK);
      if (S !== asked) continue;
      if (name === 'large' && big === 'largeTN' && S === 1) continue;
      if (S > 1 && name !== 'large' && blocks * S > SMS) break;
      if (batch * S > MAX_LAYERS) break;
      const waves = Math.ceil((blocks * S) / SMS);
      let us = (waves * Kc * WAVE_US_PER_K * (BM * BN)) / (128 * 128) / efficiency;
      if (S > 1) us += REDUCE_US + ((S + 1 + (opts.accumulate ? 1 : 0)) * batch * M * N * 4) / REDUCE_BYTES_PER_US;
      if (!best || us < best.us) best = { plan: { tile, splitK: S }, us };
    }
  }
  return best!.plan;
}

export interface MatmulVariant {
  tile: MatmulTile;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  accumulate: boolean;
  /**
   * One slice of K per workgroup layer (split-K): workgroup z = bt·S + s sums k in
   * [s·Kc, min(K, (s+1)·Kc)) and writes the raw sum to its own M×N block of C (a scratch
   * buffer), for matmul-splitk.ts's reduce; bias and accumulate must be off and alpha 1.
   */
  splitK?: boolean;
  /** B holds 16-bit weights packed two per u32 (a frozen weight kept in its checkpoint's precision). */
  packedB?: PackedDtype;
  /**
   * With packedB 'f16' on a device with shader-f16: B is bound as array<f16> and read natively
   * instead of unpacked from u32 words. The same values (f16 widens to f32 exactly).
   */
  halfB?: boolean;
}

const sources = new Map<string, string>();

/** The WGSL of one variant (exported for inspection and benchmarks). */
export function matmulWgsl(v: MatmulVariant): string {
  const key = JSON.stringify(v);
  let code = sources.get(key);
  if (!code) {
    code = generate(v);
    sources.set(key, code);
  }
  return code;
}

function generate({ tile, transA, transB, bias, accumulate, splitK = false, packedB, halfB = false }: MatmulVariant): string {
  if (splitK && (bias || accumulate)) throw new Error('matmul: a split-K slice writes raw partial sums (no bias, no accumulate)');
  if (halfB && packedB !== 'f16') throw new Error('matmul: halfB reads an f16 B');
  const { WX, WY, GM, GN, BK } = tile;
  const NT = WX * WY;
  const BM = WY * GM * 4;
  const BN = WX * GN * 4;
  // Shared tiles hold vec4 along m (A) or n (B). By k ([k][m/4], [k][n/4]) a warp's reads are
  // contiguous. By thread ([ty][g·BK + k], [tx][h·BK + k]) the only dynamic index is the outer
  // one, whose bounds clamp (robustness) does not change over the loop, so the inner loop's
  // reads carry no clamp or address arithmetic. Either way each row has one vec4 of padding:
  // the odd row length puts the stores of a quarter warp (consecutive rows or k) on distinct banks.
  const byThread = !!tile.byThread;
  const rowsA = byThread ? WY : BK;
  const rowsB = byThread ? WX : BK;
  const IA = (byThread ? BK * GM : BM / 4) + 1;
  const IB = (byThread ? BK * GN : BN / 4) + 1;
  const LA = (BK * BM) / 4 / NT;
  const LB = (BK * BN) / 4 / NT;
  if (!Number.isInteger(LA) || !Number.isInteger(LB) || LA < 1 || LB < 1) {
    throw new Error(`matmul tile ${JSON.stringify(tile)}: BK·BM/4 and BK·BN/4 must be multiples of ${NT} threads`);
  }
  const L: string[] = [];
  const e = (s: string) => L.push(s);

  if (halfB) e(`enable f16;`);
  e(`struct P { M: u32, N: u32, K: u32, sA: u32, sB: u32, sC: u32, alpha: f32${splitK ? ', S: u32, Kc: u32' : ''} }`);
  let binding = 0;
  e(`@group(0) @binding(${binding++}) var<storage, read> A: array<f32>;`);
  e(`@group(0) @binding(${binding++}) var<storage, read> B: array<${halfB ? 'f16' : packedB ? 'u32' : 'f32'}>;`);
  if (bias) e(`@group(0) @binding(${binding++}) var<storage, read> bias: array<f32>;`);
  e(`@group(0) @binding(${binding++}) var<storage, read_write> C: array<f32>;`);
  e(`@group(0) @binding(${binding++}) var<uniform> p: P;`);
  // A packed B element: bf16 is the high half of an f32, f16 converts exactly to f32.
  if (packedB === 'bf16') e(`fn rdB(i: u32) -> f32 { let w = B[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }`);
  if (halfB) e(`fn rdB(i: u32) -> f32 { return f32(B[i]); }`);
  else if (packedB === 'f16') e(`fn rdB(i: u32) -> f32 { return unpack2x16float(B[i >> 1u])[i & 1u]; }`);
  const db = !!tile.doubleBuffer;
  // With doubleBuffer the outer index picks one of the two tiles (constant over a slice).
  const shared = (rows: number, len: number) => (db ? `array<array<array<vec4<f32>, ${len}>, ${rows}>, 2>` : `array<array<vec4<f32>, ${len}>, ${rows}>`);
  e(`var<workgroup> As: ${shared(rowsA, IA)};`);
  e(`var<workgroup> Bs: ${shared(rowsB, IB)};`);
  e(`@compute @workgroup_size(${NT})`);
  e(`fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wg: vec3u) {`);
  e(`  let tx = t % ${WX}u;`);
  e(`  let ty = t / ${WX}u;`);
  e(`  let M = p.M; let N = p.N; let K = p.K;`);
  e(`  let m0 = wg.y * ${BM}u;`);
  e(`  let n0 = wg.x * ${BN}u;`);
  if (splitK) {
    // K stays the row stride of k-fastest operands; kEnd bounds this slice's reads.
    e(`  let bt = wg.z / p.S;`);
    e(`  let kBeg = (wg.z % p.S) * p.Kc;`);
    e(`  let kEnd = min(K, kBeg + p.Kc);`);
    e(`  let aBase = bt * p.sA;`);
    e(`  let bBase = bt * p.sB;`);
  } else {
    e(`  let kBeg = 0u;`);
    e(`  let kEnd = K;`);
    e(`  let aBase = wg.z * p.sA;`);
    e(`  let bBase = wg.z * p.sB;`);
  }
  e(`  let cBase = wg.z * p.sC;`);

  // Each thread moves LA (LB) vec4 of the next A (B) tile through registers. A vec4 always runs
  // along m (n), the order the shared tile wants; when the matrix is stored with k fastest, its
  // four elements come from four rows, each load still coalesced along k across the warp.
  // Indices are precomputed per thread; a step only adds the tile's offset (kOff for k-fastest
  // storage, kOff·M or kOff·N otherwise). Past K a read must give zero, so the last, partial
  // tile takes a guarded path. Past M (N) a read feeds only rows (columns) of C that are never
  // written: it is left unguarded, since WGSL keeps any out-of-bounds read inside the buffer.
  const tileLoads = (name: 'A' | 'B', loads: number, rowsPerTile: number, kFastest: boolean) => {
    const base = name === 'A' ? 'aBase' : 'bBase';
    const rd = (idx: string) => (name === 'B' && packedB ? `rdB(${idx})` : `${name}[${idx}]`);
    const outer = name === 'A' ? 'm0' : 'n0';
    const dim = name === 'A' ? 'M' : 'N';
    const decl: string[] = [];
    const full: string[] = [];
    const edge: string[] = [];
    const store: ((buf: string) => string)[] = [];
    // Offset of element i of a vec4 from its first element.
    const di = (i: number) => (i === 0 ? '' : kFastest ? ` + ${name}K${i}` : ` + ${i}u`);
    if (kFastest) for (let i = 1; i < 4; i++) decl.push(`  let ${name}K${i} = ${i}u * K;`);
    const off = kFastest ? 'kOff' : `kOff * ${dim}`;
    for (let l = 0; l < loads; l++) {
      const id = `t + ${l * NT}u`;
      const kk = kFastest ? `(${id}) % ${BK}u` : `(${id}) / ${rowsPerTile / 4}u`;
      const r4 = kFastest ? `(${id}) / ${BK}u` : `(${id}) % ${rowsPerTile / 4}u`;
      decl.push(`  let ${name}k${l} = ${kk};`);
      decl.push(`  let ${name}r${l} = ${outer} + (${r4}) * 4u;`);
      decl.push(
        `  let ${name}b${l} = ${base} + ${kFastest ? `${name}r${l} * K + ${name}k${l}` : `${name}k${l} * ${dim} + ${name}r${l}`};`,
      );
      // vec4 r4 of the tile (rows 4·r4..4·r4+3) belongs to thread row r4 % W, block r4 / W.
      const W = name === 'A' ? WY : WX;
      if (byThread) {
        decl.push(`  let ${name}so${l} = (${r4}) % ${W}u;`);
        decl.push(`  let ${name}si${l} = (${r4}) / ${W}u * ${BK}u + ${name}k${l};`);
      } else {
        decl.push(`  let ${name}so${l} = ${name}k${l};`);
        decl.push(`  let ${name}si${l} = ${r4};`);
      }
      decl.push(`  var ${name}v${l}: vec4<f32>;`);
      full.push(`      let ${name}o${l} = ${name}b${l} + ${off};`);
      full.push(`      ${name}v${l} = vec4<f32>(${[0, 1, 2, 3].map((i) => rd(`${name}o${l}${di(i)}`)).join(', ')});`);
      edge.push(`      let ${name}o${l} = ${name}b${l} + ${off};`);
      edge.push(`      let ${name}in${l} = kOff + ${name}k${l} < kEnd;`);
      for (let i = 0; i < 4; i++) {
        edge.push(`      ${name}v${l}[${i}] = select(0.0, ${rd(`${name}o${l}${di(i)}`)}, ${name}in${l});`);
      }
      store.push((buf) => `    ${name}s${buf}[${name}so${l}][${name}si${l}] = ${name}v${l};`);
    }
    return { decl, full, edge, store };
  };
  const la = tileLoads('A', LA, BM, !transA);
  const lb = tileLoads('B', LB, BN, transB);
  la.decl.forEach(e);
  lb.decl.forEach(e);
  // Loads the tile starting at depth kOff into the registers.
  const loadTile = () => {
    e(`    if (kOff + ${BK}u <= kEnd) {`);
    la.full.forEach(e);
    lb.full.forEach(e);
    e(`    } else {`);
    la.edge.forEach(e);
    lb.edge.forEach(e);
    e(`    }`);
  };

  for (let g = 0; g < GM * 4; g++) for (let h = 0; h < GN; h++) e(`  var c${g}_${h} = vec4<f32>(0.0);`);

  e(`  let kTiles = (kEnd - kBeg + ${BK - 1}u) / ${BK}u;`);
  e(`  var kOff = kBeg;`);
  e(`  {`);
  loadTile();
  e(`  }`);
  // Reads shared tile `buf` ('' for the single tile, '[cur]' for one of two).
  const compute = (buf: string) => {
    for (let k = 0; k < BK; k++) {
      for (let g = 0; g < GM; g++) e(byThread ? `    let a${k}_${g} = As${buf}[ty][${g * BK + k}];` : `    let a${k}_${g} = As${buf}[${k}][${g * WY}u + ty];`);
      for (let h = 0; h < GN; h++) e(byThread ? `    let b${k}_${h} = Bs${buf}[tx][${h * BK + k}];` : `    let b${k}_${h} = Bs${buf}[${k}][${h * WX}u + tx];`);
      for (let g = 0; g < GM; g++) {
        for (let i = 0; i < 4; i++) {
          const comp = 'xyzw'[i];
          for (let h = 0; h < GN; h++) {
            const c = `c${g * 4 + i}_${h}`;
            e(`    ${c} = fma(vec4<f32>(a${k}_${g}.${comp}), b${k}_${h}, ${c});`);
          }
        }
      }
    }
  };
  const store = (buf: string) => [...la.store, ...lb.store].forEach((f) => e(f(buf)));
  if (!db) {
    e(`  for (var kt = 0u; kt < kTiles; kt++) {`);
    e(`    workgroupBarrier();`);
    store('');
    e(`    workgroupBarrier();`);
    // The next tile's global reads are issued before this tile's arithmetic, which hides them.
    e(`    kOff += ${BK}u;`);
    e(`    if (kt + 1u < kTiles) {`);
    loadTile();
    e(`    }`);
    compute('');
    e(`  }`);
  } else {
    // Slice kt is read from tile kt & 1 while slice kt + 1 travels through the registers into
    // the other; the barrier after that store both publishes it and ends every read of tile
    // kt & 1, the next slice's store target.
    e(`  {`);
    store('[0]');
    e(`  }`);
    e(`  workgroupBarrier();`);
    e(`  for (var kt = 0u; kt < kTiles; kt++) {`);
    e(`    let cur = kt & 1u;`);
    e(`    kOff += ${BK}u;`);
    e(`    let more = kt + 1u < kTiles;`);
    e(`    if (more) {`);
    loadTile();
    e(`    }`);
    compute('[cur]');
    e(`    if (more) {`);
    store('[cur ^ 1u]');
    e(`    }`);
    e(`    workgroupBarrier();`);
    e(`  }`);
  }

  // Epilogue: row m0 + g·WY·4 + ty·4 + i, columns n0 + h·WX·4 + tx·4 + j.
  e(`  let alpha = p.alpha;`);
  for (let h = 0; h < GN; h++) {
    e(`  let col${h} = n0 + ${h * WX * 4}u + tx * 4u;`);
    if (bias) {
      e(`  var bias${h} = vec4<f32>(0.0);`);
      for (let j = 0; j < 4; j++) e(`  if (col${h} + ${j}u < N) { bias${h}[${j}] = bias[col${h} + ${j}u]; }`);
    }
  }
  for (let g = 0; g < GM; g++) {
    for (let i = 0; i < 4; i++) {
      const row = `row${g}_${i}`;
      e(`  let ${row} = m0 + ${g * WY * 4 + i}u + ty * 4u;`);
      e(`  if (${row} < M) {`);
      for (let h = 0; h < GN; h++) {
        const c = `c${g * 4 + i}_${h}`;
        e(`    {`);
        e(`      let v = alpha * ${c}${bias ? ` + bias${h}` : ''};`);
        e(`      let o = cBase + ${row} * N + col${h};`);
        for (let j = 0; j < 4; j++) {
          const dst = `C[o + ${j}u]`;
          e(`      if (col${h} + ${j}u < N) { ${dst} = ${accumulate ? `${dst} + ` : ''}v[${j}]; }`);
        }
        e(`    }`);
      }
      e(`  }`);
    }
  }
  e(`}`);
  return L.join('\n') + '\n';
}

const elements = bindableElements;

/**
 * The ops computing one batched GEMM (see MatmulArgs; layouts at the top of this file). `tile` and
 * `splitK` (K slices asked for) override pickMatmulPlan's choice; a tile given alone runs unsplit.
 */
export function matmul(gpu: Gpu, args: MatmulArgs, tile?: MatmulTile, splitK?: number): Op[] {
  const { M, N, K } = args;
  const batch = args.batch ?? 1;
  const strideA = args.strideA ?? M * K;
  const strideB = args.strideB ?? K * N;
  const strideC = args.strideC ?? M * N;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const alpha = args.alpha ?? 1;
  const accumulate = !!args.accumulate;
  const packedB = packedDtype(args.b) ?? undefined;
  // An f16 weight is read natively where the device can (shader-f16); `nativeHalf: false` keeps the
  // u32 unpacking (tests compare the two).
  const halfB = packedB === 'f16' && gpu.info.shaderF16 && args.nativeHalf !== false;
  if (packedDtype(args.a) || packedDtype(args.c) || (args.bias && packedDtype(args.bias))) {
    throw new Error('matmul: only B may be a packed 16-bit weight');
  }
  const shape = `M=${M} N=${N} K=${K} batch=${batch} strides=${strideA}/${strideB}/${strideC}`;
  for (const [k, v] of Object.entries({ M, N, K, batch })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`matmul: ${k} must be a positive integer (${shape})`);
  }
  for (const [k, v] of Object.entries({ strideA, strideB, strideC })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`matmul: ${k} must be a non-negative integer (${shape})`);
  }
  if (batch > 1 && strideC < M * N) {
    throw new Error(`matmul: strideC ${strideC} < M·N ${M * N} would make batch outputs overlap (${shape})`);
  }
  if (splitK !== undefined && (!Number.isInteger(splitK) || splitK < 1)) {
    throw new Error(`matmul: splitK must be a positive integer, got ${splitK} (${shape})`);
  }
  const need = (name: string, b: Bindable, stride: number, size: number) => {
    const want = (batch - 1) * stride + size;
    if (elements(b) < want) throw new Error(`matmul: ${name} holds ${elements(b)} floats, needs ${want} (${shape})`);
  };
  need('a', args.a, strideA, M * K);
  need('b', args.b, strideB, K * N);
  need('c', args.c, strideC, M * N);
  if (args.bias && elements(args.bias) < N) {
    throw new Error(`matmul: bias holds ${elements(args.bias)} floats, needs N=${N} (${shape})`);
  }
  const limits = gpu.info.limits;
  const workgroupBytes = limits.maxComputeWorkgroupStorageSize;
  const plan = pickMatmulPlan(M, N, K, { batch, transA, transB, accumulate, workgroupBytes, scratchBytes: limits.maxStorageBufferBindingSize });
  const t = tile ?? plan.tile;
  if (matmulTileBytes(t) > workgroupBytes) {
    throw new Error(`matmul: tile ${JSON.stringify(t)} needs ${matmulTileBytes(t)} bytes of workgroup memory, the device has ${workgroupBytes}`);
  }
  const BM = t.WY * t.GM * 4;
  const BN = t.WX * t.GN * 4;
  const grid = (z: number): [number, number, number] => [Math.ceil(N / BN), Math.ceil(M / BM), z];
  const label = `matmul ${M}x${N}x${K}${batch > 1 ? ` x${batch}` : ''}${transA ? ' tA' : ''}${transB ? ' tB' : ''}`;
  const { Kc, S } = splitKSlices(K, splitK ?? (tile ? 1 : plan.splitK), t.BK);
  if (S === 1) {
    const code = matmulWgsl({ tile: t, transA, transB, bias: !!args.bias, accumulate, packedB, halfB });
    const params = new Params().u32(M).u32(N).u32(K).u32(strideA).u32(strideB).u32(strideC).f32(alpha).build();
    return [
      gpu.op({
        shader: 'matmul',
        code,
        reads: args.bias ? [args.a, args.b, args.bias] : [args.a, args.b],
        writes: [args.c],
        params,
        workgroups: grid(batch),
        label,
      }),
    ];
  }
  // Split-K (matmul-splitk.ts): raw partial sums per K slice, then one ordered reduce.
  if (batch * S > limits.maxComputeWorkgroupsPerDimension) {
    throw new Error(`matmul: ${batch} batches × ${S} K slices exceed ${limits.maxComputeWorkgroupsPerDimension} workgroups (${shape})`);
  }
  const part = splitKScratch(gpu, batch * S * M * N);
  const code = matmulWgsl({ tile: t, transA, transB, bias: false, accumulate: false, splitK: true, packedB, halfB });
  const params = new Params().u32(M).u32(N).u32(K).u32(strideA).u32(strideB).u32(M * N).f32(1).u32(S).u32(Kc).build();
  return [
    gpu.op({ shader: 'matmul', code, reads: [args.a, args.b], writes: [part], params, workgroups: grid(batch * S), label: `${label} split-K ${S}×${Kc}` }),
    splitKReduce(gpu, { part, c: args.c, bias: args.bias, M, N, S, batch, strideC, alpha, accumulate }),
  ];
}

// Column sums (bias gradients) as ones(1 × rows)·x: a GEMM, so every sum has one fixed order. The
// ones row is kept per device and grown when a longer one is asked for.
const onesRows = new WeakMap<Gpu, GPUBuffer>();

/** out[c] += Σ_r x[r, c] for x (rows, cols). */
export function addColumnSums(gpu: Gpu, a: { x: Bindable; out: Bindable; rows: number; cols: number }): Op[] {
  let ones = onesRows.get(gpu);
  if (!ones || ones.size < a.rows * 4) {
    ones = gpu.lasting(gpu.upload(new Float32Array(Math.max(a.rows, 1024)).fill(1), 'ones'));
    onesRows.set(gpu, ones);
  }
  return matmul(gpu, { a: ones, b: a.x, c: a.out, M: 1, N: a.cols, K: a.rows, accumulate: true });
}
