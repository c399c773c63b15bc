import { describe, expect, it } from 'vitest';
import { MATMUL_TILES, MATMUL_TILE_CANDIDATES, addColumnSums, fitMatmulTile, matmul, matmulTileBytes, pickMatmulPlan, type MatmulArgs, type MatmulTile } from '../../src/kernels/matmul';
import { splitKSlices } from '../../src/kernels/matmul-splitk';
import { matmulBackwardRef, matmulRef, spanOf, type MatmulShape } from '../../src/ref/matmul';
import { randn, relErr, testGpu } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';
import { f32ToBf16, f32ToF16, halfToF32 } from '../../src/io/half';
import { packedDtype } from '../../src/gpu/runtime';

const f64 = (x: Float32Array) => Float64Array.from(x);

type Case = Omit<MatmulArgs, 'a' | 'b' | 'c' | 'bias'> & { bias?: boolean };

/** Runs one GEMM on the GPU and in float64; returns both C buffers (C starts random). */
async function runCase(cs: Case, tile: MatmulTile | undefined, seed: number, splitK?: number) {
  const gpu = await testGpu();
  const batch = cs.batch ?? 1;
  const shape: MatmulShape = cs;
  const sizeA = spanOf(batch, cs.strideA ?? cs.M * cs.K, cs.M * cs.K);
  const sizeB = spanOf(batch, cs.strideB ?? cs.K * cs.N, cs.K * cs.N);
  const sizeC = spanOf(batch, cs.strideC ?? cs.M * cs.N, cs.M * cs.N);
  const a = randn(sizeA, seed);
  const b = randn(sizeB, seed + 1);
  const c0 = randn(sizeC, seed + 2);
  const bias = cs.bias ? randn(cs.N, seed + 3) : undefined;
  const bufs = { a: gpu.upload(a), b: gpu.upload(b), c: gpu.upload(c0), bias: bias && gpu.upload(bias) };
  const { bias: _hasBias, ...rest } = cs;
  const ops = matmul(gpu, { ...rest, a: bufs.a, b: bufs.b, c: bufs.c, bias: bufs.bias }, tile, splitK);
  // A split asked for must really run as split-K (a GEMM then its reduce), or the test means nothing.
  if (splitK !== undefined) expect(ops.length, 'split-K ops').toBe(splitK > 1 ? 2 : 1);
  gpu.run(ops);
  const got = await gpu.read(bufs.c, sizeC);
  await gpu.check();
  for (const buf of [bufs.a, bufs.b, bufs.c, bufs.bias]) if (buf) gpu.release(buf);
  // C starts random, so the comparison also checks that what lies between strided batch outputs
  // survives and that C is overwritten (not added to) without accumulate.
  const want = matmulRef(shape, f64(a), f64(b), { c: f64(c0), bias: bias && f64(bias), accumulate: cs.accumulate });
  return { got, want };
}

const tiles: [string, MatmulTile][] = Object.entries(MATMUL_TILES);

const shapes: [number, number, number][] = [
  [1, 1, 1],
  [7, 5, 3],
  [65, 130, 7],
  [130, 33, 65],
  [3, 129, 17],
];

// Cases of the epilogue, of batches and of split-K, each run on several tiles (below).
const epilogueCases: Case[] = [
  { M: 67, N: 45, K: 33, bias: true },
  { M: 67, N: 45, K: 33, bias: true, accumulate: true, alpha: -0.5, transB: true },
  { M: 5, N: 131, K: 9, accumulate: true, alpha: 3, transA: true },
  { M: 130, N: 3, K: 20, bias: true, accumulate: true, transA: true, transB: true },
];
const batchCases: Case[] = [
  // A shared weight (y = x·Wᵀ over a batch): B broadcast.
  { M: 33, N: 20, K: 17, batch: 3, strideB: 0, transB: true, bias: true },
  // A broadcast, B per batch, C with gaps between batch matrices.
  { M: 9, N: 66, K: 5, batch: 4, strideA: 0, strideC: 9 * 66 + 13, transA: true },
  { M: 12, N: 7, K: 70, batch: 2, strideA: 12 * 70 + 3, strideB: 70 * 7 + 1, accumulate: true, alpha: 0.25 },
  { M: 65, N: 129, K: 3, batch: 2, strideA: 0, strideB: 0, strideC: 65 * 129 + 4 },
];
const splitCases: [Case, number][] = [
  [{ M: 67, N: 45, K: 60, bias: true, alpha: 0.75 }, 4],
  [{ M: 30, N: 131, K: 70, accumulate: true, alpha: -0.5, transA: true }, 2],
  [{ M: 33, N: 20, K: 64, batch: 3, strideB: 0, transB: true, bias: true, accumulate: true }, 3],
  [{ M: 9, N: 66, K: 50, batch: 2, strideA: 0, strideC: 9 * 66 + 13, transA: true, transB: true }, 2],
  [{ M: 12, N: 7, K: 70, batch: 2, strideA: 12 * 70 + 3, strideB: 70 * 7 + 1, accumulate: true, alpha: 0.25 }, 5],
];

describe('matmul reference', () => {
  it('computes a hand-worked product with transposes, bias, alpha and accumulate', () => {
    // op(A) = [[1,2,3],[4,5,6]], op(B) = [[1,0],[0,1],[2,-1]] → op(A)·op(B) = [[7,-1],[16,-1]]
    const A = Float64Array.from([1, 2, 3, 4, 5, 6]);
    const At = Float64Array.from([1, 4, 2, 5, 3, 6]);
    const B = Float64Array.from([1, 0, 0, 1, 2, -1]);
    const Bt = Float64Array.from([1, 0, 2, 0, 1, -1]);
    const s = { M: 2, N: 2, K: 3 };
    expect([...matmulRef(s, A, B)]).toEqual([7, -1, 16, -1]);
    expect([...matmulRef({ ...s, transA: true }, At, B)]).toEqual([7, -1, 16, -1]);
    expect([...matmulRef({ ...s, transB: true }, A, Bt)]).toEqual([7, -1, 16, -1]);
    const c = Float64Array.from([1, 1, 1, 1]);
    const bias = Float64Array.from([10, 20]);
    expect([...matmulRef({ ...s, transA: true, transB: true, alpha: 2 }, At, Bt, { c, bias, accumulate: true })]).toEqual([25, 19, 43, 19]);
  });

  it('has gradients that match central finite differences (float64)', () => {
    const shapes: MatmulShape[] = [
      { M: 3, N: 4, K: 5, alpha: 0.7 },
      { M: 2, N: 3, K: 4, transA: true, transB: true, batch: 2, strideB: 0 },
      { M: 3, N: 2, K: 3, transB: true, batch: 3, strideA: 0, alpha: -1.5 },
    ];
    for (const [si, s] of shapes.entries()) {
      const batch = s.batch ?? 1;
      const a = f64(randn(spanOf(batch, s.strideA ?? s.M * s.K, s.M * s.K), 10 + si));
      const b = f64(randn(spanOf(batch, s.strideB ?? s.K * s.N, s.K * s.N), 20 + si));
      const bias = f64(randn(s.N, 30 + si));
      const w = f64(randn(spanOf(batch, s.M * s.N, s.M * s.N), 40 + si)); // L = Σ w ⊙ C
      const loss = (a2: Float64Array, b2: Float64Array, bias2: Float64Array) =>
        matmulRef(s, a2, b2, { bias: bias2 }).reduce((acc, v, i) => acc + v * w[i], 0);
      const { dA, dB, dBias } = matmulBackwardRef(s, a, b, w);
      expect(relErr(dA, fdGrad(a, () => loss(a, b, bias)))).toBeLessThan(1e-6);
      expect(relErr(dB, fdGrad(b, () => loss(a, b, bias)))).toBeLessThan(1e-6);
      expect(relErr(dBias, fdGrad(bias, () => loss(a, b, bias)))).toBeLessThan(1e-6);
    }
  });
});

describe('matmul on the GPU', () => {
  it('is exact on small integers (every tile, every transpose)', async () => {
    const gpu = await testGpu();
    const M = 9, N = 70, K = 19;
    const ints = (n: number, seed: number) => Float32Array.from(randn(n, seed), (v) => Math.round(v * 4));
    const a = ints(M * K, 1), b = ints(K * N, 2);
    const want = [...matmulRef({ M, N, K }, f64(a), f64(b))];
    const transpose = (x: Float32Array, r: number, c: number) => Float32Array.from(x, (_, i) => x[(i % r) * c + Math.floor(i / r)]);
    for (const [, tile] of tiles) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const A = gpu.upload(transA ? transpose(a, M, K) : a);
          const B = gpu.upload(transB ? transpose(b, K, N) : b);
          const C = gpu.zeros(M * N);
          gpu.run(matmul(gpu, { a: A, b: B, c: C, M, N, K, transA, transB }, tile));
          expect([...(await gpu.read(C, M * N))]).toEqual(want);
        }
      }
    }
    await gpu.check();
  });

  for (const [tname, tile] of tiles) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`matches float64, ${tname} tile, transA=${transA} transB=${transB}`, async () => {
          for (const [i, [M, N, K]] of shapes.entries()) {
            const { got, want } = await runCase({ M, N, K, transA, transB }, tile, 100 + i);
            expect(relErr(got, want), `M=${M} N=${N} K=${K}`).toBeLessThan(1e-4);
          }
        });
      }
    }
  }

  // The epilogue and the batch indexing are the same text in every tile: each case runs on a
  // different tile, which keeps the number of pipelines SwiftShader compiles down.
  it('adds a bias, scales by alpha and accumulates into C', async () => {
    for (const [i, cs] of epilogueCases.entries()) {
      const { got, want } = await runCase(cs, tiles[i % tiles.length][1], 7 + i);
      expect(relErr(got, want), JSON.stringify(cs)).toBeLessThan(1e-4);
    }
  });

  it('runs batches with broadcast (stride 0) operands and strided outputs', async () => {
    for (const [i, cs] of batchCases.entries()) {
      const { got, want } = await runCase(cs, tiles[(i + 1) % tiles.length][1], 11 + i);
      expect(relErr(got, want), JSON.stringify(cs)).toBeLessThan(1e-4);
    }
  });

  it('plans a tile by itself for any shape', async () => {
    const h100 = { workgroupBytes: 49152, scratchBytes: 2 ** 31 };
    // The H200 sweep's winner on 4096³ in every transpose.
    for (const transA of [false, true]) {
      for (const transB of [false, true]) expect(pickMatmulPlan(4096, 4096, 4096, { transA, transB, ...h100 })).toEqual({ tile: MATMUL_TILES.denseT, splitK: 1 });
    }
    // Where denseT's 16.4 KiB do not fit, largeTN keeps A transposed.
    expect(pickMatmulPlan(4096, 4096, 4096, { transA: true, workgroupBytes: 16384 })).toEqual({ tile: { ...MATMUL_TILES.largeTN }, splitK: 1 });
    expect(pickMatmulPlan(1024, 1024, 1024, h100)).toEqual({ tile: MATMUL_TILES.tall, splitK: 1 });
    // 4096×768 is 192 large tiles, 1.45 waves of 132: 384 tall ones fill the waves better.
    expect(pickMatmulPlan(4096, 768, 3072, h100)).toEqual({ tile: MATMUL_TILES.tall, splitK: 1 });
    expect(pickMatmulPlan(4096, 3072, 768, { transB: true, ...h100 })).toEqual({ tile: MATMUL_TILES.denseT, splitK: 1 });
    // Under WebGPU's default 16 KiB of workgroup memory the large tile gets a shallower k step.
    const fit = pickMatmulPlan(4096, 4096, 4096).tile;
    expect(fit).toEqual({ ...MATMUL_TILES.large, BK: 8 });
    expect(matmulTileBytes(fit)).toBeLessThanOrEqual(16384);
    const { got, want } = await runCase({ M: 257, N: 129, K: 40, batch: 2, strideB: 0 }, undefined, 5);
    expect(relErr(got, want)).toBeLessThan(1e-4);
  });

  it('computes the backward pass as GEMMs (dA, dB of a shared weight, dBias) within 1e-3', async () => {
    // Forward: Y[bt] = X[bt]·Wᵀ (+bias), X: batch×M×K, W: N×K shared. Backward:
    //   dX[bt] = dY[bt]·W (M×N · N×K), dW = Σ_bt dY[bt]ᵀ·X[bt] = dYᵀ·X over batch·M rows.
    const gpu = await testGpu();
    const batch = 3, M = 21, N = 34, K = 19;
    const shape: MatmulShape = { M, N, K, batch, strideB: 0, transB: true };
    const x = randn(batch * M * K, 1), w = randn(N * K, 2), dy = randn(batch * M * N, 3);
    const ref = matmulBackwardRef(shape, f64(x), f64(w), f64(dy));
    const X = gpu.upload(x), W = gpu.upload(w), dY = gpu.upload(dy);
    const dX = gpu.zeros(batch * M * K);
    // dW starts at 1 and accumulates, as when gradients of micro-batches add up.
    const dW = gpu.upload(new Float32Array(N * K).fill(1));
    const ones = gpu.upload(new Float32Array(batch * M).fill(1));
    const dBias = gpu.zeros(N);
    gpu.run([
      ...matmul(gpu, { a: dY, b: W, c: dX, M, N: K, K: N, batch, strideB: 0 }),
      ...matmul(gpu, { a: dY, b: X, c: dW, M: N, N: K, K: batch * M, transA: true, accumulate: true }),
      ...matmul(gpu, { a: ones, b: dY, c: dBias, M: 1, N, K: batch * M }),
    ]);
    expect(relErr(await gpu.read(dX, batch * M * K), ref.dA)).toBeLessThan(1e-3);
    expect(relErr(await gpu.read(dW, N * K), ref.dB.map((v) => v + 1))).toBeLessThan(1e-3);
    expect(relErr(await gpu.read(dBias, N), ref.dBias)).toBeLessThan(1e-3);
    await gpu.check();
  });

  // Split-K: K cut into slices of whole BK tiles, the last one partial (K = 70 over 3 slices of 32
  // at BK 16, 5 of 16 at BK 8), each summed by its own layer of workgroups, then reduced in order.
  it('splits K exactly on small integers (both shared-tile layouts, every transpose)', async () => {
    const gpu = await testGpu();
    const M = 9, N = 70, K = 70;
    expect(splitKSlices(K, 3, 16)).toEqual({ Kc: 32, S: 3 });
    expect(splitKSlices(K, 5, 8)).toEqual({ Kc: 16, S: 5 });
    expect(splitKSlices(5, 4, 16)).toEqual({ Kc: 16, S: 1 });
    const ints = (n: number, seed: number) => Float32Array.from(randn(n, seed), (v) => Math.round(v * 4));
    const a = ints(M * K, 3), b = ints(K * N, 4);
    const want = [...matmulRef({ M, N, K }, f64(a), f64(b))];
    const transpose = (x: Float32Array, r: number, c: number) => Float32Array.from(x, (_, i) => x[(i % r) * c + Math.floor(i / r)]);
    for (const [tile, splitK] of [[MATMUL_TILES.large, 3], [MATMUL_TILES.small, 5]] as const) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const A = gpu.upload(transA ? transpose(a, M, K) : a);
          const B = gpu.upload(transB ? transpose(b, K, N) : b);
          const C = gpu.upload(randn(M * N, 9)); // overwritten, not added to
          const ops = matmul(gpu, { a: A, b: B, c: C, M, N, K, transA, transB }, tile, splitK);
          expect(ops.length).toBe(2);
          gpu.run(ops);
          expect([...(await gpu.read(C, M * N))], `BK=${tile.BK} transA=${transA} transB=${transB}`).toEqual(want);
        }
      }
    }
    await gpu.check();
  });

  it('splits K with bias, alpha, accumulate, batches, broadcasts and strided outputs', async () => {
    for (const [i, [cs, splitK]] of splitCases.entries()) {
      const { got, want } = await runCase(cs, tiles[i % tiles.length][1], 51 + i, splitK);
      expect(relErr(got, want), `${JSON.stringify(cs)} splitK=${splitK}`).toBeLessThan(1e-4);
    }
  });

  it('plans split-K by itself for few tiles over a long K, and runs it', async () => {
    const h100 = { workgroupBytes: 49152, scratchBytes: 2 ** 31 };
    // Weight gradients of a GPT-2-small layer over 4096 tokens: few 128×128 tiles, split; the
    // square 4096³ is not.
    for (const [M, N] of [[768, 768], [768, 3072], [3072, 768]]) {
      const plan = pickMatmulPlan(M, N, 4096, { transA: true, accumulate: true, ...h100 });
      expect(plan.tile, `${M}x${N}`).toEqual(MATMUL_TILES.large);
      expect(plan.splitK, `${M}x${N}`).toBeGreaterThanOrEqual(3);
    }
    expect(pickMatmulPlan(4096, 4096, 4096, h100).splitK).toBe(1);
    // Column sums (one row of C): the medium tile, slices at least 256 deep, at most 16 of them,
    // the partials within the scratch limit.
    expect(pickMatmulPlan(1, 3072, 4096, h100)).toEqual({ tile: MATMUL_TILES.medium, splitK: 16 });
    expect(pickMatmulPlan(1, 8, 700, h100).splitK).toBe(2);
    expect(pickMatmulPlan(16, 64, 4096, { ...h100, scratchBytes: 3 * 16 * 64 * 4 }).splitK).toBe(3);
    const gpu = await testGpu();
    // Column sums (bias gradients) over 600 rows: 2 slices, accumulated into what dBias held.
    const rows = 600, cols = 37;
    const x = randn(rows * cols, 61), d0 = randn(cols, 62);
    const X = gpu.upload(x), D = gpu.upload(d0);
    const ops = addColumnSums(gpu, { x: X, out: D, rows, cols });
    expect(ops.length).toBe(2);
    gpu.run(ops);
    const want = Float64Array.from(d0);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[c] += x[r * cols + c];
    expect(relErr(await gpu.read(D, cols), want)).toBeLessThan(1e-4);
    // A C of one small tile over K = 1100 splits in the model too (4 slices, the last partial).
    const M = 40, N = 40, K = 1100;
    const a = randn(K * M, 63), b = randn(K * N, 64);
    const C = gpu.zeros(M * N);
    const ops2 = matmul(gpu, { a: gpu.upload(a), b: gpu.upload(b), c: C, M, N, K, transA: true });
    expect(ops2.length).toBe(2);
    gpu.run(ops2);
    const want2 = matmulRef({ M, N, K, transA: true }, f64(a), f64(b));
    expect(relErr(await gpu.read(C, M * N), want2, 1e-2 * Math.max(...want2.map(Math.abs)))).toBeLessThan(1e-4);
    await gpu.check();
  });

  it('rejects bad shapes with the shape in the message', async () => {
    const gpu = await testGpu();
    const a = gpu.zeros(12), b = gpu.zeros(12), c = gpu.zeros(16);
    expect(() => matmul(gpu, { a, b, c, M: 4, N: 4, K: 4 })).toThrow(/a holds 12 floats, needs 16.*M=4 N=4 K=4/);
    expect(() => matmul(gpu, { a, b, c, M: 0, N: 4, K: 3 })).toThrow(/M must be a positive integer/);
    expect(() => matmul(gpu, { a, b, c, M: 2, N: 2, K: 3, batch: 2, strideC: 0 })).toThrow(/overlap/);
    expect(() => matmul(gpu, { a, b, c, M: 2, N: 6, K: 2, bias: gpu.zeros(4) })).toThrow(/bias holds 4 floats, needs N=6/);
    expect(() => matmul(gpu, { a, b, c, M: 2, N: 2, K: 3 }, undefined, 0)).toThrow(/splitK must be a positive integer/);
  });
});

// Double buffering changes only the k loop (which shared tile a slice is stored to and read
// from), so it is held to the cases of the single-buffered loop, with the same seeds and
// tolerances, on both shared-tile layouts (by k: large; by thread: small, tall), plus an exact
// check over K of many slices, where both tiles are reused. Every tile sums each output over k in
// the same order, so these cases give the same floats on any tile. The candidate tiles change only
// the block shape the same generator unrolls.
describe('matmul, double-buffered and candidate tiles', () => {
  const db = (t: MatmulTile): MatmulTile => ({ ...t, doubleBuffer: true });
  // large at BK 8: at 16 its two pairs of tiles need 33 KiB, over SwiftShader's 32.
  const dbTiles: [string, MatmulTile][] = [
    ['large', db({ ...MATMUL_TILES.large, BK: 8 })],
    ['small', db(MATMUL_TILES.small)],
    ['tall', db(MATMUL_TILES.tall)],
  ];
  const transpose = (x: Float32Array, r: number, c: number) => Float32Array.from(x, (_, i) => x[(i % r) * c + Math.floor(i / r)]);
  const ints = (n: number, seed: number) => Float32Array.from(randn(n, seed), (v) => Math.round(v * 4));

  it('doubles the workgroup memory, and halves BK to fit as before', () => {
    for (const t of Object.values({ ...MATMUL_TILES, ...MATMUL_TILE_CANDIDATES })) expect(matmulTileBytes(db(t))).toBe(2 * matmulTileBytes(t));
    const fit = fitMatmulTile(db(MATMUL_TILES.large), 32768);
    expect(fit).toEqual(dbTiles[0][1]);
    expect(matmulTileBytes(fit)).toBeLessThanOrEqual(32768);
  });

  it('is exact on small integers over 9 and 5 slices (both shared-tile layouts, every transpose)', async () => {
    const gpu = await testGpu();
    const M = 9, N = 70, K = 70;
    const a = ints(M * K, 21), b = ints(K * N, 22);
    const want = [...matmulRef({ M, N, K }, f64(a), f64(b))];
    for (const [name, tile] of dbTiles.slice(0, 2)) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const A = gpu.upload(transA ? transpose(a, M, K) : a);
          const B = gpu.upload(transB ? transpose(b, K, N) : b);
          const C = gpu.upload(randn(M * N, 23)); // overwritten, not added to
          gpu.run(matmul(gpu, { a: A, b: B, c: C, M, N, K, transA, transB }, tile));
          expect([...(await gpu.read(C, M * N))], `${name} transA=${transA} transB=${transB}`).toEqual(want);
          for (const buf of [A, B, C]) gpu.release(buf);
        }
      }
    }
    await gpu.check();
  });

  it('matches float64 (both shared-tile layouts, every transpose)', async () => {
    for (const [name, tile] of dbTiles.slice(0, 2)) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const [i, [M, N, K]] of shapes.entries()) {
            const { got, want } = await runCase({ M, N, K, transA, transB }, tile, 100 + i);
            expect(relErr(got, want), `${name} transA=${transA} transB=${transB} M=${M} N=${N} K=${K}`).toBeLessThan(1e-4);
          }
        }
      }
    }
  });

  it('adds a bias, scales by alpha, accumulates, runs batches and splits K', async () => {
    // Two of each list (every flag and stride kind among them), the tiles taken in turn.
    const tile = (i: number) => dbTiles[i % dbTiles.length][1];
    for (const i of [1, 3]) {
      const { got, want } = await runCase(epilogueCases[i], tile(i), 7 + i);
      expect(relErr(got, want), JSON.stringify(epilogueCases[i])).toBeLessThan(1e-4);
    }
    for (const i of [0, 2]) {
      const { got, want } = await runCase(batchCases[i], tile(i + 1), 11 + i);
      expect(relErr(got, want), JSON.stringify(batchCases[i])).toBeLessThan(1e-4);
    }
    for (const i of [0, 2]) {
      const [cs, splitK] = splitCases[i];
      const { got, want } = await runCase(cs, tile(i), 51 + i, splitK);
      expect(relErr(got, want), `${JSON.stringify(cs)} splitK=${splitK}`).toBeLessThan(1e-4);
    }
  });

  // Each candidate, the layouts taken in turn; wide and high double-buffered too (the k loop is
  // the one held above; the candidates change the unrolled block). deepK needs 33 KiB of workgroup
  // memory, over SwiftShader's 32: its BK-32 by-k path runs here at half its height.
  const candidates: [string, MatmulTile][] = Object.entries(MATMUL_TILE_CANDIDATES).map(([name, tile]: [string, MatmulTile]) =>
    name === 'deepK' ? ['deepK at half height', { ...tile, GM: tile.GM / 2 }] : [name, tile],
  );
  for (const [ci, [name, tile]] of candidates.entries()) {
    const [transA, transB] = [ci % 2 === 1, ci % 4 >= 2];
    const both = name === 'wide' || name === 'high';
    it(`matches float64 on the ${name} candidate${both ? ', plain and double-buffered' : ''}, transA=${transA} transB=${transB}`, async () => {
      for (const t of both ? [tile, db(tile)] : [tile]) {
        for (const [i, [M, N, K]] of shapes.entries()) {
          const { got, want } = await runCase({ M, N, K, transA, transB }, t, 100 + i);
          expect(relErr(got, want), `${JSON.stringify(t)} M=${M} N=${N} K=${K}`).toBeLessThan(1e-4);
        }
      }
    });
  }
});

describe('matmul with a packed 16-bit B (frozen weights in checkpoint precision)', () => {
  // The reference multiplies by the exact f32 values of the 16-bit weights: unpacking adds no error.
  it.each([
    ['bf16', { M: 37, N: 29, K: 45, transB: true, bias: true }],
    ['f16', { M: 19, N: 65, K: 31, accumulate: true, alpha: 0.5 }],
    ['bf16', { M: 8, N: 40, K: 600, transB: true, splitK: 2 }],
  ] as const)('%s %o equals the f32 product of the unpacked values', async (dtype, cs) => {
    const gpu = await testGpu();
    const { splitK, bias: hasBias, ...shape } = { splitK: undefined, bias: false, ...cs } as Case & { splitK?: number };
    const a = randn(shape.M * shape.K, 11);
    const bits = (dtype === 'bf16' ? f32ToBf16 : f32ToF16)(randn(shape.K * shape.N, 12));
    const b = halfToF32(dtype === 'bf16' ? 'BF16' : 'F16', bits);
    const c0 = randn(shape.M * shape.N, 13);
    const bias = hasBias ? randn(shape.N, 14) : undefined;
    const packedB = gpu.uploadPacked(bits, dtype);
    expect(packedDtype(packedB)).toBe(dtype);
    const bufs = { a: gpu.upload(a), c: gpu.upload(c0), bias: bias && gpu.upload(bias) };
    const ops = matmul(gpu, { ...shape, a: bufs.a, b: packedB, c: bufs.c, bias: bufs.bias }, undefined, splitK);
    if (splitK) expect(ops.length).toBe(2);
    gpu.run(ops);
    const got = await gpu.read(bufs.c, shape.M * shape.N);
    await gpu.check();
    const want = matmulRef(shape, f64(a), f64(b), { c: f64(c0), bias: bias && f64(bias), accumulate: shape.accumulate });
    // f32 rounding of the sums only; a mis-unpacked half (wrong word, half or format) is off by O(1).
    expect(relErr(got, want)).toBeLessThan(1e-3);
    // Released to the pool, the buffer is an f32 buffer again for whoever takes it next.
    gpu.release(packedB);
    expect(packedDtype(packedB)).toBe(null);
  });

  it('refuses a packed A or C', async () => {
    const gpu = await testGpu();
    const p = gpu.uploadPacked(new Uint16Array(64), 'bf16');
    const f = gpu.zeros(64);
    expect(() => matmul(gpu, { a: p, b: f, c: f, M: 8, N: 8, K: 8 })).toThrow(/only B may be a packed/);
  });
});
