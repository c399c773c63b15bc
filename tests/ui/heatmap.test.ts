// Colour scales of the mixing-matrix heatmaps and the RGBA pixels of a causal matrix.
import { describe, expect, it } from 'vitest';
import {
  NON_FINITE,
  RDBU,
  VIRIDIS,
  causalFrobenius,
  causalMaxAbs,
  causalPixels,
  compress,
  cssGradient,
  difference,
  divergingColor,
  expand,
  interpolate,
  sequentialColor,
} from '../../src/ui/heatmap';

const luminance = ([r, g, b]: readonly number[]) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

describe('interpolation and compression', () => {
  it('hits the stops and blends between them', () => {
    expect(interpolate(VIRIDIS, 0)).toEqual(VIRIDIS[0]);
    expect(interpolate(VIRIDIS, 1)).toEqual(VIRIDIS[10]);
    expect(interpolate(VIRIDIS, 0.3)).toEqual(VIRIDIS[3]);
    expect(interpolate(VIRIDIS, 0.05)).toEqual([70, 19, 101]);
    expect(interpolate(VIRIDIS, -2)).toEqual(VIRIDIS[0]);
    expect(interpolate(VIRIDIS, 7)).toEqual(VIRIDIS[10]);
  });

  it('compress maps 0 → 0 and 1 → 1, lifts small values, and expand inverts it', () => {
    expect(compress(0, 1000)).toBe(0);
    expect(compress(1, 1000)).toBe(1);
    // A uniform row at L = 256 (1/256 of a one-hot maximum) lands a quarter of the way up, not at 0.4%.
    expect(compress(1 / 256, 1000)).toBeGreaterThan(0.2);
    expect(compress(0.25, 0)).toBe(0.25);
    for (const t of [0.01, 0.3, 0.5, 0.99]) expect(compress(expand(t, 1000), 1000)).toBeCloseTo(t, 12);
    let prev = -1;
    for (let x = 0; x <= 1; x += 0.01) {
      const c = compress(x, 1000);
      expect(c).toBeGreaterThan(prev);
      prev = c;
    }
  });

  it('viridis gets brighter along the scale', () => {
    for (let i = 1; i < VIRIDIS.length; i++) expect(luminance(VIRIDIS[i])).toBeGreaterThan(luminance(VIRIDIS[i - 1]));
  });
});

describe('sequential scale (attention and SSD matrices, distances)', () => {
  it('spans 0..max, clamps outside, flags non-finite values', () => {
    expect(sequentialColor(0, 0.5, 1000)).toEqual(VIRIDIS[0]);
    expect(sequentialColor(0.5, 0.5, 1000)).toEqual(VIRIDIS[10]);
    expect(sequentialColor(-0.1, 0.5, 1000)).toEqual(VIRIDIS[0]);
    expect(sequentialColor(9, 0.5, 1000)).toEqual(VIRIDIS[10]);
    expect(sequentialColor(NaN, 0.5, 1000)).toEqual(NON_FINITE);
    expect(sequentialColor(Infinity, 0.5, 1000)).toEqual(NON_FINITE);
    // An all-zero matrix has no maximum: everything at the bottom, nothing divided by 0.
    expect(sequentialColor(0, 0, 1000)).toEqual(VIRIDIS[0]);
    // Linear when k = 0.
    expect(sequentialColor(0.25, 0.5, 0)).toEqual(VIRIDIS[5]);
  });
});

describe('diverging scale (student − teacher)', () => {
  it('is white at 0, blue below, red above, symmetric in magnitude', () => {
    expect(divergingColor(0, 1, 100)).toEqual(RDBU[5]);
    expect(divergingColor(-1, 1, 100)).toEqual(RDBU[0]);
    expect(divergingColor(1, 1, 100)).toEqual(RDBU[10]);
    const lo = divergingColor(-0.2, 1, 0);
    const hi = divergingColor(0.2, 1, 0);
    expect(lo).toEqual(RDBU[4]);
    expect(hi).toEqual(RDBU[6]);
    expect(lo[2]).toBeGreaterThan(lo[0]);
    expect(hi[0]).toBeGreaterThan(hi[2]);
    expect(divergingColor(0.3, 0, 100)).toEqual(RDBU[5]);
    expect(divergingColor(NaN, 1, 100)).toEqual(NON_FINITE);
  });
});

describe('causal matrices', () => {
  // L = 3, rows are queries: [[a, ·, ·], [b, c, ·], [d, e, f]]; the upper triangle holds junk that must be ignored.
  const m = Float32Array.from([1, 99, 99, 0.5, 0.5, -99, 0.2, -0.3, 0.5]);

  it('max and Frobenius norm read the lower triangle only', () => {
    expect(causalMaxAbs(3, m)).toBe(1);
    expect(causalMaxAbs(3, m, Float32Array.from([0, 0, 0, 0, 0, 0, 0, 0, -2]))).toBe(2);
    expect(causalMaxAbs(3, Float32Array.from([NaN, 0, 0, 0, 0, 0, 0, 0, 0.1]))).toBeCloseTo(0.1, 6);
    expect(causalFrobenius(3, m)).toBeCloseTo(Math.sqrt(1 + 0.25 + 0.25 + 0.04 + 0.09 + 0.25), 6);
  });

  it('the difference is elementwise a − b', () => {
    expect(Array.from(difference([1, 2], [0.5, 3]))).toEqual([0.5, -1]);
    expect(() => difference([1], [1, 2])).toThrow('lengths 1 and 2');
  });

  it('pixels: lower triangle opaque in the given colours, upper triangle transparent', () => {
    const px = causalPixels(m, 3, (v) => sequentialColor(v, 1, 0));
    expect(px.length).toBe(36);
    const at = (i: number, j: number) => Array.from(px.slice((i * 3 + j) * 4, (i * 3 + j) * 4 + 4));
    expect(at(0, 0)).toEqual([...VIRIDIS[10], 255]);
    expect(at(1, 0)).toEqual([...VIRIDIS[5], 255]);
    expect(at(2, 1)).toEqual([...VIRIDIS[0], 255]);
    for (const [i, j] of [[0, 1], [0, 2], [1, 2]]) expect(at(i, j)).toEqual([0, 0, 0, 0]);
    expect(() => causalPixels(m, 4, () => [0, 0, 0])).toThrow('9 values for a 4×4 matrix');
  });

  it('legend gradients list every stop', () => {
    const g = cssGradient(RDBU);
    expect(g.startsWith('linear-gradient(90deg, rgb(5, 48, 97) 0.0%')).toBe(true);
    expect(g.endsWith('rgb(103, 0, 31) 100.0%)')).toBe(true);
    expect(g.match(/rgb\(/g)).toHaveLength(11);
  });
});
