// Distillation loss between student logits s and teacher logits t, both (rows, vocab), at
// temperature τ, with q = softmax(s/τ), p = softmax(t/τ):
//   KL(p ‖ q) = lse(s/τ) − lse(t/τ) + Σ_j p_j (t_j − s_j)/τ
//   soft CE   = −Σ_j p_j log q_j = lse(s/τ) − Σ_j p_j s_j/τ   (= KL + H(p))
// times `scale` (τ² under Hinton's convention, else 1); loss = mean over rows;
// dStudent = scale·(q − p)/(τ·rows).
// Σ p_j v_j is carried as a sum a = Σ exp(t_j/τ − m_t)·v_j alongside the teacher's running
// max m_t and Σ exp(t_j/τ − m_t), all rescaled together, so one pass over each chunk suffices.
//
// chunk_stats  part[(r·chunks + k)·5 + ...] = (m_s, Σ e^{s/τ−m_s}, m_t, Σ e^{t/τ−m_t}, a) of chunk k
// row_loss     rowLoss[r]; stats[r·2] = lse(t_r/τ), stats[r·2 + 1] = lse(s_r/τ) − lse(t_r/τ)
// mean         loss[0] = Σ rowLoss / rows
// grad         dStudent[r, j]
//
// Bindings are declared per entry point by src/kernels/losses.ts (bindings(), in the op's order).

const WG = 256u;
const ITEMS = 16u;
const CHUNK = 4096u; // WG · ITEMS
const NEG_MAX = -3.4e38;

struct U {
  rows: u32,
  vocab: u32,
  chunks: u32,
  nx: u32,
  inv_tau: f32,
  scale: f32,   // multiplies the row losses: τ² or 1
  coef: f32,    // multiplies q − p in the gradient: scale/(τ·rows)
  kind: u32,    // 0: KL, 1: soft cross-entropy
}

// Running statistics of a chunk: student (m, Σ) and teacher (m, Σ, a).
struct Acc { ms: f32, ss: f32, mt: f32, st: f32, a: f32 }

var<workgroup> red_acc: array<Acc, 256>;

fn merge(x: Acc, y: Acc) -> Acc {
  let ms = max(x.ms, y.ms);
  let mt = max(x.mt, y.mt);
  let fx = exp(x.mt - mt);
  let fy = exp(y.mt - mt);
  return Acc(ms, x.ss * exp(x.ms - ms) + y.ss * exp(y.ms - ms), mt, x.st * fx + y.st * fy, x.a * fx + y.a * fy);
}

// ---- chunk_stats ---------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn chunk_stats(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let id = wg.y * cu.nx + wg.x;
  if (id >= cu.rows * cu.chunks) { return; }
  let r = id / cu.chunks;
  let k = id % cu.chunks;
  var acc = Acc(NEG_MAX, 0.0, NEG_MAX, 0.0, 0.0);
  for (var i = 0u; i < ITEMS; i++) {
    let j = k * CHUNK + i * WG + li;
    if (j < cu.vocab) {
      let sj = c_s[r * cu.vocab + j];
      let tj = c_t[r * cu.vocab + j];
      let u = sj * cu.inv_tau;
      let v = tj * cu.inv_tau;
      // (t − s)/τ rather than v − u: the difference of close logits is exact before scaling.
      let val = select((tj - sj) * cu.inv_tau, -u, cu.kind == 1u);
      acc = merge(acc, Acc(u, 1.0, v, 1.0, val));
    }
  }
  red_acc[li] = acc;
  for (var w = WG / 2u; w > 0u; w = w >> 1u) {
    workgroupBarrier();
    if (li < w) { red_acc[li] = merge(red_acc[li], red_acc[li + w]); }
  }
  if (li == 0u) {
    let o = id * 5u;
    let s = red_acc[0];
    c_part[o] = s.ms;
    c_part[o + 1u] = s.ss;
    c_part[o + 2u] = s.mt;
    c_part[o + 3u] = s.st;
    c_part[o + 4u] = s.a;
  }
}

// ---- row_loss: one invocation per row --------------------------------------------------------------

@compute @workgroup_size(WG)
fn row_loss(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let r = (wg.y * ru.nx + wg.x) * WG + li;
  if (r >= ru.rows) { return; }
  var acc = Acc(NEG_MAX, 0.0, NEG_MAX, 0.0, 0.0);
  for (var k = 0u; k < ru.chunks; k++) {
    let o = (r * ru.chunks + k) * 5u;
    acc = merge(acc, Acc(r_part[o], r_part[o + 1u], r_part[o + 2u], r_part[o + 3u], r_part[o + 4u]));
  }
  let lse_t = acc.mt + log(acc.st);
  // lse_s − lse_t as (m_s − m_t) + log(Σ_s/Σ_t): for a student close to its teacher both parts are
  // small, where the difference of the two log-sum-exps would keep an ulp of each as error.
  let delta = (acc.ms - acc.mt) + log(acc.ss / acc.st);
  let pv = acc.a / acc.st; // Σ_j p_j·val_j
  let loss = select(delta + pv, (lse_t + delta) + pv, ru.kind == 1u);
  r_loss[r] = ru.scale * loss;
  r_stats[r * 2u] = lse_t;
  r_stats[r * 2u + 1u] = delta;
}

// mean (one workgroup) is stamped by src/kernels/stamps.ts (meanEntry).

// eˣ − 1 for |x| < 0.5 by its Taylor series (terms to x⁹/9!, relative error below 1e-8).
fn expm1_small(x: f32) -> f32 {
  var p = 1.0 / 362880.0;
  p = p * x + 1.0 / 40320.0;
  p = p * x + 1.0 / 5040.0;
  p = p * x + 1.0 / 720.0;
  p = p * x + 1.0 / 120.0;
  p = p * x + 1.0 / 24.0;
  p = p * x + 1.0 / 6.0;
  p = p * x + 0.5;
  p = p * x + 1.0;
  return p * x;
}

// ---- grad: one invocation per logit --------------------------------------------------------------

@compute @workgroup_size(WG)
fn grad(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = (wg.y * gu.nx + wg.x) * WG + li;
  if (e >= gu.rows * gu.vocab) { return; }
  let r = e / gu.vocab;
  let lse_t = g_stats[r * 2u];
  let delta = g_stats[r * 2u + 1u];
  let sj = g_s[e];
  let tj = g_t[e];
  let p = exp(tj * gu.inv_tau - lse_t);
  // log q − log p = (s − t)/τ − delta. Where it is small, q − p = p·expm1(·) keeps the relative
  // precision that exp(·) − exp(·) loses as the student approaches its teacher.
  let x = (sj - tj) * gu.inv_tau - delta;
  var diff: f32;
  if (abs(x) < 0.5) {
    diff = p * expm1_small(x);
  } else {
    diff = exp(sj * gu.inv_tau - (lse_t + delta)) - p;
  }
  g_out[e] = gu.coef * diff;
}
