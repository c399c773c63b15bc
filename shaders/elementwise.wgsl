// Elementwise sums over flat f32 buffers: residual streams (out = a + b, or a + b + c for parallel
// residual blocks) and gradient accumulation (y += alpha·x), and scaling. These are memory-bound:
// four floats at a time (vec4 bindings), two quads per invocation WG apart, both loaded before
// either is stored, so that each thread has 32 bytes of every input in flight. axpy and scale take
// any n: the *4 entries cover the first ⌊n/4⌋ quads, and the scalar entries, started at element E0
// (a pipeline constant), the last n mod 4 floats.
//
// Bindings are declared per entry point by src/kernels/elementwise.ts (bindings(), in the op's order).

override WG: u32 = 256u;
override E0: u32 = 0u;

fn linear_id(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + li + E0;
}

// The first of an invocation's two quads; the second is WG quads on.
fn quad_id(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * (2u * WG) + li;
}

// ---- add: out = a + b (+ c when THREE), n a multiple of 4 ----------------------------------------
override THREE: u32 = 0u;
struct AP { n4: u32 }

fn add_at(q: u32) -> vec4f {
  var s = add_a[q] + add_b[q];
  if (THREE == 1u) { s = s + add_c[q]; }
  return s;
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q0 = quad_id(wg, nwg, li);
  let q1 = q0 + WG;
  if (q1 < ap.n4) {
    let s0 = add_at(q0);
    let s1 = add_at(q1);
    add_out[q0] = s0;
    add_out[q1] = s1;
  } else if (q0 < ap.n4) {
    add_out[q0] = add_at(q0);
  }
}

// ---- axpy: y = y + alpha·x ----------------------------------------------------------------------
struct XP { n: u32, alpha: f32 }

@compute @workgroup_size(WG)
fn axpy(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= xp.n) { return; }
  ax_y[e] = fma(xp.alpha, ax_x[e], ax_y[e]);
}

// n here counts quads.
@compute @workgroup_size(WG)
fn axpy4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q0 = quad_id(wg, nwg, li);
  let q1 = q0 + WG;
  let a = vec4f(xp4.alpha);
  if (q1 < xp4.n) {
    let x0 = ax4_x[q0];
    let x1 = ax4_x[q1];
    let y0 = ax4_y[q0];
    let y1 = ax4_y[q1];
    ax4_y[q0] = fma(a, x0, y0);
    ax4_y[q1] = fma(a, x1, y1);
  } else if (q0 < xp4.n) {
    ax4_y[q0] = fma(a, ax4_x[q0], ax4_y[q0]);
  }
}

// ---- scale: y = alpha·y (averaging gradients summed over micro-batches) ---------------------------

@compute @workgroup_size(WG)
fn scale(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  if (e >= scp.n) { return; }
  sc_y[e] = scp.alpha * sc_y[e];
}

@compute @workgroup_size(WG)
fn scale4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let q0 = quad_id(wg, nwg, li);
  let q1 = q0 + WG;
  if (q1 < scp4.n) {
    let y0 = sc4_y[q0];
    let y1 = sc4_y[q1];
    sc4_y[q0] = scp4.alpha * y0;
    sc4_y[q1] = scp4.alpha * y1;
  } else if (q0 < scp4.n) {
    sc4_y[q0] = scp4.alpha * sc4_y[q0];
  }
}
