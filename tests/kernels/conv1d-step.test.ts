import { describe, expect, it } from 'vitest';
import { conv1dStep } from '../../src/kernels/conv1d-step';
import { conv1dRef } from '../../src/ref/conv1d';
import { conv1dStepRef } from '../../src/ref/conv1d-step';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);

describe('conv1d step', () => {
  it('reference: stepping from a zero window reproduces the sequence conv', () => {
    const s = { batch: 2, L: 6, channels: 3, K: 4 };
    const x = f64(randn(s.batch * s.L * s.channels, 1));
    const w = f64(randn(s.channels * s.K, 2));
    const bias = f64(randn(s.channels, 3));
    const want = conv1dRef(x, w, bias, s);
    let win: Float64Array = new Float64Array(s.batch * (s.K - 1) * s.channels);
    for (let t = 0; t < s.L; t++) {
      const xt = new Float64Array(s.batch * s.channels);
      for (let b = 0; b < s.batch; b++) xt.set(x.subarray((b * s.L + t) * s.channels, (b * s.L + t + 1) * s.channels), b * s.channels);
      const r = conv1dStepRef(win, xt, w, bias, s);
      win = r.window;
      for (let b = 0; b < s.batch; b++) {
        for (let c = 0; c < s.channels; c++) expect(r.y[b * s.channels + c]).toBeCloseTo(want[(b * s.L + t) * s.channels + c], 12);
      }
    }
  });

  for (const K of [2, 4, 7]) {
    it(`GPU equals the reference token after token from strided views (K=${K})`, async () => {
      const gpu = await testGpu();
      const s = { batch: 3, channels: 77, K };
      const xs = 90;
      const xo = 5;
      const ys = 81;
      const yo = 3;
      const w = randn(s.channels * K, 10 + K);
      const bias = randn(s.channels, 20 + K);
      let win: Float64Array = f64(randn(s.batch * (K - 1) * s.channels, 30 + K));
      const wb = gpu.upload(w);
      const bb = gpu.upload(bias);
      const winb = gpu.upload(Float32Array.from(win));
      const xb = gpu.buffer(((s.batch - 1) * xs + xo + s.channels) * 4);
      const yb = gpu.upload(randn((s.batch - 1) * ys + yo + s.channels, 40, 9));
      const ops = conv1dStep(gpu, { x: xb, w: wb, bias: bb, window: winb, y: yb, batch: s.batch, channels: s.channels, K, xStride: xs, xOffset: xo, yStride: ys, yOffset: yo });
      for (let t = 0; t < 5; t++) {
        const xt = randn(s.batch * s.channels, 50 + t);
        const xFull = randn((s.batch - 1) * xs + xo + s.channels, 60 + t, 9);
        for (let b = 0; b < s.batch; b++) xFull.set(xt.subarray(b * s.channels, (b + 1) * s.channels), b * xs + xo);
        gpu.write(xb, xFull);
        gpu.run(ops);
        const got = await gpu.read(yb);
        const r = conv1dStepRef(win, f64(xt), f64(w), f64(bias), s);
        win = r.window;
        const gotY = new Float32Array(s.batch * s.channels);
        for (let b = 0; b < s.batch; b++) gotY.set(got.subarray(b * ys + yo, b * ys + yo + s.channels), b * s.channels);
        expect(relErr(gotY, r.y)).toBeLessThan(1e-4);
        expect(relErr(await gpu.read(winb, win.length), win)).toBe(0);
      }
      await gpu.check();
    });
  }

  it('rejects bad shapes and aliasing with the shape in the message', async () => {
    const gpu = await testGpu();
    const b = () => gpu.zeros(64);
    const win = b();
    expect(() => conv1dStep(gpu, { x: b(), w: b(), bias: b(), window: win, y: win, batch: 1, channels: 4 })).toThrow(/window and y share a buffer/);
    expect(() => conv1dStep(gpu, { x: b(), w: b(), bias: b(), window: b(), y: b(), batch: 1, channels: 4, K: 1 })).toThrow(/K=1.*K must be 2..8/);
    expect(() => conv1dStep(gpu, { x: b(), w: b(), bias: b(), window: b(), y: b(), batch: 2, channels: 16 })).toThrow(/window holds 256 bytes, needs 384/);
  });
});
