// 16-bit floats as checkpoints store them (little-endian u16 bit patterns) and their exact f32
// values. Frozen weights stay in these bits on the GPU (gpu/runtime.ts PackedDtype); the host only
// widens what it must compute with.

export type HalfDtype = 'BF16' | 'F16';

/** A tensor's values as the checkpoint holds them: f32, or 16-bit patterns. */
export type RawTensor = { dtype: 'F32'; data: Float32Array } | { dtype: HalfDtype; data: Uint16Array };

/** The exact f32 values of 16-bit patterns. */
export function halfToF32(dtype: HalfDtype, bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  if (dtype === 'BF16') for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  else {
    const table = f16Table();
    for (let i = 0; i < bits.length; i++) u[i] = table[bits[i]!]!;
  }
  return out;
}

export function rawToF32(raw: RawTensor): Float32Array {
  return raw.dtype === 'F32' ? raw.data : halfToF32(raw.dtype, raw.data);
}

/** f32 → bf16 bits, rounding to nearest even (as torch's .to(bfloat16)); NaN stays NaN. */
export function f32ToBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = u[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) out[i] = (b >>> 16) | 0x40;
    else out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** f32 → f16 bits, rounding to nearest even; overflow gives ±inf. */
export function f32ToF16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = oneF16(x[i]!);
  return out;
}

function oneF16(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (Number.isNaN(v)) return 0x7e00;
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | roundEven(a / 2 ** -24); // subnormal (a carry into the exponent is right)
  const e = Math.floor(Math.log2(a));
  const exp = a >= 2 ** (e + 1) ? e + 1 : a < 2 ** e ? e - 1 : e;
  const man = roundEven((a / 2 ** exp - 1) * 1024);
  return sign | (((exp + 15) << 10) + man);
}

function roundEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

let f16Bits: Uint32Array | null = null;

/** f32 bit patterns of all 65536 f16 values (NaN payloads kept). */
function f16Table(): Uint32Array {
  if (f16Bits) return f16Bits;
  const t = new Uint32Array(65536);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const man = h & 0x3ff;
    if (exp === 0x1f) {
      t[h] = (sign | 0x7f800000 | (man << 13)) >>> 0;
    } else if (exp === 0) {
      // Subnormal (or zero): man · 2^-24, exact in f32.
      f[0] = man * 2 ** -24;
      t[h] = (sign | u[0]!) >>> 0;
    } else {
      t[h] = (sign | ((exp + 112) << 23) | (man << 13)) >>> 0;
    }
  }
  f16Bits = t;
  return t;
}
