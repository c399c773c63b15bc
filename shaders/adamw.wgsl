// One fused AdamW step over flat f32 buffers, PyTorch semantics (torch.optim.AdamW, preceded by
// torch.nn.utils.clip_grad_norm_ when maxNorm > 0):
//   g ← g·min(1, maxNorm/(‖g‖ + 1e-6))
//   p ← p·(1 − lr·wd)
//   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + eps)
// The step-dependent scalars are folded on the CPU in float64 (see src/kernels/adamw.ts).
//
// Bindings are declared per entry point by src/kernels/adamw.ts (bindings(), in the op's order).

struct P {
  count: u32,
  nx: u32,         // workgroups along x; element index = (wg.y·nx + wg.x)·WG + local index
  beta1: f32,
  beta2: f32,
  omb1: f32,       // 1 − β1, from float64: 1 − f32(0.999) would be off by 1e-5 relative
  omb2: f32,       // 1 − β2
  eps: f32,
  decay: f32,      // 1 − lr·wd
  stepSize: f32,   // lr / (1 − β1ᵗ)
  bc2Sqrt: f32,    // √(1 − β2ᵗ)
  maxNorm: f32,    // 0: no clipping
}

override WG: u32 = 256;

struct State { p: f32, m: f32, v: f32 }

fn update(g0: f32, norm: f32, s: State, q: P) -> State {
  var g = g0;
  if (q.maxNorm > 0.0) { g *= min(1.0, q.maxNorm / (norm + 1e-6)); }
  let m = q.beta1 * s.m + q.omb1 * g;
  let v = q.beta2 * s.v + q.omb2 * g * g;
  let denom = sqrt(v) / q.bc2Sqrt + q.eps;
  return State(s.p * q.decay - q.stepSize * m / denom, m, v);
}

// `step` and `step_masked` are stamped by src/kernels/adamw.ts: they differ in their bindings (the
// mask after the norm) and in that a frozen parameter (mask 0) is left exactly as it was, m and v
// too, as PyTorch skips a parameter without a gradient.
