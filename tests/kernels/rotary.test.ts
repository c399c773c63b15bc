import { describe, expect, it } from 'vitest';
import { ropeInverseFrequencies } from '../../src/io/config';
import { rotary, rotaryTableData, rotaryTables } from '../../src/kernels/rotary';
import { applyRope } from '../../src/ref/llama';
import { rotaryBackwardRef, rotaryRef, type RotaryShape } from '../../src/ref/rotary';
import { randn, relErr, testGpu } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);
const size = (s: RotaryShape) => s.batch * s.L * s.heads * s.headDim;

describe('rotary reference', () => {
  it('agrees with the Llama reference rotation, partial rotary included', () => {
    for (const rotaryDim of [8, 4]) {
      const s = { batch: 1, L: 6, heads: 3, headDim: 8, rotaryDim, theta: 10000 };
      const x = f64(randn(size(s), 1));
      const want = Float64Array.from(x);
      applyRope(want, s.L, s.heads, s.headDim, rotaryDim, s.theta);
      expect(relErr(rotaryRef(x, s), want)).toBeLessThan(1e-14);
    }
  });

  it('rotates position p by p·inv_freq, leaves pass-through dims, and is undone by the backward rotation', () => {
    const s = { batch: 2, L: 5, heads: 2, headDim: 7, rotaryDim: 4, theta: 100, posOffset: 3 };
    const x = f64(randn(size(s), 2));
    const y = rotaryRef(x, s);
    // Token (b=1, t=2, h=1), pair i = 1: position 5, a = 5·100^(−2/4) = 0.5.
    const base = ((1 * 5 + 2) * 2 + 1) * 7;
    expect(y[base + 1]).toBeCloseTo(x[base + 1] * Math.cos(0.5) - x[base + 3] * Math.sin(0.5), 14);
    expect(y[base + 3]).toBeCloseTo(x[base + 3] * Math.cos(0.5) + x[base + 1] * Math.sin(0.5), 14);
    expect([y[base + 4], y[base + 5], y[base + 6]]).toEqual([x[base + 4], x[base + 5], x[base + 6]]);
    expect(relErr(rotaryBackwardRef(y, s), x)).toBeLessThan(1e-14);
  });

  it('has gradients that match central finite differences (float64)', () => {
    const s = { batch: 2, L: 3, heads: 2, headDim: 6, rotaryDim: 4, theta: 10, posOffset: 1 };
    const x = f64(randn(size(s), 3));
    const r = f64(randn(size(s), 4)); // loss = Σ r·out
    const g = rotaryBackwardRef(r, s);
    const loss = () => rotaryRef(x, s).reduce((acc, v, i) => acc + v * r[i], 0);
    const fd = fdGrad(x, loss);
    for (let i = 0; i < x.length; i++) expect(Math.abs(fd[i] - g[i])).toBeLessThan(1e-8);
  });
});

describe('rotary kernel', () => {
  async function check(s: RotaryShape, seed: number, inPlace = false) {
    const gpu = await testGpu();
    const n = size(s);
    const x = randn(n, seed);
    const dOut = randn(n, seed + 1);
    const bx = gpu.upload(x);
    const bd = gpu.upload(dOut);
    const out = inPlace ? bx : gpu.upload(randn(n, seed + 2));
    const dx = inPlace ? bd : gpu.upload(randn(n, seed + 3));
    gpu.run([...rotary(gpu, { x: bx, out, ...s }), ...rotary(gpu, { x: bd, out: dx, ...s, inverse: true })]);
    const y = await gpu.read(out, n);
    const g = await gpu.read(dx, n);
    await gpu.check();
    for (const b of new Set([bx, bd, out, dx])) gpu.release(b);
    const tag = JSON.stringify({ ...s, inPlace });
    expect(relErr(y, rotaryRef(f64(x), s)), `out ${tag}`).toBeLessThan(1e-4);
    expect(relErr(g, rotaryBackwardRef(f64(dOut), s)), `dx ${tag}`).toBeLessThan(1e-3);
  }

  it('matches the reference, full and partial, head sizes 8, 64, 100, 1000', async () => {
    await check({ batch: 2, L: 7, heads: 3, headDim: 8, rotaryDim: 8, theta: 10000 }, 10);
    await check({ batch: 1, L: 13, heads: 5, headDim: 64, rotaryDim: 16, theta: 10000 }, 20); // GPT-NeoX rotary_pct 0.25
    await check({ batch: 3, L: 5, heads: 2, headDim: 100, rotaryDim: 40, theta: 10000 }, 30); // Phi-like 0.4
    await check({ batch: 1, L: 3, heads: 1, headDim: 1000, rotaryDim: 998, theta: 500000 }, 40);
    await check({ batch: 2, L: 4, heads: 3, headDim: 9, rotaryDim: 2, theta: 10000, posOffset: 5 }, 50);
  });

  it('keeps f32 precision at positions up to 8192', async () => {
    await check({ batch: 1, L: 92, heads: 2, headDim: 64, rotaryDim: 64, theta: 10000, posOffset: 8100 }, 60);
    await check({ batch: 2, L: 40, heads: 1, headDim: 128, rotaryDim: 128, theta: 500000, posOffset: 8152 }, 70);
    // The table itself: cos/sin of the float64 angle, rounded once.
    const t = rotaryTableData(8192, 64, 10000);
    expect(t[(8191 * 32 + 0) * 2 + 1]).toBe(Math.fround(Math.sin(8191)));
    expect(t[(8191 * 32 + 5) * 2]).toBe(Math.fround(Math.cos(8191 * 10000 ** (-10 / 64))));
  });

  it('rotates in place, with and without the four-pair path', async () => {
    await check({ batch: 2, L: 9, heads: 3, headDim: 10, rotaryDim: 6, theta: 10000, posOffset: 2 }, 80, true);
    await check({ batch: 2, L: 9, heads: 3, headDim: 20, rotaryDim: 8, theta: 10000, posOffset: 2 }, 85, true);
  });

  it('takes the scalar path when a half is not a multiple of 4', async () => {
    await check({ batch: 2, L: 5, heads: 3, headDim: 12, rotaryDim: 6, theta: 10000 }, 87);
    await check({ batch: 1, L: 5, heads: 2, headDim: 18, rotaryDim: 16, theta: 10000 }, 88); // headDim not a multiple of 4
  });

  it('takes scaled inverse frequencies (Llama 3) in place of theta, with its own shared table', async () => {
    const c = { ropeTheta: 500000, rotaryDim: 16, ropeScaling: { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 } };
    const invFreq = ropeInverseFrequencies(c);
    const plain = { batch: 2, L: 70, heads: 2, headDim: 16, rotaryDim: 16, theta: 500000 };
    await check({ ...plain, invFreq }, 91);
    await check({ ...plain, invFreq, posOffset: 3 }, 92, true);
    // The plain table of the same theta is not the scaled one.
    await check(plain, 93);
    const gpu = await testGpu();
    const table = rotaryTables(gpu, { positions: 80, rotaryDim: 16, theta: 500000 });
    const x = gpu.zeros(size(plain));
    expect(() => rotary(gpu, { x, out: x, ...plain, invFreq, table })).toThrow(/does not cover/);
    expect(() => rotary(gpu, { x, out: x, ...plain, invFreq: invFreq.subarray(1) })).toThrow(/invFreq must hold rotaryDim\/2/);
  });

  it('uses a table passed in, and refuses one that does not fit', async () => {
    const gpu = await testGpu();
    const s = { batch: 1, L: 6, heads: 2, headDim: 8, rotaryDim: 8, theta: 10000 };
    const table = rotaryTables(gpu, { positions: 10, rotaryDim: 8, theta: 10000 });
    const x = randn(size(s), 90);
    const bx = gpu.upload(x);
    const out = gpu.zeros(size(s));
    gpu.run(rotary(gpu, { x: bx, out, ...s, posOffset: 4, table }));
    expect(relErr(await gpu.read(out), rotaryRef(f64(x), { ...s, posOffset: 4 }))).toBeLessThan(1e-4);
    await gpu.check();
    expect(() => rotary(gpu, { x: bx, out, ...s, posOffset: 5, table })).toThrow(/posOffset=5.*does not cover/);
    expect(() => rotary(gpu, { x: bx, out, ...s, theta: 500000, table })).toThrow(/does not cover/);
  });

  it('rejects bad shapes with the shape in the message', async () => {
    const gpu = await testGpu();
    const x = gpu.zeros(48);
    const out = gpu.zeros(48);
    const s = { batch: 1, L: 3, heads: 2, headDim: 8, theta: 10000 };
    expect(() => rotary(gpu, { x, out, ...s, rotaryDim: 5 })).toThrow(/rotaryDim=5.*must be even/);
    expect(() => rotary(gpu, { x, out, ...s, rotaryDim: 10 })).toThrow(/at most headDim/);
    expect(() => rotary(gpu, { x, out, ...s, L: 4, rotaryDim: 8 })).toThrow(/L=4.*x holds 192 bytes, needs 256/);
    expect(() => rotary(gpu, { x, out: { buffer: x, offset: 0, size: 192 }, ...s, rotaryDim: 8 })).not.toThrow();
    const big = gpu.zeros(48 + 64);
    expect(() => rotary(gpu, { x: big, out: { buffer: big, offset: 256 }, ...s, rotaryDim: 8 })).toThrow(/different offsets/);
  });
});
