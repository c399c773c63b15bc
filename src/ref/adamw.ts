// float64 reference for src/kernels/adamw.ts: one AdamW step as PyTorch takes it
// (clip_grad_norm_ over the trainable parameters' gradients, then torch.optim.AdamW).
import type { AdamWConfig } from '../kernels/adamw';

export interface AdamWState {
  params: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/**
 * The state after step t (t ≥ 1) with learning rate lr, and the gradient norm before clipping.
 * mask[i] = 0 freezes parameter i (no update, no part in the norm). Inputs are not modified.
 */
export function adamwRef(
  state: AdamWState,
  grads: Float64Array,
  config: AdamWConfig,
  t: number,
  lr: number,
  mask?: Float64Array,
): AdamWState & { gradNorm: number } {
  const { beta1, beta2, eps, weightDecay, maxGradNorm } = config;
  const n = grads.length;
  const trained = (i: number) => !mask || mask[i] !== 0;
  let sq = 0;
  for (let i = 0; i < n; i++) if (trained(i)) sq += grads[i] * grads[i];
  const gradNorm = Math.sqrt(sq);
  // clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
  const clip = maxGradNorm === undefined ? 1 : Math.min(1, maxGradNorm / (gradNorm + 1e-6));
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  const params = Float64Array.from(state.params);
  const m = Float64Array.from(state.m);
  const v = Float64Array.from(state.v);
  for (let i = 0; i < n; i++) {
    if (!trained(i)) continue;
    const g = grads[i] * clip;
    params[i] *= 1 - lr * weightDecay; // decoupled weight decay, before the Adam step
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    // p ← p − lr·m̂ / (√v̂ + eps), m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)
    params[i] -= (lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + eps);
  }
  return { params, m, v, gradNorm };
}
