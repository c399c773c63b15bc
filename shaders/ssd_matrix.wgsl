// Mamba-2's SSD mixing matrix and its gradients, per (batch, head) bh:
//   T[i, j] = (C_i·B_j)·exp(seg(i, j)) + [i = j]·D_h   for j ≤ i, 0 above the diagonal,
//   seg(i, j) = Σ_{k=j+1..i} a_k   (a ≤ 0).
//
// Precision: a segment sum is never formed as a difference of prefix sums (a difference of two long
// f32 prefix sums loses the exponent exactly where exp(seg) is not negligible). Every segment is a
// sum of same-sign pieces, each itself a sum of same-sign terms, so it keeps f32 relative precision:
//   different 64-blocks: suf(j) + Σ block totals strictly between + pre(i)
//   same 64-block:       Σ of 4-token group totals strictly between + the few tokens at either end.
// Threads own 4×4 blocks (rows i0.., columns j0.., both multiples of 4); one segment per block is
// assembled as above and the 16 entries follow by adding single tokens (decay_block).
//
// Tiles are 64×64. A tile whose largest exponent is below CUTOFF is all zeros in f32, so its
// products are skipped.
//
// The `prep` scratch ("segs"), per bh, STR = 3·Lp + Lp/4 + nb floats (Lp = L rounded up to 64):
//   [0, Lp)        a_k (0 past L)
//   [Lp, 2Lp)      pre(k) = Σ a from the start of k's block to k (inclusive)
//   [2Lp, 3Lp)     suf(k) = Σ a from k+1 to the end of k's block
//   [3Lp, +Lp/4)   4-token group totals
//   [.., +nb)      64-block totals
//
// Bindings of prep, grad_a, grad_d and group_sum are declared by src/kernels/ssd-matrix.ts
// (bindings(), in the op's order); the forward and grad_* entries share the set below.

struct U {
  L: u32,
  Lp: u32,
  nb: u32,     // Lp / 64
  H: u32,      // heads
  G: u32,      // groups of B and C
  n: u32,      // state size
  hpg: u32,    // heads per group
  batch: u32,
  accum: u32,  // 1: add to the output instead of overwriting it
  count: u32,  // group_sum: number of outputs
}

const CUTOFF = -110.0; // exp(x) is 0 in f32 below about -103.3
const NEG = -3.0e38;

fn seg_stride(Lp: u32, nb: u32) -> u32 { return 3u * Lp + Lp / 4u + nb; }

// ---- prep: the segs scratch, one invocation per (bh, 64-block) --------------------------------

@compute @workgroup_size(64)
fn prep(@builtin(global_invocation_id) gid: vec3u) {
  let nb = uprep.nb;
  let Lp = uprep.Lp;
  let L = uprep.L;
  let H = uprep.H;
  if (gid.x >= uprep.batch * H * nb) { return; }
  let bh = gid.x / nb;
  let blk = gid.x % nb;
  let b = bh / H;
  let h = bh % H;
  let base = bh * seg_stride(Lp, nb);
  let k0 = blk * 64u;
  var run = 0.0;
  var grp = 0.0;
  for (var t = 0u; t < 64u; t++) {
    let k = k0 + t;
    var v = 0.0;
    if (k < L) { v = pa[(b * L + k) * H + h]; }
    segw[base + k] = v;
    run = run + v;
    segw[base + Lp + k] = run;
    grp = grp + v;
    if (t % 4u == 3u) {
      segw[base + 3u * Lp + k / 4u] = grp;
      grp = 0.0;
    }
  }
  segw[base + 3u * Lp + Lp / 4u + blk] = run;
  var rs = 0.0;
  for (var t = 64u; t > 0u; t--) {
    let k = k0 + t - 1u;
    segw[base + 2u * Lp + k] = rs;
    rs = rs + segw[base + k];
  }
}

// ---- bindings of the tile kernels (forward, grad_tiles, grad_c, grad_b) -------------------------
@group(0) @binding(0) var<storage, read> sg: array<f32>;
@group(0) @binding(1) var<storage, read> mB: array<f32>;
@group(0) @binding(2) var<storage, read> mC: array<f32>;
@group(0) @binding(3) var<storage, read> fD: array<f32>;        // forward
@group(0) @binding(3) var<storage, read> dT: array<f32>;        // grad_*
@group(0) @binding(4) var<storage, read_write> fT: array<f32>;  // forward
@group(0) @binding(4) var<storage, read_write> gpart: array<f32>; // grad_tiles
@group(0) @binding(4) var<storage, read_write> dxh: array<f32>; // grad_c, grad_b
@group(0) @binding(5) var<uniform> u: U;

// Staged operands, [depth][64] as 16 vec4 per depth; reused for reductions.
var<workgroup> xs: array<vec4<f32>, 256>;
var<workgroup> ys: array<vec4<f32>, 256>;
var<workgroup> wtop: f32;
var<workgroup> wint: u32;
var<workgroup> rsum: array<f32, 64>;

fn block_total(base: u32, blk: u32) -> f32 { return sg[base + 3u * u.Lp + u.Lp / 4u + blk]; }

// Σ of the totals of the 64-blocks strictly between jb and ib.
fn mid_sum(base: u32, jb: u32, ib: u32) -> f32 {
  var s = 0.0;
  for (var blk = jb + 1u; blk < ib; blk++) { s = s + block_total(base, blk); }
  return s;
}

// seg(i0, j0 + 3) = Σ_{k=j0+4..i0} a_k for i0 ≥ j0 + 4; mid = mid_sum of their blocks.
fn seg_far(base: u32, i0: u32, j0: u32, mid: f32) -> f32 {
  let Lp = u.Lp;
  if (i0 / 64u != j0 / 64u) { return sg[base + 2u * Lp + j0 + 3u] + mid + sg[base + Lp + i0]; }
  var s = sg[base + i0];
  let g = base + 3u * Lp;
  for (var q = j0 / 4u + 1u; q < i0 / 4u; q++) { s = s + sg[g + q]; }
  return s;
}

// exp(seg(i0 + r, j0 + c)) as e[r][c], 0 where j > i.
fn decay_block(base: u32, i0: u32, j0: u32, mid: f32) -> array<vec4<f32>, 4> {
  var e: array<vec4<f32>, 4>;
  if (j0 > i0) { return e; }
  let a1 = sg[base + i0 + 1u];
  let a2 = sg[base + i0 + 2u];
  let a3 = sg[base + i0 + 3u];
  if (i0 == j0) {
    e[0] = vec4<f32>(1.0, 0.0, 0.0, 0.0);
    e[1] = vec4<f32>(exp(a1), 1.0, 0.0, 0.0);
    e[2] = vec4<f32>(exp(a1 + a2), exp(a2), 1.0, 0.0);
    e[3] = vec4<f32>(exp((a1 + a2) + a3), exp(a2 + a3), exp(a3), 1.0);
    return e;
  }
  let c1 = sg[base + j0 + 1u];
  let c2 = sg[base + j0 + 2u];
  let c3 = sg[base + j0 + 3u];
  let row = seg_far(base, i0, j0, mid) + vec4<f32>((c1 + c2) + c3, c2 + c3, c3, 0.0);
  e[0] = exp(row);
  e[1] = exp(row + a1);
  e[2] = exp(row + (a1 + a2));
  e[3] = exp(row + ((a1 + a2) + a3));
  return e;
}

// The largest exponent in tile (ib, jb), the same in every invocation: 0 on the diagonal, NEG above it.
fn tile_top(base: u32, ib: u32, jb: u32, li: u32) -> f32 {
  if (li == 0u) {
    var t = 0.0;
    if (jb > ib) {
      t = NEG;
    } else if (jb < ib) {
      t = mid_sum(base, jb, ib) + sg[base + ib * 64u];
    }
    wtop = t;
  }
  return workgroupUniformLoad(&wtop);
}

// The product of the staged 16-deep slices xs ([k][row]) and ys ([k][column]) for rows 4ty.. and
// columns 4tx..; callers add it to their running sums, one slice at a time.
fn slab(ty: u32, tx: u32) -> array<vec4<f32>, 4> {
  var p0 = vec4<f32>(0.0);
  var p1 = vec4<f32>(0.0);
  var p2 = vec4<f32>(0.0);
  var p3 = vec4<f32>(0.0);
  for (var kk = 0u; kk < 16u; kk += 2u) {
    let x0 = xs[kk * 16u + ty];
    let y0 = ys[kk * 16u + tx];
    p0 += x0.x * y0; p1 += x0.y * y0; p2 += x0.z * y0; p3 += x0.w * y0;
    let x1 = xs[(kk + 1u) * 16u + ty];
    let y1 = ys[(kk + 1u) * 16u + tx];
    p0 += x1.x * y1; p1 += x1.y * y1; p2 += x1.z * y1; p3 += x1.w * y1;
  }
  return array<vec4<f32>, 4>(p0, p1, p2, p3);
}

// grad_c and grad_b: rows R0 + 4·lid.y.. and columns n0 + 4·lid.x.. of a per-head dC or dB.
fn store_dxh(bh: u32, R0: u32, n0: u32, lid: vec3u, acc: array<vec4<f32>, 4>) {
  let L = u.L;
  let n = u.n;
  for (var r = 0u; r < 4u; r++) {
    let i = R0 + 4u * lid.y + r;
    if (i >= L) { break; }
    for (var c = 0u; c < 4u; c++) {
      let col = n0 + 4u * lid.x + c;
      if (col < n) { dxh[(bh * L + i) * n + col] = acc[r][c]; }
    }
  }
}

// M[r][c] = C_{I0+4ty+r}·B_{J0+4tx+c}, staged through xs (C rows) and ys (B rows), 16 deep at a time.
fn m_tile(b: u32, gi: u32, I0: u32, J0: u32, li: u32, tx: u32, ty: u32) -> array<vec4<f32>, 4> {
  let L = u.L;
  let n = u.n;
  let G = u.G;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < n; k0 += 16u) {
    for (var p = 0u; p < 4u; p++) {
      let e = li + 256u * p;
      let kk = e % 16u;
      let r = e / 16u;
      let dd = k0 + kk;
      let i = I0 + r;
      let j = J0 + r;
      var cv = 0.0;
      var bv = 0.0;
      if (i < L && dd < n) { cv = mC[((b * L + i) * G + gi) * n + dd]; }
      if (j < L && dd < n) { bv = mB[((b * L + j) * G + gi) * n + dd]; }
      xs[kk * 16u + r / 4u][r % 4u] = cv;
      ys[kk * 16u + r / 4u][r % 4u] = bv;
    }
    workgroupBarrier();
    // Each 16-deep slice is summed on its own and then added: rounding grows with n/16, not n.
    let p = slab(ty, tx);
    acc0 += p[0]; acc1 += p[1]; acc2 += p[2]; acc3 += p[3];
    workgroupBarrier();
  }
  return array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
}

// ---- forward: workgroup (jb, ib, bh) writes tile (ib, jb) of T --------------------------------
@compute @workgroup_size(16, 16)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let jb = wg.x;
  let ib = wg.y;
  let bh = wg.z;
  let L = u.L;
  let h = bh % u.H;
  let b = bh / u.H;
  let base = bh * seg_stride(u.Lp, u.nb);
  let tOff = bh * L * L;
  let I0 = ib * 64u;
  let J0 = jb * 64u;
  let top = tile_top(base, ib, jb, li);
  if (top < CUTOFF) {
    for (var e = li; e < 4096u; e += 256u) {
      let i = I0 + e / 64u;
      let j = J0 + e % 64u;
      if (i < L && j < L) { fT[tOff + i * L + j] = 0.0; }
    }
    return;
  }
  let m = m_tile(b, h / u.hpg, I0, J0, li, lid.x, lid.y);
  let i0 = I0 + 4u * lid.y;
  let j0 = J0 + 4u * lid.x;
  let e = decay_block(base, i0, j0, mid_sum(base, jb, ib));
  let dh = fD[h];
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    if (i >= L) { break; }
    for (var c = 0u; c < 4u; c++) {
      let j = j0 + c;
      if (j >= L) { break; }
      var v = m[r][c] * e[r][c];
      if (i == j) { v = v + dh; }
      fT[tOff + i * L + j] = v;
    }
  }
}

// ---- grad_tiles: workgroup (jb, ib, bh), jb ≤ ib, reduces G = dT ∘ E ∘ M (strictly below the
// diagonal) for da. gpart regions (BH = batch·H):
//   RM [BH][Lp][nb]  row sums of G over the columns of block jb (jb < block of the row)
//   CM [BH][nb][Lp]  column sums of G over the rows of block ib (ib > block of the column)
//   SS [BH][nb][nb]  tile totals (ib > jb)
//   GD [BH][Lp][64]  the diagonal tiles of G themselves
@compute @workgroup_size(16, 16)
fn grad_tiles(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let jb = wg.x;
  let ib = wg.y;
  let bh = wg.z;
  if (jb > ib) { return; }
  let L = u.L;
  let Lp = u.Lp;
  let nb = u.nb;
  let BH = u.batch * u.H;
  let RM = 0u;
  let CM = BH * Lp * nb;
  let SS = 2u * BH * Lp * nb;
  let GD = SS + BH * nb * nb;
  let b = bh / u.H;
  let base = bh * seg_stride(Lp, nb);
  let tOff = bh * L * L;
  let I0 = ib * 64u;
  let J0 = jb * 64u;
  let top = tile_top(base, ib, jb, li);
  if (top < CUTOFF) {
    if (li < 64u) {
      gpart[RM + (bh * Lp + I0 + li) * nb + jb] = 0.0;
    } else if (li < 128u) {
      gpart[CM + (bh * nb + ib) * Lp + J0 + li - 64u] = 0.0;
    } else if (li == 128u) {
      gpart[SS + (bh * nb + ib) * nb + jb] = 0.0;
    }
    return;
  }
  let m = m_tile(b, (bh % u.H) / u.hpg, I0, J0, li, lid.x, lid.y);
  let i0 = I0 + 4u * lid.y;
  let j0 = J0 + 4u * lid.x;
  let e = decay_block(base, i0, j0, mid_sum(base, jb, ib));
  var g: array<vec4<f32>, 4>;
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r;
    for (var c = 0u; c < 4u; c++) {
      let j = j0 + c;
      if (i < L && j < i) { g[r][c] = dT[tOff + i * L + j] * e[r][c] * m[r][c]; }
    }
  }
  if (ib == jb) {
    for (var r = 0u; r < 4u; r++) {
      let row = GD + (bh * Lp + i0 + r) * 64u + 4u * lid.x;
      for (var c = 0u; c < 4u; c++) { gpart[row + c] = g[r][c]; }
    }
    return;
  }
  // Row partials [tx][row] into xs, column partials [ty][col] into ys.
  for (var r = 0u; r < 4u; r++) {
    let slot = lid.x * 64u + 4u * lid.y + r;
    xs[slot / 4u][slot % 4u] = dot(g[r], vec4<f32>(1.0));
  }
  let colp = g[0] + g[1] + g[2] + g[3];
  for (var c = 0u; c < 4u; c++) {
    let slot = lid.y * 64u + 4u * lid.x + c;
    ys[slot / 4u][slot % 4u] = colp[c];
  }
  workgroupBarrier();
  if (li < 64u) {
    var s = 0.0;
    for (var x = 0u; x < 16u; x++) { s = s + xs[x * 16u + li / 4u][li % 4u]; }
    gpart[RM + (bh * Lp + I0 + li) * nb + jb] = s;
    rsum[li] = s;
  } else if (li < 128u) {
    let t = li - 64u;
    var s = 0.0;
    for (var y = 0u; y < 16u; y++) { s = s + ys[y * 16u + t / 4u][t % 4u]; }
    gpart[CM + (bh * nb + ib) * Lp + J0 + t] = s;
  }
  workgroupBarrier();
  if (li == 0u) {
    var s = 0.0;
    for (var t = 0u; t < 64u; t++) { s = s + rsum[t]; }
    gpart[SS + (bh * nb + ib) * nb + jb] = s;
  }
}

// ---- grad_c: workgroup (ib, column chunk, bh): dC_h[I rows, 64 columns] = Σ_j W[i, j]·B_j with
// W = dT ∘ E generated 16 columns at a time into xs ([j][i]), B rows staged in ys ([j][col]).
@compute @workgroup_size(16, 16)
fn grad_c(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let ib = wg.x;
  let n0 = wg.y * 64u;
  let bh = wg.z;
  let L = u.L;
  let n = u.n;
  let G = u.G;
  let b = bh / u.H;
  let gi = (bh % u.H) / u.hpg;
  let base = bh * seg_stride(u.Lp, u.nb);
  let tOff = bh * L * L;
  let I0 = ib * 64u;
  // Column blocks left of jlo decay to zero against every row of this block.
  if (li == 0u) {
    var lo = ib;
    var mid = 0.0;
    let aI = sg[base + I0];
    loop {
      if (lo == 0u) { break; }
      let c = lo - 1u;
      if (c + 1u < ib) { mid = mid + block_total(base, c + 1u); }
      if (mid + aI < CUTOFF) { break; }
      lo = c;
    }
    wint = lo;
  }
  let jlo = workgroupUniformLoad(&wint);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var mid = 0.0;
  for (var jb = ib + 1u; jb > jlo; jb--) {
    let J0 = (jb - 1u) * 64u;
    if (jb + 1u < ib + 1u) { mid = mid + block_total(base, jb); } // mid(jb − 1, ib)
    for (var jc = 0u; jc < 64u; jc += 16u) {
      if (li < 64u) {
        let ry = li / 4u;
        let cx = li % 4u;
        let i0 = I0 + 4u * ry;
        let j0 = J0 + jc + 4u * cx;
        let e = decay_block(base, i0, j0, mid);
        for (var c = 0u; c < 4u; c++) {
          var w = vec4<f32>(0.0);
          let j = j0 + c;
          for (var r = 0u; r < 4u; r++) {
            let i = i0 + r;
            if (i < L && j < L) { w[r] = dT[tOff + i * L + j] * e[r][c]; }
          }
          xs[(4u * cx + c) * 16u + ry] = w;
        }
      }
      for (var p = 0u; p < 4u; p++) {
        let e = li + 256u * p;
        let col = n0 + e % 64u;
        let kk = e / 64u;
        let j = J0 + jc + kk;
        var v = 0.0;
        if (j < L && col < n) { v = mB[((b * L + j) * G + gi) * n + col]; }
        ys[kk * 16u + (e % 64u) / 4u][e % 4u] = v;
      }
      workgroupBarrier();
      let p = slab(lid.y, lid.x);
      acc0 += p[0]; acc1 += p[1]; acc2 += p[2]; acc3 += p[3]; // per-slice sums, as in m_tile
      workgroupBarrier();
    }
  }
  store_dxh(bh, I0, n0, lid, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3));
}

// ---- grad_b: workgroup (jb, column chunk, bh): dB_h[J rows, 64 columns] = Σ_i W[i, j]·C_i with
// W generated 16 rows at a time into xs ([i][j]), C rows staged in ys ([i][col]).
@compute @workgroup_size(16, 16)
fn grad_b(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let jb = wg.x;
  let n0 = wg.y * 64u;
  let bh = wg.z;
  let L = u.L;
  let n = u.n;
  let G = u.G;
  let nb = u.nb;
  let b = bh / u.H;
  let gi = (bh % u.H) / u.hpg;
  let base = bh * seg_stride(u.Lp, nb);
  let tOff = bh * L * L;
  let J0 = jb * 64u;
  // Row blocks past ihi decay to zero against every column of this block.
  if (li == 0u) {
    var hi = jb;
    var mid = 0.0;
    loop {
      let c = hi + 1u;
      if (c >= nb) { break; }
      if (c > jb + 1u) { mid = mid + block_total(base, c - 1u); }
      if (mid + sg[base + c * 64u] < CUTOFF) { break; }
      hi = c;
    }
    wint = hi;
  }
  let ihi = workgroupUniformLoad(&wint);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var mid = 0.0;
  for (var ib = jb; ib <= ihi; ib++) {
    let I0 = ib * 64u;
    if (ib > jb + 1u) { mid = mid + block_total(base, ib - 1u); }
    for (var ic = 0u; ic < 64u; ic += 16u) {
      if (li < 64u) {
        let ry = li % 4u;
        let cx = li / 4u;
        let i0 = I0 + ic + 4u * ry;
        let j0 = J0 + 4u * cx;
        let e = decay_block(base, i0, j0, mid);
        for (var r = 0u; r < 4u; r++) {
          var w = vec4<f32>(0.0);
          let i = i0 + r;
          for (var c = 0u; c < 4u; c++) {
            let j = j0 + c;
            if (i < L && j < L) { w[c] = dT[tOff + i * L + j] * e[r][c]; }
          }
          xs[(4u * ry + r) * 16u + cx] = w;
        }
      }
      for (var p = 0u; p < 4u; p++) {
        let e = li + 256u * p;
        let col = n0 + e % 64u;
        let kk = e / 64u;
        let i = I0 + ic + kk;
        var v = 0.0;
        if (i < L && col < n) { v = mC[((b * L + i) * G + gi) * n + col]; }
        ys[kk * 16u + (e % 64u) / 4u][e % 4u] = v;
      }
      workgroupBarrier();
      let p = slab(lid.y, lid.x);
      acc0 += p[0]; acc1 += p[1]; acc2 += p[2]; acc3 += p[3]; // per-slice sums, as in m_tile
      workgroupBarrier();
    }
  }
  store_dxh(bh, J0, n0, lid, array<vec4<f32>, 4>(acc0, acc1, acc2, acc3));
}

// ---- grad_a: workgroup (kb, bh), one invocation per token k of block kb:
//   da_k = Σ_{i ≥ k} Σ_{j < k} G_ij, split by where i and j fall relative to block kb = [s, e):
//   A1 i ≥ e, j < s (whole tiles) + A2 s ≤ k ≤ i < e, j < s (row sums) + A3 i ≥ e, s ≤ j < k
//   (column sums) + A4 both in the block (the diagonal tile). All are plain sums: no cancellation.

var<workgroup> lft: array<f32, 64>;
var<workgroup> blw: array<f32, 64>;

@compute @workgroup_size(64)
fn grad_a(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let kb = wg.x;
  let bh = wg.y;
  let Lp = ua.Lp;
  let nb = ua.nb;
  let BH = ua.batch * ua.H;
  let RM = 0u;
  let CM = BH * Lp * nb;
  let SS = 2u * BH * Lp * nb;
  let GD = SS + BH * nb * nb;
  let k = kb * 64u + li;
  var a1 = 0.0;
  for (var ib = kb + 1u; ib < nb; ib++) {
    for (var jb = 0u; jb < kb; jb++) { a1 = a1 + ag[SS + (bh * nb + ib) * nb + jb]; }
  }
  var l = 0.0;
  for (var jb = 0u; jb < kb; jb++) { l = l + ag[RM + (bh * Lp + k) * nb + jb]; }
  var w = 0.0;
  for (var ib = kb + 1u; ib < nb; ib++) { w = w + ag[CM + (bh * nb + ib) * Lp + k]; }
  lft[li] = l;
  blw[li] = w;
  workgroupBarrier();
  var a2 = 0.0;
  for (var t = li; t < 64u; t++) { a2 = a2 + lft[t]; }
  var a3 = 0.0;
  for (var t = 0u; t < li; t++) { a3 = a3 + blw[t]; }
  var a4 = 0.0;
  for (var il = li; il < 64u; il++) {
    let row = GD + (bh * Lp + kb * 64u + il) * 64u;
    for (var jl = 0u; jl < li; jl++) { a4 = a4 + ag[row + jl]; }
  }
  if (k < ua.L) {
    let idx = ((bh / ua.H) * ua.L + k) * ua.H + bh % ua.H;
    let v = (a1 + a2) + (a3 + a4);
    ada[idx] = select(v, ada[idx] + v, ua.accum == 1u);
  }
}

// ---- grad_d: workgroup h: dD_h = Σ_b Σ_i dT[b, h, i, i] ---------------------------------------

const WG = 256u; // grad_d's workgroup, folded by lib/tree_sum

@compute @workgroup_size(256)
fn grad_d(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let h = wg.x;
  let L = ud.L;
  var s = 0.0;
  for (var e = li; e < ud.batch * L; e += 256u) {
    let b = e / L;
    let i = e % L;
    s = s + ddT[((b * ud.H + h) * L + i) * L + i];
  }
  red[li] = s;
  let total = tree_sum(li);
  if (li == 0u) { ddD[h] = select(total, ddD[h] + total, ud.accum == 1u); }
}

// ---- group_sum: x[b, l, g, :] (+)= Σ over the heads of group g of xh[b, head, l, :] -------------

@compute @workgroup_size(256)
fn group_sum(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wg.y * nwg.x + wg.x) * 256u + li;
  if (e >= us.count) { return; }
  let n = us.n;
  let nn = e % n;
  let t = e / n;
  let gi = t % us.G;
  let bl = t / us.G; // b·L + l
  let b = bl / us.L;
  let l = bl % us.L;
  var s = 0.0;
  for (var hh = 0u; hh < us.hpg; hh++) {
    let h = gi * us.hpg + hh;
    s = s + xh[((b * us.H + h) * us.L + l) * n + nn];
  }
  xg[e] = select(s, xg[e] + s, us.accum == 1u);
}
