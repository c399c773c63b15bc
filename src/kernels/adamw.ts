// Fused AdamW over flat f32 parameter buffers, one or several chunks (PyTorch's torch.optim.AdamW, with
// clip_grad_norm_ first when maxGradNorm is set).
//
// Layouts: params, grads, m, v (and the optional mask) are flat f32 arrays of `count` elements,
// element i of each belonging to the same scalar parameter. mask[i] = 0 freezes parameter i: its
// p, m and v stay as they are and its gradient is left out of the global norm; 1 trains it.
//
// ops = [‖grads·mask‖₂ → gradNorm (reduce kernel, two levels), the elementwise update]. The
// update reads the norm on the GPU, so a step never waits on the CPU. Over chunks (adamwChunks):
// each chunk's norm, the norm of those, then every chunk's update.
import { Params, slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import adamwWgsl from '../../shaders/adamw.wgsl?raw';
import { reduce } from './reduce';

// step and step_masked share their update; step_masked binds the mask too and skips where it is 0.
function stepEntry(entry: string, p: string, masked: boolean): string {
  const skip = masked ? ` || ${p}_mask[i] == 0.0` : '';
  return `${bindings([`${p}_grads: array<f32>`, `${p}_gnorm: array<f32>`, ...(masked ? [`${p}_mask: array<f32>`] : [])], [`${p}_params: array<f32>`, `${p}_m: array<f32>`, `${p}_v: array<f32>`], `${p}: P`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wg: vec3u) {
  let i = (wg.y * ${p}.nx + wg.x) * WG + l;
  if (i >= ${p}.count${skip}) { return; }
  let s = update(${p}_grads[i], ${p}_gnorm[0], State(${p}_params[i], ${p}_m[i], ${p}_v[i]), ${p});
  ${p}_params[i] = s.p;
  ${p}_m[i] = s.m;
  ${p}_v[i] = s.v;
}`;
}

const SHADER = shader('adamw', adamwWgsl, stepEntry('step', 'p', false), stepEntry('step_masked', 'pm', true));

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip by global norm when set (torch.nn.utils.clip_grad_norm_). */
  maxGradNorm?: number;
}

export interface AdamW {
  ops: Op[];
  /** Call before recording `ops` for each step (t starts at 1). Until the first call, lr is 0. */
  setStep(t: number, lr: number): void;
  /** Buffer of 1 f32: the global gradient norm before clipping, valid after ops ran. */
  gradNorm: GPUBuffer;
}

export interface AdamWArgs {
  params: Bindable;
  grads: Bindable;
  m: Bindable;
  v: Bindable;
  count: number;
  config: AdamWConfig;
  /** Optional per-parameter 0/1 f32: 0 = frozen. */
  mask?: Bindable;
}

export interface AdamWChunk {
  params: Bindable;
  grads: Bindable;
  m: Bindable;
  v: Bindable;
  count: number;
  mask?: Bindable;
}

export interface AdamWChunksArgs {
  /** Parameters too large for one binding, cut into chunks; element i of each of a chunk's buffers belong together. */
  chunks: AdamWChunk[];
  config: AdamWConfig;
}

const WG = 256;

function checkConfig(config: AdamWConfig): void {
  const { beta1, beta2, eps, weightDecay } = config;
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1)) throw new Error(`adamw: betas must lie in [0, 1) (${beta1}, ${beta2})`);
  if (!(eps > 0) || !(weightDecay >= 0) || (config.maxGradNorm !== undefined && !(config.maxGradNorm > 0))) {
    throw new Error(`adamw: need eps > 0, weightDecay ≥ 0, maxGradNorm > 0 (${eps}, ${weightDecay}, ${config.maxGradNorm})`);
  }
}

function checkChunk(c: AdamWChunk, where: string): void {
  const { params, grads, m, v, count, mask } = c;
  if (!Number.isInteger(count) || count < 1) throw new Error(`adamw: count must be a positive integer (count=${count}${where})`);
  const bufs: [string, Bindable | undefined][] = [['params', params], ['grads', grads], ['m', m], ['v', v], ['mask', mask]];
  for (const [name, b] of bufs) {
    if (b && slice(b).size / 4 < count) throw new Error(`adamw: ${name} holds ${slice(b).size / 4} floats, needs count=${count}${where}`);
  }
}

/** The elementwise update of one chunk, reading the global norm from `gradNorm`, and its per-step uniform. */
function updateOp(gpu: Gpu, c: AdamWChunk, config: AdamWConfig, gradNorm: GPUBuffer): { op: Op; setStep(t: number, lr: number): void } {
  const { params, grads, m, v, count, mask } = c;
  const { beta1, beta2, eps, weightDecay } = config;
  const maxNorm = config.maxGradNorm ?? 0;
  const groups = Math.ceil(count / WG);
  const limit = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  const nx = Math.min(groups, limit);
  const ny = Math.ceil(groups / nx);

  // The step's scalars in float64, rounded once to f32 by the uniform.
  const uniform = (t: number, lr: number) =>
    new Params()
      .u32(count)
      .u32(nx)
      .f32(beta1)
      .f32(beta2)
      .f32(1 - beta1)
      .f32(1 - beta2)
      .f32(eps)
      .f32(1 - lr * weightDecay)
      .f32(lr / (1 - beta1 ** t))
      .f32(Math.sqrt(1 - beta2 ** t))
      .f32(maxNorm)
      .build();

  const op = gpu.op({
    ...SHADER,
    entry: mask ? 'step_masked' : 'step',
    constants: { WG },
    reads: mask ? [grads, gradNorm, mask] : [grads, gradNorm],
    writes: [params, m, v],
    params: uniform(1, 0),
    workgroups: [nx, ny],
    label: `adamw ${count}${mask ? ' masked' : ''}`,
  });
  return { op, setStep: (t, lr) => op.setParams(uniform(t, lr)) };
}

function checkStep(t: number, lr: number): void {
  if (!Number.isInteger(t) || t < 1) throw new Error(`adamw: step t must be an integer ≥ 1 (t=${t})`);
  if (!Number.isFinite(lr) || lr < 0) throw new Error(`adamw: lr must be finite and ≥ 0 (lr=${lr})`);
}

export function adamw(gpu: Gpu, args: AdamWArgs): AdamW {
  const { config, ...chunk } = args;
  checkChunk(chunk, '');
  checkConfig(config);
  const gradNorm = gpu.buffer(4, 'adamw grad norm');
  const update = updateOp(gpu, chunk, config, gradNorm);
  const norm = reduce(gpu, { x: chunk.grads, n: chunk.count, out: gradNorm, kind: 'norm', mask: chunk.mask });
  return {
    ops: [...norm, update.op],
    gradNorm,
    setStep(t: number, lr: number) {
      checkStep(t, lr);
      update.setStep(t, lr);
    },
  };
}

/**
 * AdamW over parameters in several buffers, as one optimizer: the clipping norm is the global one over
 * every chunk (each chunk's norm, then the norm of those), taken before any chunk is updated. One
 * chunk is exactly `adamw`.
 */
export function adamwChunks(gpu: Gpu, args: AdamWChunksArgs): AdamW {
  const { chunks, config } = args;
  if (chunks.length === 0) throw new Error('adamw: no chunks');
  if (chunks.length === 1) return adamw(gpu, { ...chunks[0]!, config });
  chunks.forEach((c, k) => checkChunk(c, `, chunk ${k}`));
  checkConfig(config);
  const gradNorm = gpu.buffer(4, 'adamw grad norm');
  // Each chunk's norm in its own 256-byte slot (bindings at an offset are aligned so); the gaps stay
  // zero, so the norm over the whole buffer is √Σₖ‖gₖ‖², the global norm.
  const norms = gpu.zeros(chunks.length * 64, 'adamw chunk norms');
  const ops: Op[] = [];
  chunks.forEach((c, k) => ops.push(...reduce(gpu, { x: c.grads, n: c.count, out: { buffer: norms, offset: k * 256, size: 4 }, kind: 'norm', mask: c.mask })));
  ops.push(...reduce(gpu, { x: norms, n: chunks.length * 64, out: gradNorm, kind: 'norm' }));
  const updates = chunks.map((c) => updateOp(gpu, c, config, gradNorm));
  ops.push(...updates.map((u) => u.op));
  return {
    ops,
    gradNorm,
    setStep(t: number, lr: number) {
      checkStep(t, lr);
      for (const u of updates) u.setStep(t, lr);
    },
  };
}
