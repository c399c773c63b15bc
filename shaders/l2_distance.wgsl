// Per-token L2 distance (MOHAWK stage 2): for rows of width d,
//   rowLoss[r] = ‖s_r − t_r‖₂ (not squared),  loss = mean_r rowLoss[r],
//   dS[r, j] = (s[r, j] − t[r, j]) / (rows·rowLoss[r]), 0 on a row where s_r = t_r.
// row_norm gives each row one workgroup (per-invocation sums, then a tree), mean one workgroup.
//
// Bindings are declared per entry point by src/kernels/losses.ts (bindings(), in the op's order).

override WG: u32 = 256u; // at most 256 (lib/tree_sum's buffer); 64 for narrow rows

struct U {
  rows: u32,
  d: u32,
  nx: u32, // workgroups along x of a 2-D grid
}

// ---- row_norm -------------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn row_norm(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = wg.y * nu.nx + wg.x;
  if (r >= nu.rows) { return; }
  var s = 0.0;
  for (var j = li; j < nu.d; j += WG) {
    let x = n_s[r * nu.d + j] - n_t[r * nu.d + j];
    s = s + x * x;
  }
  red[li] = s;
  let total = tree_sum(li);
  if (li == 0u) { n_out[r] = sqrt(total); }
}

// mean is stamped by src/kernels/stamps.ts (meanEntry).

// ---- grad -----------------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn grad(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wg.y * gu.nx + wg.x) * WG + li;
  if (e >= gu.rows * gu.d) { return; }
  let n = g_norm[e / gu.d];
  g_out[e] = select(0.0, (g_s[e] - g_t[e]) / (f32(gu.rows) * n), n > 0.0);
}
