// The mixer lab's two decay-free families (issue 15) and their gradients, per sample s:
//   Toeplitz:  M[i, j] = k[i − j]         for j ≤ i, 0 above;  dk[d] = Σ_{i−j=d} dM_ij
//   low-rank:  M[i, j] = C_i·B_j          for j ≤ i, 0 above;  dC_i = Σ_{j≤i} dM_ij B_j,  dB_j = Σ_{i≥j} dM_ij C_i
// Layouts (row-major, last index fastest): k, dk (S, L); C, B, dC, dB (S, L, N); M, dM (S, L, L).
// Simple rather than fast: one invocation per output element (per entry of M, k, C or B).
//
// Bindings are declared per entry point by src/kernels/mixer-matrices.ts (bindings(), in the op's order).

struct U {
  S: u32,
  L: u32,
  N: u32,
  accum: u32, // gradients: 1 adds to the output instead of overwriting it
}

override WG: u32 = 64u;

fn linear_id(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + li;
}

// ---- toeplitz_fwd: one invocation per entry of M -----------------------------------------------

@compute @workgroup_size(WG)
fn toeplitz_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  let L = tf.L;
  if (e >= tf.S * L * L) { return; }
  let s = e / (L * L);
  let i = (e / L) % L;
  let j = e % L;
  var v = 0.0;
  if (j <= i) { v = tf_k[s * L + i - j]; }
  tf_m[e] = v;
}

// ---- toeplitz_bwd: one invocation per (s, d), down the d-th subdiagonal -------------------------

@compute @workgroup_size(WG)
fn toeplitz_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  let L = tb.L;
  if (e >= tb.S * L) { return; }
  let s = e / L;
  let d = e % L;
  var acc = 0.0;
  for (var i = d; i < L; i++) { acc = acc + tb_dm[(s * L + i) * L + i - d]; }
  tb_dk[e] = select(acc, tb_dk[e] + acc, tb.accum == 1u);
}

// ---- lowrank_fwd: one invocation per entry of M -------------------------------------------------

@compute @workgroup_size(WG)
fn lowrank_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  let L = lf.L;
  let N = lf.N;
  if (e >= lf.S * L * L) { return; }
  let s = e / (L * L);
  let i = (e / L) % L;
  let j = e % L;
  var v = 0.0;
  if (j <= i) {
    let ci = (s * L + i) * N;
    let bj = (s * L + j) * N;
    for (var n = 0u; n < N; n++) { v = v + lf_c[ci + n] * lf_b[bj + n]; }
  }
  lf_m[e] = v;
}

// ---- lowrank_dc: one invocation per (s, i, n) ---------------------------------------------------

@compute @workgroup_size(WG)
fn lowrank_dc(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  let L = lc.L;
  let N = lc.N;
  if (e >= lc.S * L * N) { return; }
  let s = e / (L * N);
  let i = (e / N) % L;
  let n = e % N;
  var acc = 0.0;
  for (var j = 0u; j <= i; j++) { acc = acc + lc_dm[(s * L + i) * L + j] * lc_b[(s * L + j) * N + n]; }
  lc_dc[e] = select(acc, lc_dc[e] + acc, lc.accum == 1u);
}

// ---- lowrank_db: one invocation per (s, j, n) ---------------------------------------------------

@compute @workgroup_size(WG)
fn lowrank_db(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = linear_id(wg, nwg, li);
  let L = lb.L;
  let N = lb.N;
  if (e >= lb.S * L * N) { return; }
  let s = e / (L * N);
  let j = (e / N) % L;
  let n = e % N;
  var acc = 0.0;
  for (var i = j; i < L; i++) { acc = acc + lb_dm[(s * L + i) * L + j] * lb_c[(s * L + i) * N + n]; }
  lb_db[e] = select(acc, lb_db[e] + acc, lb.accum == 1u);
}
