// dC and dB per (batch, chunk, group) and a 64×64 tile of (token, n), summed over the heads of the group:
//   dc:  dC_i = Σ_{j≤i} dCB_ij·B_j  +  Σ_h exp(cum_i)·P_cᵀ·dy_i
//   db:  dB_j = Σ_{i≥j} dCB_ij·C_i  +  Σ_h exp(cum_last − cum_j)·G_cᵀ·x_j
// The second sums run over (head, p) as one reduction.
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

struct Tile { b: u32, g: u32, c: u32, t0: u32, Lc: u32, r0: u32, n0: u32, cbb: u32 }

fn tile(wg: vec3u) -> Tile {
  var t: Tile;
  t.n0 = (wg.x % u.nN) * 64u;
  t.r0 = (wg.x / u.nN) * 64u;
  t.c = wg.y;
  t.b = wg.z / u.G;
  t.g = wg.z % u.G;
  t.t0 = t.c * u.Q;
  t.Lc = min(u.Q, u.L - t.t0);
  t.cbb = ((t.b * u.NC + t.c) * u.G + t.g) * u.Q * u.Q;
  return t;
}

fn dcb_at(t: Tile, i: u32, j: u32) -> f32 {
  if (j > i || i >= t.Lc) { return 0.0; }
  return dcb[t.cbb + i * u.Q + j];
}

fn v4(t: Tile, q: u32, n: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (q >= t.Lc) { return v; }
  let e = ((t.b * u.L + t.t0 + q) * u.G + t.g) * u.N;
  for (var k = 0u; k < 4u; k++) {
    if (n + k < u.N) { v[k] = mv[e + n + k]; }
  }
  return v;
}

fn u_at(t: Tile, h: u32, q: u32, p: u32) -> f32 {
  if (q >= t.Lc || p >= u.P) { return 0.0; }
  return us[((t.b * u.L + t.t0 + q) * u.H + h) * u.P + p];
}

fn st4(off: u32, t: Tile, h: u32, p: u32, n: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (p >= u.P) { return v; }
  let e = off + (((t.b * u.NC + t.c) * u.H + h) * u.P + p) * u.N;
  for (var k = 0u; k < 4u; k++) {
    if (n + k < u.N) { v[k] = st[e + n + k]; }
  }
  return v;
}

// Per head h: exp(cum_q) (mode 0) or exp(cum_last − cum_q) (mode 1) for a token of the chunk, else 0.
fn wtok(mode: u32, t: Tile, h: u32, q: u32) -> f32 {
  if (q >= t.Lc) { return 0.0; }
  let base = cbase(t.b, h, t.c);
  if (mode == 0u) { return exp(cumv(base, q)); }
  return exp(seg(base, u.Q - 1u, q));
}

// c += Σ_h Σ_p w_h(q)·us[q, h, p]·st[h][p, n] for this tile's rows q.
fn state_part(t: Tile, li: u32, mode: u32, off: u32) {
  let lk = li % 16u;   // us is contiguous in p: stage 4 tokens at one p
  let lr = li / 16u;
  let bk = li / 16u;   // the state is contiguous in n: stage 4 columns at one p
  let br = li % 16u;
  let rq = t.r0 + lr * 4u;
  for (var hh = 0u; hh < u.hpg; hh++) {
    let h = t.g * u.hpg + hh;
    let w = vec4<f32>(wtok(mode, t, h, rq), wtok(mode, t, h, rq + 1u), wtok(mode, t, h, rq + 2u), wtok(mode, t, h, rq + 3u));
    for (var p0 = 0u; p0 < u.P; p0 += 16u) {
      let p = p0 + lk;
      As[lk * 16u + lr] = w * vec4<f32>(u_at(t, h, rq, p), u_at(t, h, rq + 1u, p), u_at(t, h, rq + 2u, p), u_at(t, h, rq + 3u, p));
      Bs[bk * 16u + br] = st4(off, t, h, p0 + bk, t.n0 + br * 4u);
      workgroupBarrier();
      fma_slab(li % 16u, li / 16u);
      workgroupBarrier();
    }
  }
}

fn store(t: Tile, q: u32, n: u32, v: vec4<f32>) {
  if (q >= t.Lc) { return; }
  let e = ((t.b * u.L + t.t0 + q) * u.G + t.g) * u.N;
  for (var k = 0u; k < 4u; k++) {
    if (n + k < u.N) { outp[e + n + k] = v[k]; }
  }
}

fn store_all(t: Tile, li: u32) {
  let q = t.r0 + (li / 16u) * 4u;
  let n = t.n0 + (li % 16u) * 4u;
  store(t, q, n, c0);
  store(t, q + 1u, n, c1);
  store(t, q + 2u, n, c2);
  store(t, q + 3u, n, c3);
}

@compute @workgroup_size(256)
fn dc(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = tile(wg);
  zero_acc();
  {
    let lk = li % 16u;   // dCB is contiguous in j: stage 4 rows at one j
    let lr = li / 16u;
    let bk = li / 16u;
    let br = li % 16u;
    let ri = t.r0 + lr * 4u;
    let jend = min(t.r0 + 64u, t.Lc);
    for (var j0 = 0u; j0 < jend; j0 += 16u) {
      let j = j0 + lk;
      As[lk * 16u + lr] = vec4<f32>(dcb_at(t, ri, j), dcb_at(t, ri + 1u, j), dcb_at(t, ri + 2u, j), dcb_at(t, ri + 3u, j));
      Bs[bk * 16u + br] = v4(t, j0 + bk, t.n0 + br * 4u);
      workgroupBarrier();
      fma_slab(li % 16u, li / 16u);
      workgroupBarrier();
    }
  }
  state_part(t, li, 0u, u.offP);
  store_all(t, li);
}

@compute @workgroup_size(256)
fn db(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = tile(wg);
  zero_acc();
  {
    let bk = li / 16u;   // at one i, dCB is contiguous in j: stage 4 rows j at one i
    let br = li % 16u;
    let rj = t.r0 + br * 4u;
    for (var i0 = t.r0; i0 < t.Lc; i0 += 16u) {
      let i = i0 + bk;
      As[bk * 16u + br] = vec4<f32>(dcb_at(t, i, rj), dcb_at(t, i, rj + 1u), dcb_at(t, i, rj + 2u), dcb_at(t, i, rj + 3u));
      Bs[bk * 16u + br] = v4(t, i, t.n0 + br * 4u);
      workgroupBarrier();
      fma_slab(li % 16u, li / 16u);
      workgroupBarrier();
    }
  }
  state_part(t, li, 1u, u.offG);
  store_all(t, li);
}
