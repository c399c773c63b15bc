// What one chunk adds to the state, per (batch, chunk, head), as a p×n tile product over its tokens:
//   mode 0 (chunk state):      st[p, n]  = Σ_q exp(cum_last − cum_q)·x_q[p]·B_q[n]
//   mode 1 (state gradient):   u[p, n]   = Σ_q exp(cum_q)·dy_q[p]·C_q[n]
// Written at off + ((b·NC + c)·H + h)·P·N + p·N + n (off = offP for mode 0, offG for mode 1).
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

fn u4(b: u32, t: u32, h: u32, p: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  let e = ((b * u.L + t) * u.H + h) * u.P;
  for (var k = 0u; k < 4u; k++) {
    if (p + k < u.P) { v[k] = us[e + p + k]; }
  }
  return v;
}

fn v4(b: u32, t: u32, g: u32, n: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  let e = ((b * u.L + t) * u.G + g) * u.N;
  for (var k = 0u; k < 4u; k++) {
    if (n + k < u.N) { v[k] = vs[e + n + k]; }
  }
  return v;
}

fn run(wg: vec3u, li: u32, mode: u32) {
  let pt = wg.x / u.nN;
  let nt = wg.x % u.nN;
  let c = wg.y;
  let b = wg.z / u.H;
  let h = wg.z % u.H;
  let g = h / u.hpg;
  let t0 = c * u.Q;
  let Lc = min(u.Q, u.L - t0);
  let base = cbase(b, h, c);
  let p0 = pt * 64u;
  let n0 = nt * 64u;
  let tx = li % 16u;
  let ty = li / 16u;
  // Both operands are contiguous along p or n at a fixed token: each invocation stages 4 of them.
  let lk = li / 16u;
  let lr = li % 16u;
  zero_acc();
  for (var q0 = 0u; q0 < Lc; q0 += 16u) {
    let q = q0 + lk;
    var a = vec4<f32>(0.0);
    var v = vec4<f32>(0.0);
    if (q < Lc) {
      var w: f32;
      if (mode == 0u) { w = exp(seg(base, u.Q - 1u, q)); } else { w = exp(cumv(base, q)); }
      a = w * u4(b, t0 + q, h, p0 + lr * 4u);
      v = v4(b, t0 + q, g, n0 + lr * 4u);
    }
    As[lk * 16u + lr] = a;
    Bs[lk * 16u + lr] = v;
    workgroupBarrier();
    fma_slab(tx, ty);
    workgroupBarrier();
  }
  var off = u.offP;
  if (mode == 1u) { off = u.offG; }
  let sb = off + ((b * u.NC + c) * u.H + h) * u.P * u.N;
  let cn = n0 + tx * 4u;
  for (var r = 0u; r < 4u; r++) {
    let p = p0 + ty * 4u + r;
    var row = c0;
    if (r == 1u) { row = c1; } else if (r == 2u) { row = c2; } else if (r == 3u) { row = c3; }
    if (p < u.P) {
      for (var k = 0u; k < 4u; k++) {
        if (cn + k < u.N) { st[sb + p * u.N + cn + k] = row[k]; }
      }
    }
  }
}

@compute @workgroup_size(256)
fn chunk_state(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) { run(wg, li, 0u); }

@compute @workgroup_size(256)
fn state_grad(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) { run(wg, li, 1u); }
