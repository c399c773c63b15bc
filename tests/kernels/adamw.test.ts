import { describe, expect, it } from 'vitest';
import { adamw, adamwChunks, type AdamWConfig } from '../../src/kernels/adamw';
import { adamwRef, type AdamWState } from '../../src/ref/adamw';
import { randn, relErr, testGpu } from '../helpers/gpu';

const f64 = (x: Float32Array) => Float64Array.from(x);
const BASE: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

describe('adamw reference', () => {
  it('takes a hand-worked first step', () => {
    // g = 0.5, t = 1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25; p = 1·(1 − 0.1·0.01) − 0.1·0.5/(0.5 + 1e-8)
    const s = adamwRef({ params: Float64Array.of(1), m: Float64Array.of(0), v: Float64Array.of(0) }, Float64Array.of(0.5), BASE, 1, 0.1);
    expect(s.m[0]).toBeCloseTo(0.05, 15);
    expect(s.v[0]).toBeCloseTo(0.00025, 15);
    expect(s.params[0]).toBeCloseTo(0.999 - 0.05 / (0.5 + 1e-8), 15);
    expect(s.gradNorm).toBe(0.5);
  });

  it('clips by the global norm as clip_grad_norm_ does, and skips frozen parameters', () => {
    const state = { params: Float64Array.of(1, 1, 1), m: Float64Array.of(0, 0, 0), v: Float64Array.of(0, 0, 0) };
    const grads = Float64Array.of(3, 4, 100);
    const s = adamwRef(state, grads, { ...BASE, weightDecay: 0, maxGradNorm: 1 }, 3, 0.1, Float64Array.of(1, 1, 0));
    expect(s.gradNorm).toBe(5);
    const c = 1 / (5 + 1e-6);
    expect(s.m[0]).toBeCloseTo(0.1 * 3 * c, 15);
    expect(s.v[1]).toBeCloseTo(0.001 * (4 * c) ** 2, 15);
    expect([s.params[2], s.m[2], s.v[2]]).toEqual([1, 0, 0]);
    // Below the limit the gradients pass unscaled.
    expect(adamwRef(state, grads, { ...BASE, maxGradNorm: 1000 }, 1, 0.1).m[2]).toBeCloseTo(10, 12);
  });
});

async function runSteps(config: AdamWConfig, count: number, opts: { mask?: boolean; steps?: number } = {}) {
  const gpu = await testGpu();
  const steps = opts.steps ?? 4;
  // Start from a trained-looking state (m, v nonzero), as when resuming.
  const p0 = randn(count, 1);
  const m0 = randn(count, 2, 0.05);
  const v0 = Float32Array.from(randn(count, 3, 0.05), (x) => x * x);
  const mask = opts.mask ? Float32Array.from(randn(count, 4), (x) => (x > -0.3 ? 1 : 0)) : undefined;
  const P = gpu.upload(p0), M = gpu.upload(m0), V = gpu.upload(v0), G = gpu.zeros(count);
  const opt = adamw(gpu, { params: P, grads: G, m: M, v: V, count, config, mask: mask && gpu.upload(mask) });
  let ref: AdamWState = { params: f64(p0), m: f64(m0), v: f64(v0) };
  for (let t = 1; t <= steps; t++) {
    const g = randn(count, 100 + t, 1 / t);
    const lr = 0.01 * (1 + 0.5 * t);
    gpu.write(G, g);
    opt.setStep(t, lr);
    gpu.run(opt.ops);
    const next = adamwRef(ref, f64(g), config, t, lr, mask && f64(mask));
    const norm = await gpu.read(opt.gradNorm, 1);
    expect(Math.abs(norm[0] - next.gradNorm) / next.gradNorm, `norm at step ${t}`).toBeLessThan(1e-5);
    ref = next;
  }
  const got = { params: await gpu.read(P, count), m: await gpu.read(M, count), v: await gpu.read(V, count) };
  await gpu.check();
  for (const k of ['params', 'm', 'v'] as const) expect(relErr(got[k], ref[k]), k).toBeLessThan(1e-4);
  return { got, ref, p0, m0, v0, mask };
}

describe('adamw on the GPU', () => {
  it('matches float64 over several steps without clipping', async () => {
    await runSteps(BASE, 10007);
  });

  it('matches float64 with clipping active (norm above the limit) and inactive', async () => {
    // ‖g‖ of 10007 uniform(−1/t, 1/t) values is about 58/t: 5 clips every step, 1000 never does.
    await runSteps({ ...BASE, maxGradNorm: 5 }, 10007);
    await runSteps({ ...BASE, maxGradNorm: 1000, weightDecay: 0.1 }, 4099);
  });

  it('leaves frozen parameters exactly as they were and keeps them out of the norm', async () => {
    const { got, p0, m0, v0, mask } = await runSteps({ ...BASE, maxGradNorm: 5 }, 5003, { mask: true });
    let frozen = 0;
    for (let i = 0; i < p0.length; i++) {
      if (mask![i] !== 0) continue;
      frozen++;
      expect([got.params[i], got.m[i], got.v[i]]).toEqual([p0[i], m0[i], v0[i]]);
    }
    expect(frozen).toBeGreaterThan(1000);
  });

  it('covers more parameters than one grid dimension of workgroups holds', async () => {
    await runSteps({ ...BASE, maxGradNorm: 100 }, 65535 * 256 + 300, { steps: 1 });
  });

  it('updates a single parameter and rejects bad arguments', async () => {
    await runSteps({ beta1: 0.5, beta2: 0.9, eps: 1e-6, weightDecay: 0.5 }, 1, { steps: 3 });
    const gpu = await testGpu();
    const b = gpu.zeros(8);
    expect(() => adamw(gpu, { params: b, grads: b, m: b, v: gpu.zeros(4), count: 8, config: BASE })).toThrow(/v holds 4 floats, needs count=8/);
    expect(() => adamw(gpu, { params: b, grads: b, m: b, v: b, count: 8, config: { ...BASE, maxGradNorm: 0 } })).toThrow(/maxGradNorm/);
    const opt = adamw(gpu, { params: b, grads: b, m: b, v: b, count: 8, config: BASE });
    expect(() => opt.setStep(0, 0.1)).toThrow(/t=0/);
  });
});

describe('adamw over chunks', () => {
  it('is one optimizer over the concatenation: global clipping norm, masks per chunk', async () => {
    const gpu = await testGpu();
    // Chunk sizes off the workgroup and reduce tiles; the second chunk wholly frozen.
    const sizes = [300, 4100, 77, 5000];
    const count = sizes.reduce((a, b) => a + b, 0);
    const config: AdamWConfig = { ...BASE, maxGradNorm: 1 };
    const p0 = randn(count, 1), m0 = randn(count, 2, 0.05), v0 = Float32Array.from(randn(count, 3, 0.05), (x) => x * x);
    const mask = Float32Array.from(randn(count, 4), (x) => (x > -0.3 ? 1 : 0));
    mask.fill(0, sizes[0]!, sizes[0]! + sizes[1]!);
    const starts = sizes.map((_, k) => sizes.slice(0, k).reduce((a, b) => a + b, 0));
    const part = (x: Float32Array, k: number) => x.subarray(starts[k]!, starts[k]! + sizes[k]!);
    const chunks = sizes.map((n, k) => ({ params: gpu.upload(part(p0, k)), grads: gpu.zeros(n), m: gpu.upload(part(m0, k)), v: gpu.upload(part(v0, k)), mask: gpu.upload(part(mask, k)), count: n }));
    const opt = adamwChunks(gpu, { chunks, config });
    let ref: AdamWState = { params: f64(p0), m: f64(m0), v: f64(v0) };
    for (let t = 1; t <= 3; t++) {
      const g = randn(count, 100 + t, 1 / t);
      chunks.forEach((c, k) => gpu.write(c.grads, part(g, k)));
      const lr = 0.01 * t;
      opt.setStep(t, lr);
      gpu.run(opt.ops);
      const next = adamwRef(ref, f64(g), config, t, lr, f64(mask));
      const norm = await gpu.read(opt.gradNorm, 1);
      expect(Math.abs(norm[0]! - next.gradNorm) / next.gradNorm, `norm at step ${t}`).toBeLessThan(1e-5);
      ref = next;
    }
    for (const k of ['params', 'm', 'v'] as const) {
      const got = new Float32Array(count);
      for (let j = 0; j < sizes.length; j++) got.set(await gpu.read(chunks[j]![k], sizes[j]), starts[j]);
      expect(relErr(got, ref[k]), k).toBeLessThan(1e-4);
      if (k === 'params') expect(part(got, 1)).toEqual(part(p0, 1));
    }
    await gpu.check();
  });
});
