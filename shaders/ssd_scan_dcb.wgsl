// The gradient of CB per (batch, chunk, group) and 64×64 tile (i, j), j-tile ≤ i-tile, summed over the
// heads of the group (CB is shared by them):
//   dCB_ij = Σ_h exp(cum_i − cum_j)·(dy_i·x_j)      for j ≤ i, else 0
// Layout as CB. Per head it also takes W_ij = dCB_ij(h)·CB_ij, whose strict row sums r_i = Σ_{j<i} W_ij
// and column sums c_j = Σ_{i>j} W_ij give the in-chunk share of da:  Σ_{i≥k, j<k} W_ij = Σ_{m≥k} (r_m − c_m).
// Summing strictly off the diagonal keeps the diagonal terms (O(1) whatever the decay) out of a
// difference that can be as small as exp(a) when every decay is large.
//   r: offR + (((b·NC + c)·H + h)·nT + j-tile)·Q + i      c: offC + (((b·NC + c)·H + h)·nT + i-tile)·Q + j
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

var<private> d0: vec4<f32>;
var<private> d1: vec4<f32>;
var<private> d2: vec4<f32>;
var<private> d3: vec4<f32>;

fn tok(src: u32, b: u32, t0: u32, Lc: u32, h: u32, q: u32, p: u32) -> f32 {
  if (q >= Lc || p >= u.P) { return 0.0; }
  let e = ((b * u.L + t0 + q) * u.H + h) * u.P + p;
  if (src == 0u) { return xs[e]; }
  return dys[e];
}

// exp(cum_i − cum_j) at columns j..j+3 for j ≤ i inside the chunk, else 0.
fn decay4(base: u32, Lc: u32, i: u32, j: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (i >= Lc) { return v; }
  for (var k = 0u; k < 4u; k++) {
    if (j + k <= i) { v[k] = exp(seg(base, i, j + k)); }
  }
  return v;
}

fn cb4(cbb: u32, Lc: u32, i: u32, j: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (i >= Lc) { return v; }
  for (var k = 0u; k < 4u; k++) {
    if (j + k <= i) { v[k] = cb[cbb + i * u.Q + j + k]; }
  }
  return v;
}

// 1 where j + k < i (strictly below the diagonal), else 0.
fn strict4(i: u32, j: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), vec4<f32>(1.0), vec4<u32>(j, j + 1u, j + 2u, j + 3u) < vec4<u32>(i));
}

fn store_row(base: u32, i: u32, j: u32, v: vec4<f32>) {
  if (i >= u.Q) { return; }
  for (var k = 0u; k < 4u; k++) {
    if (j + k < u.Q) { dcb[base + i * u.Q + j + k] = v[k]; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let ti = wg.x / u.nT;
  let tj = wg.x % u.nT;
  if (tj > ti) { return; }
  let c = wg.y;
  let b = wg.z / u.G;
  let g = wg.z % u.G;
  let t0 = c * u.Q;
  let Lc = min(u.Q, u.L - t0);
  let i0 = ti * 64u;
  let j0 = tj * 64u;
  let tx = li % 16u;
  let ty = li / 16u;
  let lk = li % 16u;   // dy and x are both contiguous in p: stage 4 tokens at one p
  let lr = li / 16u;
  let si = i0 + lr * 4u;
  let sj = j0 + lr * 4u;
  let ri = i0 + ty * 4u;
  let cj = j0 + tx * 4u;
  let cbb = ((b * u.NC + c) * u.G + g) * u.Q * u.Q;
  let m0 = cb4(cbb, Lc, ri, cj) * strict4(ri, cj);
  let m1 = cb4(cbb, Lc, ri + 1u, cj) * strict4(ri + 1u, cj);
  let m2 = cb4(cbb, Lc, ri + 2u, cj) * strict4(ri + 2u, cj);
  let m3 = cb4(cbb, Lc, ri + 3u, cj) * strict4(ri + 3u, cj);
  d0 = vec4<f32>(0.0);
  d1 = vec4<f32>(0.0);
  d2 = vec4<f32>(0.0);
  d3 = vec4<f32>(0.0);
  for (var hh = 0u; hh < u.hpg; hh++) {
    let h = g * u.hpg + hh;
    zero_acc();
    for (var p0 = 0u; p0 < u.P; p0 += 16u) {
      let p = p0 + lk;
      As[lk * 16u + lr] = vec4<f32>(tok(1u, b, t0, Lc, h, si, p), tok(1u, b, t0, Lc, h, si + 1u, p),
                                    tok(1u, b, t0, Lc, h, si + 2u, p), tok(1u, b, t0, Lc, h, si + 3u, p));
      Bs[lk * 16u + lr] = vec4<f32>(tok(0u, b, t0, Lc, h, sj, p), tok(0u, b, t0, Lc, h, sj + 1u, p),
                                    tok(0u, b, t0, Lc, h, sj + 2u, p), tok(0u, b, t0, Lc, h, sj + 3u, p));
      workgroupBarrier();
      fma_slab(tx, ty);
      workgroupBarrier();
    }
    let base = cbase(b, h, c);
    let z0 = c0 * decay4(base, Lc, ri, cj);
    let z1 = c1 * decay4(base, Lc, ri + 1u, cj);
    let z2 = c2 * decay4(base, Lc, ri + 2u, cj);
    let z3 = c3 * decay4(base, Lc, ri + 3u, cj);
    d0 += z0;
    d1 += z1;
    d2 += z2;
    d3 += z3;
    let w0 = z0 * m0;
    let w1 = z1 * m1;
    let w2 = z2 * m2;
    let w3 = z3 * m3;
    let ones = vec4<f32>(1.0);
    // Row sums go in As[tx·16 + ty] (rows 4ty..), column sums in Bs[ty·16 + tx] (columns 4tx..).
    As[tx * 16u + ty] = vec4<f32>(dot(w0, ones), dot(w1, ones), dot(w2, ones), dot(w3, ones));
    Bs[ty * 16u + tx] = (w0 + w1) + (w2 + w3);
    workgroupBarrier();
    let bch = (b * u.NC + c) * u.H + h;
    if (li < 64u) {
      var s = 0.0;
      for (var k = 0u; k < 16u; k++) { s += As[k * 16u + li / 4u][li % 4u]; }
      if (i0 + li < u.Q) { rc[u.offR + (bch * u.nT + tj) * u.Q + i0 + li] = s; }
    } else if (li < 128u) {
      let col = li - 64u;
      var s = 0.0;
      for (var k = 0u; k < 16u; k++) { s += Bs[k * 16u + col / 4u][col % 4u]; }
      if (j0 + col < u.Q) { rc[u.offC + (bch * u.nT + ti) * u.Q + j0 + col] = s; }
    }
    workgroupBarrier();
  }
  store_row(cbb, ri, cj, d0);
  store_row(cbb, ri + 1u, cj, d1);
  store_row(cbb, ri + 2u, cj, d2);
  store_row(cbb, ri + 3u, cj, d3);
}
