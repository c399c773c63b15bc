// Matmul cases: the square 4096³ GEMM in every transpose (the cuBLAS comparison), a Linear layer's
// three GEMMs at a training shape (forward x·Wᵀ = NT, dX = dY·W = NN, dW = dYᵀ·X = TN), the
// smaller shapes where a wave of 128×128 tiles no longer fills the GPU, and three GEMMs of a
// GPT-2-small training step over 4096 tokens (MOHAWK stage 3) that pickMatmulPlan treats apart: a
// weight gradient with few tiles and a long K (split-K), a dX of 4096×768 (tall tiles), and a bias
// gradient as ones·dY (one row of C, split-K).
//
// With `tiles` (`mohawk bench --tiles`), group 'matmul tiles' adds one case per candidate tile
// (every MATMUL_TILES and MATMUL_TILE_CANDIDATES entry, each also double-buffered) on the square
// GEMM in every transpose and on three stage-3 GEMMs, each run unsplit on that tile alone: the
// sweep a change to pickMatmulPlan is fitted to.
import { MATMUL_TILES, MATMUL_TILE_CANDIDATES, matmul, matmulTileBytes, type MatmulTile } from '../kernels/matmul';
import { SWEEP_WORKGROUP_BYTES, type BenchCase, type BenchSize } from './case';

type Trans = 'NN' | 'NT' | 'TN' | 'TT';

/** The GEMM, on pickMatmulPlan's plan or, given a tile, on that tile unsplit (or in `split` K slices). */
function gemm(M: number, N: number, K: number, t: Trans, tile?: { name: string; tile: MatmulTile }, split?: number): BenchCase {
  const transA = t[0] === 'T';
  const transB = t[1] === 'T';
  return {
    group: split ? 'matmul splits' : tile ? 'matmul tiles' : 'matmul',
    name: tile ? `matmul ${t} tile ${tile.name}${split ? ` split ${split}` : ''}` : `matmul ${t}`,
    shape: `${M}x${N}x${K}`,
    setup(gpu, data) {
      const a = data.uniform(M * K);
      const b = data.uniform(K * N);
      const c = data.out(M * N);
      return { ops: matmul(gpu, { a, b, c, M, N, K, transA, transB }, tile?.tile, tile && (split ?? 1)), flops: 2 * M * N * K };
    },
  };
}

/**
 * Group 'matmul splits' (with --tiles): the A-transposed (weight-gradient) GEMMs, where denseT and
 * largeTN had been timed unsplit only, on the tiles planned for them in 1 to 4 K slices: whether
 * splitting fills the GPU better than one wave and a part.
 */
function splitCases(size: BenchSize): BenchCase[] {
  const [T, D] = size === 'full' ? [8192, 2048] : [200, 96];
  const [R, d] = size === 'full' ? [4096, 768] : [256, 64];
  const big = size === 'full' ? 4096 : 128;
  const names = size === 'full' ? (['denseT', 'largeTN', 'large'] as const) : (['large'] as const);
  const shapes: [number, number, number][] = size === 'full' ? [[D, D, T], [big, big, big], [d, 4 * d, R]] : [[D, D, T]];
  return shapes.flatMap(([M, N, K]) => names.flatMap((name) => [1, 2, 3, 4].map((s) => gemm(M, N, K, 'TN', { name, tile: MATMUL_TILES[name] }, s))));
}

// At size small, a few candidates only: the sweep's cases exist and run, on any adapter.
const SMALL_SWEEP = ['large', 'tall+doubleBuffer'];

/**
 * The candidates of the sweep, named `tile` or `tile+doubleBuffer`: every tile in both forms, less
 * those needing more workgroup memory than the GPU the sweep is for.
 */
export function matmulTileCandidates(size: BenchSize): { name: string; tile: MatmulTile }[] {
  const all = Object.entries({ ...MATMUL_TILES, ...MATMUL_TILE_CANDIDATES }).flatMap(([name, tile]: [string, MatmulTile]) => [
    { name, tile },
    { name: `${name}+doubleBuffer`, tile: { ...tile, doubleBuffer: true } },
  ]);
  const fit = all.filter((c) => matmulTileBytes(c.tile) <= SWEEP_WORKGROUP_BYTES[size]);
  return size === 'full' ? fit : fit.filter((c) => SMALL_SWEEP.includes(c.name));
}

function tileCases(size: BenchSize): BenchCase[] {
  const candidates = matmulTileCandidates(size);
  const big = size === 'full' ? 4096 : 128;
  // Tokens and d_model of a GPT-2-small stage-3 step: fc fwd (x·Wᵀ), fc dX (dY·W), mlp proj dW (dYᵀ·X).
  const [R, d] = size === 'full' ? [4096, 768] : [256, 64];
  const shapes: [number, number, number, Trans][] =
    size === 'full'
      ? [...(['NN', 'NT', 'TN', 'TT'] as const).map((t): [number, number, number, Trans] => [big, big, big, t]), [R, 4 * d, d, 'NT'], [R, d, 4 * d, 'NN'], [d, 4 * d, R, 'TN']]
      : [[big, big, big, 'NN'], [d, 4 * d, R, 'TN']];
  return shapes.flatMap(([M, N, K, t]) => candidates.map((c) => gemm(M, N, K, t, c)));
}

export function matmulCases(size: BenchSize, opts: { tiles?: boolean } = {}): BenchCase[] {
  const big = size === 'full' ? 4096 : 128;
  // tokens × d_model of a Linear d→d over a batch of 8×1024 tokens (small: a few tiles, one partial).
  const [T, D] = size === 'full' ? [8192, 2048] : [200, 96];
  const [m, n] = size === 'full' ? [1024, 256] : [64, 32];
  // Tokens and d_model of a GPT-2-small step (small: a long K over few tiles all the same).
  const [R, d] = size === 'full' ? [4096, 768] : [1100, 40];
  return [
    ...(['NN', 'NT', 'TN', 'TT'] as const).map((t) => gemm(big, big, big, t)),
    gemm(T, D, D, 'NT'),
    gemm(T, D, D, 'NN'),
    gemm(D, D, T, 'TN'),
    gemm(m, m, m, 'NN'),
    gemm(n, m, m, 'NN'),
    gemm(d, 4 * d, R, 'TN'),
    gemm(R, d, 4 * d, 'NN'),
    gemm(1, 4 * d, R, 'NN'),
    ...(opts.tiles ? [...tileCases(size), ...splitCases(size)] : []),
  ];
}
