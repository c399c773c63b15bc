import { describe, expect, it } from 'vitest';
import { gatedSilu, gatedSiluBackward, swiglu, swigluBackward, unary, unaryBackward, type Unary } from '../../src/kernels/activations';
import {
  activationGradRef,
  activationRef,
  erfcRef,
  erfRef,
  gatedSiluBackwardRef,
  gatedSiluRef,
  swigluBackwardRef,
  swigluRef,
  unaryBackwardRef,
  unaryRef,
} from '../../src/ref/activations';
import { randn, relErr, testGpu } from '../helpers/gpu';
import { fdGrad } from '../helpers/fd';

const KINDS: Unary[] = ['softplus', 'negSoftplus', 'silu', 'sigmoid', 'geluTanh', 'gelu'];
const f64 = (x: ArrayLike<number>) => Float64Array.from(x);

/** A (rows × cols) tensor placed at r·stride + offset + j in a buffer of garbage. */
function place(x: Float32Array, rows: number, cols: number, stride: number, offset: number, seed: number): Float32Array {
  const buf = randn((rows - 1) * stride + offset + cols, seed, 100);
  for (let r = 0; r < rows; r++) buf.set(x.subarray(r * cols, (r + 1) * cols), r * stride + offset);
  return buf;
}

function pick(buf: Float32Array, rows: number, cols: number, stride: number, offset: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(buf.subarray(r * stride + offset, r * stride + offset + cols), r * cols);
  return out;
}

/** Values every activation must survive: both thresholds, the erf split, and far tails. */
const EDGES = [-80, -30, -20.5, -15, -9, -5, -1.0607, -1.06, -1e-3, -1e-30, 0, 1e-30, 1e-3, 1.06, 1.0607, 5, 9, 15, 19.99, 20.01, 30, 80];

describe('activation references', () => {
  it('erf and erfc match tabulated values', () => {
    // Values from scipy.special (float64).
    expect(erfRef(0.5)).toBeCloseTo(0.5204998778130465, 15);
    expect(erfRef(2)).toBeCloseTo(0.9953222650189527, 15);
    expect(Math.abs(erfcRef(1) / 0.15729920705028516 - 1)).toBeLessThan(1e-14);
    expect(Math.abs(erfcRef(4) / 1.541725790028002e-8 - 1)).toBeLessThan(1e-14);
    expect(Math.abs(erfcRef(10) / 2.0884875837625446e-45 - 1)).toBeLessThan(1e-14);
    expect(erfcRef(-1)).toBeCloseTo(2 - 0.15729920705028516, 15);
  });

  it('writes the tanh GELU in its published form', () => {
    // The reference (like the shader) uses ½(1 + tanh u) = σ(2u); check that against the HF formula.
    for (const x of [-6, -2.5, -0.7, 0, 0.3, 1.9, 4.4]) {
      const hf = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
      expect(activationRef('geluTanh', x)).toBeCloseTo(hf, 14);
    }
    expect(activationRef('gelu', 1)).toBeCloseTo(0.8413447460685429, 15); // Φ(1) from scipy
  });

  it('has derivatives that match central finite differences (float64)', () => {
    const xs = [-25, -12, -6, -2.5, -1, -0.3, 0.2, 0.9, 1.7, 3, 7, 12, 19, 21, 40];
    for (const kind of KINDS) {
      for (const x of xs) {
        const eps = 1e-6 * Math.max(1, Math.abs(x));
        const fd = (activationRef(kind, x + eps) - activationRef(kind, x - eps)) / (2 * eps);
        const g = activationGradRef(kind, x);
        expect(Math.abs(fd - g), `${kind} at ${x}`).toBeLessThan(1e-7 * Math.max(1, Math.abs(g)));
      }
    }
  });

  it('swiglu and gated silu gradients match central finite differences', () => {
    const rows = 3;
    const ch = 4;
    const n = rows * ch;
    const a = f64(randn(n, 1, 3));
    const b = f64(randn(n, 2, 3));
    const bias = f64(randn(ch, 3, 1));
    const w = f64(randn(n, 4)); // loss = Σ w·out, so dOut = w
    const dot = (o: Float64Array) => o.reduce((s, v, i) => s + v * w[i], 0);
    const gs = gatedSiluBackwardRef(a, b, bias, w, ch);
    for (const kind of ['silu', 'geluTanh', 'gelu'] as const) {
      const sw = swigluBackwardRef(a, b, w, kind);
      const swL = () => dot(swigluRef(a, b, kind));
      const [swA, swB] = [fdGrad(a, swL), fdGrad(b, swL)];
      for (let i = 0; i < n; i++) {
        expect(Math.abs(swA[i] - sw.dGate[i]), kind).toBeLessThan(1e-7);
        expect(Math.abs(swB[i] - sw.dUp[i]), kind).toBeLessThan(1e-7);
      }
    }
    const gsL = () => dot(gatedSiluRef(a, b, bias, ch));
    const [gsA, gsB, gsBias] = [fdGrad(a, gsL), fdGrad(b, gsL), fdGrad(bias, gsL)];
    for (let i = 0; i < n; i++) {
      expect(Math.abs(gsB[i] - gs.dz[i])).toBeLessThan(1e-7);
    }
    for (let c = 0; c < ch; c++) expect(Math.abs(gsBias[c] - gs.dzBias[c])).toBeLessThan(1e-7);
  });
});

describe('unary kernels', () => {
  async function runUnary(kind: Unary, x: Float32Array, dy: Float32Array, dx0?: Float32Array) {
    const gpu = await testGpu();
    const n = x.length;
    const bx = gpu.upload(x);
    const by = gpu.upload(randn(n, 91));
    const bdy = gpu.upload(dy);
    const bdx = gpu.upload(dx0 ?? randn(n, 92));
    gpu.run([...unary(gpu, { kind, x: bx, y: by, n }), ...unaryBackward(gpu, { kind, x: bx, dy: bdy, dx: bdx, n, accumulate: !!dx0 })]);
    const y = await gpu.read(by, n);
    const dx = await gpu.read(bdx, n);
    await gpu.check();
    for (const b of [bx, by, bdy, bdx]) gpu.release(b);
    return { y, dx };
  }

  for (const kind of KINDS) {
    it(`${kind} matches the reference on random and edge inputs`, async () => {
      for (const [x, seed] of [[randn(3001, 1, 8), 1], [Float32Array.from(EDGES), 2]] as const) {
        const dy = randn(x.length, seed + 10);
        const { y, dx } = await runUnary(kind, x, dy);
        const wantY = unaryRef(kind, f64(x));
        const wantDx = unaryBackwardRef(kind, f64(x), f64(dy));
        expect(relErr(y, wantY), `${kind} forward`).toBeLessThan(1e-4);
        expect(relErr(dx, wantDx), `${kind} backward`).toBeLessThan(1e-3);
      }
    });
  }

  it('keeps relative precision in the tails (element by element)', async () => {
    // Inputs where a naive formula cancels or underflows: log(1 + eˣ) for x ≪ 0, 1 − σ, 1 + erf.
    const x = Float32Array.from([-60, -40, -17, -12, -8, -5, -3, -1e-4, 1e-4, 3, 8]);
    for (const kind of ['softplus', 'sigmoid', 'silu', 'gelu', 'geluTanh'] as Unary[]) {
      const { y, dx } = await runUnary(kind, x, new Float32Array(x.length).fill(1));
      // x·Φ(x) and x·σ(1.6x) underflow f32 below −12; compare where they are normal numbers.
      const keep = [...x.keys()].filter((i) => !(kind === 'gelu' || kind === 'geluTanh') || x[i] > -12);
      const xs = f64(keep.map((i) => x[i]));
      const ones = new Float64Array(xs.length).fill(1);
      expect(relErr(keep.map((i) => y[i]), unaryRef(kind, xs), 1e-37), `${kind} forward`).toBeLessThan(1e-4);
      expect(relErr(keep.map((i) => dx[i]), unaryBackwardRef(kind, xs, ones), 1e-37), `${kind} backward`).toBeLessThan(1e-3);
    }
  });

  it('accumulates into dx', async () => {
    const x = randn(777, 3, 4);
    const dy = randn(777, 4);
    const dx0 = randn(777, 5);
    const { dx } = await runUnary('silu', x, dy, dx0);
    const want = unaryBackwardRef('silu', f64(x), f64(dy)).map((g, i) => g + dx0[i]);
    expect(relErr(dx, want)).toBeLessThan(1e-4);
  });

  it('reads and writes strided column views', async () => {
    const gpu = await testGpu();
    const rows = 37;
    const cols = 29;
    const n = rows * cols;
    const x = randn(n, 6, 5);
    const dy = randn(n, 7);
    // x is the middle slice of rows of 80; y, dy and dx are slices of other widths.
    const bx = gpu.upload(place(x, rows, cols, 80, 31, 8));
    const yBuf = place(new Float32Array(n), rows, cols, 33, 4, 9);
    const by = gpu.upload(yBuf);
    const bdy = gpu.upload(place(dy, rows, cols, 40, 11, 10));
    const dxBuf = place(new Float32Array(n), rows, cols, 64, 35, 11);
    const bdx = gpu.upload(dxBuf);
    gpu.run([
      ...unary(gpu, { kind: 'gelu', x: bx, y: by, n, cols, xStride: 80, xOffset: 31, yStride: 33, yOffset: 4 }),
      ...unaryBackward(gpu, { kind: 'gelu', x: bx, dy: bdy, dx: bdx, n, cols, xStride: 80, xOffset: 31, dyStride: 40, dyOffset: 11, dxStride: 64, dxOffset: 35 }),
    ]);
    const yAll = await gpu.read(by, yBuf.length);
    const dxAll = await gpu.read(bdx, dxBuf.length);
    await gpu.check();
    expect(relErr(pick(yAll, rows, cols, 33, 4), unaryRef('gelu', f64(x)))).toBeLessThan(1e-4);
    expect(relErr(pick(dxAll, rows, cols, 64, 35), unaryBackwardRef('gelu', f64(x), f64(dy)))).toBeLessThan(1e-3);
    // Floats outside the views are left alone.
    const untouched = (all: Float32Array, orig: Float32Array, stride: number, offset: number) =>
      all.every((v, i) => {
        const j = (i % stride) - offset;
        return (j >= 0 && j < cols) || v === orig[i];
      });
    expect(untouched(yAll, yBuf, 33, 4)).toBe(true);
    expect(untouched(dxAll, dxBuf, 64, 35)).toBe(true);
    for (const b of [bx, by, bdy, bdx]) gpu.release(b);
  });

  it('rejects bad shapes and aliasing', async () => {
    const gpu = await testGpu();
    const b = gpu.zeros(64);
    const c = gpu.zeros(64);
    expect(() => unary(gpu, { kind: 'silu', x: b, y: c, n: 65 })).toThrow(/n=65/);
    expect(() => unary(gpu, { kind: 'silu', x: b, y: c, n: 60, cols: 7 })).toThrow(/multiple of cols/);
    expect(() => unary(gpu, { kind: 'silu', x: b, y: c, n: 60, cols: 6, xStride: 5 })).toThrow(/stride/);
    expect(() => unary(gpu, { kind: 'silu', x: b, y: c, n: 30, cols: 6, xStride: 12, xOffset: 11 })).toThrow(/x holds/);
    expect(() => unaryBackward(gpu, { kind: 'silu', x: b, dy: c, dx: c, n: 8 })).toThrow(/shares a buffer/);
    expect(() => unary(gpu, { kind: 'tanh' as Unary, x: b, y: c, n: 8 })).toThrow(/unknown activation/);
  });
});

describe('swiglu kernel', () => {
  it('matches the reference with separate buffers and with [gate | up] halves of one row, accumulating', async () => {
    const gpu = await testGpu();
    const rows = 45;
    const cols = 67;
    const n = rows * cols;
    const gate = randn(n, 20, 6);
    const up = randn(n, 21, 3);
    const dOut = randn(n, 22);
    const want = swigluRef(f64(gate), f64(up));
    const wantD = swigluBackwardRef(f64(gate), f64(up), f64(dOut));

    // Separate buffers, overwrite.
    const bg = gpu.upload(gate);
    const bu = gpu.upload(up);
    const bo = gpu.upload(randn(n, 23));
    const bdo = gpu.upload(dOut);
    const bdg = gpu.upload(randn(n, 24));
    const bdu = gpu.upload(randn(n, 25));
    gpu.run([...swiglu(gpu, { gate: bg, up: bu, out: bo, rows, cols }), ...swigluBackward(gpu, { gate: bg, up: bu, dOut: bdo, dGate: bdg, dUp: bdu, rows, cols })]);
    expect(relErr(await gpu.read(bo, n), want)).toBeLessThan(1e-4);
    expect(relErr(await gpu.read(bdg, n), wantD.dGate)).toBeLessThan(1e-3);
    expect(relErr(await gpu.read(bdu, n), wantD.dUp)).toBeLessThan(1e-3);

    // One fused [gate | up] row of 2·cols, gradients into the halves of one buffer, accumulated.
    const fused = new Float32Array(rows * 2 * cols);
    for (let r = 0; r < rows; r++) {
      fused.set(gate.subarray(r * cols, (r + 1) * cols), r * 2 * cols);
      fused.set(up.subarray(r * cols, (r + 1) * cols), r * 2 * cols + cols);
    }
    const d0 = randn(rows * 2 * cols, 26);
    const bf = gpu.upload(fused);
    const bd = gpu.upload(d0);
    const bo2 = gpu.upload(place(new Float32Array(n), rows, cols, cols + 3, 2, 27));
    gpu.run([
      ...swiglu(gpu, { gate: bf, up: bf, out: bo2, rows, cols, stride: 2 * cols, upOffset: cols, outStride: cols + 3, outOffset: 2 }),
      ...swigluBackward(gpu, { gate: bf, up: bf, dOut: bdo, dGate: bd, dUp: bd, rows, cols, stride: 2 * cols, upOffset: cols, dStride: 2 * cols, dUpOffset: cols, accumulate: true }),
    ]);
    expect(relErr(pick(await gpu.read(bo2, (rows - 1) * (cols + 3) + 2 + cols), rows, cols, cols + 3, 2), want)).toBeLessThan(1e-4);
    const d = await gpu.read(bd, rows * 2 * cols);
    const plus = (g: Float64Array, off: number) => g.map((v, i) => v + d0[Math.floor(i / cols) * 2 * cols + off + (i % cols)]);
    expect(relErr(pick(d, rows, cols, 2 * cols, 0), plus(wantD.dGate, 0))).toBeLessThan(1e-3);
    expect(relErr(pick(d, rows, cols, 2 * cols, cols), plus(wantD.dUp, cols))).toBeLessThan(1e-3);
    await gpu.check();
    for (const b of [bg, bu, bo, bdo, bdg, bdu, bf, bd, bo2]) gpu.release(b);
  });

  it('gates with a GELU (GeGLU, gemma3) as with silu', async () => {
    const gpu = await testGpu();
    const rows = 9, cols = 21, n = rows * cols;
    const gate = randn(n, 30, 4);
    const up = randn(n, 31, 2);
    const dOut = randn(n, 32);
    const bufs = [gate, up, dOut, new Float32Array(n), new Float32Array(n), new Float32Array(n)].map((v) => gpu.upload(v));
    const [bg, bu, bdo, bo, bdg, bdu] = bufs as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    for (const kind of ['geluTanh', 'gelu'] as const) {
      gpu.run([...swiglu(gpu, { kind, gate: bg, up: bu, out: bo, rows, cols }), ...swigluBackward(gpu, { kind, gate: bg, up: bu, dOut: bdo, dGate: bdg, dUp: bdu, rows, cols })]);
      const wantD = swigluBackwardRef(f64(gate), f64(up), f64(dOut), kind);
      expect(relErr(await gpu.read(bo, n), swigluRef(f64(gate), f64(up), kind)), kind).toBeLessThan(1e-5);
      expect(relErr(await gpu.read(bdg, n), wantD.dGate), kind).toBeLessThan(1e-4);
      expect(relErr(await gpu.read(bdu, n), wantD.dUp), kind).toBeLessThan(1e-5);
    }
    await gpu.check();
    for (const b of bufs) gpu.release(b);
  });

  it('rejects overlapping gradient views', async () => {
    const gpu = await testGpu();
    const a = gpu.zeros(200);
    const d = gpu.zeros(200);
    expect(() => swigluBackward(gpu, { gate: a, up: a, dOut: a, dGate: d, dUp: d, rows: 4, cols: 10, dStride: 20, dUpOffset: 9 })).toThrow(/overlap/);
    expect(() => swigluBackward(gpu, { gate: a, up: a, dOut: a, dGate: d, dUp: d, rows: 4, cols: 10, dStride: 20, dUpOffset: 10 })).not.toThrow();
  });
});

describe('gated silu kernel', () => {
  async function runGated(rows: number, ch: number, withBias: boolean, seed: number) {
    const gpu = await testGpu();
    const n = rows * ch;
    const y = randn(n, seed, 3);
    const z = randn(n, seed + 1, 6);
    const bias = randn(ch, seed + 2, 2);
    const dOut = randn(n, seed + 3);
    // z lives in a fused in_proj row of width 3·ch + 5, at column ch + 1; dy and dz are two
    // slices of one gradient buffer; dy, dz and dzBias accumulate onto what is there.
    const W = 3 * ch + 5;
    const bz = gpu.upload(place(z, rows, ch, W, ch + 1, seed + 4));
    const by = gpu.upload(y);
    const bb = gpu.upload(bias);
    const bo = gpu.upload(randn(n, seed + 5));
    const bdo = gpu.upload(dOut);
    const g0 = randn(rows * 2 * ch, seed + 6);
    const bg = gpu.upload(g0);
    const db0 = randn(ch, seed + 7);
    const bdb = gpu.upload(db0);
    const zBias = withBias ? bb : undefined;
    gpu.run([
      ...gatedSilu(gpu, { y: by, z: bz, zBias, out: bo, rows, channels: ch, zStride: W, zOffset: ch + 1 }),
      ...gatedSiluBackward(gpu, {
        y: by, z: bz, zBias, dOut: bdo, dy: bg, dz: bg, dzBias: withBias ? bdb : undefined, rows, channels: ch,
        zStride: W, zOffset: ch + 1, dyStride: 2 * ch, dzStride: 2 * ch, dzOffset: ch, accumulate: true, accumulateParams: true,
      }),
    ]);
    const out = await gpu.read(bo, n);
    const g = await gpu.read(bg, rows * 2 * ch);
    const db = await gpu.read(bdb, ch);
    await gpu.check();
    for (const b of [bz, by, bb, bo, bdo, bg, bdb]) gpu.release(b);
    const want = gatedSiluRef(f64(y), f64(z), withBias ? f64(bias) : null, ch);
    const wantD = gatedSiluBackwardRef(f64(y), f64(z), withBias ? f64(bias) : null, f64(dOut), ch);
    const plus = (v: Float64Array, off: number) => v.map((x, i) => x + g0[Math.floor(i / ch) * 2 * ch + off + (i % ch)]);
    expect(relErr(out, want)).toBeLessThan(1e-4);
    expect(relErr(pick(g, rows, ch, 2 * ch, 0), plus(wantD.dy, 0))).toBeLessThan(1e-3);
    expect(relErr(pick(g, rows, ch, 2 * ch, ch), plus(wantD.dz, ch))).toBeLessThan(1e-3);
    const wantDb = withBias ? wantD.dzBias.map((v, c) => v + db0[c]) : f64(db0);
    expect(relErr(db, wantDb)).toBeLessThan(1e-3);
  }

  it('matches the reference with a z bias over rows not a multiple of the row block', async () => {
    await runGated(77, 70, true, 30);
    await runGated(1, 3, true, 40);
  });

  it('matches the reference without a bias', async () => {
    await runGated(33, 65, false, 50);
  });

  it('rejects a bias gradient without a bias', async () => {
    const gpu = await testGpu();
    const a = gpu.zeros(64);
    const d = gpu.zeros(64);
    const e = gpu.zeros(64);
    expect(() => gatedSiluBackward(gpu, { y: a, z: a, dOut: a, dy: d, dz: e, dzBias: e, rows: 2, channels: 4 })).toThrow(/needs zBias/);
  });
});
