// da per (batch, chunk, head), one invocation per token k of the chunk:
//   da_k = Σ_{m≥k} (r_m − c_m + o_m)  +  Σ_{j<k} v_j  +  exp(A_c)·⟨G_c, P_c⟩
// (in-chunk pairs j < k ≤ i, the y_off term through exp(cum_i), the chunk state through
// exp(cum_last − cum_j), and the pass over chunks through A_c), from the partial sums left by
// the dcb, o and dx kernels. Also Σ_{k,p} x·dy per (batch, chunk, head) for dD.
// `dsum` then sums those over batch and chunks: dD_h.
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

var<workgroup> sa: array<f32, 256>;
var<workgroup> sb: array<f32, 256>;

@compute @workgroup_size(256)
fn grad_a(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wg.x;
  let b = wg.y / u.H;
  let h = wg.y % u.H;
  let t0 = c * u.Q;
  let Lc = min(u.Q, u.L - t0);
  let base = ((b * u.H + h) * u.NC + c) * u.Q;
  let bch = (b * u.NC + c) * u.H + h;

  let PN = u.P * u.N;
  let sbase = bch * PN;
  var gp = 0.0;
  for (var e = li; e < PN; e += 256u) { gp += st[u.offG + sbase + e] * st[u.offP + sbase + e]; }
  var xd = 0.0;
  for (var e = li; e < Lc * u.P; e += 256u) {
    let idx = ((b * u.L + t0 + e / u.P) * u.H + h) * u.P + e % u.P;
    xd += xs[idx] * dys[idx];
  }
  sa[li] = gp;
  sb[li] = xd;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) {
      sa[li] += sa[li + s];
      sb[li] += sb[li + s];
    }
    workgroupBarrier();
  }
  let across = exp(cumv(base, u.Q - 1u)) * sa[0];
  if (li == 0u) { dpart[bch] = sb[0]; }
  workgroupBarrier();

  // d_k = r_k − c_k + o_k at token k = li; v shifted by one (v_{k−1} at k) so that the inclusive
  // prefix is the exclusive one, without subtracting v_k back out.
  var d = 0.0;
  if (li < Lc) {
    let tk = li / 64u;
    for (var ti = 0u; ti < u.nT; ti++) {
      if (ti <= tk) { d += rc[u.offR + (bch * u.nT + ti) * u.Q + li]; }
      if (ti >= tk) { d -= rc[u.offC + (bch * u.nT + ti) * u.Q + li]; }
    }
    for (var pt = 0u; pt < u.pT; pt++) { d += vo[u.offO + (bch * u.pT + pt) * u.Q + li]; }
  }
  var v = 0.0;
  if (li >= 1u && li <= Lc) {
    for (var pt = 0u; pt < u.pT; pt++) { v += vo[u.offV + (bch * u.pT + pt) * u.Q + li - 1u]; }
  }
  sa[li] = d;
  sb[li] = v;
  workgroupBarrier();
  for (var off = 1u; off < 256u; off <<= 1u) {
    var ad = 0.0;
    var av = 0.0;
    if (li + off < 256u) { ad = sa[li + off]; }
    if (li >= off) { av = sb[li - off]; }
    workgroupBarrier();
    sa[li] += ad;
    sb[li] += av;
    workgroupBarrier();
  }
  if (li < Lc) { da[(b * u.L + t0 + li) * u.H + h] = sa[li] + sb[li] + across; }
}

@compute @workgroup_size(64)
fn dsum(@builtin(global_invocation_id) gid: vec3u) {
  let h = gid.x;
  if (h >= ud.H) { return; }
  var s = 0.0;
  for (var bc = 0u; bc < ud.batch * ud.NC; bc++) { s += dpin[bc * ud.H + h]; }
  dDo[h] = s;
}
