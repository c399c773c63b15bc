// The sequential pass over chunks, one invocation per (batch, head, state element), in place on the
// state scratch (index off + ((b·NC + c)·H + h)·P·N + e):
//   forward:  the chunk states st_c become the entry states P_c = S_{c−1}, with
//             S_c = exp(A_c)·S_{c−1} + st_c, S_{−1} = s0 (or 0); fin = S_{NC−1} (sFinal)
//   backward: the state-gradient contributions u_c become G_c, the gradient of S_c, with
//             G_{c−1} = exp(A_c)·G_c + u_c, G_{NC−1} = dsFinal (or 0); fin = G_{−1} (ds0)
// A_c is the chunk's total log-decay.
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

fn total(b: u32, h: u32, c: u32) -> f32 {
  let e = ((b * u.H + h) * u.NC + c) * u.Q + u.Q - 1u;
  return cum[e] * 0.0625 + cum[u.cumLo + e];
}

fn at(off: u32, b: u32, c: u32, h: u32, e: u32) -> u32 { return off + ((b * u.NC + c) * u.H + h) * u.P * u.N + e; }

// The loop carries only s; the chunk contributions are loaded four at a time ahead of the stores
// (which the compiler may not move loads past), so the pass waits on memory once per four chunks.
fn sweep(off: u32, b: u32, h: u32, e: u32, reverse: bool, s_in: f32) -> f32 {
  var s = s_in;
  for (var c0 = 0u; c0 < u.NC; c0 += 4u) {
    var idx: array<u32, 4>;
    var add: array<f32, 4>;
    var dec: array<f32, 4>;
    for (var k = 0u; k < 4u; k++) {
      var c = c0 + k;
      if (c < u.NC) {
        if (reverse) { c = u.NC - 1u - c; }
        idx[k] = at(off, b, c, h, e);
        add[k] = st[idx[k]];
        dec[k] = exp(total(b, h, c));
      }
    }
    for (var k = 0u; k < 4u; k++) {
      if (c0 + k < u.NC) {
        st[idx[k]] = s;
        s = dec[k] * s + add[k];
      }
    }
  }
  return s;
}

// One (batch·head, state element) from the chunk states at `off`, forwards or in reverse.
fn run(gid: vec3u, off: u32, reverse: bool) {
  let PN = u.P * u.N;
  let e = gid.x;
  if (e >= PN) { return; }
  var s = 0.0;
  if ((u.flags & 2u) != 0u) { s = init[gid.y * PN + e]; }
  s = sweep(off, gid.y / u.H, gid.y % u.H, e, reverse, s);
  if ((u.flags & 4u) != 0u) { fin[gid.y * PN + e] = s; }
}

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3u) { run(gid, u.offP, false); }

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3u) { run(gid, u.offG, true); }
