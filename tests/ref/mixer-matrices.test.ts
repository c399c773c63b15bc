import { describe, expect, it } from 'vitest';
import {
  lowRankMatrixBackwardRef,
  lowRankMatrixRef,
  ssdMixerMatrixBackwardRef,
  ssdMixerMatrixRef,
  ssmMatrixBackwardRef,
  ssmMatrixRef,
  toeplitzMatrixBackwardRef,
  toeplitzMatrixRef,
  type MixerMatShape,
} from '../../src/ref/mixer-matrices';
import { randn } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);
const dot = (x: Float64Array, y: Float64Array) => x.reduce((acc, v, e) => acc + v * y[e]!, 0);
/** Log-decays in [-0.3, 0): every pair's decay stays visible in the loss. */
const decays = (n: number, seed: number) => f64(randn(n, seed)).map((v) => -0.15 * (v + 1) - 1e-3);

function expectClose(got: Float64Array, want: Float64Array, label: string, tol = 1e-7): void {
  expect(got.length, label).toBe(want.length);
  for (let e = 0; e < want.length; e++) {
    expect(Math.abs(got[e]! - want[e]!), `${label}[${e}]`).toBeLessThan(tol * Math.max(1, Math.abs(want[e]!)));
  }
}

const shapes: MixerMatShape[] = [
  { S: 2, L: 5, N: 3 },
  { S: 1, L: 7, N: 2 },
];

describe('mixer matrix references', () => {
  it('compute hand-worked matrices (L = 2)', () => {
    const s = { S: 1, L: 2, N: 2 };
    // Toeplitz: [[k0, 0], [k1, k0]]
    expect(Array.from(toeplitzMatrixRef(s, f64([3, 5])))).toEqual([3, 0, 5, 3]);
    // C = [[1, 2], [3, 4]], B = [[5, 6], [7, 8]]: C·Bᵀ masked = [[17, 0], [39, 53]]
    const C = f64([1, 2, 3, 4]);
    const B = f64([5, 6, 7, 8]);
    expect(Array.from(lowRankMatrixRef(s, B, C))).toEqual([17, 0, 39, 53]);
    // SSM: M[1, 0] = 3·5·e^{a[1,0]} + 4·6·e^{a[1,1]}; a[0, ·] never enters.
    const a = f64([-9, -9, -0.5, -2]);
    const M = ssmMatrixRef(s, B, C, a);
    [17, 0, 15 * Math.exp(-0.5) + 24 * Math.exp(-2), 53].forEach((v, e) => expect(M[e]).toBeCloseTo(v, 14));
    // SSD: M[1, 0] = 39·e^{a_1}
    const T = ssdMixerMatrixRef(s, B, C, f64([-9, -0.5]));
    [17, 0, 39 * Math.exp(-0.5), 53].forEach((v, e) => expect(T[e]).toBeCloseTo(v, 14));
  });

  it('agree where the families meet: SSM with one decay for all states is SSD, SSM or SSD with none low-rank', () => {
    for (const [si, s] of shapes.entries()) {
      const B = f64(randn(s.S * s.L * s.N, 10 + si));
      const C = f64(randn(s.S * s.L * s.N, 20 + si));
      const a1 = decays(s.S * s.L, 30 + si);
      const aN = new Float64Array(s.S * s.L * s.N).map((_, e) => a1[Math.floor(e / s.N)]!);
      const dM = f64(randn(s.S * s.L * s.L, 40 + si));
      expectClose(ssmMatrixRef(s, B, C, aN), ssdMixerMatrixRef(s, B, C, a1), 'M ssm vs ssd', 1e-12);
      expectClose(ssmMatrixRef(s, B, C, new Float64Array(aN.length)), lowRankMatrixRef(s, B, C), 'M ssm vs lowrank', 1e-12);
      expectClose(ssdMixerMatrixRef(s, B, C, new Float64Array(a1.length)), lowRankMatrixRef(s, B, C), 'M ssd vs lowrank', 1e-12);
      const gN = ssmMatrixBackwardRef(s, B, C, aN, dM);
      const g1 = ssdMixerMatrixBackwardRef(s, B, C, a1, dM);
      expectClose(gN.dB, g1.dB, 'dB', 1e-12);
      expectClose(gN.dC, g1.dC, 'dC', 1e-12);
      // SSD's da is the SSM's summed over the states.
      expectClose(g1.da.map((_, t) => gN.da.slice(t * s.N, (t + 1) * s.N).reduce((x, y) => x + y, 0)), g1.da, 'da', 1e-12);
    }
  });

  it('keep exp(seg) exact for tiny decays next to large ones', () => {
    // a = -40 at t = 1, then 1e-7 steps: M[i, 1] = e^{-1e-7·(i−1)} to double precision, not 1 or 0.
    const s = { S: 1, L: 6, N: 1 };
    const a = f64([0, -40, -1e-7, -1e-7, -1e-7, -1e-7]);
    const ones = new Float64Array(6).fill(1);
    const M = ssmMatrixRef(s, ones, ones, a);
    for (let i = 1; i < 6; i++) expect(Math.abs(M[i * 6 + 1]! - Math.exp(-1e-7 * (i - 1)))).toBeLessThan(1e-16);
    expect(M[5 * 6 + 0]).toBeCloseTo(Math.exp(-40 - 4e-7), 25);
  });
});

describe('mixer matrix reference gradients match central finite differences of Σ dM∘M', () => {
  for (const [si, s] of shapes.entries()) {
    const tag = JSON.stringify(s);
    const dM = f64(randn(s.S * s.L * s.L, 50 + si));
    const B = f64(randn(s.S * s.L * s.N, 60 + si));
    const C = f64(randn(s.S * s.L * s.N, 70 + si));

    it(`toeplitz ${tag}`, () => {
      const k = f64(randn(s.S * s.L, 80 + si));
      const g = toeplitzMatrixBackwardRef(s, dM);
      expectClose(g.dk, fdGrad(k, () => dot(toeplitzMatrixRef(s, k), dM)), 'dk');
    });

    it(`low-rank ${tag}`, () => {
      const g = lowRankMatrixBackwardRef(s, B, C, dM);
      const loss = () => dot(lowRankMatrixRef(s, B, C), dM);
      expectClose(g.dB, fdGrad(B, loss), 'dB');
      expectClose(g.dC, fdGrad(C, loss), 'dC');
    });

    it(`ssd ${tag}`, () => {
      const a = decays(s.S * s.L, 90 + si);
      const g = ssdMixerMatrixBackwardRef(s, B, C, a, dM);
      const loss = () => dot(ssdMixerMatrixRef(s, B, C, a), dM);
      expectClose(g.dB, fdGrad(B, loss), 'dB');
      expectClose(g.dC, fdGrad(C, loss), 'dC');
      expectClose(g.da, fdGrad(a, loss), 'da');
    });

    it(`ssm ${tag}`, () => {
      const a = decays(s.S * s.L * s.N, 100 + si);
      const g = ssmMatrixBackwardRef(s, B, C, a, dM);
      const loss = () => dot(ssmMatrixRef(s, B, C, a), dM);
      expectClose(g.dB, fdGrad(B, loss), 'dB');
      expectClose(g.dC, fdGrad(C, loss), 'dC');
      expectClose(g.da, fdGrad(a, loss), 'da');
      // a[s, 0, ·] never enters M.
      for (let b = 0; b < s.S; b++) for (let n = 0; n < s.N; n++) expect(g.da[b * s.L * s.N + n]).toBe(0);
    });
  }
});
