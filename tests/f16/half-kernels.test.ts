// The shader-f16 kernels: f16 copies (toHalf), the flash-attention forward reading f16 q, k, v, and
// matmul reading an f16 weight natively. They run only where the adapter offers shader-f16: neither
// SwiftShader nor Dawn on NVIDIA's Vulkan driver does, Mesa's lavapipe (Mesa 23+) does, so
// `npm run test:f16` runs this folder on lavapipe (scripts/dawn-env.mjs, F16=1).
import { describe, expect, it } from 'vitest';
import { toHalf } from '../../src/kernels/half';
import { flashAttention, type AttentionShape, type FlashTile } from '../../src/kernels/flash-attention';
import { matmul } from '../../src/kernels/matmul';
import { attentionRef } from '../../src/ref/attention';
import { matmulRef } from '../../src/ref/matmul';
import { f32ToF16, halfToF32 } from '../../src/io/half';
import { randn, relErr, testGpu } from '../helpers/gpu';

const gpu = await testGpu();
const f16 = gpu.info.shaderF16;
if (!f16) console.warn(`shader-f16 tests skipped: ${gpu.info.description || gpu.info.vendor} does not offer shader-f16 (run \`npm run test:f16\`)`);

const f64 = (x: Float32Array) => Float64Array.from(x);
/** x rounded to f16 and back, as the GPU's copies hold it. */
const viaF16 = (x: Float32Array) => halfToF32('F16', f32ToF16(x));

/** max |a − b| / max |b|. */
function scaleErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let [err, scale] = [0, 0];
  for (let i = 0; i < b.length; i++) [err, scale] = [Math.max(err, Math.abs(a[i] - b[i])), Math.max(scale, Math.abs(b[i]))];
  return err / scale;
}

async function halfCopy(x: Float32Array): Promise<GPUBuffer> {
  const src = gpu.upload(x);
  const dst = gpu.packedBuffer(x.length, 'f16', 'half copy');
  gpu.run(toHalf(gpu, { x: src, y: dst, n: x.length }));
  await gpu.check();
  gpu.release(src);
  return dst;
}

describe.skipIf(!f16)('toHalf', () => {
  it('rounds every f32 to the nearest even f16, subnormals, overflow and signed zero included', async () => {
    const edge = [0, -0, 1, -1, 65504, 65519.99, 65520, -70000, 1e-5, -3e-8, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 0.1, 1 / 3, 2049, 2051, 4097];
    const x = new Float32Array(4 * 257);
    x.set(randn(x.length, 7, 3));
    x.set(edge, 100);
    const buf = await halfCopy(x);
    const got = new Uint16Array((await gpu.read(buf)).buffer, 0, x.length);
    gpu.release(buf);
    const want = f32ToF16(x);
    const bad = [...got.keys()].filter((i) => got[i] !== want[i]);
    expect(bad.map((i) => `${x[i]}: ${got[i].toString(16)} vs ${want[i].toString(16)}`)).toEqual([]);
  });

  it('refuses a length that is not a multiple of 4 and a destination that is not f16', () => {
    const x = gpu.upload(new Float32Array(8));
    expect(() => toHalf(gpu, { x, y: gpu.packedBuffer(6, 'f16'), n: 6 })).toThrow(/multiple of 4/);
    expect(() => toHalf(gpu, { x, y: gpu.zeros(8), n: 8 })).toThrow(/f16 buffer/);
  });
});

describe.skipIf(!f16)('flash attention forward with f16 q, k, v', () => {
  /** GPU o and lse from f16 copies, the reference on the same rounded inputs, and on the f32 ones. */
  async function run(s: AttentionShape, seed: number, tile?: FlashTile) {
    const nq = s.batch * s.L * s.hq * s.d;
    const nkv = s.batch * s.L * s.hkv * s.d;
    const nl = s.batch * s.hq * s.L;
    const [q, k, v] = [randn(nq, seed), randn(nkv, seed + 1), randn(nkv, seed + 2)];
    const b = { q: await halfCopy(q), k: await halfCopy(k), v: await halfCopy(v) };
    const o = gpu.upload(randn(nq, 91, 7));
    const lse = gpu.upload(randn(nl, 92, 7));
    gpu.run(flashAttention(gpu, s, { ...b, o, lse }, { half: true, ...(tile ? { tile } : {}) }));
    const got = { o: await gpu.read(o, nq), lse: await gpu.read(lse, nl) };
    await gpu.check();
    for (const x of [...Object.values(b), o, lse]) gpu.release(x);
    const rounded = attentionRef(s, f64(viaF16(q)), f64(viaF16(k)), f64(viaF16(v)));
    const exact = attentionRef(s, f64(q), f64(k), f64(v));
    return {
      // f32 arithmetic on the rounded inputs: the f32 kernel's tolerance.
      rounded: { o: relErr(got.o, rounded.o), lse: relErr(got.lse, rounded.lse) },
      // Against the unrounded inputs: f16's 2^-11 relative rounding of q, k, v, as a share of the
      // largest output (entrywise, an o near zero has no relative precision left).
      exact: { o: scaleErr(got.o, exact.o), lse: scaleErr(got.lse, exact.lse) },
    };
  }

  const cases: [string, AttentionShape, FlashTile | undefined][] = [
    ['d 16, L not a multiple of the tile', { batch: 2, L: 37, hq: 2, hkv: 2, d: 16 }, undefined],
    ['grouped-query, d 32', { batch: 1, L: 40, hq: 4, hkv: 2, d: 32 }, undefined],
    ['sliding window', { batch: 1, L: 45, hq: 2, hkv: 1, d: 16, window: 9 }, undefined],
    ['a head-dim-chunked tile', { batch: 1, L: 33, hq: 2, hkv: 2, d: 64 }, { RG: 4, CG: 4, TC: 2, DK: 4 }],
  ];
  for (const [name, s, tile] of cases) {
    it(name, async () => {
      const e = await run(s, 11, tile);
      expect(Math.max(e.rounded.o, e.rounded.lse), JSON.stringify(e)).toBeLessThan(1e-4);
      expect(Math.max(e.exact.o, e.exact.lse), JSON.stringify(e)).toBeLessThan(1e-3);
    });
  }

  it('refuses f32 inputs and the backward', async () => {
    const s: AttentionShape = { batch: 1, L: 4, hq: 1, hkv: 1, d: 8 };
    const x = gpu.zeros(32);
    expect(() => flashAttention(gpu, s, { q: x, k: x, v: x, o: x, lse: gpu.zeros(4) }, { half: true })).toThrow(/must be an f16 buffer/);
  });
});

describe.skipIf(!f16)('matmul with a natively read f16 weight', () => {
  it('equals the u32-unpacking path bit for bit, and the float64 reference', async () => {
    const [M, N, K] = [37, 29, 70];
    const a = randn(M * K, 3);
    const w = viaF16(randn(N * K, 4)); // an f16 checkpoint's (out, in) weight
    const bufA = gpu.upload(a);
    const bufW = gpu.uploadPacked(f32ToF16(w), 'f16');
    const c1 = gpu.zeros(M * N);
    const c2 = gpu.zeros(M * N);
    const shape = { a: bufA, b: bufW, M, N, K, transB: true };
    gpu.run([...matmul(gpu, { ...shape, c: c1 }), ...matmul(gpu, { ...shape, c: c2, nativeHalf: false })]);
    const [native, unpacked] = [await gpu.read(c1, M * N), await gpu.read(c2, M * N)];
    await gpu.check();
    expect(Buffer.from(native.buffer).equals(Buffer.from(unpacked.buffer))).toBe(true);
    const want = matmulRef({ M, N, K, transB: true }, f64(a), f64(w));
    expect(relErr(native, want)).toBeLessThan(1e-4);
  });
});
