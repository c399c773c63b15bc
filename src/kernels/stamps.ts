// WGSL entry points that several kernels need with only their bindings changed, stamped per kernel.
import { bindings } from '../gpu/wgsl';

/**
 * `out[0] = mean of in[0..count)` in one workgroup: per-invocation sums strided by WG, then
 * shaders/lib/tree_sum.wgsl (which the module must include). `p` prefixes the binding names and
 * names the uniform; `count` is the uniform's field holding the count.
 */
export function meanEntry(entry: string, p: string, uniform: string, count: string): string {
  return `${bindings([`${p}_in: array<f32>`], [`${p}_out: array<f32>`], `${p}: ${uniform}`)}

@compute @workgroup_size(WG)
fn ${entry}(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var r = li; r < ${p}.${count}; r += WG) { s = s + ${p}_in[r]; }
  red[li] = s;
  let total = tree_sum(li);
  if (li == 0u) { ${p}_out[0] = total / f32(${p}.${count}); }
}`;
}
