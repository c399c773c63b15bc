// Axis ticks the way training curves are read: whole steps (never 2.5), tokens as 10k / 1.5M, wall
// time as a clock, and log axes on 1-2-5 values (0.2, 0.5, 1, 2, 5) rather than uPlot's evenly spaced
// exponents (22.538). The functions are pure; `axisTicks` adapts them to uPlot's splits/values.
import type uPlot from 'uplot';

export type TickKind = 'int' | 'tokens' | 'time' | 'linear' | 'log';

/** The 1-2-5 × 10^k step at or above `raw` (at least `min`). */
export function niceStep(raw: number, min = 0): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return Math.max(min, 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  const m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return Math.max(min, m * p);
}

/** `k × step` without float noise (0.30000000000000004 → 0.3). */
const snap = (v: number) => Number(v.toPrecision(12));

function multiples(min: number, max: number, step: number): number[] {
  const out: number[] = [];
  const eps = step * 1e-9;
  for (let k = Math.ceil((min - eps) / step); k * step <= max + eps; k++) out.push(snap(k * step));
  return out;
}

/**
 * About `count` ticks from min to max, multiples of a 1-2-5 step; whole numbers only when `integer`.
 * A short axis still gets two ticks where the span allows them (a finer step, never below 1 when integer).
 */
export function linearSplits(min: number, max: number, count: number, integer = false): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  if (max === min) return integer && !Number.isInteger(min) ? [] : [min];
  let raw = (max - min) / Math.max(1, count);
  let out = multiples(min, max, niceStep(raw, integer ? 1 : 0));
  for (let i = 0; i < 4 && out.length < 2 && !(integer && niceStep(raw, 1) === 1); i++) {
    raw /= 2.5;
    out = multiples(min, max, niceStep(raw, integer ? 1 : 0));
  }
  return out;
}

/**
 * Ticks of a log axis: 1, 2, 5 of each decade; on a wide span only the decades (every n-th when they
 * would crowd); on a span too narrow for three such values, evenly spaced ones.
 */
export function logSplits(min: number, max: number, count: number): number[] {
  if (!(min > 0) || !(max >= min) || !Number.isFinite(max)) return linearSplits(min, max, count);
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const within = (mantissas: number[], every = 1) => {
    const out: number[] = [];
    for (let e = lo; e <= hi; e++) {
      if ((e - lo) % every !== 0 && mantissas.length === 1) continue;
      for (const m of mantissas) {
        const v = snap(m * 10 ** e);
        if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
      }
    }
    return out;
  };
  const oneTwoFive = within([1, 2, 5]);
  if (oneTwoFive.length < 3) return linearSplits(min, max, count);
  if (oneTwoFive.length <= count * 1.5) return oneTwoFive;
  const decades = within([1]);
  if (decades.length <= count) return decades;
  return within([1], Math.ceil(decades.length / Math.max(1, count)));
}

/** Numbers in few characters: 0.2, 22.5, 1500, and 1e-4 / 2.5e6 for the tiny and the huge. */
export function compactNumber(v: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e6) return String(Number(v.toPrecision(6)));
  const e = Math.floor(Math.log10(a));
  let m = Number((v / 10 ** e).toPrecision(3));
  let ex = e;
  if (Math.abs(m) >= 10) {
    m /= 10;
    ex += 1;
  }
  return `${m}e${ex}`;
}

/** Token counts: 512, 10k, 1.5M, 2B. */
export function tokenLabel(v: number): string {
  const a = Math.abs(v);
  const unit = (d: number, s: string) => `${Number((v / d).toPrecision(4))}${s}`;
  if (a >= 1e9) return unit(1e9, 'B');
  if (a >= 1e6) return unit(1e6, 'M');
  if (a >= 1e3) return unit(1e3, 'k');
  return String(Number(v.toPrecision(6)));
}

/** Steps: whole numbers, shortened like tokens from 100k. */
export function stepLabel(v: number): string {
  return Math.abs(v) >= 1e5 ? tokenLabel(v) : String(Math.round(v));
}

/** Seconds as a clock: m:ss under an hour; h:mm beyond, with seconds only when ticks are closer than a minute. */
export function clockLabel(s: number, incr = 60): string {
  const t = Math.round(Math.max(0, s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  if (h === 0) return `${m}:${sec}`;
  return incr < 60 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${h}:${String(m).padStart(2, '0')}`;
}

/** Clock-friendly intervals, in seconds. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** About `count` ticks of wall time on whole seconds, minutes or hours. */
export function timeSplits(min: number, max: number, count: number): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
  const raw = (max - min) / Math.max(1, count);
  const step = TIME_STEPS.find((s) => s >= raw) ?? Math.ceil(raw / 86400) * 86400;
  const out: number[] = [];
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + 1e-9; k++) out.push(k * step + 0);
  return out;
}

/** The ticks of one kind on [min, max] with about `count` of them, and their labels. */
export function ticks(kind: TickKind, min: number, max: number, count: number): { splits: number[]; labels: string[] } {
  let splits: number[];
  if (kind === 'time') splits = timeSplits(min, max, count);
  else if (kind === 'log') splits = logSplits(min, max, count);
  else splits = linearSplits(min, max, count, kind === 'int' || kind === 'tokens');
  const incr = splits.length > 1 ? splits[1]! - splits[0]! : Infinity;
  const label = (v: number) => (kind === 'time' ? clockLabel(v, incr) : kind === 'tokens' ? tokenLabel(v) : kind === 'int' ? stepLabel(v) : compactNumber(v));
  return { splits, labels: splits.map(label) };
}

/** A value of an axis of this kind as its legend shows it. */
export function valueLabel(kind: TickKind, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (kind === 'time') return clockLabel(v, 1);
  if (kind === 'tokens') return tokenLabel(v);
  if (kind === 'int') return stepLabel(v);
  return compactNumber(v);
}

/**
 * uPlot `splits` and `values` for an axis of this kind: about one tick per `spacePx` CSS pixels of the
 * axis (axis 0 is the horizontal one).
 */
export function axisTicks(kind: TickKind, spacePx: number): Pick<uPlot.Axis, 'splits' | 'values' | 'filter'> {
  const count = (u: uPlot, axisIdx: number) => {
    const px = (axisIdx === 0 ? u.bbox.width : u.bbox.height) / (globalThis.devicePixelRatio || 1);
    return Math.max(2, Math.floor(px / spacePx));
  };
  return {
    splits: (u, axisIdx, min, max) => ticks(kind, min, max, count(u, axisIdx)).splits,
    // uPlot labels only the decades of a log axis by default; these ticks are already spaced to be read.
    filter: (_u, splits) => splits,
    values: (_u, splits) => {
      const incr = splits.length > 1 ? splits[1]! - splits[0]! : Infinity;
      return splits.map((v) => (v === null ? null : kind === 'time' ? clockLabel(v, incr) : valueLabel(kind, v)));
    },
  };
}
