import { describe, expect, it } from 'vitest';
import { Params } from '../../src/gpu/runtime';
import { testGpu } from '../helpers/gpu';

const AXPY = `
struct P { n: u32, alpha: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
override WG: u32 = 64;
@compute @workgroup_size(WG) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < p.n) { y[g.x] = y[g.x] + p.alpha * x[g.x]; }
}`;

describe('gpu runtime', () => {
  it('reports adapter, features and limits', async () => {
    const gpu = await testGpu();
    expect(gpu.info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(typeof gpu.info.subgroups).toBe('boolean');
  });

  it('runs an op with params and override constants, and reads back', async () => {
    const gpu = await testGpu();
    const n = 1000;
    const x = gpu.upload(Float32Array.from({ length: n }, (_, i) => i));
    const y = gpu.upload(new Float32Array(n).fill(1));
    const op = gpu.op({ shader: 'axpy', code: AXPY, constants: { WG: 128 }, reads: [x], writes: [y], params: new Params().u32(n).f32(0.5).build(), workgroups: [Math.ceil(n / 128)] });
    gpu.run([op, op]);
    const out = await gpu.read(y);
    expect(out[0]).toBe(1);
    expect(out[999]).toBe(1 + 999);
    await gpu.check();
  });

  it('caches pipelines by source and constants', async () => {
    const gpu = await testGpu();
    const a = gpu.pipeline({ shader: 'axpy', code: AXPY, constants: { WG: 64 } }, 1, 1, true);
    const b = gpu.pipeline({ shader: 'axpy', code: AXPY, constants: { WG: 64 } }, 1, 1, true);
    const c = gpu.pipeline({ shader: 'axpy', code: AXPY, constants: { WG: 32 } }, 1, 1, true);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('resolves readbacks of a step without the caller waiting on the queue', async () => {
    const gpu = await testGpu();
    const y = gpu.upload(new Float32Array([3, 4, 5, 6]));
    const step = gpu.begin();
    const p = step.readback({ buffer: y, offset: 4, size: 8 });
    step.submit();
    expect(Array.from(await p)).toEqual([4, 5]);
  });

  it('reuses pooled buffers of the same size', async () => {
    const gpu = await testGpu();
    const a = gpu.buffer(1000);
    gpu.release(a);
    expect(gpu.buffer(1000)).toBe(a);
  });

  it('collects what a piece of work takes and frees it, leaving the pool and lasting buffers alone', async () => {
    const gpu = await testGpu();
    gpu.trim();
    const pooled = gpu.buffer(2048);
    gpu.release(pooled);
    const before = gpu.memory.liveBytes;
    const held = gpu.collect();
    const taken = gpu.buffer(2048); // from the pool
    const made = gpu.upload(new Float32Array(256));
    const op = gpu.op({ shader: 'axpy', code: AXPY, reads: [made], writes: [taken], params: new Params().u32(256).f32(1).build(), workgroups: [4] });
    const back = gpu.buffer(4096);
    gpu.release(back);
    const cache = gpu.lasting(gpu.buffer(512));
    held.stop();
    const after = gpu.buffer(128);
    expect(op.label).toBe('axpy:main');
    expect(gpu.memory.liveBytes).toBeGreaterThan(before);
    held.free();
    // Gone: the pooled buffer it took, what it made. Left: what it released back to the pool, the
    // lasting one and the one made after stop().
    expect(gpu.memory.liveBytes - before).toBe(-2048 + 4096 + 512 + 128);
    gpu.trim();
    expect(gpu.memory.liveBytes - before).toBe(-2048 + 512 + 128);
    for (const b of [cache, after]) b.destroy();
  });

  it('surfaces validation errors', async () => {
    const gpu = await testGpu();
    gpu.takeErrors();
    const x = gpu.upload(new Float32Array(4));
    // Binding a read-only buffer where the shader writes is a validation error, not a hang.
    expect(() => gpu.op({ shader: 'axpy', code: AXPY, reads: [x, x], writes: [], params: new Params().u32(4).f32(1).build(), workgroups: [1] })).not.toThrow();
    await expect(gpu.check()).rejects.toThrow();
  });
});
