// Colour scales for the mixing-matrix heatmaps and the distance grid, and the RGBA pixels of a causal
// L×L matrix. Pure functions: the canvases only copy what these return.

export type Rgb = readonly [number, number, number];

/** matplotlib's viridis at 0, 0.1, …, 1: perceptually even, and its dark end is still a colour, so a 0 stays apart from the masked triangle. */
export const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84],
  [72, 36, 117],
  [65, 68, 135],
  [53, 95, 141],
  [42, 120, 142],
  [33, 145, 140],
  [34, 168, 132],
  [68, 191, 112],
  [122, 209, 81],
  [189, 223, 38],
  [253, 231, 37],
];

/** ColorBrewer's RdBu reversed (blue below zero, white at zero, red above). */
export const RDBU: readonly Rgb[] = [
  [5, 48, 97],
  [33, 102, 172],
  [67, 147, 195],
  [146, 197, 222],
  [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199],
  [244, 165, 130],
  [214, 96, 77],
  [178, 24, 43],
  [103, 0, 31],
];

/** What a NaN or ±Inf is drawn as: nothing on these scales is magenta, so a broken value stands out. */
export const NON_FINITE: Rgb = [255, 0, 255];

/** Linear interpolation between evenly spaced stops; t is clamped to [0, 1]. */
export function interpolate(stops: readonly Rgb[], t: number): Rgb {
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/**
 * ln(1 + k·x) / ln(1 + k) for x in [0, 1]: 0 → 0, 1 → 1, and small values lifted. Causal softmax rows
 * sum to 1, so at L = 256 most entries are below 1% of the largest; a linear scale would show the
 * diagonal and the first column only. k = 1000 spreads about three decades over the scale while an
 * exact 0 still maps to 0 (no log floor to choose).
 */
export function compress(x: number, k: number): number {
  if (!(x > 0)) return 0;
  if (x >= 1) return 1;
  return k > 0 ? Math.log1p(k * x) / Math.log1p(k) : x;
}

/** The inverse of `compress`: the fraction of the maximum that lands at position t of the scale. */
export function expand(t: number, k: number): number {
  if (!(t > 0)) return 0;
  if (t >= 1) return 1;
  return k > 0 ? Math.expm1(t * Math.log1p(k)) / k : t;
}

/** Sequential scale over [0, max]; values at or below 0 take the bottom colour. */
export function sequentialColor(v: number, max: number, k: number, stops: readonly Rgb[] = VIRIDIS): Rgb {
  if (!Number.isFinite(v)) return NON_FINITE;
  return interpolate(stops, max > 0 ? compress(v / max, k) : 0);
}

/** Diverging scale over [−maxAbs, maxAbs], white at 0, each side compressed like `sequentialColor`. */
export function divergingColor(v: number, maxAbs: number, k: number, stops: readonly Rgb[] = RDBU): Rgb {
  if (!Number.isFinite(v)) return NON_FINITE;
  const m = maxAbs > 0 ? compress(Math.abs(v) / maxAbs, k) : 0;
  return interpolate(stops, 0.5 + 0.5 * Math.sign(v) * m);
}

/** Largest finite |value| over the causal (lower) triangles of the given L×L matrices; 0 when none. */
export function causalMaxAbs(L: number, ...matrices: ArrayLike<number>[]): number {
  let m = 0;
  for (const a of matrices) {
    for (let i = 0; i < L; i++) {
      for (let j = 0; j <= i; j++) {
        const v = Math.abs(a[i * L + j]);
        if (v > m && Number.isFinite(v)) m = v;
      }
    }
  }
  return m;
}

export function difference(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  if (a.length !== b.length) throw new Error(`difference: lengths ${a.length} and ${b.length}`);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

/** Frobenius norm of the causal triangle (what the stage-1 loss measures per head). */
export function causalFrobenius(L: number, a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < L; i++) for (let j = 0; j <= i; j++) s += a[i * L + j] * a[i * L + j];
  return Math.sqrt(s);
}

/**
 * RGBA pixels of a row-major L×L matrix, row i = query position (top to bottom), column j = key
 * position. The masked upper triangle is left transparent so it reads as "no value", not as 0.
 */
export function causalPixels(values: ArrayLike<number>, L: number, color: (v: number) => Rgb): Uint8ClampedArray<ArrayBuffer> {
  if (values.length !== L * L) throw new Error(`causalPixels: ${values.length} values for a ${L}×${L} matrix`);
  const px = new Uint8ClampedArray(L * L * 4);
  for (let i = 0; i < L; i++) {
    for (let j = 0; j <= i; j++) {
      const o = (i * L + j) * 4;
      const [r, g, b] = color(values[i * L + j]);
      px[o] = r;
      px[o + 1] = g;
      px[o + 2] = b;
      px[o + 3] = 255;
    }
  }
  return px;
}

export function cssColor(c: Rgb): string {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** A CSS gradient of `stops`, for the legends beside the heatmaps and the grid. */
export function cssGradient(stops: readonly Rgb[]): string {
  return `linear-gradient(90deg, ${stops.map((c, i) => `${cssColor(c)} ${((i / (stops.length - 1)) * 100).toFixed(1)}%`).join(', ')})`;
}
