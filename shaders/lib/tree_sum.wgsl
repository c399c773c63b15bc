// A workgroup tree sum for kernels of WG ≤ 256 invocations (WG, a power of two, comes from the
// kernel). Pairwise folding keeps the f32 error near eps·log(WG) where a serial sum has eps·WG.

var<workgroup> red: array<f32, 256>;

// Sum of red[0..WG), which every invocation has written its value into; every invocation of the
// workgroup must call it (barriers).
fn tree_sum(li: u32) -> f32 {
  for (var w = WG / 2u; w > 0u; w = w >> 1u) {
    workgroupBarrier();
    if (li < w) { red[li] = red[li] + red[li + w]; }
  }
  workgroupBarrier();
  return red[0];
}
