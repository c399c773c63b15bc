// f32 → f16 storage copies (feature shader-f16): the rotated queries, keys and values a frozen
// teacher's attention reads in half precision (src/kernels/flash-attention.ts, `half`). Rounds to
// nearest even, as WGSL's f32 → f16 conversion does; values past f16's range become ±inf, which the
// caller's check catches. Four floats per invocation: the attention's rows are multiples of 4.
//
// Bindings are declared by src/kernels/half.ts (bindings(), in the op's order).
enable f16;

override WG: u32 = 256u;
struct HP { n4: u32 }

@compute @workgroup_size(WG)
fn to_half(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q = (wg.y * nwg.x + wg.x) * WG + li;
  if (q >= hp.n4) { return; }
  th_y[q] = vec4<f16>(th_x[q]);
}
