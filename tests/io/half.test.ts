import { describe, expect, it } from 'vitest';
import { f32ToBf16, f32ToF16, halfToF32 } from '../../src/io/half';

describe('16-bit floats', () => {
  it('converts f16 patterns exactly (normal, subnormal, zero signs, inf, NaN)', () => {
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x8000, 0x7c00, 0xfc00, 0x7e00]);
    const v = halfToF32('F16', bits);
    expect([...v.slice(0, 5)]).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24]);
    expect(Object.is(v[5], -0)).toBe(true);
    expect([v[6], v[7]]).toEqual([Infinity, -Infinity]);
    expect(Number.isNaN(v[8])).toBe(true);
  });

  it('rounds f32 to bf16 to nearest even, as torch does', () => {
    // 1 + 2^-8 lies halfway between bf16 1 and 1 + 2^-7: ties go to the even mantissa (1).
    const x = Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -3.140625, 1 + 2 ** -8 + 2 ** -20]);
    expect([...halfToF32('BF16', f32ToBf16(x))]).toEqual([1, 1, 1 + 2 ** -6, -3.140625, 1 + 2 ** -7]);
    expect(Number.isNaN(halfToF32('BF16', f32ToBf16(Float32Array.from([NaN])))[0])).toBe(true);
  });

  it('rounds f32 to f16 to nearest even, every f16 value round-tripping', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const finite = [...all].filter((h) => (h & 0x7c00) !== 0x7c00);
    const back = f32ToF16(halfToF32('F16', Uint16Array.from(finite)));
    expect([...back]).toEqual(finite);
    // Halfway between 1 and 1 + 2^-10 goes to 1; past 65519 overflows to inf.
    expect([...f32ToF16(Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, -1e6]))]).toEqual([0x3c00, 0x3c02, 0x7c00, 0xfc00]);
  });
});
