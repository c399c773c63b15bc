// Frobenius distance between matching matrices of P and T, its mean, and the gradient wrt P.
// The sum of squares is reduced in two levels (workgroup chunks, then chunks per matrix) so that a
// 2048×2048 matrix never asks one workgroup to walk four million elements.
//
// Bindings are declared per entry point by src/kernels/frobenius.ts (bindings(), in the op's order).

struct U {
  size: u32,      // elements per matrix
  mats: u32,
  chunks: u32,    // CHUNK-element pieces per matrix
  squared: u32,   // 1: distances are squared norms
}

const WG = 256u;
const PER_THREAD = 16u;
const CHUNK = 4096u; // WG * PER_THREAD

// ---- partial: part[m·chunks + c] = Σ over chunk c of matrix m of (P − T)² ----------------------

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wg.x;
  let m = wg.y;
  let base = m * up.size;
  var s = 0.0;
  for (var k = 0u; k < PER_THREAD; k++) {
    let e = c * CHUNK + k * WG + li;
    if (e < up.size) {
      let x = pp[base + e] - pt[base + e];
      s = s + x * x;
    }
  }
  red[li] = s;
  let total = tree_sum(li);
  if (li == 0u) { part_out[m * up.chunks + c] = total; }
}

// ---- dist: dist[m] = Σ_c part[m·chunks + c] (square-rooted unless squared) ---------------------

@compute @workgroup_size(256)
fn dist(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let m = wg.x;
  var s = 0.0;
  for (var c = li; c < ud.chunks; c += WG) { s = s + dpart[m * ud.chunks + c]; }
  red[li] = s;
  let total = tree_sum(li);
  if (li == 0u) { dist_out[m] = select(sqrt(total), total, ud.squared == 1u); }
}

// loss: loss[0] = mean_m dist[m], is stamped by src/kernels/stamps.ts (meanEntry).

// ---- grad: dLoss/dP = 2(P−T)/mats (squared) or (P−T)/(mats·dist_m), 0 where dist_m = 0 ----------

@compute @workgroup_size(256)
fn grad(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  // A 2-D grid, because mats·size can exceed 65535 workgroups in one dimension.
  let e = (wg.y * nwg.x + wg.x) * WG + li;
  if (e >= ug.size * ug.mats) { return; }
  let m = e / ug.size;
  let d = gdist[m];
  let n = f32(ug.mats);
  var coef = 2.0 / n;
  if (ug.squared == 0u) { coef = select(0.0, 1.0 / (n * d), d > 0.0); }
  grad_out[e] = coef * (gp[e] - gt[e]);
}
