// Rotary position embedding, Hugging Face rotate_half convention, partial (the first rotaryDim dims
// of each head rotate, the rest pass through). With half = rotaryDim/2, for i < half:
//   out[i]        = x[i]·cos a − x[i+half]·sin a
//   out[i+half]   = x[i+half]·cos a + x[i]·sin a,       a = pos·theta^(−2i/rotaryDim)
// The backward pass is the rotation by −a (sign = −1). cos and sin come from a table built in
// float64 on the CPU (src/kernels/rotary.ts), so large positions lose nothing to f32 angles.
//
// One invocation per (token, head, k < per_head): k < half rotates the pair (k, k+half), k ≥ half
// copies the pass-through element k + half. Neighbouring invocations touch neighbouring floats.

override WG: u32 = 256u;

struct U {
  tokens: u32,   // batch·L
  L: u32,
  heads: u32,
  head_dim: u32,
  half: u32,     // rotaryDim / 2
  per_head: u32, // half + headDim − rotaryDim
  pos_off: u32,  // position of the first token of every sequence
  sign: f32,     // +1 forward, −1 backward
}

fn index(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid;
}

// ---- rotate: x and out in different buffers -----------------------------------------------------
@group(0) @binding(0) var<storage, read> r_x: array<f32>;
@group(0) @binding(1) var<storage, read> r_cs: array<vec2f>; // (positions, half) of (cos, sin)
@group(0) @binding(2) var<storage, read_write> r_out: array<f32>;
@group(0) @binding(3) var<uniform> ru: U;

@compute @workgroup_size(WG)
fn rotate(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i >= ru.tokens * ru.heads * ru.per_head) { return; }
  let th = i / ru.per_head; // token·heads + head
  let k = i - th * ru.per_head;
  let base = th * ru.head_dim;
  if (k < ru.half) {
    let t = th / ru.heads;
    let cs = r_cs[((t % ru.L) + ru.pos_off) * ru.half + k];
    let s = ru.sign * cs.y;
    let x1 = r_x[base + k];
    let x2 = r_x[base + k + ru.half];
    r_out[base + k] = x1 * cs.x - x2 * s;
    r_out[base + k + ru.half] = x2 * cs.x + x1 * s;
  } else {
    r_out[base + k + ru.half] = r_x[base + k + ru.half];
  }
}

// ---- rotate_inplace: one buffer; each invocation reads its floats before writing them -----------
@group(0) @binding(0) var<storage, read> p_cs: array<vec2f>;
@group(0) @binding(1) var<storage, read_write> p_x: array<f32>;
@group(0) @binding(2) var<uniform> pu: U;

@compute @workgroup_size(WG)
fn rotate_inplace(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i >= pu.tokens * pu.heads * pu.half) { return; }
  let th = i / pu.half;
  let k = i - th * pu.half;
  let base = th * pu.head_dim;
  let t = th / pu.heads;
  let cs = p_cs[((t % pu.L) + pu.pos_off) * pu.half + k];
  let s = pu.sign * cs.y;
  let x1 = p_x[base + k];
  let x2 = p_x[base + k + pu.half];
  p_x[base + k] = x1 * cs.x - x2 * s;
  p_x[base + k + pu.half] = x2 * cs.x + x1 * s;
}
