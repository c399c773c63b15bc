// The op profiler (src/gpu/profile.ts): under gpu.profiler every op runs in a stamped pass of its
// own with the same results as in a shared pass, and each op label's GPU time is summed per run.
import { describe, expect, it } from 'vitest';
import { OpProfiler } from '../../src/gpu/profile';
import { matmul } from '../../src/kernels/matmul';
import { add } from '../../src/kernels/elementwise';
import { randn, testGpu } from '../helpers/gpu';

describe('the op profiler', () => {
  it('times every op by label without changing what the ops compute, and counts those past its capacity', async () => {
    const gpu = await testGpu();
    expect(gpu.info.timestamps).toBe(true);
    const n = 48;
    const a = gpu.upload(randn(n * n, 1));
    const b = gpu.upload(randn(n * n, 2));
    const c = gpu.zeros(n * n);
    const d = gpu.zeros(n * n);
    // c = a·b, then d = c + a twice (the second reads what the first wrote into c again: order kept).
    const ops = [...matmul(gpu, { a, b, c, M: n, N: n, K: n }), ...add(gpu, { a: c, b: a, out: d, n: n * n }), ...add(gpu, { a: c, b: a, out: d, n: n * n })];
    gpu.run(ops);
    const want = await gpu.read(d, n * n);

    const profiler = new OpProfiler();
    gpu.profiler = profiler;
    gpu.zeros(n * n); // a clear outside any op: not profiled
    gpu.run(ops);
    gpu.run(ops);
    gpu.profiler = null;
    expect(await gpu.read(d, n * n)).toEqual(want);
    const report = await profiler.report();
    const labels = Object.fromEntries(report.map((o) => [o.label, o.count]));
    expect(Object.values(labels).reduce((x, y) => x + y, 0)).toBe(2 * ops.length);
    expect(Object.keys(labels).some((l) => /^matmul/.test(l))).toBe(true);
    // SwiftShader's stamps may all read 0 (passes shorter than its resolution): shares then are 0 too.
    const total = report.reduce((x, o) => x + o.ms, 0);
    expect(report.every((o) => o.ms >= 0)).toBe(true);
    expect(report.reduce((x, o) => x + o.share, 0)).toBeCloseTo(total > 0 ? 1 : 0, 6);
    expect(profiler.untimed).toBe(0);

    const small = new OpProfiler(2);
    gpu.profiler = small;
    gpu.run(ops);
    gpu.profiler = null;
    expect((await small.report()).reduce((x, o) => x + o.count, 0)).toBe(2);
    expect(small.untimed).toBe(ops.length - 2);
    expect(await gpu.read(d, n * n)).toEqual(want);
    await gpu.check();
  });
});
