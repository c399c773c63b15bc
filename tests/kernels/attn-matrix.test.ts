import { describe, expect, it } from 'vitest';
import { attnMatrix } from '../../src/kernels/attn-matrix';
import { attnMatrixRef, type AttnMatrixShape } from '../../src/ref/attn-matrix';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: Float32Array) => Float64Array.from(x);

async function runCase(s: AttnMatrixShape, seed: number, amp = 1) {
  const gpu = await testGpu();
  const q = randn(s.batch * s.L * s.hq * s.d, seed, amp);
  const k = randn(s.batch * s.L * s.hkv * s.d, seed + 1, amp);
  const rows = s.rows ?? s.L - (s.row0 ?? 0);
  const count = s.batch * s.hq * rows * s.L;
  const bq = gpu.upload(q);
  const bk = gpu.upload(k);
  // The output starts as garbage: every element, zeros above the diagonal included, must be written.
  const out = gpu.upload(randn(count, seed + 2, 5));
  gpu.run(attnMatrix(gpu, { ...s, q: bq, k: bk, out }));
  const got = await gpu.read(out, count);
  await gpu.check();
  for (const b of [bq, bk, out]) gpu.release(b);
  return { got, want: attnMatrixRef(s, f64(q), f64(k)) };
}

describe('attention matrix reference', () => {
  it('computes a hand-worked causal softmax', () => {
    // scores row 1: [2·0, 2·1] = [0, 2]
    const a = attnMatrixRef({ batch: 1, L: 2, hq: 1, hkv: 1, d: 1, scale: 1 }, Float64Array.from([1, 2]), Float64Array.from([0, 1]));
    const e2 = Math.exp(2);
    [1, 0, 1 / (1 + e2), e2 / (1 + e2)].forEach((v, i) => expect(a[i]).toBeCloseTo(v, 14));
  });
});

describe('attention matrix kernel', () => {
  const cases: [string, AttnMatrixShape, number][] = [
    ['GQA, L not a multiple of the tile', { batch: 2, L: 37, hq: 4, hkv: 2, d: 8 }, 1],
    ['a row range that straddles tiles', { batch: 1, L: 130, hq: 2, hkv: 1, d: 24, row0: 50, rows: 70 }, 2],
    ['head dim 128', { batch: 1, L: 20, hq: 3, hkv: 3, d: 128 }, 3],
    ['head dim not a multiple of the staged depth', { batch: 1, L: 66, hq: 2, hkv: 2, d: 40, row0: 65, rows: 1 }, 4],
    ['sliding window 8 (Mistral), GQA', { batch: 2, L: 37, hq: 4, hkv: 2, d: 8, window: 8 }, 7],
    ['sliding window 70 across tiles, a row range', { batch: 1, L: 150, hq: 2, hkv: 1, d: 16, row0: 60, rows: 90, window: 70 }, 8],
    ['sliding window 1', { batch: 1, L: 10, hq: 1, hkv: 1, d: 4, window: 1 }, 9],
  ];
  for (const [name, s, seed] of cases) {
    it(`matches the reference: ${name}`, async () => {
      const { got, want } = await runCase(s, seed);
      expect(relErr(got, want)).toBeLessThan(1e-4);
    });
  }

  it('stays finite with scores in the hundreds (max subtraction)', async () => {
    const s = { batch: 1, L: 70, hq: 1, hkv: 1, d: 16, scale: 30 };
    const { got, want } = await runCase(s, 5, 1);
    expect(got.every(Number.isFinite)).toBe(true);
    expect(relErr(got, want)).toBeLessThan(1e-4);
  });

  it('gives the same rows whether written whole or in ranges', async () => {
    const s = { batch: 1, L: 100, hq: 2, hkv: 1, d: 8 };
    const whole = (await runCase(s, 6)).got;
    for (const [row0, rows] of [[0, 64], [64, 36]]) {
      const part = (await runCase({ ...s, row0, rows }, 6)).got;
      for (let h = 0; h < s.hq; h++) {
        const a = part.subarray(h * rows * s.L, (h + 1) * rows * s.L);
        const b = whole.subarray((h * s.L + row0) * s.L, (h * s.L + row0 + rows) * s.L);
        expect(relErr(a, b)).toBeLessThan(1e-6);
      }
    }
  });

  it('rejects bad shapes', async () => {
    const gpu = await testGpu();
    const buf = gpu.zeros(4096);
    const base = { q: buf, k: buf, out: buf, batch: 1, L: 8, hq: 3, hkv: 2, d: 8 };
    expect(() => attnMatrix(gpu, base)).toThrow(/hq=3, hkv=2/);
    expect(() => attnMatrix(gpu, { ...base, hq: 2, row0: 4, rows: 5 })).toThrow(/rows outside/);
    expect(() => attnMatrix(gpu, { ...base, hq: 2, L: 64 })).toThrow(/needs/);
  });
});
