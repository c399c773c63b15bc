// Cross-entropy of logits (rows, vocab) against u32 targets, mean over the rows whose target is
// not IGNORE, and dLogits = (softmax − onehot)/count. The log-sum-exp is taken in CHUNK-wide pieces
// (a running max and a sum rescaled to it), so no workgroup ever holds a vocab-sized row.
//
// chunk_stats  part[(r·chunks + k)·2 + {0,1}] = (max, Σ exp(x − max)) over chunk k of row r
// row_loss     stats[r·2] = lse_r, stats[r·2 + 1] = 1 if counted; rowLoss[r] = lse_r − x[r, target]
// mean         loss[0] = Σ rowLoss / count (0 when count = 0); meta[0] = count
// grad         dLogits[r, j] = (exp(x[r, j] − lse_r) − [j = target_r]) / count, 0 on ignored rows
//
// Bindings are declared per entry point by src/kernels/losses.ts (bindings(), in the op's order).

const WG = 256u;
const ITEMS = 16u;
const CHUNK = 4096u; // WG · ITEMS
const IGNORE = 0xffffffffu;
const NEG_MAX = -3.4e38; // stands in for −∞: exp(NEG_MAX − m) is 0 and NEG_MAX − NEG_MAX is 0

struct U {
  rows: u32,
  vocab: u32,
  chunks: u32,
  nx: u32, // workgroups (or, in grad, workgroups) along x of a 2-D grid
}

var<workgroup> red_m: array<f32, 256>;
var<workgroup> red_s: array<f32, 256>;

// (m, s) ⊕ (m2, s2): both sums rescaled to the larger max.
fn merge(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// ---- chunk_stats ---------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn chunk_stats(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let id = wg.y * cu.nx + wg.x;
  if (id >= cu.rows * cu.chunks) { return; }
  let r = id / cu.chunks;
  let k = id % cu.chunks;
  var acc = vec2f(NEG_MAX, 0.0);
  for (var i = 0u; i < ITEMS; i++) {
    let j = k * CHUNK + i * WG + li;
    if (j < cu.vocab) { acc = merge(acc, vec2f(c_logits[r * cu.vocab + j], 1.0)); }
  }
  red_m[li] = acc.x;
  red_s[li] = acc.y;
  for (var w = WG / 2u; w > 0u; w = w >> 1u) {
    workgroupBarrier();
    if (li < w) {
      let m = merge(vec2f(red_m[li], red_s[li]), vec2f(red_m[li + w], red_s[li + w]));
      red_m[li] = m.x;
      red_s[li] = m.y;
    }
  }
  if (li == 0u) {
    c_part[id * 2u] = red_m[0];
    c_part[id * 2u + 1u] = red_s[0];
  }
}

// ---- row_loss: one invocation per row --------------------------------------------------------------

@compute @workgroup_size(WG)
fn row_loss(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = (wg.y * ru.nx + wg.x) * WG + li;
  if (r >= ru.rows) { return; }
  var acc = vec2f(NEG_MAX, 0.0);
  for (var k = 0u; k < ru.chunks; k++) {
    let i = (r * ru.chunks + k) * 2u;
    acc = merge(acc, vec2f(r_part[i], r_part[i + 1u]));
  }
  let lse = acc.x + log(acc.y);
  let t = r_targets[r];
  var loss = 0.0;
  if (t != IGNORE) {
    // A target past the vocabulary is a caller's bug: make it loud (NaN) rather than read a
    // neighbouring row. The bit pattern depends on t so it is not a constant expression.
    loss = select(bitcast<f32>(0x7fc00000u | (t & 0u)), lse - r_logits[r * ru.vocab + min(t, ru.vocab - 1u)], t < ru.vocab);
  }
  r_loss[r] = loss;
  r_stats[r * 2u] = lse;
  r_stats[r * 2u + 1u] = select(0.0, 1.0, t != IGNORE);
}

// ---- mean: one workgroup -----------------------------------------------------------------------

@compute @workgroup_size(WG)
fn mean(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  var n = 0.0;
  for (var r = li; r < mu.rows; r += WG) {
    s = s + m_loss[r];
    n = n + m_stats[r * 2u + 1u];
  }
  red_m[li] = s;
  red_s[li] = n;
  for (var w = WG / 2u; w > 0u; w = w >> 1u) {
    workgroupBarrier();
    if (li < w) {
      red_m[li] = red_m[li] + red_m[li + w];
      red_s[li] = red_s[li] + red_s[li + w];
    }
  }
  if (li == 0u) {
    let count = red_s[0];
    m_out[0] = select(0.0, red_m[0] / count, count > 0.0);
    m_meta[0] = count;
  }
}

// ---- grad: one invocation per logit --------------------------------------------------------------

@compute @workgroup_size(WG)
fn grad(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wg.y * gu.nx + wg.x) * WG + li;
  if (e >= gu.rows * gu.vocab) { return; }
  let r = e / gu.vocab;
  let j = e % gu.vocab;
  // A select rather than a branch: computing the discarded value is cheaper than diverging.
  let p = exp(g_logits[e] - g_stats[r * 2u]);
  let g = (p - select(0.0, 1.0, j == g_targets[r])) / g_meta[0];
  g_out[e] = select(0.0, g, g_stats[r * 2u + 1u] > 0.0);
}
