// Cumulative log-decay within a chunk, for the ssd_scan_* kernels that bind `cum` (ssd_scan_prep's
// output). A value is stored as an exact integer count of 1/16 steps (cum[base + i]) and a small rest
// (cum[cumLo + base + i]), so a difference of two keeps its precision however large each one grows.

// Index of the first token of chunk c of (batch b, head h) in the cum arrays.
fn cbase(b: u32, h: u32, c: u32) -> u32 { return ((b * u.H + h) * u.NC + c) * u.Q; }

// cum_i − cum_j: the integer parts subtract exactly before the rests are added.
fn seg(base: u32, i: u32, j: u32) -> f32 {
  let whole = i32(cum[base + i]) - i32(cum[base + j]);
  return f32(whole) * 0.0625 + (cum[u.cumLo + base + i] - cum[u.cumLo + base + j]);
}

// cum_i itself (from the chunk's start).
fn cumv(base: u32, i: u32) -> f32 { return cum[base + i] * 0.0625 + cum[u.cumLo + base + i]; }
