import { describe, expect, it } from 'vitest';
import { ssdMatrixBackward, ssdMatrixForward, type SsdMatrixShape } from '../../src/kernels/ssd-matrix';
import { ssdMatrixBackwardRef, ssdMatrixRef } from '../../src/ref/ssd-matrix';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: Float32Array) => Float64Array.from(x);

type Decay = 'zero' | 'tiny' | 'large' | 'mixed' | 'cliff';

// Runs of -30 followed by long runs of near-zero decay, at the start and inside 64-blocks: the
// exponents that matter then sit next to prefix sums in the hundreds, within a block and across
// one (a difference of f32 prefix sums is off by more than 1e-4 here).
const cliff = (k: number) => k < 12 || (k >= 30 && k < 34) || (k >= 140 && k < 148);

/** Log-decays a ≤ 0, (batch, L, h). */
function decays(kind: Decay, s: SsdMatrixShape, seed: number): Float32Array {
  const u = randn(s.batch * s.L * s.h, seed).map((x) => (x + 1) / 2); // uniform [0, 1)
  const pick = randn(s.batch * s.L * s.h, seed + 1).map((x) => (x + 1) / 2);
  return u.map((v, e) => {
    const k = Math.floor(e / s.h) % s.L;
    switch (kind) {
      case 'zero':
        return 0;
      case 'tiny':
        return -1e-4 * (0.5 + v);
      case 'large':
        return -30 + 3 * v;
      case 'mixed':
        return pick[e] < 0.3 ? -20 - 10 * v : pick[e] < 0.7 ? -1e-3 * v : -3 * v;
      case 'cliff':
        return cliff(k) ? -30 + v : -1e-4 * v;
    }
  });
}

function inputs(s: SsdMatrixShape, kind: Decay, seed: number) {
  const bc = s.batch * s.L * s.g * s.n;
  return {
    B: randn(bc, seed),
    C: randn(bc, seed + 1),
    a: decays(kind, s, seed + 2),
    D: randn(s.h, seed + 3),
    dT: randn(s.batch * s.h * s.L * s.L, seed + 4),
  };
}

async function forward(s: SsdMatrixShape, x: ReturnType<typeof inputs>) {
  const gpu = await testGpu();
  const count = s.batch * s.h * s.L * s.L;
  const b = { B: gpu.upload(x.B), C: gpu.upload(x.C), a: gpu.upload(x.a), D: gpu.upload(x.D), out: gpu.upload(randn(count, 77, 9)) };
  gpu.run(ssdMatrixForward(gpu, s, b));
  const got = await gpu.read(b.out, count);
  await gpu.check();
  Object.values(b).forEach((buf) => gpu.release(buf));
  return got;
}

interface Grads {
  dB: Float32Array;
  dC: Float32Array;
  da: Float32Array;
  dD: Float32Array;
}

async function backward(s: SsdMatrixShape, x: ReturnType<typeof inputs>, start: Grads, accumulate?: boolean): Promise<Grads> {
  const gpu = await testGpu();
  const b = {
    B: gpu.upload(x.B),
    C: gpu.upload(x.C),
    a: gpu.upload(x.a),
    dT: gpu.upload(x.dT),
    dB: gpu.upload(start.dB),
    dC: gpu.upload(start.dC),
    da: gpu.upload(start.da),
    dD: gpu.upload(start.dD),
  };
  gpu.run(ssdMatrixBackward(gpu, s, b, { accumulate }));
  const out = {
    dB: await gpu.read(b.dB, start.dB.length),
    dC: await gpu.read(b.dC, start.dC.length),
    da: await gpu.read(b.da, start.da.length),
    dD: await gpu.read(b.dD, start.dD.length),
  };
  await gpu.check();
  Object.values(b).forEach((buf) => gpu.release(buf));
  return out;
}

/** Outputs that start as garbage, so that a skipped element shows. */
function garbage(s: SsdMatrixShape, seed: number): Grads {
  const bc = s.batch * s.L * s.g * s.n;
  return { dB: randn(bc, seed, 7), dC: randn(bc, seed + 1, 7), da: randn(s.batch * s.L * s.h, seed + 2, 7), dD: randn(s.h, seed + 3, 7) };
}

describe('ssd matrix reference', () => {
  it('computes a hand-worked matrix', () => {
    // L = 2, n = 1: T = [[C0·B0 + D, 0], [C1·B0·e^{a1}, C1·B1 + D]]
    const s = { batch: 1, L: 2, h: 1, g: 1, n: 1 };
    const T = ssdMatrixRef(s, Float64Array.from([1, 2]), Float64Array.from([3, 4]), Float64Array.from([-5, -0.5]), Float64Array.from([0.25]));
    [3.25, 0, 4 * Math.exp(-0.5), 8.25].forEach((v, i) => expect(T[i]).toBeCloseTo(v, 14));
  });

  it('has gradients that match central finite differences (float64)', () => {
    for (const [si, s] of [
      { batch: 2, L: 5, h: 2, g: 1, n: 3 },
      { batch: 1, L: 6, h: 4, g: 2, n: 2 },
    ].entries()) {
      const x = inputs(s, 'mixed', 20 + si);
      const B = f64(x.B);
      const C = f64(x.C);
      const a = f64(x.a).map((v) => v / 10); // keep every pair's decay visible
      const D = f64(x.D);
      const dT = f64(x.dT);
      const loss = () => ssdMatrixRef(s, B, C, a, D).reduce((acc, t, e) => acc + t * dT[e], 0);
      const g = ssdMatrixBackwardRef(s, B, C, a, dT);
      const eps = 1e-6;
      for (const [name, v, grad] of [['B', B, g.dB], ['C', C, g.dC], ['a', a, g.da], ['D', D, g.dD]] as const) {
        for (let e = 0; e < v.length; e++) {
          const x0 = v[e];
          v[e] = x0 + eps;
          const up = loss();
          v[e] = x0 - eps;
          const down = loss();
          v[e] = x0;
          const fd = (up - down) / (2 * eps);
          expect(Math.abs(fd - grad[e]), `d${name}[${e}]`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
        }
      }
    }
  });
});

describe('ssd matrix forward', () => {
  const shapes: SsdMatrixShape[] = [
    { batch: 2, L: 37, h: 4, g: 2, n: 16 },
    { batch: 1, L: 130, h: 2, g: 1, n: 24 },
  ];
  for (const kind of ['tiny', 'large', 'mixed', 'cliff'] as Decay[]) {
    it(`matches the reference with ${kind} decay`, async () => {
      for (const [si, s] of shapes.entries()) {
        const x = inputs(s, kind, 100 + si);
        const got = await forward(s, x);
        const want = ssdMatrixRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.D));
        expect(relErr(got, want), `${JSON.stringify(s)}`).toBeLessThan(1e-4);
      }
    });
  }

  it('zeroes the tiles that underflow and keeps the rest (L = 200, large decay)', async () => {
    const s = { batch: 1, L: 200, h: 1, g: 1, n: 8 };
    const x = inputs(s, 'large', 110);
    const got = await forward(s, x);
    expect(got[199 * 200]).toBe(0); // T[199, 0]: exponent near -6000
    expect(relErr(got, ssdMatrixRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.D)))).toBeLessThan(1e-4);
  });

  it('keeps the decay exact to f32 precision where it matters (C·B = 1)', async () => {
    // With every C_i·B_j = 1 and D = 0, T is the decay matrix itself, so the tolerance can be tight.
    const s = { batch: 1, L: 200, h: 1, g: 1, n: 4 };
    const x = inputs(s, 'cliff', 120);
    x.B.fill(0.5);
    x.C.fill(0.5);
    x.D.fill(0);
    const got = await forward(s, x);
    expect(relErr(got, ssdMatrixRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.D)), 1e-6)).toBeLessThan(1e-5);
  });

  it('rejects bad shapes', async () => {
    const gpu = await testGpu();
    const buf = gpu.zeros(4096);
    const t = { B: buf, C: buf, a: buf, D: buf, out: buf };
    expect(() => ssdMatrixForward(gpu, { batch: 1, L: 8, h: 3, g: 2, n: 4 }, t)).toThrow(/h=3, g=2/);
    expect(() => ssdMatrixForward(gpu, { batch: 1, L: 80, h: 1, g: 1, n: 4 }, t)).toThrow(/out holds/);
  });
});

describe('ssd matrix backward', () => {
  const cases: [SsdMatrixShape, Decay][] = [
    [{ batch: 2, L: 37, h: 4, g: 2, n: 16 }, 'mixed'],
    [{ batch: 2, L: 37, h: 4, g: 2, n: 16 }, 'tiny'],
    [{ batch: 1, L: 130, h: 2, g: 1, n: 24 }, 'cliff'],
    [{ batch: 1, L: 130, h: 1, g: 1, n: 8 }, 'zero'],
    [{ batch: 1, L: 200, h: 1, g: 1, n: 8 }, 'large'],
    [{ batch: 1, L: 37, h: 2, g: 2, n: 72 }, 'mixed'],
    [{ batch: 1, L: 70, h: 3, g: 1, n: 5 }, 'tiny'],
  ];
  for (const [ci, [s, kind]] of cases.entries()) {
    it(`matches the reference: ${JSON.stringify(s)}, ${kind} decay`, async () => {
      const x = inputs(s, kind, 200 + ci);
      const got = await backward(s, x, garbage(s, 300 + ci));
      const want = ssdMatrixBackwardRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.dT));
      for (const k of ['dB', 'dC', 'da', 'dD'] as const) expect(relErr(got[k], want[k]), k).toBeLessThan(1e-3);
    });
  }

  it('adds to the outputs with accumulate', async () => {
    const s = { batch: 1, L: 37, h: 2, g: 1, n: 8 };
    const x = inputs(s, 'mixed', 250);
    const start = garbage(s, 251);
    const got = await backward(s, x, start, true);
    const want = ssdMatrixBackwardRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.dT));
    for (const k of ['dB', 'dC', 'da', 'dD'] as const) {
      expect(relErr(got[k], want[k].map((v, e) => v + start[k][e])), k).toBeLessThan(1e-3);
    }
  });
});
