// The per-head token tile of ssd_scan_dx and ssd_scan_out: workgroup (x, c, b·H + h) owns 64 tokens
// of chunk c from q0 and 64 columns of the head dimension from p0 (column tile pt). Both bind `cb`
// (ssd_scan_cb's output) and `cum`, whose decays weight it.

struct Tile { b: u32, h: u32, g: u32, c: u32, t0: u32, Lc: u32, cbase: u32, q0: u32, p0: u32, pt: u32 }

fn tile(wg: vec3u) -> Tile {
  var t: Tile;
  t.pt = wg.x % u.pT;
  t.q0 = (wg.x / u.pT) * 64u;
  t.p0 = t.pt * 64u;
  t.c = wg.y;
  t.b = wg.z / u.H;
  t.h = wg.z % u.H;
  t.g = t.h / u.hpg;
  t.t0 = t.c * u.Q;
  t.Lc = min(u.Q, u.L - t.t0);
  t.cbase = cbase(t.b, t.h, t.c);
  return t;
}

// exp(cum_i − cum_j)·CB_ij for j ≤ i inside the chunk, else 0.
fn wdiag(t: Tile, i: u32, j: u32) -> f32 {
  if (j > i || i >= t.Lc) { return 0.0; }
  let e = ((t.b * u.NC + t.c) * u.G + t.g) * u.Q * u.Q + i * u.Q + j;
  return cb[e] * exp(seg(t.cbase, i, j));
}
