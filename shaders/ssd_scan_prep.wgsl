// Cumulative log-decay within each chunk, per (batch, head, chunk), as an unevaluated sum hi + lo
// (TwoSum): a decay difference cum_i − cum_j = (hi_i − hi_j) + (lo_i − lo_j) then keeps f32 precision
// relative to itself, even when both prefix sums are in the thousands (runs of a ≈ −30 followed by
// a ≈ 0), where a plain f32 prefix sum would be off by more than 1e-4 in the exponent.
// Layout of `cum`: hi at ((b·H + h)·NC + c)·Q + q, lo at cumLo + that, then D (or zeros) at 2·cumLo.
// Positions past L hold the chunk total (a = 0 there), so index Q − 1 is always the chunk's last.

@group(0) @binding(0) var<storage, read> la: array<f32>;
@group(0) @binding(1) var<storage, read> lD: array<f32>;
@group(0) @binding(2) var<storage, read_write> cum: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

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
  var hi = 0.0;
  var lo = 0.0;
  for (var q = 0u; q < u.Q; q++) {
    let t = c * u.Q + q;
    var v = 0.0;
    if (t < u.L) { v = la[(b * u.L + t) * u.H + h]; }
    let s = hi + v;
    let bv = s - hi;
    lo = lo + ((hi - (s - bv)) + (v - bv));
    hi = s;
    cum[base + q] = hi;
    cum[u.cumLo + base + q] = lo;
  }
}
