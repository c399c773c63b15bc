// Cumulative log-decay within each chunk, per (batch, head, chunk), split as cum = hi/16 + lo with hi
// an integer (stored as an f32, exact below 2^24) and |lo| ≤ 1/32. A decay difference is then
//   cum_i − cum_j = (hi_i − hi_j)/16 + (lo_i − lo_j)
// with the integer part exact (subtracted as i32, so no compiler rewrite can cancel it against lo) and
// the rest small, so it keeps f32 precision relative to itself even when both prefix sums are in the
// thousands (runs of a ≈ −30 followed by a ≈ 0), where a plain f32 prefix-sum difference is off by
// more than 1e-4 in the exponent. (A TwoSum-compensated sum does the same on paper, but lost its
// error term on an H100 through Dawn and NVIDIA's Vulkan compiler.) The only roundings are lo + a.
// Layout of `cum`: hi at ((b·H + h)·NC + c)·Q + q, lo at cumLo + that, then D (or zeros) at 2·cumLo.
// Positions past L hold the chunk total (a = 0 there), so index Q − 1 is always the chunk's last.
// a is clamped at −1e4 (exp underflows long before), which keeps hi far inside the exact range and
// lets a = −inf mean a full reset.
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let id = gid.x + gid.y * nw.x * 64u;
  if (id < u.H) {
    var d = 0.0;
    if ((u.flags & 1u) != 0u) { d = lD[id]; }
    cum[2u * u.cumLo + id] = d;
  }
  if (id >= u.batch * u.H * u.NC) { return; }
  let c = id % u.NC;
  let bh = id / u.NC;
  let h = bh % u.H;
  let b = bh / u.H;
  let base = id * u.Q;
  var hi = 0;
  var lo = 0.0;
  for (var q = 0u; q < u.Q; q++) {
    let t = c * u.Q + q;
    var v = 0.0;
    if (t < u.L) { v = max(la[(b * u.L + t) * u.H + h], -1e4); }
    lo = lo + v;
    let k = i32(round(lo * 16.0));
    hi = hi + k;
    lo = lo - f32(k) * 0.0625;
    cum[base + q] = f32(hi);
    cum[u.cumLo + base + q] = lo;
  }
}
