// The sequential pass over chunks, one invocation per (batch, head, state element), in place on the
// state scratch (index off + ((b·NC + c)·H + h)·P·N + e):
//   forward:  the chunk states st_c become the entry states P_c = S_{c−1}, with
//             S_c = exp(A_c)·S_{c−1} + st_c, S_{−1} = s0 (or 0); fin = S_{NC−1} (sFinal)
//   backward: the state-gradient contributions u_c become G_c, the gradient of S_c, with
//             G_{c−1} = exp(A_c)·G_c + u_c, G_{NC−1} = dsFinal (or 0); fin = G_{−1} (ds0)
// A_c is the chunk's total log-decay.

@group(0) @binding(0) var<storage, read> cum: array<f32>;
@group(0) @binding(1) var<storage, read> init: array<f32>;
@group(0) @binding(2) var<storage, read_write> st: array<f32>;
@group(0) @binding(3) var<storage, read_write> fin: array<f32>;
@group(0) @binding(4) var<uniform> u: U;

fn total(b: u32, h: u32, c: u32) -> f32 {
  let e = ((b * u.H + h) * u.NC + c) * u.Q + u.Q - 1u;
  return cum[e] + cum[u.cumLo + e];
}

fn at(off: u32, b: u32, c: u32, h: u32, e: u32) -> u32 { return off + ((b * u.NC + c) * u.H + h) * u.P * u.N + e; }

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3u) {
  let PN = u.P * u.N;
  let e = gid.x;
  if (e >= PN) { return; }
  let b = gid.y / u.H;
  let h = gid.y % u.H;
  var s = 0.0;
  if ((u.flags & 2u) != 0u) { s = init[gid.y * PN + e]; }
  for (var c = 0u; c < u.NC; c++) {
    let i = at(u.offP, b, c, h, e);
    let add = st[i];
    st[i] = s;
    s = exp(total(b, h, c)) * s + add;
  }
  if ((u.flags & 4u) != 0u) { fin[gid.y * PN + e] = s; }
}

@compute @workgroup_size(256)
fn backward(@builtin(global_invocation_id) gid: vec3u) {
  let PN = u.P * u.N;
  let e = gid.x;
  if (e >= PN) { return; }
  let b = gid.y / u.H;
  let h = gid.y % u.H;
  var s = 0.0;
  if ((u.flags & 2u) != 0u) { s = init[gid.y * PN + e]; }
  for (var c = u.NC; c > 0u; c--) {
    let i = at(u.offG, b, c - 1u, h, e);
    let add = st[i];
    st[i] = s;
    s = exp(total(b, h, c - 1u)) * s + add;
  }
  if ((u.flags & 4u) != 0u) { fin[gid.y * PN + e] = s; }
}
