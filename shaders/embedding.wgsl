// Token embedding and its backward pass:
//   out[t, j] = table[min(ids[t], vocab−1), j]  (+ pos[t mod L, j] with learned positions)
//   dTable[v, j] = Σ_{t : min(ids[t], vocab−1) = v} dOut[t, j]
//   dPos[p, j]   = Σ_b dOut[b·L + p, j]                            (summed in increasing b)
//
// The scatter-add is made deterministic without float atomics: the (key, token) pairs are sorted
// by key with a stable LSD radix sort (8-bit digits, blocks of 256 tokens, no atomics at all), so
// the tokens of one vocabulary row end up adjacent and in increasing order; then each run is summed
// in pieces (run_heads, run_sum). Every order of addition is fixed by the ids alone.
//
// Linear element indices are spread over a 2-D grid: index = (wg.y·num_workgroups.x + wg.x)·WG + lid.
//
// Bindings are declared per entry point by src/kernels/embedding.ts (bindings(), in the op's order).

override WG: u32 = 256u;
const RADIX = 256u; // digit values per pass, tokens per sort block, threads of the sort entries
const NONE = 0xffffffffu;

struct U {
  tokens: u32,
  d: u32,
  vocab: u32,
  L: u32,      // sequence length (learned positions)
  shift: u32,  // radix pass: the digit is (key >> shift) & 255
  blocks: u32, // sort blocks: ceil(tokens / 256)
  acc: u32,    // 1: add into the output instead of overwriting it
}

fn linear(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid;
}

// The first of an invocation's two quads (four-float entries); the second is WG quads on.
fn quad_id(wg: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * (2u * WG) + lid;
}

// gather (out = table rows) and gather_pos (out = table rows + position rows) are stamped by
// src/kernels/embedding.ts: they differ in the position table's binding and its term; so are their
// four-float forms gather4 and gather4_pos, for rows of d a multiple of 4.

// ---- sort_init: kv[t] = (clamped id, t) ---------------------------------------------------------

@compute @workgroup_size(WG)
fn sort_init(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = linear(wg, nwg, lid);
  if (t >= iu.tokens) { return; }
  i_kv[t] = vec2u(min(i_ids[t], iu.vocab - 1u), t);
}

var<workgroup> digits: array<u32, RADIX>;
var<workgroup> sums: array<u32, RADIX>;

// ---- sort_hist: hist[digit·blocks + block] = count of that digit in the block ---------------------
// Digit-major, so that one exclusive scan over hist gives every (digit, block) its first slot.

@compute @workgroup_size(RADIX)
fn sort_hist(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x;
  let t = b * RADIX + lid;
  var dg = NONE;
  if (t < hu.tokens) { dg = (h_kv[t].x >> hu.shift) & 255u; }
  digits[lid] = dg;
  workgroupBarrier();
  var c = 0u;
  for (var k = 0u; k < RADIX; k++) { c += select(0u, 1u, digits[k] == lid); }
  h_hist[lid * hu.blocks + b] = c;
}

// ---- sort_scan: exclusive scan of hist in place, one workgroup ----------------------------------
// Thread `digit` owns hist[digit·blocks ..][..blocks]: its total, a scan of the 256 totals, then
// a running sum down its own row.

@compute @workgroup_size(RADIX)
fn sort_scan(@builtin(local_invocation_index) lid: u32) {
  let row = lid * su.blocks;
  var total = 0u;
  for (var b = 0u; b < su.blocks; b++) { total += s_hist[row + b]; }
  sums[lid] = total;
  workgroupBarrier();
  for (var off = 1u; off < RADIX; off <<= 1u) {
    var v = 0u;
    if (lid >= off) { v = sums[lid - off]; }
    workgroupBarrier();
    sums[lid] += v;
    workgroupBarrier();
  }
  var run = sums[lid] - total;
  for (var b = 0u; b < su.blocks; b++) {
    let c = s_hist[row + b];
    s_hist[row + b] = run;
    run += c;
  }
}

// ---- sort_scatter: stable placement; rank = earlier tokens of the block with the same digit -----

@compute @workgroup_size(RADIX)
fn sort_scatter(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x;
  let t = b * RADIX + lid;
  var dg = NONE;
  var e = vec2u(0u, 0u);
  if (t < cu.tokens) {
    e = c_kv[t];
    dg = (e.x >> cu.shift) & 255u;
  }
  digits[lid] = dg;
  workgroupBarrier();
  if (t >= cu.tokens) { return; }
  var rank = 0u;
  for (var k = 0u; k < lid; k++) { rank += select(0u, 1u, digits[k] == dg); }
  c_out[c_hist[dg * cu.blocks + b] + rank] = e;
}

// ---- table_zero: dTable = 0 before the runs are written -----------------------------------------

@compute @workgroup_size(WG)
fn table_zero(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear(wg, nwg, lid);
  if (i < zu.vocab * zu.d) { z_out[i] = 0.0; }
}

// The same four floats at a time, when vocab·d is a multiple of 4 (16-byte stores fill at full
// bandwidth).

@compute @workgroup_size(WG)
fn table_zero4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear(wg, nwg, lid);
  if (i < z4u.vocab * z4u.d / 4u) { z4_out[i] = vec4f(0.0); }
}

// ---- run_heads / run_sum: sums of the runs of equal keys in the sorted kv ------------------------
// The sorted positions are cut into pieces of PIECE. run_heads sums, for each piece that continues
// a run begun in an earlier piece, that run's part of it: heads[c·d + j]. run_sum: the first (k, j)
// of each run sums its run up to the end of its own piece, then adds the heads of the pieces the
// run goes on into, in order. A run of n tokens costs its owner at most PIECE + n/PIECE loads, and
// no f32 sum runs over more than max(PIECE, n/PIECE) terms.
const PIECE = 64u;

// run_heads and run_sum are stamped by src/kernels/embedding.ts, in a scalar form and a four-float
// form (run_heads4, run_sum4: a quad of columns per invocation, for d a multiple of 4) that adds in
// the same order.

// ---- pos_grad: dPos[p, j] = Σ_b dOut[b·L + p, j] -------------------------------------------------

@compute @workgroup_size(WG)
fn pos_grad(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear(wg, nwg, lid);
  if (i >= qu.L * qu.d) { return; }
  let seqs = qu.tokens / qu.L;
  let stride = qu.L * qu.d;
  var s = 0.0;
  for (var b = 0u; b < seqs; b++) { s += q_dout[b * stride + i]; }
  if (qu.acc == 1u) { q_dpos[i] = q_dpos[i] + s; } else { q_dpos[i] = s; }
}
