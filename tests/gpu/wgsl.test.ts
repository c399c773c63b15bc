import { describe, expect, it } from 'vitest';
import { bindings, shader, wgsl } from '../../src/gpu/wgsl';
import { Params } from '../../src/gpu/runtime';
import treeSum from '../../shaders/lib/tree_sum.wgsl?raw';
import { testGpu } from '../helpers/gpu';

describe('wgsl()', () => {
  it('joins the parts in order, one blank line apart, ending in a newline', () => {
    expect(wgsl('const A = 1u;\n', '\n\nfn f() -> u32 { return A; }')).toBe('const A = 1u;\n\nfn f() -> u32 { return A; }\n');
  });

  it('refuses an empty part (an import that came back empty)', () => {
    expect(() => wgsl('const A = 1u;', '  \n')).toThrow(/part 1 is empty/);
  });

  it('numbers bindings in the runtime order: reads, writes, then the uniform', () => {
    expect(bindings(['a: array<f32>', 'b: array<u32>'], ['out: array<f32>'], 'u: U')).toBe(
      [
        '@group(0) @binding(0) var<storage, read> a: array<f32>;',
        '@group(0) @binding(1) var<storage, read> b: array<u32>;',
        '@group(0) @binding(2) var<storage, read_write> out: array<f32>;',
        '@group(0) @binding(3) var<uniform> u: U;',
      ].join('\n'),
    );
    expect(bindings([], ['y: array<f32>'])).toBe('@group(0) @binding(0) var<storage, read_write> y: array<f32>;');
  });

  it('shader() pairs the id with the composed module', () => {
    expect(shader('k', 'const A = 1u;', 'const B = 2u;')).toEqual({ shader: 'k', code: 'const A = 1u;\n\nconst B = 2u;\n' });
  });

  it('composes a lib snippet that uses a name the kernel declares (WG) into a module that runs', async () => {
    const gpu = await testGpu();
    const kernel = `
const WG = 64u;
${bindings(['x: array<f32>'], ['out: array<f32>'], 'n: u32')}
@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = li; i < n; i += WG) { s = s + x[i]; }
  red[li] = s;
  let total = tree_sum(li);
  if (li == 0u) { out[0] = total; }
}`;
    const n = 200;
    const xs = Float32Array.from({ length: n }, (_, i) => i + 1);
    const x = gpu.upload(xs);
    const out = gpu.zeros(1);
    gpu.run(gpu.op({ shader: 'tree_sum_test', code: wgsl(treeSum, kernel), reads: [x], writes: [out], params: new Params().u32(n).build(), workgroups: [1] }));
    await gpu.check();
    expect((await gpu.read(out))[0]).toBe((n * (n + 1)) / 2);
  });
});
