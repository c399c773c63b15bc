// One token of the Mamba-2 recurrence, in place on the state (generation):
//   S ← exp(a)·S + x ⊗ B,   y = S·C + D·x
// A workgroup takes 8 rows p of one (batch, head); 8 invocations share a row, striding over n, and
// their partial dot products with C are summed in workgroup memory.
//
// Bindings are declared per entry point by src/kernels/ssd-step.ts (bindings(), in the op's order).

struct SU {
  batch: u32,
  H: u32,
  P: u32,
  G: u32,
  N: u32,
  hpg: u32,
  hasD: u32,
}

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let bh = wg.y;
  let b = bh / u.H;
  let h = bh % u.H;
  let g = h / u.hpg;
  let p = wg.x * 8u + li / 8u;
  let lane = li % 8u;
  var acc = 0.0;
  var xv = 0.0;
  if (p < u.P) {
    let decay = exp(sa[bh]);
    xv = sx[bh * u.P + p];
    let row = (bh * u.P + p) * u.N;
    let bc = (b * u.G + g) * u.N;
    for (var n = lane; n < u.N; n += 8u) {
      let s = decay * state[row + n] + xv * sB[bc + n];
      state[row + n] = s;
      acc += s * sC[bc + n];
    }
  }
  part[li] = acc;
  workgroupBarrier();
  if (lane == 0u && p < u.P) {
    var y = 0.0;
    for (var k = 0u; k < 8u; k++) { y += part[li + k]; }
    if (u.hasD != 0u) { y += sD[h] * xv; }
    sy[bh * u.P + p] = y;
  }
}
