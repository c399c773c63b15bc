// Half-precision storage (feature shader-f16), shaders/half.wgsl:
//   toHalf: y = f16(x)       n floats, n a multiple of 4; y a packed buffer of n f16 values
// The f16 copies let a frozen teacher's attention read half the bytes; arithmetic stays f32 in the
// kernels that read them. The float64 reference is f32ToF16 (src/io/half.ts), the same rounding.
import { Params, packedDtype, slice, linearGrid, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { bindings, shader } from '../gpu/wgsl';
import halfWgsl from '../../shaders/half.wgsl?raw';

// `enable f16;` must open the module, so the bindings follow the kernel's own text.
const SHADER = shader('half', halfWgsl, bindings(['th_x: array<vec4f>'], ['th_y: array<vec4<f16>>'], 'hp: HP'));
const WG = 256;

/** Whether this device can run the f16 kernels (the adapter offered shader-f16). */
export function hasHalf(gpu: Gpu): boolean {
  return gpu.info.shaderF16;
}

export function toHalf(gpu: Gpu, a: { x: Bindable; y: Bindable; n: number }): Op[] {
  const fn = 'toHalf';
  if (!hasHalf(gpu)) throw new Error(`${fn}: this GPU adapter does not offer shader-f16`);
  if (!Number.isInteger(a.n) || a.n < 4 || a.n % 4 !== 0) throw new Error(`${fn} (n=${a.n}): n must be a positive multiple of 4`);
  if (slice(a.x).size < a.n * 4) throw new Error(`${fn} (n=${a.n}): x holds ${slice(a.x).size} bytes, needs ${a.n * 4}`);
  if (packedDtype(a.y) !== 'f16') throw new Error(`${fn} (n=${a.n}): y must be an f16 buffer (gpu.packedBuffer(n, 'f16'))`);
  if (slice(a.y).size < a.n * 2) throw new Error(`${fn} (n=${a.n}): y holds ${slice(a.y).size} bytes, needs ${a.n * 2}`);
  const n4 = a.n / 4;
  return [
    gpu.op({
      ...SHADER,
      entry: 'to_half',
      constants: { WG },
      reads: [a.x],
      writes: [a.y],
      params: new Params().u32(n4).build(),
      workgroups: linearGrid(gpu, fn, Math.ceil(n4 / WG)),
      label: 'to_half',
    }),
  ];
}
