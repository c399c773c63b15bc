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
