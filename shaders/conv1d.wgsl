// Causal depthwise conv1d (Mamba-2's conv over [x, B, C]), forward and backward:
//   y[b,t,c] = bias[c] + Σ_{k<K} w[c,k]·x[b, t−(K−1)+k, c]        (x at negative times = 0)
//   dx[b,t,c] = Σ_{k<K} w[c,k]·dy[b, t+(K−1)−k, c]                  (dy at times ≥ L = 0)
//   dw[c,k] = Σ_{b,t} dy[b,t,c]·x[b, t−(K−1)+k, c],  dbias[c] = Σ_{b,t} dy[b,t,c]
// Token (b, t) of a tensor starts at float (b·L + t)·stride + offset; channels are contiguous.
//
// One invocation owns one channel over a tile of T consecutive tokens and slides a K-wide window
// along it in registers, so every input float is read once (plus K−1 of history). Neighbouring
// invocations take neighbouring channels, so loads and stores coalesce across a workgroup.
// The *_one entries serve a tensor convolved in place (input and output in one bound buffer): the
// history a tile needs is copied to a halo buffer by a previous dispatch, because the tile before
// it overwrites those tokens.
//
// Bindings are declared per entry point by src/kernels/conv1d.ts (bindings(), in the op's order).

override K: u32 = 4u;
override WG: u32 = 64u;
override T: u32 = 32u;
const KMAX = 8u;

struct U {
  batch: u32,
  L: u32,
  channels: u32,
  tiles: u32,   // ceil(L / T)
  in_stride: u32,   // input view: x, or dy in the dx entries
  in_off: u32,
  out_stride: u32,  // output view: y, or dx; dy's view in wgrad_part
  out_off: u32,
  acc: u32,     // 1: add into the output (dx, or dw/dbias in wgrad_final)
}

fn at(b: u32, t: u32, c: u32, L: u32, stride: u32, offset: u32) -> u32 {
  return (b * L + t) * stride + offset + c;
}

// Forward step: win[0..K−2] holds x[t−K+1 .. t−1]; takes x[t], returns y[t], slides the window.
fn fwd_step(win: ptr<function, array<f32, KMAX>>, w: ptr<function, array<f32, KMAX>>, xt: f32, bias: f32) -> f32 {
  (*win)[K - 1u] = xt;
  var s = bias;
  for (var k = 0u; k < K; k++) { s = s + (*w)[k] * (*win)[k]; }
  for (var k = 0u; k + 1u < K; k++) { (*win)[k] = (*win)[k + 1u]; }
  return s;
}

// Backward step, walking time downwards: win[1..K−1] holds dy[t+1 .. t+K−1]; takes dy[t],
// returns dx[t], slides the window.
fn bwd_step(win: ptr<function, array<f32, KMAX>>, w: ptr<function, array<f32, KMAX>>, dyt: f32) -> f32 {
  (*win)[0] = dyt;
  var s = 0.0;
  for (var k = 0u; k < K; k++) { s = s + (*w)[k] * (*win)[K - 1u - k]; }
  for (var k = K - 1u; k > 0u; k--) { (*win)[k] = (*win)[k - 1u]; }
  return s;
}

// The same steps on four channels at once (vec4 lanes), for the four-float entries.
fn fwd_step4(win: ptr<function, array<vec4f, KMAX>>, w: ptr<function, array<vec4f, KMAX>>, xt: vec4f, bias: vec4f) -> vec4f {
  (*win)[K - 1u] = xt;
  var s = bias;
  for (var k = 0u; k < K; k++) { s = s + (*w)[k] * (*win)[k]; }
  for (var k = 0u; k + 1u < K; k++) { (*win)[k] = (*win)[k + 1u]; }
  return s;
}

fn bwd_step4(win: ptr<function, array<vec4f, KMAX>>, w: ptr<function, array<vec4f, KMAX>>, dyt: vec4f) -> vec4f {
  (*win)[0] = dyt;
  var s = vec4f(0.0);
  for (var k = 0u; k < K; k++) { s = s + (*w)[k] * (*win)[K - 1u - k]; }
  for (var k = K - 1u; k > 0u; k--) { (*win)[k] = (*win)[k - 1u]; }
  return s;
}

// forward, forward_one, halo_fwd, halo_bwd, dx and dx_one are stamped by src/kernels/conv1d.ts: they
// differ in their bindings and in where a tile's window history comes from. So are their four-float
// forms (forward4, forward4_one, dx4, dx4_one), for views whose rows start on 16-byte boundaries
// (channels, strides and offsets multiples of 4, given to them in units of 4 floats): one invocation
// takes four neighbouring channels as vec4 lanes, and its tile four tokens at a time, loading the
// four before it steps the window over them, so that 64 bytes of a tile are in flight at once.

// ---- wgrad_part: per (batch, tile) partial sums of dw and dbias -----------------------------------
// part[((b·tiles + j)·channels + c)·(K+1) + k] = Σ_{t in tile j} dy[b,t,c]·x[b, t−(K−1)+k, c] for
// k < K, and Σ dy[b,t,c] at k = K. Here the input view is x's and the output view dy's.

@compute @workgroup_size(WG)
fn wgrad_part(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let c = gid.x;
  if (c >= pu.channels) { return; }
  let b = wg.z;
  let t0 = wg.y * T;
  let t1 = min(t0 + T, pu.L);
  var win: array<f32, KMAX>;
  for (var k = 0u; k + 1u < K; k++) {
    win[k] = 0.0;
    if (t0 + k + 1u >= K) { win[k] = p_x[at(b, t0 + k + 1u - K, c, pu.L, pu.in_stride, pu.in_off)]; }
  }
  var g: array<f32, KMAX>;
  var gb = 0.0;
  for (var t = t0; t < t1; t++) {
    win[K - 1u] = p_x[at(b, t, c, pu.L, pu.in_stride, pu.in_off)];
    let d = p_dy[at(b, t, c, pu.L, pu.out_stride, pu.out_off)];
    for (var k = 0u; k < K; k++) { g[k] = g[k] + d * win[k]; }
    gb = gb + d;
    for (var k = 0u; k + 1u < K; k++) { win[k] = win[k + 1u]; }
  }
  let base = ((b * pu.tiles + wg.y) * pu.channels + c) * (K + 1u);
  for (var k = 0u; k < K; k++) { p_part[base + k] = g[k]; }
  p_part[base + K] = gb;
}

// ---- wgrad_final: dw[c,k], dbias[c] = Σ over the batch·tiles partials, in order ------------------

@compute @workgroup_size(WG)
fn wgrad_final(@builtin(global_invocation_id) gid: vec3u) {
  let per = qu.channels * (K + 1u);
  let i = gid.x;
  if (i >= per) { return; }
  let chunks = qu.batch * qu.tiles;
  var s = 0.0;
  for (var q = 0u; q < chunks; q++) { s = s + q_part[q * per + i]; }
  let c = i / (K + 1u);
  let k = i % (K + 1u);
  let acc = qu.acc == 1u;
  if (k < K) {
    let o = c * K + k;
    if (acc) { q_dw[o] = q_dw[o] + s; } else { q_dw[o] = s; }
  } else {
    if (acc) { q_dbias[c] = q_dbias[c] + s; } else { q_dbias[c] = s; }
  }
}

// ---- wgrad_part4: wgrad_part on four channels at once, four tokens at a time --------------------
// The uniform's channels, strides and offsets are in units of 4 floats; part keeps wgrad_part's
// layout (per channel, K + 1 floats), written lane by lane.

fn wpart_step(win: ptr<function, array<vec4f, KMAX>>, g: ptr<function, array<vec4f, KMAX>>, gb: ptr<function, vec4f>, xt: vec4f, d: vec4f) {
  (*win)[K - 1u] = xt;
  for (var k = 0u; k < K; k++) { (*g)[k] = (*g)[k] + d * (*win)[k]; }
  *gb = *gb + d;
  for (var k = 0u; k + 1u < K; k++) { (*win)[k] = (*win)[k + 1u]; }
}

@compute @workgroup_size(WG)
fn wgrad_part4(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let c = gid.x;
  if (c >= p4u.channels) { return; }
  let b = wg.z;
  let t0 = wg.y * T;
  let t1 = min(t0 + T, p4u.L);
  var win: array<vec4f, KMAX>;
  for (var k = 0u; k + 1u < K; k++) {
    win[k] = vec4f(0.0);
    if (t0 + k + 1u >= K) { win[k] = p4_x[at(b, t0 + k + 1u - K, c, p4u.L, p4u.in_stride, p4u.in_off)]; }
  }
  var g: array<vec4f, KMAX>;
  var gb = vec4f(0.0);
  var t = t0;
  for (; t + 4u <= t1; t += 4u) {
    let x0 = p4_x[at(b, t, c, p4u.L, p4u.in_stride, p4u.in_off)];
    let x1 = p4_x[at(b, t + 1u, c, p4u.L, p4u.in_stride, p4u.in_off)];
    let x2 = p4_x[at(b, t + 2u, c, p4u.L, p4u.in_stride, p4u.in_off)];
    let x3 = p4_x[at(b, t + 3u, c, p4u.L, p4u.in_stride, p4u.in_off)];
    let d0 = p4_dy[at(b, t, c, p4u.L, p4u.out_stride, p4u.out_off)];
    let d1 = p4_dy[at(b, t + 1u, c, p4u.L, p4u.out_stride, p4u.out_off)];
    let d2 = p4_dy[at(b, t + 2u, c, p4u.L, p4u.out_stride, p4u.out_off)];
    let d3 = p4_dy[at(b, t + 3u, c, p4u.L, p4u.out_stride, p4u.out_off)];
    wpart_step(&win, &g, &gb, x0, d0);
    wpart_step(&win, &g, &gb, x1, d1);
    wpart_step(&win, &g, &gb, x2, d2);
    wpart_step(&win, &g, &gb, x3, d3);
  }
  for (; t < t1; t++) {
    wpart_step(&win, &g, &gb, p4_x[at(b, t, c, p4u.L, p4u.in_stride, p4u.in_off)], p4_dy[at(b, t, c, p4u.L, p4u.out_stride, p4u.out_off)]);
  }
  for (var i = 0u; i < 4u; i++) {
    let base = ((b * p4u.tiles + wg.y) * 4u * p4u.channels + 4u * c + i) * (K + 1u);
    for (var k = 0u; k < K; k++) { p4_part[base + k] = g[k][i]; }
    p4_part[base + K] = gb[i];
  }
}
