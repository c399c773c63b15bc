const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function mib(bytes: number): string {
  return `${int.format(bytes / 2 ** 20)} MiB`;
}

export function count(n: number): string {
  return int.format(n);
}

/** 262144 → "262K", 1.1e9 → "1.10B": parameter counts as people say them. */
export function compact(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}K`;
  return String(n);
}

/** Losses span decades during a run; four significant digits read well at every scale. */
export function loss(x: number | null): string {
  if (x === null) return '–';
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e5 ? x.toPrecision(4) : x.toExponential(3);
}

/** Seconds as a clock: 75 → "1:15", 3725 → "1:02:05"; null (not known yet) → "–". */
export function duration(s: number | null): string {
  if (s === null || !Number.isFinite(s) || s < 0) return '–';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** File sizes: students range from hundreds of KiB to GiB. */
export function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(0)} KiB`;
  return `${n} B`;
}

/** Token counts in plan fields and labels: 2_760_000 → "2.76M". */
export function tokens(n: number): string {
  if (n >= 1e9) return `${+(n / 1e9).toPrecision(3)}B`;
  if (n >= 1e6) return `${+(n / 1e6).toPrecision(3)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toPrecision(3)}K`;
  return String(n);
}

/** An estimate's length as people say it: 42 → "42 s", 200 → "3 min 20 s", 23_400 → "6 h 30 min", 200_000 → "2 d 7 h". */
export function roughDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '–';
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const t = Math.round(s);
  if (t < 600) return `${Math.floor(t / 60)} min ${String(t % 60).padStart(2, '0')} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
