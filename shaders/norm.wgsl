// RMSNorm and LayerNorm over rows of length d, forward and backward.
//   RMSNorm:   r = (Σ x²/d + eps)^(−1/2),            y = x·r·w
//   LayerNorm: μ = Σ x/d, r = (Σ (x−μ)²/d + eps)^(−1/2), y = (x−μ)·r·w + b
// With x̂ = (x−μ)·r (μ = 0 for RMSNorm) and g = dy·w:
//   RMSNorm:   dx = r·(g − x̂·Σ(g·x̂)/d)
//   LayerNorm: dx = r·(g − Σg/d − x̂·Σ(g·x̂)/d)
//   dw = Σ_rows dy·x̂, db = Σ_rows dy   (partials over chunks of rows, then a sum over chunks in order)
//
// Row kernels: one workgroup per row (row = wg.y·num_workgroups.x + wg.x); each thread folds the
// elements j ≡ lid (mod WG) in order, then a tree over the workgroup. The variance comes from
// (x−μ)² over a second read of the row, not E[x²]−μ², which cancels when |μ| ≫ σ.
//
// Bindings are declared per entry point by src/kernels/norm.ts (bindings(), in the op's order).

override WG: u32 = 256u; // power of two, at most 256

struct U {
  rows: u32,
  d: u32,
  eps: f32,
  chunk: u32,   // rows per partial in the weight gradients
  stride: u32,  // floats per chunk in the partials: d (RMSNorm) or 2d (LayerNorm: dw then db)
  col_off: u32, // wgrad_final: which d-wide part of a chunk to sum (0: dw, d: db)
  acc: u32,     // 1: add into the output
}

var<workgroup> red: array<vec2f, 256>;

// Sums v over the workgroup; every thread of the workgroup must call it (barriers).
fn tree(lid: u32, v: vec2f) -> vec2f {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier(); // red is reused by the next tree
  return r;
}

fn row_index(wg: vec3u, nwg: vec3u) -> u32 {
  return wg.y * nwg.x + wg.x;
}

// ---- rms_fwd ------------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn rms_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg, nwg);
  if (row >= rfu.rows) { return; }
  let d = rfu.d;
  let base = row * d;
  var ss = 0.0;
  for (var j = lid; j < d; j += WG) {
    let v = rf_x[base + j];
    ss += v * v;
  }
  let r = inverseSqrt(tree(lid, vec2f(ss, 0.0)).x / f32(d) + rfu.eps);
  for (var j = lid; j < d; j += WG) { rf_y[base + j] = rf_x[base + j] * r * rf_w[j]; }
  if (lid == 0u) { rf_rstd[row] = r; }
}

// ---- ln_fwd -------------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn ln_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg, nwg);
  if (row >= lfu.rows) { return; }
  let d = lfu.d;
  let base = row * d;
  var s = 0.0;
  for (var j = lid; j < d; j += WG) { s += lf_x[base + j]; }
  let mu = tree(lid, vec2f(s, 0.0)).x / f32(d);
  // The f32 mean carries the rounding of its sum; the sums of x − μ around it recover the rest
  // (mu_lo) and the variance about the true mean: Σ(x−μ')² − (Σ(x−μ'))²/d (corrected two-pass).
  var m2 = vec2f(0.0, 0.0);
  for (var j = lid; j < d; j += WG) {
    let c = lf_x[base + j] - mu;
    m2 += vec2f(c, c * c);
  }
  let t = tree(lid, m2);
  let mu_lo = t.x / f32(d);
  let r = inverseSqrt(max(t.y - t.x * mu_lo, 0.0) / f32(d) + lfu.eps);
  for (var j = lid; j < d; j += WG) { lf_y[base + j] = ((lf_x[base + j] - mu) - mu_lo) * r * lf_w[j] + lf_b[j]; }
  if (lid == 0u) {
    lf_mean[row] = mu + mu_lo;
    lf_rstd[row] = r;
  }
}

// ---- rms_dx -------------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn rms_dx(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg, nwg);
  if (row >= rdu.rows) { return; }
  let d = rdu.d;
  let base = row * d;
  let r = rd_rstd[row];
  var gx = 0.0;
  for (var j = lid; j < d; j += WG) { gx += rd_dy[base + j] * rd_w[j] * rd_x[base + j] * r; }
  let c = tree(lid, vec2f(gx, 0.0)).x / f32(d);
  let acc = rdu.acc == 1u;
  for (var j = lid; j < d; j += WG) {
    let v = r * (rd_dy[base + j] * rd_w[j] - rd_x[base + j] * r * c);
    rd_dx[base + j] = select(v, rd_dx[base + j] + v, acc);
  }
}

// ---- ln_dx --------------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn ln_dx(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wg, nwg);
  if (row >= ldu.rows) { return; }
  let d = ldu.d;
  let base = row * d;
  let mu = ld_mean[row];
  let r = ld_rstd[row];
  var acc2 = vec2f(0.0, 0.0); // (Σ g, Σ g·x̂)
  for (var j = lid; j < d; j += WG) {
    let g = ld_dy[base + j] * ld_w[j];
    acc2 += vec2f(g, g * (ld_x[base + j] - mu) * r);
  }
  let m = tree(lid, acc2) / f32(d);
  let acc = ldu.acc == 1u;
  for (var j = lid; j < d; j += WG) {
    let xh = (ld_x[base + j] - mu) * r;
    let v = r * (ld_dy[base + j] * ld_w[j] - m.x - xh * m.y);
    ld_dx[base + j] = select(v, ld_dx[base + j] + v, acc);
  }
}

// The weight-gradient loops below take four rows (or chunks) at a time: all loads first, then the
// adds in the same order as one at a time, so memory latency overlaps without changing the sums.

// ---- rms_wpart: part[c·d + j] = Σ_{rows of chunk c} dy·x̂ -----------------------------------------
// One thread per (column, chunk): neighbouring threads read neighbouring columns of a row.

fn rms_term(row: u32, d: u32, j: u32) -> f32 {
  return rp_dy[row * d + j] * rp_x[row * d + j] * rp_rstd[row];
}

@compute @workgroup_size(WG)
fn rms_wpart(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let j = gid.x;
  let d = rpu.d;
  if (j >= d) { return; }
  let c = wg.y;
  let r1 = min((c + 1u) * rpu.chunk, rpu.rows);
  var s = 0.0;
  var row = c * rpu.chunk;
  for (; row + 4u <= r1; row += 4u) {
    let g0 = rms_term(row, d, j);
    let g1 = rms_term(row + 1u, d, j);
    let g2 = rms_term(row + 2u, d, j);
    let g3 = rms_term(row + 3u, d, j);
    s += g0;
    s += g1;
    s += g2;
    s += g3;
  }
  for (; row < r1; row++) { s += rms_term(row, d, j); }
  rp_part[c * d + j] = s;
}

// ---- ln_wpart: part[c·2d + j] = Σ dy·x̂, part[c·2d + d + j] = Σ dy over the rows of chunk c ----------

// (dy·x̂, dy) of one element.
fn ln_terms(row: u32, d: u32, j: u32) -> vec2f {
  let g = lp_dy[row * d + j];
  return vec2f(g * (lp_x[row * d + j] - lp_mean[row]) * lp_rstd[row], g);
}

@compute @workgroup_size(WG)
fn ln_wpart(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let j = gid.x;
  let d = lpu.d;
  if (j >= d) { return; }
  let c = wg.y;
  let r1 = min((c + 1u) * lpu.chunk, lpu.rows);
  var s = vec2f(0.0, 0.0);
  var row = c * lpu.chunk;
  for (; row + 4u <= r1; row += 4u) {
    let g0 = ln_terms(row, d, j);
    let g1 = ln_terms(row + 1u, d, j);
    let g2 = ln_terms(row + 2u, d, j);
    let g3 = ln_terms(row + 3u, d, j);
    s += g0;
    s += g1;
    s += g2;
    s += g3;
  }
  for (; row < r1; row++) { s += ln_terms(row, d, j); }
  lp_part[c * 2u * d + j] = s.x;
  lp_part[c * 2u * d + d + j] = s.y;
}

// ---- wgrad_final: out[j] (+)= Σ_c part[c·stride + col_off + j], chunks in order --------------------

@compute @workgroup_size(WG)
fn wgrad_final(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= wfu.d) { return; }
  let chunks = (wfu.rows + wfu.chunk - 1u) / wfu.chunk;
  let o = wfu.col_off + j;
  let st = wfu.stride;
  var s = 0.0;
  var c = 0u;
  for (; c + 4u <= chunks; c += 4u) {
    let p0 = wf_part[c * st + o];
    let p1 = wf_part[(c + 1u) * st + o];
    let p2 = wf_part[(c + 2u) * st + o];
    let p3 = wf_part[(c + 3u) * st + o];
    s += p0;
    s += p1;
    s += p2;
    s += p3;
  }
  for (; c < chunks; c++) { s += wf_part[c * st + o]; }
  wf_out[j] = select(s, wf_out[j] + s, wfu.acc == 1u);
}
