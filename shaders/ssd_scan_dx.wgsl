// dx per (batch, chunk, head) and a 64×64 tile of (token j, column p):
//   dx_j = Σ_{i≥j} exp(cum_i − cum_j)·CB_ij·dy_i  +  exp(cum_last − cum_j)·G_c·B_j  +  D·dy_j
// and, as a by-product, the row partials v_j = x_j · (exp(cum_last − cum_j)·G_c·B_j) over this
// tile's columns at offV + (((b·NC + c)·H + h)·pT + pt)·Q + j (the chunk state's share of da).
// G_c is the gradient of the chunk-exit state from the backward pass over chunks.
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

var<workgroup> red: array<f32, 1024>;

fn tok4(src: u32, t: Tile, q: u32, p: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (q >= t.Lc) { return v; }
  let e = ((t.b * u.L + t.t0 + q) * u.H + t.h) * u.P;
  for (var k = 0u; k < 4u; k++) {
    if (p + k < u.P) {
      if (src == 0u) { v[k] = xs[e + p + k]; } else { v[k] = dys[e + p + k]; }
    }
  }
  return v;
}

fn b_at(t: Tile, j: u32, n: u32) -> f32 {
  if (j >= t.Lc || n >= u.N) { return 0.0; }
  return mB[((t.b * u.L + t.t0 + j) * u.G + t.g) * u.N + n];
}

fn g_at(t: Tile, p: u32, n: u32) -> f32 {
  if (p >= u.P || n >= u.N) { return 0.0; }
  return st[u.offG + (((t.b * u.NC + t.c) * u.H + t.h) * u.P + p) * u.N + n];
}

fn wlast(t: Tile, j: u32) -> f32 {
  if (j >= t.Lc) { return 0.0; }
  return exp(seg(t.cbase, u.Q - 1u, j));
}

fn store_dx(t: Tile, j: u32, p: u32, v: vec4<f32>) {
  if (j >= t.Lc) { return; }
  let d = cum[2u * u.cumLo + t.h];
  let g = tok4(1u, t, j, p);
  let e = ((t.b * u.L + t.t0 + j) * u.H + t.h) * u.P;
  for (var k = 0u; k < 4u; k++) {
    if (p + k < u.P) { dx[e + p + k] = v[k] + d * g[k]; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = tile(wg);
  let tx = li % 16u;
  let ty = li / 16u;
  zero_acc();

  // State part first, so that its row partials can be taken before the diagonal part is added.
  {
    let lk = li % 16u;   // B and G_c are both contiguous in n
    let lr = li / 16u;
    let rj = t.q0 + lr * 4u;
    let rp = t.p0 + lr * 4u;
    let w = vec4<f32>(wlast(t, rj), wlast(t, rj + 1u), wlast(t, rj + 2u), wlast(t, rj + 3u));
    for (var n0 = 0u; n0 < u.N; n0 += 16u) {
      let n = n0 + lk;
      As[lk * 16u + lr] = w * vec4<f32>(b_at(t, rj, n), b_at(t, rj + 1u, n), b_at(t, rj + 2u, n), b_at(t, rj + 3u, n));
      Bs[lk * 16u + lr] = vec4<f32>(g_at(t, rp, n), g_at(t, rp + 1u, n), g_at(t, rp + 2u, n), g_at(t, rp + 3u, n));
      workgroupBarrier();
      fma_slab(tx, ty);
      workgroupBarrier();
    }
  }
  let r0 = t.q0 + ty * 4u;
  let pc = t.p0 + tx * 4u;
  red[(ty * 4u) * 16u + tx] = dot(c0, tok4(0u, t, r0, pc));
  red[(ty * 4u + 1u) * 16u + tx] = dot(c1, tok4(0u, t, r0 + 1u, pc));
  red[(ty * 4u + 2u) * 16u + tx] = dot(c2, tok4(0u, t, r0 + 2u, pc));
  red[(ty * 4u + 3u) * 16u + tx] = dot(c3, tok4(0u, t, r0 + 3u, pc));
  workgroupBarrier();
  if (li < 64u && t.q0 + li < u.Q) {
    var s = 0.0;
    for (var k = 0u; k < 16u; k++) { s += red[li * 16u + k]; }
    let bch = (t.b * u.NC + t.c) * u.H + t.h;
    vo[u.offV + (bch * u.pT + t.pt) * u.Q + t.q0 + li] = s;
  }

  // Diagonal part: rows j, reduced over i ≥ j. CB is contiguous in j: stage 4 rows at one i.
  {
    let bk = li / 16u;
    let br = li % 16u;
    let rj = t.q0 + br * 4u;
    for (var i0 = t.q0; i0 < t.Lc; i0 += 16u) {
      let i = i0 + bk;
      As[bk * 16u + br] = vec4<f32>(wdiag(t, i, rj), wdiag(t, i, rj + 1u), wdiag(t, i, rj + 2u), wdiag(t, i, rj + 3u));
      Bs[bk * 16u + br] = tok4(1u, t, i, t.p0 + br * 4u);
      workgroupBarrier();
      fma_slab(tx, ty);
      workgroupBarrier();
    }
  }
  store_dx(t, r0, pc, c0);
  store_dx(t, r0 + 1u, pc, c1);
  store_dx(t, r0 + 2u, pc, c2);
  store_dx(t, r0 + 3u, pc, c3);
}
