// Does Dawn for Node expose `shader-f16` on this machine, with any toggle? (issue 14, "shader-f16")
// Prints one JSON line per flag set: the adapter's features and whether a device with shader-f16 and an
// f16 storage shader can be made; where the adapter offers `chromium-experimental-subgroup-matrix` (the
// tensor cores' route from WGSL; the H200 does under allow_unsafe_apis), also its matrix configurations
// (component and result types, M×N×K), which say whether any of them multiplies f32 or only f16/int8.
// On the GPU machine: source .gpu/env.sh; node scripts/bench/f16_probe.mjs
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const sets = [
  [],
  ['enable-dawn-features=allow_unsafe_apis'],
  ['enable-dawn-features=allow_unsafe_apis,expose_wgsl_experimental_features'],
  ['enable-dawn-features=allow_unsafe_apis', 'backend=vulkan'],
];
const keep = [];
for (const flags of sets) {
  const gpu = create(flags);
  keep.push(gpu); // Dawn frees the device when the instance is collected
  const row = { flags };
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no adapter');
    row.adapter = adapter.info.description || adapter.info.vendor;
    row.features = [...adapter.features].sort();
    row.f16 = adapter.features.has('shader-f16');
    if (adapter.features.has('chromium-experimental-subgroup-matrix')) {
      // WebIDL objects: JSON of one is {}, so the fields are named.
      row.subgroupMatrixConfigs = [...(adapter.info.subgroupMatrixConfigs ?? [])].map((c) => ({
        componentType: c.componentType,
        resultComponentType: c.resultComponentType,
        M: c.M,
        N: c.N,
        K: c.K,
      }));
    }
    if (row.f16) {
      const device = await adapter.requestDevice({ requiredFeatures: ['shader-f16'] });
      const m = device.createShaderModule({ code: 'enable f16;\n@group(0) @binding(0) var<storage, read_write> x: array<f16>;\n@compute @workgroup_size(1) fn main() { x[0] = x[0] * 2.0h; }' });
      const info = await m.getCompilationInfo();
      row.compiles = info.messages.filter((x) => x.type === 'error').length === 0;
    }
  } catch (e) {
    row.error = String(e?.message ?? e);
  }
  console.log(JSON.stringify(row));
}
process.exit(0);
