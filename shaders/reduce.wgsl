// Row reductions in two levels: `chunks` folds chunks of WG·ITEMS elements of a row into one
// value each (a workgroup tree), `rows` folds a row's partials and finishes (mean, sqrt). When a
// row fits one chunk, `chunks` finishes by itself and writes the result.
//
// A thread first folds ITEMS elements strided by WG (coalesced), then the workgroup tree folds
// WG values: no f32 accumulator ever sums more than max(ITEMS, partials/WG) terms in a row, which
// keeps the error near eps·log(n) rather than eps·n.
//
// Bindings are declared per entry point by src/kernels/reduce.ts (bindings(), in the op's order).

struct P {
  n: u32,        // elements per row
  parts: u32,    // chunks per row (partials per row)
  groups: u32,   // workgroups that do work: rows·parts in `chunks`, rows in `rows`
  nx: u32,       // workgroups along x; the linear workgroup index is wg.y·nx + wg.x
  identity: f32, // 0 for sums, -inf for max (a uniform, since WGSL has no infinity literal)
}

override WG: u32 = 256;
override ITEMS: u32 = 16;
/** 0 sum, 1 max, 2 sum of squares. */
override KIND: u32 = 0;
/** 0 none, 1 divide by n (mean), 2 square root (norm). Used by whichever pass writes the result. */
override FINAL: u32 = 0;

var<workgroup> sh: array<f32, WG>;

fn lift(v: f32) -> f32 {
  if (KIND == 2u) { return v * v; }
  return v;
}

fn comb(a: f32, b: f32) -> f32 {
  if (KIND == 1u) { return max(a, b); }
  return a + b;
}

fn finish(v: f32, n: u32) -> f32 {
  if (FINAL == 1u) { return v / f32(n); }
  if (FINAL == 2u) { return sqrt(v); }
  return v;
}

// Folds sh[0..WG) into sh[0]; every thread must call it (barriers).
fn tree(i: u32, v: f32) -> f32 {
  sh[i] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (i < s) { sh[i] = comb(sh[i], sh[i + s]); }
    workgroupBarrier();
  }
  return sh[0];
}

// `chunks` (x → dst) and `chunks_masked` (x·mask → dst) are stamped by src/kernels/reduce.ts: the
// chunk of workgroup w is row w / parts, elements [chunk·WG·ITEMS, +WG·ITEMS) of that row.

// One workgroup per row folds that row's `parts` partials.
@compute @workgroup_size(WG)
fn rows(@builtin(local_invocation_index) i: u32, @builtin(workgroup_id) wg: vec3u) {
  let row = wg.y * p.nx + wg.x;
  if (row >= p.groups) { return; }
  var acc = p.identity;
  for (var j = i; j < p.parts; j += WG) { acc = comb(acc, x[row * p.parts + j]); }
  let r = tree(i, acc);
  if (i == 0u) { dst[row] = finish(r, p.n); }
}
