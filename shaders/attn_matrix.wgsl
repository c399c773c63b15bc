// Causal softmax attention matrix, rows [row0, row0+rows) of every (batch, query head):
//   A[b, h, i − row0, j] = softmax_{j ≤ i}(scale · Q[b, i, h]·K[b, j, h / group])   (0 for j > i)
// or, with a sliding window (win < L), softmax over i − win < j ≤ i, 0 outside it.
// A workgroup owns 64 rows of one head. Pass 1 walks the column tiles left of the diagonal, writes
// the scaled scores and keeps a running (max, sum of exp) per row; pass 2 rescales what the same
// invocation wrote, so no other invocation's writes need to become visible.
//
// Bindings are declared per entry point by src/kernels/attn-matrix.ts (bindings(), in the op's order).

struct U {
  L: u32,
  hq: u32,
  hkv: u32,
  d: u32,
  row0: u32,
  rows: u32,
  group: u32, // hq / hkv
  scale: f32,
  win: u32,   // keys i − win < j ≤ i; L without a window
}

const T = 64u;  // rows and columns of a tile
const KC = 16u; // head-dim depth staged in workgroup memory at a time
const NEG = -3.0e38;

// [kk][row]: qs[kk·16 + r/4][r%4], so that one vec4 load gives a thread its 4 rows at depth kk.
// After pass 1 they are reused for the cross-invocation softmax statistics.
var<workgroup> qs: array<vec4<f32>, 256>;
var<workgroup> ks: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let tx = lid.x;
  let ty = lid.y;
  let b = wg.z;
  let h = wg.y;
  let L = u.L;
  let d = u.d;
  let qStride = u.hq * d;
  let kStride = u.hkv * d;
  let qBase = b * L * qStride + h * d;
  let kBase = b * L * kStride + (h / u.group) * d;
  let outBase = (b * u.hq + h) * u.rows * L;
  let r0 = u.row0 + wg.x * T;              // first row of this tile
  let rEnd = min(u.row0 + u.rows, r0 + T); // one past its last row
  let nTiles = (rEnd - 1u) / T + 1u;       // column tiles that hold some j ≤ i

  var mx = vec4<f32>(NEG);
  var sm = vec4<f32>(0.0);

  for (var ct = 0u; ct < nTiles; ct++) {
    let c0 = ct * T;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < d; k0 += KC) {
      for (var p = 0u; p < 4u; p++) {
        let e = li + 256u * p;
        let kk = e % KC;
        let r = e / KC;
        let dd = k0 + kk;
        let i = r0 + r;
        let j = c0 + r;
        var qv = 0.0;
        var kv = 0.0;
        if (i < L && dd < d) { qv = q[qBase + i * qStride + dd]; }
        if (j < L && dd < d) { kv = k[kBase + j * kStride + dd]; }
        qs[kk * 16u + r / 4u][r % 4u] = qv;
        ks[kk * 16u + r / 4u][r % 4u] = kv;
      }
      workgroupBarrier();
      for (var kk = 0u; kk < KC; kk += 2u) {
        let a0 = qs[kk * 16u + ty];
        let b0 = ks[kk * 16u + tx];
        acc0 += a0.x * b0; acc1 += a0.y * b0; acc2 += a0.z * b0; acc3 += a0.w * b0;
        let a1 = qs[(kk + 1u) * 16u + ty];
        let b1 = ks[(kk + 1u) * 16u + tx];
        acc0 += a1.x * b1; acc1 += a1.y * b1; acc2 += a1.z * b1; acc3 += a1.w * b1;
      }
      workgroupBarrier();
    }
    var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < 4u; r++) {
      let i = r0 + ty * 4u + r;
      if (i >= rEnd) { continue; }
      let row = outBase + (i - u.row0) * L;
      for (var c = 0u; c < 4u; c++) {
        let j = c0 + tx * 4u + c;
        if (j > i) {
          if (j < L) { A[row + j] = 0.0; }
          continue;
        }
        if (i - j >= u.win) {
          A[row + j] = 0.0;
          continue;
        }
        let x = accs[r][c] * u.scale;
        A[row + j] = x;
        // Online softmax statistics: rescale the sum whenever the running max moves.
        if (x > mx[r]) {
          sm[r] = sm[r] * exp(mx[r] - x) + 1.0;
          mx[r] = x;
        } else {
          sm[r] = sm[r] + exp(x - mx[r]);
        }
      }
    }
  }

  // Combine the 16 invocations that share each row: qs holds maxima, ks sums, [tx][row].
  for (var r = 0u; r < 4u; r++) {
    let slot = tx * T + ty * 4u + r;
    qs[slot / 4u][slot % 4u] = mx[r];
    ks[slot / 4u][slot % 4u] = sm[r];
  }
  workgroupBarrier();
  var rowMax = vec4<f32>(NEG);
  var rowSum = vec4<f32>(0.0);
  for (var x = 0u; x < 16u; x++) { rowMax = max(rowMax, qs[(x * T) / 4u + ty]); }
  for (var x = 0u; x < 16u; x++) { rowSum += ks[(x * T) / 4u + ty] * exp(qs[(x * T) / 4u + ty] - rowMax); }
  let inv = 1.0 / rowSum;

  for (var ct = 0u; ct < nTiles; ct++) {
    let c0 = ct * T;
    for (var r = 0u; r < 4u; r++) {
      let i = r0 + ty * 4u + r;
      if (i >= rEnd) { continue; }
      let row = outBase + (i - u.row0) * L;
      for (var c = 0u; c < 4u; c++) {
        let j = c0 + tx * 4u + c;
        if (j <= i && i - j < u.win) { A[row + j] = exp(A[row + j] - rowMax[r]) * inv[r]; }
      }
    }
  }

  // Columns right of every diagonal in this tile: zeros, written row by row for coalescing.
  for (var rr = 0u; rr < T; rr++) {
    let i = r0 + rr;
    if (i >= rEnd) { break; }
    let row = outBase + (i - u.row0) * L;
    for (var j = nTiles * T + li; j < L; j += 256u) { A[row + j] = 0.0; }
  }
}
