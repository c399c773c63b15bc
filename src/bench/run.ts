// The benchmark runner behind `mohawk bench`: every case of src/bench/, timed with the runtime's
// timestamp queries (median of reps after warm-up), its inputs and the kernels' scratch freed
// before the next case.
import { Gpu, type Op } from '../gpu/runtime';
import { matmul } from '../kernels/matmul';
import { adamwCases } from './adamw';
import { attentionCases } from './attention';
import { BenchData, type BenchCase, type BenchResult, type BenchSize } from './case';
import { activationCases, conv1dCases, elementwiseCases } from './elementwise';
import { embeddingCases } from './embedding';
import { lossCases } from './losses';
import { matmulCases } from './matmul';
import { normCases } from './norm';
import { ssdCases } from './ssd';

export type { BenchCase, BenchResult, BenchSize } from './case';

/**
 * Every case at one size, in the order they run and print. With `tiles`, the kernels whose tile is
 * chosen from candidates (matmul, attention) add one case per candidate after their own, named by the
 * tile, so that one run on a GPU ranks them (the order pickers use is fitted to such runs).
 */
export function benchCases(size: BenchSize, opts: { tiles?: boolean } = {}): BenchCase[] {
  return [
    ...matmulCases(size, opts),
    ...attentionCases(size, opts),
    ...[ssdCases, normCases, activationCases, conv1dCases, elementwiseCases, lossCases, embeddingCases, adamwCases].flatMap((f) => f(size)),
  ];
}

/**
 * The cases `only` names: each entry a group ("matmul", "attention", "ssd", "norm", "activation",
 * "conv1d", "elementwise", "loss", "embedding", "adamw") or the start of case names ("attention
 * fwd+bwd", "ssd scan"). An entry that matches nothing throws, listing the groups.
 */
export function selectCases(cases: BenchCase[], only: string[]): BenchCase[] {
  if (!only.length) return cases;
  const hit = (c: BenchCase, w: string) => c.group === w || c.name.startsWith(w);
  for (const w of only) {
    if (!cases.some((c) => hit(c, w))) {
      const groups = [...new Set(cases.map((c) => c.group))].join(', ');
      throw new Error(`no benchmark case matches "${w}" (groups: ${groups}; or the start of a case name)`);
    }
  }
  return cases.filter((c) => only.some((w) => hit(c, w)));
}

/** True on SwiftShader, Dawn's CPU fallback: its timings say nothing about a GPU. */
export function isSoftwareAdapter(gpu: Gpu): boolean {
  return gpu.info.software;
}

export function deviceName(gpu: Gpu): string {
  return [gpu.info.vendor, gpu.info.architecture, gpu.info.description].filter(Boolean).join(' · ');
}

export interface BenchOptions {
  size: BenchSize;
  /** Timed runs per case; the median is reported. */
  reps: number;
  /** Called as each case finishes, for streaming output. */
  onResult?: (r: BenchResult) => void;
  /** Called when a case throws; the run goes on with the next case. */
  onError?: (c: BenchCase, e: unknown) => void;
}

export interface BenchFailure {
  name: string;
  shape: string;
  error: string;
}

// One timed pass should last about this long: the ops are repeated within it so that a 0.1 ms
// kernel is measured in steady state rather than as a lone dispatch after an idle gap.
const PASS_MS = 5;
const MAX_REPEAT = 64;

/** Runs `fn` with every buffer gpu.buffer() hands out (the case's and its kernels' scratch) recorded. */
function recordingBuffers<T>(gpu: Gpu, fn: () => T): { value: T; buffers: GPUBuffer[] } {
  const buffers: GPUBuffer[] = [];
  const own = Gpu.prototype.buffer;
  gpu.buffer = (bytes: number, label?: string) => {
    const b = own.call(gpu, bytes, label);
    buffers.push(b);
    return b;
  };
  try {
    return { value: fn(), buffers };
  } finally {
    Reflect.deleteProperty(gpu, 'buffer');
  }
}

/** Keeps the GPU busy for about `ms` with large matmuls, so that the first case meets raised clocks. */
async function spinUp(gpu: Gpu, ms: number): Promise<void> {
  const n = 2048;
  const { value: ops, buffers } = recordingBuffers(gpu, () => {
    const data = new BenchData(gpu);
    return matmul(gpu, { a: data.uniform(n * n), b: data.uniform(n * n), c: data.out(n * n), M: n, N: n, K: n });
  });
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    gpu.run(Array<Op[]>(20).fill(ops).flat());
    await gpu.device.queue.onSubmittedWorkDone();
  }
  for (const b of buffers) b.destroy();
}

async function measure(gpu: Gpu, c: BenchCase, opts: BenchOptions): Promise<BenchResult> {
  const { value: setup, buffers } = recordingBuffers(gpu, () => c.setup(gpu, new BenchData(gpu)));
  try {
    await gpu.check();
    // gpu.time runs the ops once untimed first: that compiles pipelines and warms caches.
    const once = await gpu.time(setup.ops, 1);
    const repeat = opts.size === 'full' ? Math.max(1, Math.min(MAX_REPEAT, Math.ceil(PASS_MS / Math.max(once, 1e-3)))) : 1;
    const ops = Array<Op[]>(repeat).fill(setup.ops).flat();
    const ms = (await gpu.time(ops, opts.reps)) / repeat;
    await gpu.check();
    const r: BenchResult = { name: c.name, shape: c.shape, ms: Number(ms.toPrecision(5)) };
    // A pass shorter than the timestamp resolution reads 0 ms (SwiftShader): no rate then.
    if (setup.flops && ms > 0) r.gflops = Number((setup.flops / ms / 1e6).toPrecision(4));
    if (setup.bytes && ms > 0) r.gbps = Number((setup.bytes / ms / 1e6).toPrecision(4));
    return r;
  } finally {
    await gpu.device.queue.onSubmittedWorkDone();
    for (const b of buffers) b.destroy();
  }
}

/** Times `cases` one after another; a case that throws is reported and skipped. */
export async function runBench(gpu: Gpu, cases: BenchCase[], opts: BenchOptions): Promise<{ results: BenchResult[]; failures: BenchFailure[] }> {
  if (!Number.isInteger(opts.reps) || opts.reps < 1) throw new Error(`bench: reps must be a positive integer (${opts.reps})`);
  if (opts.size === 'full' && !isSoftwareAdapter(gpu)) await spinUp(gpu, 1500);
  const results: BenchResult[] = [];
  const failures: BenchFailure[] = [];
  for (const c of cases) {
    try {
      const r = await measure(gpu, c, opts);
      results.push(r);
      opts.onResult?.(r);
    } catch (e) {
      failures.push({ name: c.name, shape: c.shape, error: e instanceof Error ? e.message : String(e) });
      gpu.takeErrors();
      opts.onError?.(c, e);
    }
  }
  return { results, failures };
}
