// One Dawn device per test file, shared by its tests.
import { Gpu } from '../../src/gpu/runtime';

let gpuPromise: Promise<Gpu> | null = null;

export function testGpu(): Promise<Gpu> {
  gpuPromise ??= Gpu.create({ notice: (l) => console.warn(l) });
  return gpuPromise;
}

/** Largest |a-b| / max(|b|, floor) over all elements, where floor keeps near-zero entries honest. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor?: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  const f = floor ?? Math.max(scale * 1e-3, 1e-12);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), f);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
  }
  return worst;
}

/**
 * relErr with entries under 1% of the largest |b| counted against that 1%: for model outputs such as
 * logits, where a value of 0.01 is the cancellation of terms of size 1 and carries their f32
 * rounding, not its own.
 */
export function relErrOfScale(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return relErr(a, b, 1e-2 * scale);
}

/** Deterministic uniform(-s, s) numbers. */
export function randn(n: number, seed: number, s = 1): Float32Array {
  let x = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = ((x / 0x100000000) * 2 - 1) * s;
  }
  return out;
}
