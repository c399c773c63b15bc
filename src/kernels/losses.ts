// Training losses, forward and backward, each writing a per-row loss and a 1-float mean on the GPU
// (a fixed-order two-level reduction, no atomics); nothing is read back.
//
//   crossEntropy      logits (rows, vocab), targets (rows) u32 with IGNORE_INDEX for padding:
//                     rowLoss[r] = lse(x_r) − x_r[target_r] (0 on ignored rows), loss = mean over
//                     counted rows (0 if none), dLogits = (softmax(x_r) − onehot)/count (0 on
//                     ignored rows). A target ≥ vocab makes its row loss NaN.
//   softCrossEntropy  student, teacher logits (rows, vocab), temperature τ (default 1):
//                     kind 'kl' (default): rowLoss[r] = KL(softmax(t_r/τ) ‖ softmax(s_r/τ))
//                     kind 'ce':           rowLoss[r] = −Σ softmax(t_r/τ)·log softmax(s_r/τ) = KL + H(teacher)
//                     loss = mean over rows; dStudent = (softmax(s/τ) − softmax(t/τ))/(τ·rows).
//                     scaleByTauSquared (Hinton) multiplies the row losses, the mean and the
//                     gradient by τ²; default false.
//   l2Distance        s, t (rows, d): rowLoss[r] = ‖s_r − t_r‖₂ (unsquared, MOHAWK stage 2),
//                     loss = mean, dS = (s − t)/(rows·‖s_r − t_r‖), 0 on rows where s_r = t_r.
//
// All tensors are contiguous row-major, last index fastest. The softmax passes work on chunks of
// 4096 logits (a running max and rescaled sum per chunk, merged per row), so the vocabulary may
// be as wide as a buffer allows (256k and more). Gradients are overwritten. Every output needs a
// buffer of its own (no two outputs, and no output and input, in one buffer).
// Precision: a cross-entropy row loss carries an absolute error of a few ulp of the row's
// log-sum-exp (what is left of a small loss from logits of ±80). KL takes the two log-sum-exps'
// difference as (max_s − max_t) + log(Σ_s/Σ_t) and its gradient as p·expm1(log q − log p) near
// q = p, so a student close to its teacher keeps a small absolute error (~1e-7 of the logits'
// scale in the loss, ~1e-7 of p in the gradient) rather than an ulp of the log-sum-exp.
import { Params, slice, type Bindable, type Gpu, type Op, linearGrid } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import { meanEntry } from './stamps';
import treeSum from '../../shaders/lib/tree_sum.wgsl?raw';
import crossEntropyWgsl from '../../shaders/cross_entropy.wgsl?raw';
import softCrossEntropyWgsl from '../../shaders/soft_cross_entropy.wgsl?raw';
import l2DistanceWgsl from '../../shaders/l2_distance.wgsl?raw';

const CROSS_ENTROPY = shader('cross_entropy',
  crossEntropyWgsl,
  bindings(['c_logits: array<f32>'], ['c_part: array<f32>'], 'cu: U'), // chunk_stats
  bindings(['r_part: array<f32>', 'r_logits: array<f32>', 'r_targets: array<u32>'], ['r_loss: array<f32>', 'r_stats: array<f32>'], 'ru: U'), // row_loss
  bindings(['m_loss: array<f32>', 'm_stats: array<f32>'], ['m_out: array<f32>', 'm_meta: array<f32>'], 'mu: U'), // mean
  bindings(['g_logits: array<f32>', 'g_targets: array<u32>', 'g_stats: array<f32>', 'g_meta: array<f32>'], ['g_out: array<f32>'], 'gu: U'), // grad
);
const SOFT_CROSS_ENTROPY = shader('soft_cross_entropy',
  treeSum,
  softCrossEntropyWgsl,
  bindings(['c_s: array<f32>', 'c_t: array<f32>'], ['c_part: array<f32>'], 'cu: U'), // chunk_stats
  bindings(['r_part: array<f32>'], ['r_loss: array<f32>', 'r_stats: array<f32>'], 'ru: U'), // row_loss
  meanEntry('mean', 'mu', 'U', 'rows'),
  bindings(['g_s: array<f32>', 'g_t: array<f32>', 'g_stats: array<f32>'], ['g_out: array<f32>'], 'gu: U'), // grad
);
const L2_DISTANCE = shader('l2_distance',
  treeSum,
  l2DistanceWgsl,
  bindings(['n_s: array<f32>', 'n_t: array<f32>'], ['n_out: array<f32>'], 'nu: U'), // row_norm
  meanEntry('mean', 'mu', 'U', 'rows'),
  bindings(['g_s: array<f32>', 'g_t: array<f32>', 'g_norm: array<f32>'], ['g_out: array<f32>'], 'gu: U'), // grad
);

export const IGNORE_INDEX = 0xffffffff;

const WG = 256;
const CHUNK = 4096; // keep in step with the softmax shaders

export interface CrossEntropyArgs {
  logits: Bindable;
  /** u32 per row: a class in [0, vocab), or IGNORE_INDEX. */
  targets: Bindable;
  rows: number;
  vocab: number;
  rowLoss: Bindable;
  loss: Bindable;
  dLogits?: Bindable;
}

export interface SoftCrossEntropyArgs {
  student: Bindable;
  teacher: Bindable;
  rows: number;
  vocab: number;
  temperature?: number;
  kind?: 'kl' | 'ce';
  scaleByTauSquared?: boolean;
  rowLoss: Bindable;
  loss: Bindable;
  dStudent?: Bindable;
}

export interface L2DistanceArgs {
  s: Bindable;
  t: Bindable;
  rows: number;
  d: number;
  rowLoss: Bindable;
  loss: Bindable;
  dS?: Bindable;
}

function check(fn: string, shape: string, dims: number[], reads: Record<string, [Bindable, number]>, writes: Record<string, [Bindable, number] | undefined>): void {
  if (!dims.every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`${fn} ${shape}: sizes must be positive integers`);
  if (dims.reduce((a, b) => a * b, 1) > 0xffffffff) throw new Error(`${fn} ${shape}: more than 2^32 elements`);
  const all = { ...reads, ...writes };
  for (const [name, v] of Object.entries(all)) {
    if (!v) continue;
    const bytes = slice(v[0]).size;
    if (bytes < v[1] * 4) throw new Error(`${fn} ${shape}: ${name} holds ${bytes} bytes, needs ${v[1] * 4}`);
  }
  // Later passes read earlier outputs (rowLoss, for the mean), so every output needs its own buffer.
  const outs = Object.entries(writes).filter((e): e is [string, [Bindable, number]] => e[1] !== undefined);
  for (const [i, [w, wv]] of outs.entries()) {
    for (const [r, rv] of [...Object.entries(reads), ...outs.slice(i + 1)]) {
      if (slice(wv[0]).buffer === slice(rv[0]).buffer) throw new Error(`${fn} ${shape}: ${w} shares a buffer with ${r}`);
    }
  }
}


export function crossEntropy(gpu: Gpu, a: CrossEntropyArgs): Op[] {
  const fn = 'crossEntropy';
  const { rows, vocab } = a;
  const shape = `(rows=${rows}, vocab=${vocab})`;
  check(fn, shape, [rows, vocab], { logits: [a.logits, rows * vocab], targets: [a.targets, rows] }, {
    rowLoss: [a.rowLoss, rows],
    loss: [a.loss, 1],
    dLogits: a.dLogits ? [a.dLogits, rows * vocab] : undefined,
  });
  const chunks = Math.ceil(vocab / CHUNK);
  const part = gpu.buffer(rows * chunks * 2 * 4, 'cross-entropy chunk stats');
  const stats = gpu.buffer(rows * 2 * 4, 'cross-entropy row stats');
  const meta = gpu.buffer(4, 'cross-entropy count');
  const params = (nx: number) => new Params().u32(rows).u32(vocab).u32(chunks).u32(nx).build();
  const label = `cross-entropy ${rows}x${vocab}`;
  const gc = linearGrid(gpu, fn, rows * chunks);
  const gr = linearGrid(gpu, fn, Math.ceil(rows / WG));
  const ops: Op[] = [
    gpu.op({ ...CROSS_ENTROPY, entry: 'chunk_stats', reads: [a.logits], writes: [part], params: params(gc[0]), workgroups: gc, label: `${label} chunks` }),
    gpu.op({
      ...CROSS_ENTROPY,
      entry: 'row_loss',
      reads: [part, a.logits, a.targets],
      writes: [a.rowLoss, stats],
      params: params(gr[0]),
      workgroups: gr,
      label: `${label} rows`,
    }),
    gpu.op({ ...CROSS_ENTROPY, entry: 'mean', reads: [a.rowLoss, stats], writes: [a.loss, meta], params: params(1), workgroups: [1], label: `${label} mean` }),
  ];
  if (a.dLogits) {
    const gg = linearGrid(gpu, fn, Math.ceil((rows * vocab) / WG));
    ops.push(
      gpu.op({
        ...CROSS_ENTROPY,
        entry: 'grad',
        reads: [a.logits, a.targets, stats, meta],
        writes: [a.dLogits],
        params: params(gg[0]),
        workgroups: gg,
        label: `${label} grad`,
      }),
    );
  }
  return ops;
}

export function softCrossEntropy(gpu: Gpu, a: SoftCrossEntropyArgs): Op[] {
  const fn = 'softCrossEntropy';
  const { rows, vocab } = a;
  const tau = a.temperature ?? 1;
  const kind = a.kind ?? 'kl';
  const shape = `(rows=${rows}, vocab=${vocab}, temperature=${tau}, kind=${kind})`;
  if (!(tau > 0) || !Number.isFinite(tau)) throw new Error(`${fn} ${shape}: temperature must be positive`);
  if (kind !== 'kl' && kind !== 'ce') throw new Error(`${fn} ${shape}: kind must be 'kl' or 'ce'`);
  check(fn, shape, [rows, vocab], { student: [a.student, rows * vocab], teacher: [a.teacher, rows * vocab] }, {
    rowLoss: [a.rowLoss, rows],
    loss: [a.loss, 1],
    dStudent: a.dStudent ? [a.dStudent, rows * vocab] : undefined,
  });
  const chunks = Math.ceil(vocab / CHUNK);
  const scale = a.scaleByTauSquared ? tau * tau : 1;
  const part = gpu.buffer(rows * chunks * 5 * 4, 'soft cross-entropy chunk stats');
  const stats = gpu.buffer(rows * 2 * 4, 'soft cross-entropy row stats');
  const params = (nx: number) =>
    new Params().u32(rows).u32(vocab).u32(chunks).u32(nx).f32(1 / tau).f32(scale).f32(scale / (tau * rows)).u32(kind === 'ce' ? 1 : 0).build();
  const label = `soft cross-entropy ${rows}x${vocab}`;
  const gc = linearGrid(gpu, fn, rows * chunks);
  const gr = linearGrid(gpu, fn, Math.ceil(rows / WG));
  const ops: Op[] = [
    gpu.op({ ...SOFT_CROSS_ENTROPY, entry: 'chunk_stats', reads: [a.student, a.teacher], writes: [part], params: params(gc[0]), workgroups: gc, label: `${label} chunks` }),
    gpu.op({ ...SOFT_CROSS_ENTROPY, entry: 'row_loss', reads: [part], writes: [a.rowLoss, stats], params: params(gr[0]), workgroups: gr, label: `${label} rows` }),
    gpu.op({ ...SOFT_CROSS_ENTROPY, entry: 'mean', reads: [a.rowLoss], writes: [a.loss], params: params(1), workgroups: [1], label: `${label} mean` }),
  ];
  if (a.dStudent) {
    const gg = linearGrid(gpu, fn, Math.ceil((rows * vocab) / WG));
    ops.push(
      gpu.op({
        ...SOFT_CROSS_ENTROPY,
        entry: 'grad',
        reads: [a.student, a.teacher, stats],
        writes: [a.dStudent],
        params: params(gg[0]),
        workgroups: gg,
        label: `${label} grad`,
      }),
    );
  }
  return ops;
}

export function l2Distance(gpu: Gpu, a: L2DistanceArgs): Op[] {
  const fn = 'l2Distance';
  const { rows, d } = a;
  const shape = `(rows=${rows}, d=${d})`;
  check(fn, shape, [rows, d], { s: [a.s, rows * d], t: [a.t, rows * d] }, {
    rowLoss: [a.rowLoss, rows],
    loss: [a.loss, 1],
    dS: a.dS ? [a.dS, rows * d] : undefined,
  });
  const params = (nx: number) => new Params().u32(rows).u32(d).u32(nx).build();
  const label = `l2 distance ${rows}x${d}`;
  // Narrow rows get a narrow workgroup rather than 256 invocations with most idle.
  const rowWg = d <= 1024 ? 64 : WG;
  const gn = linearGrid(gpu, fn, rows);
  const ops: Op[] = [
    gpu.op({ ...L2_DISTANCE, entry: 'row_norm', constants: { WG: rowWg }, reads: [a.s, a.t], writes: [a.rowLoss], params: params(gn[0]), workgroups: gn, label: `${label} rows` }),
    gpu.op({ ...L2_DISTANCE, entry: 'mean', constants: { WG }, reads: [a.rowLoss], writes: [a.loss], params: params(1), workgroups: [1], label: `${label} mean` }),
  ];
  if (a.dS) {
    const gg = linearGrid(gpu, fn, Math.ceil((rows * d) / WG));
    ops.push(
      gpu.op({
        ...L2_DISTANCE,
        entry: 'grad',
        constants: { WG },
        reads: [a.s, a.t, a.rowLoss],
        writes: [a.dS],
        params: params(gg[0]),
        workgroups: gg,
        label: `${label} grad`,
      }),
    );
  }
  return ops;
}
