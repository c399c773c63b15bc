// Strided block copy between two views of (batch × rows × cols) floats, overwriting or adding:
//   dst[b·dB + r·dR + dO + j]  (+)=  src[b·sB + r·sR + sO + j]
// Gathers a column slice of a fused row (e.g. B out of [x | B | C]) into a contiguous tensor, scatters
// it back, or moves a block of rows, with every offset in floats so that no binding has to start at
// a 256-byte boundary. One invocation per element of one batch's (rows × cols) block, consecutive
// invocations on consecutive columns.
//
// Bindings are declared per entry point by src/kernels/columns.ts (bindings(), in the op's order).

override WG: u32 = 256u;

struct U {
  rows: u32,
  cols: u32,
  count: u32,   // rows · cols
  s_row: u32,
  s_batch: u32,
  s_off: u32,
  d_row: u32,
  d_batch: u32,
  d_off: u32,
  acc: u32,     // 1: add into dst
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wg.y * nwg.x + wg.x) * WG + li;
  if (e >= u.count) { return; }
  let r = e / u.cols;
  let j = e % u.cols;
  let b = wg.z;
  let v = src[b * u.s_batch + r * u.s_row + u.s_off + j];
  let o = b * u.d_batch + r * u.d_row + u.d_off + j;
  if (u.acc == 1u) { dst[o] = dst[o] + v; } else { dst[o] = v; }
}
