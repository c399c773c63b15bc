// Rotary position embedding, Hugging Face rotate_half convention, partial (the first rotaryDim dims
// of each head rotate, the rest pass through). With half = rotaryDim/2, for i < half:
//   out[i]        = x[i]·cos a − x[i+half]·sin a
//   out[i+half]   = x[i+half]·cos a + x[i]·sin a,       a = pos·theta^(−2i/rotaryDim)
// The backward pass is the rotation by −a (sign = −1). cos and sin come from a table built in
// float64 on the CPU (src/kernels/rotary.ts), so large positions lose nothing to f32 angles.
//
// One invocation per (token, head, k < per_head): k < half rotates the pair (k, k+half), k ≥ half
// copies the pass-through element k + half. Neighbouring invocations touch neighbouring floats.
//
// Bindings are declared per entry point by src/kernels/rotary.ts (bindings(), in the op's order).

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

// The entry points (rotate, rotate_inplace, rotate4, rotate4_inplace) are stamped by
// src/kernels/rotary.ts: they differ in their bindings and in how many pairs one invocation takes.
// The in-place ones use one buffer, each invocation reading its floats before writing them, and
// leave the pass-through dims where they are (per_head = half). The table is (positions, half) of
// (cos, sin) pairs.
//
// rotate4 / rotate4_inplace take four pairs at a time, when half and headDim are multiples of 4
// (16-byte loads and stores run at full memory bandwidth; scalar ones do not). Their per_head counts
// vec4s: half/4 rotated plus (headDim − rotaryDim)/4 copied (rotate4_inplace: half/4). Table row p
// holds (cos, sin) pairs; the four pairs of k4 are the vec4s 2·k4 and 2·k4 + 1 of it.

// Index of the first of the two table vec4s holding the pairs k4·4 .. k4·4 + 3 of token-head th.
fn table4(th: u32, k4: u32, u: U) -> u32 {
  let t = th / u.heads;
  return ((t % u.L) + u.pos_off) * (u.half / 2u) + 2u * k4;
}

// (cos, sign·sin) of four pairs from their two table vec4s (c0, s0, c1, s1), (c2, s2, c3, s3).
fn unpack4(a: vec4f, b: vec4f, sign: f32) -> array<vec4f, 2> {
  return array<vec4f, 2>(vec4f(a.x, a.z, b.x, b.z), sign * vec4f(a.y, a.w, b.y, b.w));
}
