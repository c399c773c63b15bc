import { describe, expect, it } from 'vitest';
import { ssmMatrixBackward, ssmMatrixForward, type MixerMatShape, type SsmDecayGrad } from '../../src/kernels/ssm-matrix';
import { ssmMatrixBackwardRef, ssmMatrixRef } from '../../src/ref/mixer-matrices';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: Float32Array) => Float64Array.from(x);

type Decay = 'zero' | 'tiny' | 'large' | 'mixed' | 'cliff';

// Runs of -30 then near-zero decays, per state at different places: the exponents that matter sit
// next to sums in the hundreds (a difference of f32 prefix sums is off by more than 1e-4 here).
const cliff = (t: number, n: number) => t < 3 + n || (t >= 10 + n && t < 12 + n);

/** Log-decays a ≤ 0, (S, L, N). */
function decays(kind: Decay, s: MixerMatShape, seed: number): Float32Array {
  const u = randn(s.S * s.L * s.N, seed).map((x) => (x + 1) / 2); // uniform [0, 1)
  const pick = randn(s.S * s.L * s.N, seed + 1).map((x) => (x + 1) / 2);
  return u.map((v, e) => {
    const t = Math.floor(e / s.N) % s.L;
    const n = e % s.N;
    switch (kind) {
      case 'zero':
        return 0;
      case 'tiny':
        return -1e-4 * (0.5 + v);
      case 'large':
        return -30 + 3 * v;
      case 'mixed':
        return pick[e]! < 0.2 ? -20 - 10 * v : pick[e]! < 0.6 ? -1e-3 * v : -3 * v;
      case 'cliff':
        return cliff(t, n) ? -30 + v : -1e-4 * v;
    }
  });
}

function inputs(s: MixerMatShape, kind: Decay, seed: number) {
  const bc = s.S * s.L * s.N;
  return { B: randn(bc, seed), C: randn(bc, seed + 1), a: decays(kind, s, seed + 2), dM: randn(s.S * s.L * s.L, seed + 4) };
}

async function forward(s: MixerMatShape, x: ReturnType<typeof inputs>) {
  const gpu = await testGpu();
  const count = s.S * s.L * s.L;
  const b = { B: gpu.upload(x.B), C: gpu.upload(x.C), a: gpu.upload(x.a), out: gpu.upload(randn(count, 77, 9)) };
  gpu.run(ssmMatrixForward(gpu, s, b));
  const got = await gpu.read(b.out, count);
  await gpu.check();
  Object.values(b).forEach((buf) => gpu.release(buf));
  return got;
}

interface Grads {
  dB: Float32Array;
  dC: Float32Array;
  da: Float32Array;
}

async function backward(s: MixerMatShape, x: ReturnType<typeof inputs>, start: Grads, accumulate?: boolean, decayGrad?: SsmDecayGrad): Promise<Grads> {
  const gpu = await testGpu();
  const b = {
    B: gpu.upload(x.B),
    C: gpu.upload(x.C),
    a: gpu.upload(x.a),
    dM: gpu.upload(x.dM),
    dB: gpu.upload(start.dB),
    dC: gpu.upload(start.dC),
    da: gpu.upload(start.da),
  };
  gpu.run(ssmMatrixBackward(gpu, s, b, { accumulate, decayGrad }));
  const out = { dB: await gpu.read(b.dB, start.dB.length), dC: await gpu.read(b.dC, start.dC.length), da: await gpu.read(b.da, start.da.length) };
  await gpu.check();
  Object.values(b).forEach((buf) => gpu.release(buf));
  return out;
}

/** Outputs that start as garbage, so that a skipped element shows. */
function garbage(s: MixerMatShape, seed: number): Grads {
  const bc = s.S * s.L * s.N;
  return { dB: randn(bc, seed, 7), dC: randn(bc, seed + 1, 7), da: randn(bc, seed + 2, 7) };
}

const cases: [MixerMatShape, Decay][] = [
  [{ S: 3, L: 24, N: 4 }, 'mixed'],
  [{ S: 2, L: 17, N: 3 }, 'tiny'],
  [{ S: 1, L: 24, N: 2 }, 'cliff'],
  [{ S: 2, L: 9, N: 4 }, 'large'],
  [{ S: 1, L: 11, N: 1 }, 'zero'],
  [{ S: 1, L: 1, N: 3 }, 'mixed'],
];

describe('ssm matrix forward', () => {
  for (const [ci, [s, kind]] of cases.entries()) {
    it(`matches the reference: ${JSON.stringify(s)}, ${kind} decay`, async () => {
      const x = inputs(s, kind, 100 + ci);
      const got = await forward(s, x);
      expect(relErr(got, ssmMatrixRef(s, f64(x.B), f64(x.C), f64(x.a)))).toBeLessThan(1e-4);
      for (let b = 0; b < s.S; b++) {
        for (let i = 0; i < s.L; i++) for (let j = i + 1; j < s.L; j++) expect(got[(b * s.L + i) * s.L + j]).toBe(0);
      }
    });
  }

  it('keeps the decay exact to f32 precision where it matters (C·B = 1)', async () => {
    // With N = 1 and C = B = 1, M is the decay matrix itself, so the tolerance can be tight. Four
    // tokens of -300 put the prefix sums near -1200: past them, a difference of f32 prefix sums is
    // off by about 1e-4 where the true segment is tiny and exp(seg) ≈ 1.
    const s = { S: 1, L: 24, N: 1 };
    const x = inputs(s, 'tiny', 120);
    x.a.fill(-300, 0, 5);
    x.B.fill(1);
    x.C.fill(1);
    const got = await forward(s, x);
    expect(relErr(got, ssmMatrixRef(s, f64(x.B), f64(x.C), f64(x.a)), 1e-6)).toBeLessThan(1e-5);
  });

  it('rejects bad shapes', async () => {
    const gpu = await testGpu();
    const buf = gpu.zeros(256);
    const t = { B: buf, C: buf, a: buf, out: buf };
    expect(() => ssmMatrixForward(gpu, { S: 1, L: 0, N: 4 }, t)).toThrow(/S=1, L=0, N=4/);
    expect(() => ssmMatrixForward(gpu, { S: 1, L: 20, N: 2 }, t)).toThrow(/out holds 1024 bytes, needs 1600/);
    gpu.release(buf);
  });
});

describe('ssm matrix backward', () => {
  for (const [ci, [s, kind]] of cases.entries()) {
    it(`matches the reference: ${JSON.stringify(s)}, ${kind} decay`, async () => {
      const x = inputs(s, kind, 200 + ci);
      const got = await backward(s, x, garbage(s, 300 + ci));
      const want = ssmMatrixBackwardRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.dM));
      for (const k of ['dB', 'dC', 'da'] as const) expect(relErr(got[k], want[k]), k).toBeLessThan(1e-3);
    });
  }

  it('adds to the outputs with accumulate', async () => {
    const s = { S: 2, L: 13, N: 3 };
    const x = inputs(s, 'mixed', 250);
    const start = garbage(s, 251);
    const got = await backward(s, x, start, true);
    const want = ssmMatrixBackwardRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.dM));
    for (const k of ['dB', 'dC', 'da'] as const) {
      expect(relErr(got[k], want[k].map((v, e) => v + start[k][e]!)), k).toBeLessThan(1e-3);
    }
  });
});

describe('ssm matrix backward, da by differences (the mixer lab\'s)', () => {
  // dB and dC are the same kernels; da is Σ_{u<t} (Q_u − R_u). Pairs left of t cancel in it and leave
  // an f32 rounding of their size: within 1e-3 of the largest da here, wherever the decays sit.
  for (const [ci, [s, kind]] of cases.entries()) {
    it(`matches the reference: ${JSON.stringify(s)}, ${kind} decay`, async () => {
      const x = inputs(s, kind, 400 + ci);
      const got = await backward(s, x, garbage(s, 500 + ci), false, 'differences');
      const want = ssmMatrixBackwardRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.dM));
      for (const k of ['dB', 'dC', 'da'] as const) expect(relErr(got[k], want[k]), k).toBeLessThan(1e-3);
    });
  }

  it('adds to da with accumulate', async () => {
    const s = { S: 2, L: 13, N: 3 };
    const x = inputs(s, 'mixed', 450);
    const start = garbage(s, 451);
    const got = await backward(s, x, start, true, 'differences');
    const want = ssmMatrixBackwardRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.dM));
    expect(relErr(got.da, want.da.map((v, e) => v + start.da[e]!))).toBeLessThan(1e-3);
  });

  it('is the same da on a longer sequence of slow decays, where the pairs walk is slow', async () => {
    const s = { S: 2, L: 96, N: 3 };
    const x = inputs(s, 'tiny', 460);
    const zero = { dB: new Float32Array(s.S * s.L * s.N), dC: new Float32Array(s.S * s.L * s.N), da: new Float32Array(s.S * s.L * s.N) };
    const pairs = await backward(s, x, zero, false, 'pairs');
    const diffs = await backward(s, x, zero, false, 'differences');
    expect(relErr(diffs.da, ssmMatrixBackwardRef(s, f64(x.B), f64(x.C), f64(x.a), f64(x.dM)).da)).toBeLessThan(1e-3);
    expect(relErr(diffs.da, pairs.da)).toBeLessThan(1e-3);
  });
});
