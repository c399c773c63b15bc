// Composed into every ssd_scan_* kernel (src/kernels/ssd-scan.ts): the uniform block and the 64×64
// tile product the chunk-level matrix products are built from.
//
// A tile product: 256 invocations, invocation (tx, ty) = (li % 16, li / 16) owns rows 4ty..4ty+3 and
// columns 4tx..4tx+3 of the 64×64 output, held in c0..c3 (one vec4 of columns per row). Operands are
// staged 16 deep: As[k·16 + rg] holds rows 4rg..4rg+3 at depth k, Bs[k·16 + cg] columns 4cg..4cg+3.

struct U {
  batch: u32,
  L: u32,
  H: u32,      // heads
  P: u32,      // head dim
  G: u32,      // groups of B and C
  N: u32,      // state size
  Q: u32,      // chunk
  NC: u32,     // chunks, ceil(L / Q)
  hpg: u32,    // heads per group
  flags: u32,  // 1: D is bound; 2: an initial state (s0 or dsFinal) is bound; 4: write the final one (sFinal or ds0)
  nT: u32,     // 64-tiles per chunk, ceil(Q / 64)
  pT: u32,     // ceil(P / 64)
  nN: u32,     // ceil(N / 64)
  cumLo: u32,  // offset of the low words of the cumulative decay; D follows at 2·cumLo
  offP: u32,   // state scratch: chunk-entry states P_c
  offG: u32,   // state scratch: gradients G_c of the chunk-exit states
  offV: u32,   // row-partial scratch: v (state part of dx, dotted with x)
  offO: u32,   // row-partial scratch: o (state part of y, dotted with dy)
  offR: u32,   // da scratch: strict row sums of W per column tile
  offC: u32,   // da scratch: strict column sums of W per row tile
}

var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;
var<private> c0: vec4<f32>;
var<private> c1: vec4<f32>;
var<private> c2: vec4<f32>;
var<private> c3: vec4<f32>;

fn zero_acc() {
  c0 = vec4<f32>(0.0);
  c1 = vec4<f32>(0.0);
  c2 = vec4<f32>(0.0);
  c3 = vec4<f32>(0.0);
}

// c += As-slab · Bs-slab (the caller brackets it with barriers). Each slab is summed on its own and
// then added, which keeps the f32 rounding of long reductions (hundreds of tokens) a few times lower.
fn fma_slab(tx: u32, ty: u32) {
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  for (var k = 0u; k < 16u; k++) {
    let a = As[k * 16u + ty];
    let b = Bs[k * 16u + tx];
    s0 = fma(vec4<f32>(a.x), b, s0);
    s1 = fma(vec4<f32>(a.y), b, s1);
    s2 = fma(vec4<f32>(a.z), b, s2);
    s3 = fma(vec4<f32>(a.w), b, s3);
  }
  c0 += s0;
  c1 += s1;
  c2 += s2;
  c3 += s3;
}
