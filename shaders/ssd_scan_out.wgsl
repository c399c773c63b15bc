// Chunk outputs, per (batch, chunk, head) and a 64×64 tile of (token i, column p):
//   y:  y_i = Σ_{j≤i} exp(cum_i − cum_j)·CB_ij·x_j  +  exp(cum_i)·P_c·C_i  +  D·x_i
//   o:  (backward) the row partials o_i = dy_i · (exp(cum_i)·P_c·C_i) over this tile's columns, at
//       offO + (((b·NC + c)·H + h)·pT + pt)·Q + i  (the y_off term's share of da)
// P_c is the chunk-entry state from the forward pass over chunks.
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

var<workgroup> red: array<f32, 1024>;

fn x4(t: Tile, q: u32, p: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (q >= t.Lc) { return v; }
  let e = ((t.b * u.L + t.t0 + q) * u.H + t.h) * u.P;
  for (var k = 0u; k < 4u; k++) {
    if (p + k < u.P) { v[k] = xs[e + p + k]; }
  }
  return v;
}

fn c_at(t: Tile, i: u32, n: u32) -> f32 {
  if (i >= t.Lc || n >= u.N) { return 0.0; }
  return mC[((t.b * u.L + t.t0 + i) * u.G + t.g) * u.N + n];
}

fn st_at(t: Tile, p: u32, n: u32) -> f32 {
  if (p >= u.P || n >= u.N) { return 0.0; }
  return st[u.offP + (((t.b * u.NC + t.c) * u.H + t.h) * u.P + p) * u.N + n];
}

fn ecum(t: Tile, i: u32) -> f32 {
  if (i >= t.Lc) { return 0.0; }
  return exp(cumv(t.cbase, i));
}

// c += Σ_{j ≤ i} wdiag(i, j)·x_j
fn diag_part(t: Tile, li: u32) {
  let lk = li % 16u;   // CB rows are contiguous in j: stage 4 rows at one j
  let lr = li / 16u;
  let bk = li / 16u;   // x is contiguous in p: stage 4 columns at one token
  let br = li % 16u;
  let ri = t.q0 + lr * 4u;
  let jend = min(t.q0 + 64u, t.Lc);
  for (var j0 = 0u; j0 < jend; j0 += 16u) {
    let j = j0 + lk;
    As[lk * 16u + lr] = vec4<f32>(wdiag(t, ri, j), wdiag(t, ri + 1u, j), wdiag(t, ri + 2u, j), wdiag(t, ri + 3u, j));
    Bs[bk * 16u + br] = x4(t, j0 + bk, t.p0 + br * 4u);
    workgroupBarrier();
    fma_slab(li % 16u, li / 16u);
    workgroupBarrier();
  }
}

// c += exp(cum_i)·P_c·C_i
fn off_part(t: Tile, li: u32) {
  let lk = li % 16u;   // C and P_c are both contiguous in n
  let lr = li / 16u;
  let ri = t.q0 + lr * 4u;
  let rp = t.p0 + lr * 4u;
  let w = vec4<f32>(ecum(t, ri), ecum(t, ri + 1u), ecum(t, ri + 2u), ecum(t, ri + 3u));
  for (var n0 = 0u; n0 < u.N; n0 += 16u) {
    let n = n0 + lk;
    As[lk * 16u + lr] = w * vec4<f32>(c_at(t, ri, n), c_at(t, ri + 1u, n), c_at(t, ri + 2u, n), c_at(t, ri + 3u, n));
    Bs[lk * 16u + lr] = vec4<f32>(st_at(t, rp, n), st_at(t, rp + 1u, n), st_at(t, rp + 2u, n), st_at(t, rp + 3u, n));
    workgroupBarrier();
    fma_slab(li % 16u, li / 16u);
    workgroupBarrier();
  }
}

fn store_y(t: Tile, i: u32, p: u32, v: vec4<f32>) {
  if (i >= t.Lc) { return; }
  let d = cum[2u * u.cumLo + t.h];
  let xv = x4(t, i, p);
  let e = ((t.b * u.L + t.t0 + i) * u.H + t.h) * u.P;
  for (var k = 0u; k < 4u; k++) {
    if (p + k < u.P) { outp[e + p + k] = v[k] + d * xv[k]; }
  }
}

@compute @workgroup_size(256)
fn y(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = tile(wg);
  zero_acc();
  diag_part(t, li);
  off_part(t, li);
  let r0 = t.q0 + (li / 16u) * 4u;
  let p = t.p0 + (li % 16u) * 4u;
  store_y(t, r0, p, c0);
  store_y(t, r0 + 1u, p, c1);
  store_y(t, r0 + 2u, p, c2);
  store_y(t, r0 + 3u, p, c3);
}

@compute @workgroup_size(256)
fn o(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let t = tile(wg);
  zero_acc();
  off_part(t, li);
  let tx = li % 16u;
  let ty = li / 16u;
  let r0 = t.q0 + ty * 4u;
  let p = t.p0 + tx * 4u;
  red[(ty * 4u) * 16u + tx] = dot(c0, x4(t, r0, p));
  red[(ty * 4u + 1u) * 16u + tx] = dot(c1, x4(t, r0 + 1u, p));
  red[(ty * 4u + 2u) * 16u + tx] = dot(c2, x4(t, r0 + 2u, p));
  red[(ty * 4u + 3u) * 16u + tx] = dot(c3, x4(t, r0 + 3u, p));
  workgroupBarrier();
  if (li < 64u && t.q0 + li < u.Q) {
    var s = 0.0;
    for (var k = 0u; k < 16u; k++) { s += red[li * 16u + k]; }
    let bch = (t.b * u.NC + t.c) * u.H + t.h;
    outp[u.offO + (bch * u.pT + t.pt) * u.Q + t.q0 + li] = s;
  }
}
