// One token of the causal depthwise conv1d (generation), in place on the window of the last K−1
// inputs of each (batch, channel):
//   y[b,c] = bias[c] + Σ_{k<K−1} w[c,k]·win[b,k,c] + w[c,K−1]·x[b,c],   then win[b] ← [win[b,1..K−2], x[b]]
// One invocation per (channel, batch row) owns its window column, so the shift needs no barrier.
//
// Bindings are declared per entry point by src/kernels/conv1d-step.ts (bindings(), in the op's order).

override K: u32 = 4u;
override WG: u32 = 64u;

struct U {
  channels: u32,
  x_stride: u32,
  x_off: u32,
  y_stride: u32,
  y_off: u32,
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  let b = gid.y;
  if (c >= u.channels) { return; }
  let xt = x[b * u.x_stride + u.x_off + c];
  let base = b * (K - 1u) * u.channels + c;
  var s = bias[c];
  for (var k = 0u; k + 1u < K; k++) {
    let v = win[base + k * u.channels];
    s = s + w[c * K + k] * v;
    if (k > 0u) { win[base + (k - 1u) * u.channels] = v; }
  }
  s = s + w[c * K + K - 1u] * xt;
  win[base + (K - 2u) * u.channels] = xt;
  y[b * u.y_stride + u.y_off + c] = s;
}
