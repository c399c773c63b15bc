// Matmul cases: the square 4096³ GEMM in every transpose (the cuBLAS comparison), a Linear layer's
// three GEMMs at a training shape (forward x·Wᵀ = NT, dX = dY·W = NN, dW = dYᵀ·X = TN), the
// smaller shapes where a wave of 128×128 tiles no longer fills the GPU, and three GEMMs of a
// GPT-2-small training step over 4096 tokens (MOHAWK stage 3) that pickMatmulPlan treats apart: a
// weight gradient with few tiles and a long K (split-K), a dX of 4096×768 (tall tiles), and a bias
// gradient as ones·dY (one row of C, split-K).
import { matmul } from '../kernels/matmul';
import type { BenchCase, BenchSize } from './case';

type Trans = 'NN' | 'NT' | 'TN' | 'TT';

function gemm(M: number, N: number, K: number, t: Trans): BenchCase {
  const transA = t[0] === 'T';
  const transB = t[1] === 'T';
  return {
    group: 'matmul',
    name: `matmul ${t}`,
    shape: `${M}x${N}x${K}`,
    setup(gpu, data) {
      const a = data.uniform(M * K);
      const b = data.uniform(K * N);
      const c = data.out(M * N);
      return { ops: matmul(gpu, { a, b, c, M, N, K, transA, transB }), flops: 2 * M * N * K };
    },
  };
}

export function matmulCases(size: BenchSize, _opts: { tiles?: boolean } = {}): BenchCase[] {
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
  ];
}
