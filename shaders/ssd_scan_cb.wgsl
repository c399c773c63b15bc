// CB[i, j] = C_i·B_j within each chunk, per (batch, chunk, group): shared by every head of the group.
// Layout: ((b·NC + c)·G + g)·Q² + i·Q + j. Only tiles with j-tile ≤ i-tile are written; readers mask
// j ≤ i, so the rest stays whatever the buffer held.
//
// Bindings are declared by src/kernels/ssd-scan.ts (bindings(), in the op's order), one set for all.

fn bc_at(src: u32, b: u32, t0: u32, Lc: u32, g: u32, i: u32, k: u32) -> f32 {
  if (i >= Lc || k >= u.N) { return 0.0; }
  let e = ((b * u.L + t0 + i) * u.G + g) * u.N + k;
  if (src == 0u) { return mC[e]; }
  return mB[e];
}

fn store_row(base: u32, i: u32, j0: u32, v: vec4<f32>) {
  if (i >= u.Q) { return; }
  for (var k = 0u; k < 4u; k++) {
    if (j0 + k < u.Q) { cb[base + i * u.Q + j0 + k] = v[k]; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let ti = wg.x / u.nT;
  let tj = wg.x % u.nT;
  if (tj > ti) { return; }
  let c = wg.y;
  let b = wg.z / u.G;
  let g = wg.z % u.G;
  let t0 = c * u.Q;
  let Lc = min(u.Q, u.L - t0);
  let i0 = ti * 64u;
  let j0 = tj * 64u;
  let tx = li % 16u;
  let ty = li / 16u;
  // Both operands have the reduced index (n) contiguous: each invocation stages 4 rows at one depth.
  let lk = li % 16u;
  let lr = li / 16u;
  let ri = i0 + lr * 4u;
  let rj = j0 + lr * 4u;
  zero_acc();
  for (var k0 = 0u; k0 < u.N; k0 += 16u) {
    let k = k0 + lk;
    As[lk * 16u + lr] = vec4<f32>(bc_at(0u, b, t0, Lc, g, ri, k), bc_at(0u, b, t0, Lc, g, ri + 1u, k),
                                  bc_at(0u, b, t0, Lc, g, ri + 2u, k), bc_at(0u, b, t0, Lc, g, ri + 3u, k));
    Bs[lk * 16u + lr] = vec4<f32>(bc_at(1u, b, t0, Lc, g, rj, k), bc_at(1u, b, t0, Lc, g, rj + 1u, k),
                                  bc_at(1u, b, t0, Lc, g, rj + 2u, k), bc_at(1u, b, t0, Lc, g, rj + 3u, k));
    workgroupBarrier();
    fma_slab(tx, ty);
    workgroupBarrier();
  }
  let base = ((b * u.NC + c) * u.G + g) * u.Q * u.Q;
  let r0 = i0 + ty * 4u;
  let cj = j0 + tx * 4u;
  store_row(base, r0, cj, c0);
  store_row(base, r0 + 1u, cj, c1);
  store_row(base, r0 + 2u, cj, c2);
  store_row(base, r0 + 3u, cj, c3);
}
