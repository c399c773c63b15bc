import { describe, expect, it } from 'vitest';
import { ssdScan, ssdScanBackward, type SsdShape } from '../../src/kernels/ssd-scan';
import { ssdStep } from '../../src/kernels/ssd-step';
import { ssdMatrixRef } from '../../src/ref/ssd-matrix';
import { ssdScanBackwardRef, ssdScanRef, type SsdInputs } from '../../src/ref/ssd-scan';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: Float32Array) => Float64Array.from(x);

type Decay = 'tiny' | 'large' | 'mixed' | 'cliff';

// 'cliff': runs of −30 followed by long runs of near-zero decay, so that inside a chunk the exponents
// that matter sit next to cumulative sums in the hundreds (a plain f32 prefix-sum difference is off
// by more than 1e-4 there).
const cliff = (k: number) => k < 12 || (k >= 30 && k < 34) || (k >= 70 && k < 74);

function decays(kind: Decay, s: SsdShape, seed: number): Float32Array {
  const u = randn(s.batch * s.L * s.h, seed).map((x) => (x + 1) / 2);
  const pick = randn(s.batch * s.L * s.h, seed + 1).map((x) => (x + 1) / 2);
  return u.map((v, e) => {
    const k = Math.floor(e / s.h) % s.L;
    switch (kind) {
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

interface Case {
  s: SsdShape;
  decay: Decay;
  D?: boolean;
  s0?: boolean;
  dsFinal?: boolean;
}

interface Inputs {
  x: Float32Array;
  a: Float32Array;
  B: Float32Array;
  C: Float32Array;
  D?: Float32Array;
  s0?: Float32Array;
  dy: Float32Array;
  dsFinal?: Float32Array;
}

function inputs(c: Case, seed: number): Inputs {
  const { s } = c;
  const nx = s.batch * s.L * s.h * s.p;
  const nbc = s.batch * s.L * s.g * s.n;
  const ns = s.batch * s.h * s.p * s.n;
  return {
    x: randn(nx, seed),
    a: decays(c.decay, s, seed + 1),
    B: randn(nbc, seed + 2),
    C: randn(nbc, seed + 3),
    D: c.D ? randn(s.h, seed + 4) : undefined,
    s0: c.s0 ? randn(ns, seed + 5) : undefined,
    dy: randn(nx, seed + 6),
    dsFinal: c.dsFinal ? randn(ns, seed + 7) : undefined,
  };
}

function ref64(x: Inputs): SsdInputs {
  return { x: f64(x.x), a: f64(x.a), B: f64(x.B), C: f64(x.C), D: x.D && f64(x.D), s0: x.s0 && f64(x.s0) };
}

async function forward(s: SsdShape, x: Inputs) {
  const gpu = await testGpu();
  const up = (v?: Float32Array) => (v ? gpu.upload(v) : undefined);
  const ny = s.batch * s.L * s.h * s.p;
  const ns = s.batch * s.h * s.p * s.n;
  const b = { x: gpu.upload(x.x), a: gpu.upload(x.a), B: gpu.upload(x.B), C: gpu.upload(x.C), D: up(x.D), s0: up(x.s0), y: gpu.upload(randn(ny, 91, 9)), sFinal: gpu.upload(randn(ns, 92, 9)) };
  gpu.run(ssdScan(gpu, s, b));
  const out = { y: await gpu.read(b.y, ny), sFinal: await gpu.read(b.sFinal, ns) };
  await gpu.check();
  return out;
}

async function backward(s: SsdShape, x: Inputs, withOptional = true) {
  const gpu = await testGpu();
  const up = (v?: Float32Array) => (v ? gpu.upload(v) : undefined);
  const n = { x: s.batch * s.L * s.h * s.p, a: s.batch * s.L * s.h, bc: s.batch * s.L * s.g * s.n, s: s.batch * s.h * s.p * s.n };
  // Outputs start as garbage so that an element the kernels skip shows.
  const b = {
    x: gpu.upload(x.x), a: gpu.upload(x.a), B: gpu.upload(x.B), C: gpu.upload(x.C), D: up(x.D), s0: up(x.s0),
    dy: gpu.upload(x.dy), dsFinal: up(x.dsFinal),
    dx: gpu.upload(randn(n.x, 81, 9)), da: gpu.upload(randn(n.a, 82, 9)), dB: gpu.upload(randn(n.bc, 83, 9)),
    dC: gpu.upload(randn(n.bc, 84, 9)),
    dD: withOptional ? gpu.upload(randn(s.h, 85, 9)) : undefined,
    ds0: withOptional ? gpu.upload(randn(n.s, 86, 9)) : undefined,
  };
  gpu.run(ssdScanBackward(gpu, s, b));
  const out = {
    dx: await gpu.read(b.dx, n.x),
    da: await gpu.read(b.da, n.a),
    dB: await gpu.read(b.dB, n.bc),
    dC: await gpu.read(b.dC, n.bc),
    dD: b.dD ? await gpu.read(b.dD, s.h) : undefined,
    ds0: b.ds0 ? await gpu.read(b.ds0, n.s) : undefined,
  };
  await gpu.check();
  return out;
}

const label = (c: Case) => `${JSON.stringify(c.s)} ${c.decay}${c.D ? ' D' : ''}${c.s0 ? ' s0' : ''}${c.dsFinal ? ' dsFinal' : ''}`;

describe('ssd scan reference', () => {
  it('computes a hand-worked scan', () => {
    // p = n = 1, L = 2: S0 = x0·B0 + e^{a0}·s0, S1 = e^{a1}·S0 + x1·B1, y_t = S_t·C_t + D·x_t
    const s = { batch: 1, L: 2, h: 1, p: 1, g: 1, n: 1 };
    const t = { x: Float64Array.from([2, 3]), a: Float64Array.from([-0.5, -1]), B: Float64Array.from([5, 7]), C: Float64Array.from([11, 13]), D: Float64Array.from([0.25]), s0: Float64Array.from([17]) };
    const S0 = 10 + Math.exp(-0.5) * 17;
    const S1 = Math.exp(-1) * S0 + 21;
    const { y, sFinal } = ssdScanRef(s, t);
    expect(y[0]).toBeCloseTo(S0 * 11 + 0.5, 12);
    expect(y[1]).toBeCloseTo(S1 * 13 + 0.75, 12);
    expect(sFinal[0]).toBeCloseTo(S1, 12);
  });

  it('has gradients that match central finite differences (float64)', () => {
    for (const [ci, c] of [
      { s: { batch: 2, L: 5, h: 2, p: 2, g: 1, n: 3 }, decay: 'mixed', D: true, s0: true, dsFinal: true },
      { s: { batch: 1, L: 6, h: 4, p: 3, g: 2, n: 2 }, decay: 'tiny', D: true, s0: true, dsFinal: true },
    ].entries() as Iterable<[number, Case]>) {
      const x = inputs(c, 10 + ci);
      const t = ref64(x);
      t.a = t.a.map((v) => v / 10); // keep every decay visible
      const dy = f64(x.dy);
      const dsF = f64(x.dsFinal!);
      const loss = () => {
        const { y, sFinal } = ssdScanRef(c.s, t);
        return y.reduce((acc, v, e) => acc + v * dy[e], 0) + sFinal.reduce((acc, v, e) => acc + v * dsF[e], 0);
      };
      const g = ssdScanBackwardRef(c.s, t, dy, dsF);
      const eps = 1e-6;
      for (const [name, v, grad] of [['x', t.x, g.dx], ['a', t.a, g.da], ['B', t.B, g.dB], ['C', t.C, g.dC], ['D', t.D!, g.dD], ['s0', t.s0!, g.ds0]] as const) {
        for (let e = 0; e < v.length; e++) {
          const v0 = v[e];
          v[e] = v0 + eps;
          const up = loss();
          v[e] = v0 - eps;
          const down = loss();
          v[e] = v0;
          const fd = (up - down) / (2 * eps);
          expect(Math.abs(fd - grad[e]), `d${name}[${e}]`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
        }
      }
    }
  });

  it('equals y = T·x with the materialised SSD matrix (no initial state)', () => {
    const s = { batch: 2, L: 19, h: 4, p: 3, g: 2, n: 5 };
    const x = inputs({ s, decay: 'mixed', D: true }, 30);
    const t = ref64(x);
    const T = ssdMatrixRef({ batch: s.batch, L: s.L, h: s.h, g: s.g, n: s.n }, t.B, t.C, t.a, t.D!);
    const want = new Float64Array(t.x.length);
    for (let b = 0; b < s.batch; b++) {
      for (let h = 0; h < s.h; h++) {
        for (let i = 0; i < s.L; i++) {
          for (let j = 0; j <= i; j++) {
            const Tij = T[((b * s.h + h) * s.L + i) * s.L + j];
            for (let q = 0; q < s.p; q++) want[((b * s.L + i) * s.h + h) * s.p + q] += Tij * t.x[((b * s.L + j) * s.h + h) * s.p + q];
          }
        }
      }
    }
    expect(relErr(ssdScanRef(s, t).y, want)).toBeLessThan(1e-12);
  });
});

const forwardCases: Case[] = [
  { s: { batch: 2, L: 37, h: 4, p: 8, g: 2, n: 8, chunk: 32 }, decay: 'tiny', D: true, s0: true },
  { s: { batch: 1, L: 130, h: 2, p: 8, g: 1, n: 8, chunk: 32 }, decay: 'large' },
  { s: { batch: 1, L: 130, h: 4, p: 6, g: 4, n: 12, chunk: 64 }, decay: 'mixed', D: true, s0: true },
  { s: { batch: 2, L: 1, h: 2, p: 5, g: 1, n: 3, chunk: 64 }, decay: 'mixed', s0: true },
  // Long near-zero-decay sums over p = 72 and n = 70 sit at about one f32 ulp of max|y| (the relErr
  // floor), whatever the summation order; cliff decays are checked at n = 16 below.
  { s: { batch: 1, L: 150, h: 2, p: 72, g: 1, n: 70, chunk: 100 }, decay: 'mixed', D: true, s0: true },
  { s: { batch: 1, L: 130, h: 3, p: 4, g: 1, n: 16, chunk: 128 }, decay: 'cliff' },
  { s: { batch: 2, L: 100, h: 2, p: 8, g: 2, n: 8, chunk: 48 }, decay: 'cliff', D: true, s0: true },
];

describe('ssd scan forward', () => {
  for (const [ci, c] of forwardCases.entries()) {
    it(`matches the sequential recurrence: ${label(c)}`, async () => {
      const x = inputs(c, 100 + ci);
      const got = await forward(c.s, x);
      const want = ssdScanRef(c.s, ref64(x));
      expect(relErr(got.y, want.y), 'y').toBeLessThan(1e-4);
      expect(relErr(got.sFinal, want.sFinal), 'sFinal').toBeLessThan(1e-4);
    });
  }

  it('agrees with y = T·x from the materialised SSD matrix', async () => {
    const s = { batch: 1, L: 70, h: 2, p: 4, g: 1, n: 8, chunk: 32 };
    const x = inputs({ s, decay: 'mixed', D: true }, 120);
    const t = ref64(x);
    const T = ssdMatrixRef({ batch: 1, L: s.L, h: s.h, g: s.g, n: s.n }, t.B, t.C, t.a, t.D!);
    const want = new Float64Array(t.x.length);
    for (let h = 0; h < s.h; h++) {
      for (let i = 0; i < s.L; i++) {
        for (let j = 0; j <= i; j++) {
          const Tij = T[(h * s.L + i) * s.L + j];
          for (let q = 0; q < s.p; q++) want[(i * s.h + h) * s.p + q] += Tij * t.x[(j * s.h + h) * s.p + q];
        }
      }
    }
    expect(relErr((await forward(s, x)).y, want)).toBeLessThan(1e-4);
  });

  it('treats a = −∞ as a full reset of the state', async () => {
    const c: Case = { s: { batch: 1, L: 37, h: 2, p: 4, g: 1, n: 4, chunk: 32 }, decay: 'mixed', s0: true };
    const x = inputs(c, 130);
    for (const k of [3, 33, 34]) x.a[k * 2 + 1] = -Infinity;
    const got = await forward(c.s, x);
    const want = ssdScanRef(c.s, ref64(x));
    expect(relErr(got.y, want.y), 'y').toBeLessThan(1e-4);
    expect(relErr(got.sFinal, want.sFinal), 'sFinal').toBeLessThan(1e-4);
  });

  it('rejects bad shapes and short buffers', async () => {
    const gpu = await testGpu();
    const buf = gpu.zeros(4096);
    const t = { x: buf, a: buf, B: buf, C: buf, y: buf };
    expect(() => ssdScan(gpu, { batch: 1, L: 8, h: 3, p: 2, g: 2, n: 4 }, t)).toThrow(/h=3, .*g=2/);
    expect(() => ssdScan(gpu, { batch: 1, L: 8, h: 1, p: 2, g: 1, n: 4, chunk: 512 }, t)).toThrow(/chunk must be at most 256/);
    expect(() => ssdScan(gpu, { batch: 1, L: 600, h: 1, p: 8, g: 1, n: 4 }, t)).toThrow(/x holds/);
  });
});

describe('ssd scan backward', () => {
  const cases: Case[] = [
    { s: { batch: 2, L: 37, h: 4, p: 8, g: 2, n: 8, chunk: 32 }, decay: 'mixed', D: true, s0: true, dsFinal: true },
    { s: { batch: 1, L: 130, h: 2, p: 8, g: 1, n: 8, chunk: 32 }, decay: 'tiny', D: true, s0: true },
    { s: { batch: 1, L: 130, h: 4, p: 6, g: 4, n: 12, chunk: 64 }, decay: 'large', dsFinal: true },
    { s: { batch: 2, L: 1, h: 2, p: 5, g: 1, n: 3, chunk: 64 }, decay: 'mixed', D: true, s0: true, dsFinal: true },
    { s: { batch: 1, L: 150, h: 2, p: 72, g: 1, n: 70, chunk: 100 }, decay: 'cliff', D: true, s0: true, dsFinal: true },
    { s: { batch: 1, L: 130, h: 3, p: 4, g: 1, n: 16, chunk: 128 }, decay: 'cliff', s0: true },
  ];
  for (const [ci, c] of cases.entries()) {
    it(`matches the sequential recurrence: ${label(c)}`, async () => {
      const x = inputs(c, 200 + ci);
      const got = await backward(c.s, x);
      const want = ssdScanBackwardRef(c.s, ref64(x), f64(x.dy), x.dsFinal && f64(x.dsFinal));
      for (const k of ['dx', 'da', 'dB', 'dC', 'dD', 'ds0'] as const) expect(relErr(got[k]!, want[k]), k).toBeLessThan(1e-3);
    });
  }

  it('leaves dD and ds0 out when their buffers are not given', async () => {
    const c: Case = { s: { batch: 1, L: 37, h: 2, p: 4, g: 1, n: 4, chunk: 32 }, decay: 'mixed', D: true, s0: true };
    const x = inputs(c, 260);
    const got = await backward(c.s, x, false);
    const want = ssdScanBackwardRef(c.s, ref64(x), f64(x.dy));
    for (const k of ['dx', 'da', 'dB', 'dC'] as const) expect(relErr(got[k], want[k]), k).toBeLessThan(1e-3);
  });
});

describe('ssd step', () => {
  it('equals the scan run token by token (state in place)', async () => {
    const gpu = await testGpu();
    const s = { batch: 2, L: 9, h: 4, p: 10, g: 2, n: 12, chunk: 32 };
    const x = inputs({ s, decay: 'mixed', D: true, s0: true }, 300);
    const want = ssdScanRef(s, ref64(x));
    // Gather token t of each batch row: (batch, L, ...) → (batch, ...).
    const token = (v: Float32Array, per: number, t: number) => {
      const out = new Float32Array(s.batch * per);
      for (let b = 0; b < s.batch; b++) out.set(v.subarray((b * s.L + t) * per, (b * s.L + t + 1) * per), b * per);
      return out;
    };
    const state = gpu.upload(x.s0!);
    const D = gpu.upload(x.D!);
    const ys: GPUBuffer[] = [];
    const ops = [];
    for (let t = 0; t < s.L; t++) {
      const y = gpu.upload(randn(s.batch * s.h * s.p, 310 + t, 9));
      ys.push(y);
      ops.push(...ssdStep(gpu, s, {
        state,
        x: gpu.upload(token(x.x, s.h * s.p, t)),
        a: gpu.upload(token(x.a, s.h, t)),
        B: gpu.upload(token(x.B, s.g * s.n, t)),
        C: gpu.upload(token(x.C, s.g * s.n, t)),
        D,
        y,
      }));
    }
    gpu.run(ops);
    const got = new Float64Array(want.y.length);
    for (let t = 0; t < s.L; t++) {
      const yt = await gpu.read(ys[t]);
      for (let b = 0; b < s.batch; b++) {
        for (let e = 0; e < s.h * s.p; e++) got[(b * s.L + t) * s.h * s.p + e] = yt[b * s.h * s.p + e];
      }
    }
    expect(relErr(got, want.y), 'y').toBeLessThan(1e-4);
    expect(relErr(await gpu.read(state), want.sFinal), 'state').toBeLessThan(1e-4);
    const scan = await forward(s, x);
    expect(relErr(got, scan.y), 'y vs scan').toBeLessThan(1e-4);
    await gpu.check();
  });

  it('works without D', async () => {
    const gpu = await testGpu();
    const s = { batch: 1, L: 1, h: 2, p: 3, g: 1, n: 5 };
    const x = inputs({ s, decay: 'tiny', s0: true }, 320);
    const want = ssdScanRef(s, ref64(x));
    const b = { state: gpu.upload(x.s0!), x: gpu.upload(x.x), a: gpu.upload(x.a), B: gpu.upload(x.B), C: gpu.upload(x.C), y: gpu.zeros(6) };
    gpu.run(ssdStep(gpu, s, b));
    expect(relErr(await gpu.read(b.y, 6), want.y)).toBeLessThan(1e-4);
    expect(relErr(await gpu.read(b.state, 30), want.sFinal)).toBeLessThan(1e-4);
    await gpu.check();
  });
});
