// ParamSet.optimizerChunks: AdamW over what trains without a per-element mask. Frozen tensors are left
// out whole (runs of trained tensors bound at their offsets); the update must be the masked one's.
import { describe, expect, it } from 'vitest';
import { adamwChunks, type AdamWChunk, type AdamWConfig } from '../../src/kernels/adamw';
import { ParamSet } from '../../src/models/student';
import { randn, testGpu } from '../helpers/gpu';

const CONFIG: AdamWConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 0.5 };
// Sizes that leave alignment gaps; 2 KiB chunks cut the layout into several.
const SHAPES = new Map<string, number[]>([
  ['a', [100]], ['b', [3, 70]], ['c', [64]], ['d', [130]], ['e', [5]], ['f', [200]], ['g', [33]], ['h', [7, 9]],
]);

async function steps(frozen: (n: string) => boolean, masked: boolean) {
  const gpu = await testGpu();
  const ps = new ParamSet(gpu, SHAPES, new Map([...SHAPES].map(([n, s], i) => [n, randn(s.reduce((a, b) => a * b, 1), 10 + i)])), 'p', 2048);
  ps.frozen = frozen;
  const size = ps.layout.size;
  // Moments as a resumed run has them; gradients only where trained (a frozen tensor has no binding).
  const m = ps.buffers('m', randn(size, 3, 0.05));
  const v = ps.buffers('v', Float32Array.from(randn(size, 4, 0.05), (x) => x * x));
  const grads = new Float32Array(size);
  for (const [n, s] of ps.layout.slices) if (!frozen(n)) grads.set(randn(s.count, 50 + s.offset), s.offset);
  let chunks: AdamWChunk[];
  if (masked) {
    // The mask the stages used to upload: 1 on trained floats, 0 on frozen ones and the gaps.
    const mask = new Float32Array(size);
    for (const [n, s] of ps.layout.slices) if (!frozen(n)) mask.fill(1, s.offset, s.offset + s.count);
    const maskBufs = ps.buffers('mask', mask);
    chunks = ps.chunks.map((c, k) => ({ params: ps.values[k]!, grads: ps.grads[k]!, m: m[k]!, v: v[k]!, mask: maskBufs[k]!, count: c.size }));
  } else chunks = ps.optimizerChunks(m, v);
  const opt = adamwChunks(gpu, { chunks, config: CONFIG });
  const norms: number[] = [];
  for (let t = 1; t <= 3; t++) {
    ps.write(ps.grads, grads.map((g) => g * t));
    opt.setStep(t, 1e-2);
    gpu.run(opt.ops);
    norms.push((await gpu.read(opt.gradNorm, 1))[0]!);
  }
  const out = { params: await ps.readFlat(), m: await ps.readFlat(m), v: await ps.readFlat(v), norms, chunks, ps };
  await gpu.check();
  return out;
}

describe('ParamSet.optimizerChunks', () => {
  it('updates as the masked step does, frozen tensors left as they are', async () => {
    for (const frozen of [(n: string) => 'aceh'.includes(n), (n: string) => n === 'd', (n: string) => 'bcdefg'.includes(n)]) {
      const runs = await steps(frozen, false);
      const ref = await steps(frozen, true);
      expect(runs.norms.map((x) => x / ref.norms[0]!)).toEqual(ref.norms.map((x) => expect.closeTo(x / ref.norms[0]!, 6)));
      for (const [n, s] of runs.ps.layout.slices) {
        for (const k of ['params', 'm', 'v'] as const) {
          const a = runs[k].subarray(s.offset, s.offset + s.count);
          const b = ref[k].subarray(s.offset, s.offset + s.count);
          let scale = 0, diff = 0;
          for (let i = 0; i < a.length; i++) {
            scale = Math.max(scale, Math.abs(b[i]!));
            diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
          }
          expect(diff, `${k} of ${n}`).toBeLessThanOrEqual(1e-6 * scale);
        }
      }
      // No binding covers a frozen tensor.
      for (const [n, s] of runs.ps.layout.slices) {
        if (!frozen(n)) continue;
        for (const c of runs.chunks) {
          const p = c.params as { buffer: GPUBuffer; offset?: number };
          const k = runs.ps.values.indexOf(p.buffer ?? (c.params as GPUBuffer));
          const from = runs.ps.chunks[k]!.start + (p.offset ?? 0) / 4;
          expect(s.offset + s.count <= from || s.offset >= from + c.count, `${n} is left out`).toBe(true);
        }
      }
      runs.ps.release();
      ref.ps.release();
    }
  });

  it('binds a chunk that trains whole as a whole buffer', async () => {
    const r = await steps(() => false, false);
    expect(r.chunks.length).toBe(r.ps.chunks.length);
    expect(r.chunks.length).toBeGreaterThan(1);
    r.chunks.forEach((c, k) => {
      expect(c.params).toBe(r.ps.values[k]);
      expect(c.count).toBe(r.ps.chunks[k]!.size);
      expect(c.mask).toBeUndefined();
    });
    r.ps.release();
  });
});
