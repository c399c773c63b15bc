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
  per_head: u32, // invocations per head: half + headDim − rotaryDim (in place: half; /4 in rotate4*)
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
// Pass-through dims are left where they are: per_head = half.
@group(0) @binding(0) var<storage, read> p_cs: array<vec2f>;
@group(0) @binding(1) var<storage, read_write> p_x: array<f32>;
@group(0) @binding(2) var<uniform> pu: U;

@compute @workgroup_size(WG)
fn rotate_inplace(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i >= pu.tokens * pu.heads * pu.per_head) { return; }
  let th = i / pu.per_head;
  let k = i - th * pu.per_head;
  let base = th * pu.head_dim;
  let t = th / pu.heads;
  let cs = p_cs[((t % pu.L) + pu.pos_off) * pu.half + k];
  let s = pu.sign * cs.y;
  let x1 = p_x[base + k];
  let x2 = p_x[base + k + pu.half];
  p_x[base + k] = x1 * cs.x - x2 * s;
  p_x[base + k + pu.half] = x2 * cs.x + x1 * s;
}

// ---- rotate4 / rotate4_inplace: the same four pairs at a time, when half and headDim are multiples
// of 4 (16-byte loads and stores run at full memory bandwidth; scalar ones do not). Here per_head
// counts vec4s: half/4 rotated plus (headDim − rotaryDim)/4 copied (rotate4_inplace: half/4).
// Table row p holds (cos, sin) pairs; the four pairs of k4 are the vec4s 2·k4 and 2·k4 + 1 of it.
@group(0) @binding(0) var<storage, read> v_x: array<vec4f>;
@group(0) @binding(1) var<storage, read> v_cs: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> v_out: array<vec4f>;
@group(0) @binding(3) var<uniform> vu: U;

// Index of the first of the two table vec4s holding the pairs k4·4 .. k4·4 + 3 of token-head th.
fn table4(th: u32, k4: u32, u: U) -> u32 {
  let t = th / u.heads;
  return ((t % u.L) + u.pos_off) * (u.half / 2u) + 2u * k4;
}

// (cos, sign·sin) of four pairs from their two table vec4s (c0, s0, c1, s1), (c2, s2, c3, s3).
fn unpack4(a: vec4f, b: vec4f, sign: f32) -> array<vec4f, 2> {
  return array<vec4f, 2>(vec4f(a.x, a.z, b.x, b.z), sign * vec4f(a.y, a.w, b.y, b.w));
}

@compute @workgroup_size(WG)
fn rotate4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i >= vu.tokens * vu.heads * vu.per_head) { return; }
  let th = i / vu.per_head;
  let k = i - th * vu.per_head;
  let base = th * (vu.head_dim / 4u);
  let h4 = vu.half / 4u;
  if (k < h4) {
    let r = table4(th, k, vu);
    let cs = unpack4(v_cs[r], v_cs[r + 1u], vu.sign);
    let x1 = v_x[base + k];
    let x2 = v_x[base + k + h4];
    v_out[base + k] = x1 * cs[0] - x2 * cs[1];
    v_out[base + k + h4] = x2 * cs[0] + x1 * cs[1];
  } else {
    v_out[base + k + h4] = v_x[base + k + h4];
  }
}

@group(0) @binding(0) var<storage, read> w_cs: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> w_x: array<vec4f>;
@group(0) @binding(2) var<uniform> wu: U;

@compute @workgroup_size(WG)
fn rotate4_inplace(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wg, nwg, lid);
  if (i >= wu.tokens * wu.heads * wu.per_head) { return; }
  let th = i / wu.per_head;
  let k = i - th * wu.per_head;
  let base = th * (wu.head_dim / 4u);
  let h4 = wu.half / 4u;
  let r = table4(th, k, wu);
  let cs = unpack4(w_cs[r], w_cs[r + 1u], wu.sign);
  let x1 = w_x[base + k];
  let x2 = w_x[base + k + h4];
  w_x[base + k] = x1 * cs[0] - x2 * cs[1];
  w_x[base + k + h4] = x2 * cs[0] + x1 * cs[1];
}
