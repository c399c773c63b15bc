// Elementwise sums over flat f32 buffers: residual streams (out = a + b, or a + b + c for parallel
// residual blocks) and gradient accumulation (y += alpha·x). Four elements per invocation with vec4
// loads where n allows (these are memory-bound).
//
// Bindings are declared per entry point by src/kernels/elementwise.ts (bindings(), in the op's order).

override WG: u32 = 256u;

fn linear_id(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + li;
}

// ---- add: out = a + b (+ c when THREE) ----------------------------------------------------------
override THREE: u32 = 0u;
struct AP { n4: u32 }

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= ap.n4) { return; }
  var s = add_a[e] + add_b[e];
  if (THREE == 1u) { s = s + add_c[e]; }
  add_out[e] = s;
}

// ---- axpy: y = y + alpha·x ----------------------------------------------------------------------
struct XP { n: u32, alpha: f32 }

@compute @workgroup_size(WG)
fn axpy(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= xp.n) { return; }
  ax_y[e] = fma(xp.alpha, ax_x[e], ax_y[e]);
}

// ---- scale: y = alpha·y (averaging gradients summed over micro-batches) ---------------------------

@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= scp.n) { return; }
  sc_y[e] = scp.alpha * sc_y[e];
}
