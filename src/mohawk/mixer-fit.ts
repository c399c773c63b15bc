// The mixer lab's fit (issue 15, the MOHAWK paper's Table 3): for S target matrices T_s (L×L, causal),
// the free factors of one structured family, separate for every sample, fitted by Adam on the GPU to
// minimise the unsquared Frobenius distance ‖M_s − T_s‖_F, all samples at once. The samples never
// share a parameter, and Adam without clipping or weight decay is elementwise, so the one batched
// fit is S independent fits; the loss gradient is scaled by S so that each sample's gradient is that
// of its own distance (frobenius gives the gradient of their mean).
//
// Families and their factors (src/kernels/mixer-matrices.ts, ssm-matrix.ts):
//   toeplitz   k (S, L)                                 no state size
//   low-rank   B, C (S, L, N)
//   ssd        B, C (S, L, N), θ (S, L)                 a = −softplus(θ), one log-decay per position
//   ssm        B, C (S, L, N), θ (S, L, N)              a = −softplus(θ), one per position and state
// The decays go through −softplus so that a ≤ 0 whatever Adam does (Mamba's Δ is softplus too).
import type { Gpu, Op } from '../gpu/runtime';
import { adamw } from '../kernels/adamw';
import { frobenius } from '../kernels/frobenius';
import { scale } from '../kernels/elementwise';
import { unary, unaryBackward } from '../kernels/activations';
import { lowRankMatrixBackward, lowRankMatrixForward, ssdMixerMatrixBackward, ssdMixerMatrixForward, toeplitzMatrixBackward, toeplitzMatrixForward } from '../kernels/mixer-matrices';
import { ssmMatrixBackward, ssmMatrixForward, type MixerMatShape } from '../kernels/ssm-matrix';
import { normal } from '../models/params';

import type { MixerFamily } from './mixer-lab-table';

export { MIXER_FAMILIES, type MixerFamily } from './mixer-lab-table';

export interface FitOptions {
  steps: number;
  /** Adam's peak learning rate (warmup over the first 5% of steps, then cosine down to 5% of it). */
  lr: number;
  /** Seed of the factors' initialisation. */
  seed: number;
  /** Called every `every` steps and after the last with the mean distance over the samples then. */
  onStep?: (step: number, meanDistance: number) => void;
  /** Steps between progress reads (each waits for the GPU); default steps / 20. */
  every?: number;
  /** Checked at every read: true ends the fit early (its distances are those of the step reached). */
  stop?: () => boolean;
}

export interface FitResult {
  /** ‖M_s − T_s‖_F of each sample after the last step (a forward of the final factors). */
  distances: Float32Array;
  /** Mean distance over the samples at each progress read, before that step's update. */
  curve: { step: number; distance: number }[];
  /** Steps taken (fewer than asked when stopped). */
  steps: number;
}

interface FitParam {
  name: string;
  values: Float32Array;
}

interface FitTensors {
  get(name: string): { value: GPUBuffer; grad: GPUBuffer };
  /** Every factor's Adam update. */
  ops: Op[];
  setStep(t: number, lr: number): void;
}

/**
 * The factors on the GPU with their gradients and Adam moments, one optimizer per tensor. Without
 * clipping (a global norm would tie the samples together) or weight decay (the factors' scale is the
 * fit's business); β₂ = 0.99 so that the moments follow a fit that changes fast.
 */
function fitTensors(gpu: Gpu, list: FitParam[]): FitTensors {
  const map = new Map<string, { value: GPUBuffer; grad: GPUBuffer }>();
  const opts = list.map((f) => {
    const n = f.values.length;
    const value = gpu.upload(f.values, `mixer lab ${f.name}`);
    const grad = gpu.buffer(n * 4, `mixer lab d${f.name}`);
    map.set(f.name, { value, grad });
    const config = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0 };
    return adamw(gpu, { params: value, grads: grad, m: gpu.zeros(n, 'mixer lab m'), v: gpu.zeros(n, 'mixer lab v'), count: n, config });
  });
  return {
    get(name) {
      const t = map.get(name);
      if (!t) throw new Error(`mixer lab: no factor ${name}`);
      return t;
    },
    ops: opts.flatMap((x) => x.ops),
    setStep: (t, lr) => opts.forEach((x) => x.setStep(t, lr)),
  };
}

/**
 * Initial factors. B and C are small and random: their product starts near 0 (‖M‖_F about 0.1 of a
 * typical attention matrix's), and Adam's first steps, a learning rate in size, set their scale. The
 * decays start near 0 in log space (a ≈ −0.01: every position remembers almost everything, so the
 * decaying families start where low-rank does); the SSM's states start spread over a ∈ [−0.3, −0.001]
 * as Mamba's Δ, so that its states can take different horizons from the first step.
 */
function initial(family: MixerFamily, s: MixerMatShape, seed: number): FitParam[] {
  const { S, L, N } = s;
  if (family === 'toeplitz') return [{ name: 'k', values: new Float32Array(S * L) }];
  const std = Math.sqrt(0.1 / (L * Math.sqrt(N)));
  const out: FitParam[] = [
    { name: 'B', values: normal(S * L * N, std, seed * 3 + 1) },
    { name: 'C', values: normal(S * L * N, std, seed * 3 + 2) },
  ];
  // θ with softplus(θ) = −a: θ = log(e^{−a} − 1).
  const theta = (a: number) => Math.log(Math.expm1(-a));
  if (family === 'ssd') out.push({ name: 'theta', values: new Float32Array(S * L).fill(theta(-0.01)) });
  if (family === 'ssm') {
    const v = new Float32Array(S * L * N);
    const lo = Math.log(1e-3);
    const hi = Math.log(0.3);
    for (let n = 0; n < N; n++) {
      const t = theta(-Math.exp(lo + ((hi - lo) * n) / Math.max(1, N - 1)));
      for (let r = 0; r < S * L; r++) v[r * N + n] = t;
    }
    out.push({ name: 'theta', values: v });
  }
  return out;
}

/** The learning-rate multiplier at step t of `total` (1-based): warmup, then cosine to 5%. */
export function fitSchedule(t: number, total: number): number {
  const warm = Math.max(1, Math.round(total * 0.05));
  if (t <= warm) return t / warm;
  const p = (t - warm) / Math.max(1, total - warm);
  return 0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * p));
}

/**
 * Fits `family` with state size s.N to the S matrices in `target` ((S, L, L) row-major, sample-major)
 * and returns each sample's final distance. Everything it makes on the GPU is freed when it returns.
 */
export async function fitMixer(gpu: Gpu, family: MixerFamily, s: MixerMatShape, target: GPUBuffer, o: FitOptions): Promise<FitResult> {
  const { S, L } = s;
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`fitMixer: steps must be a positive integer (${o.steps})`);
  if (!(o.lr > 0)) throw new Error(`fitMixer: lr must be positive (${o.lr})`);
  const held = gpu.collect();
  try {
    const params = fitTensors(gpu, initial(family, s, o.seed));
    const p = (n: string) => params.get(n);
    const mats = S * L * L;
    const M = gpu.buffer(mats * 4, 'mixer lab M');
    const dM = gpu.buffer(mats * 4, 'mixer lab dM');
    const dist = gpu.buffer(S * 4, 'mixer lab distances');
    const loss = gpu.buffer(4, 'mixer lab mean distance');
    const decayed = family === 'ssd' || family === 'ssm';
    const nA = family === 'ssm' ? S * L * s.N : S * L;
    const a = decayed ? gpu.buffer(nA * 4, 'mixer lab a') : null;
    const da = decayed ? gpu.buffer(nA * 4, 'mixer lab da') : null;

    const decay: Op[] = decayed ? unary(gpu, { kind: 'negSoftplus', x: p('theta').value, y: a!, n: nA }) : [];
    let forward: Op[];
    let backward: Op[];
    if (family === 'toeplitz') {
      forward = toeplitzMatrixForward(gpu, s, { k: p('k').value, out: M });
      backward = toeplitzMatrixBackward(gpu, s, { dM, dk: p('k').grad });
    } else {
      const B = p('B').value;
      const C = p('C').value;
      const grads = { dM, dB: p('B').grad, dC: p('C').grad };
      if (family === 'low-rank') {
        forward = lowRankMatrixForward(gpu, s, { B, C, out: M });
        backward = lowRankMatrixBackward(gpu, s, { B, C, ...grads });
      } else if (family === 'ssd') {
        forward = ssdMixerMatrixForward(gpu, s, { B, C, a: a!, out: M });
        backward = ssdMixerMatrixBackward(gpu, s, { B, C, a: a!, ...grads, da: da! });
      } else {
        forward = ssmMatrixForward(gpu, s, { B, C, a: a!, out: M });
        backward = ssmMatrixBackward(gpu, s, { B, C, a: a!, ...grads, da: da! }, { decayGrad: 'differences' });
      }
      if (decayed) backward = [...backward, ...unaryBackward(gpu, { kind: 'negSoftplus', x: p('theta').value, dy: da!, dx: p('theta').grad, n: nA })];
    }
    const measure = [...decay, ...forward, ...frobenius(gpu, { p: M, t: target, mats: S, size: L * L, dist, loss })];
    const step = [
      ...decay,
      ...forward,
      ...frobenius(gpu, { p: M, t: target, mats: S, size: L * L, dist, loss, grad: dM }),
      ...scale(gpu, { y: dM, n: mats, alpha: S }),
      ...backward,
      ...params.ops,
    ];

    const every = Math.max(1, o.every ?? Math.ceil(o.steps / 20));
    const curve: FitResult['curve'] = [];
    let t = 0;
    while (t < o.steps) {
      params.setStep(t + 1, o.lr * fitSchedule(t + 1, o.steps));
      const run = gpu.begin(`mixer lab ${family} step`);
      run.run(step);
      const read = t % every === 0 ? run.readback(loss, 1) : null;
      run.submit();
      t++;
      if (read) {
        const d = (await read)[0]!;
        if (!Number.isFinite(d)) throw new Error(`the ${family} fit's distance is ${d} at step ${t} (N=${s.N}, L=${L})`);
        curve.push({ step: t - 1, distance: d });
        o.onStep?.(t - 1, d);
        if (o.stop?.()) break;
      }
    }
    const end = gpu.begin(`mixer lab ${family} distances`);
    end.run(measure);
    const dRead = end.readback(dist, S);
    const lRead = end.readback(loss, 1);
    end.submit();
    const [distances, mean] = await Promise.all([dRead, lRead]);
    curve.push({ step: t, distance: mean[0]! });
    o.onStep?.(t, mean[0]!);
    return { distances, curve, steps: t };
  } finally {
    held.free();
  }
}
