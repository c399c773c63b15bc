// Averages (batch, head) distances over the batch, for the live layer × head grid.
struct P { batch: u32, heads: u32 }
@group(0) @binding(0) var<storage, read> dist: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= p.heads) { return; }
  var s = 0.0;
  for (var b = 0u; b < p.batch; b++) { s += dist[b * p.heads + g.x]; }
  out[g.x] = s / f32(p.batch);
}
