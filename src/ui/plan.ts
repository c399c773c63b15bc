// The run plan's defaults and the bounds the page enforces before the engine sees a plan.
import type { RunPlan } from '../worker/api';

export const DEFAULT_PLAN: RunPlan = { layer: 0, seqLen: 64, batch: 4, steps: 200, lr: 0.01 };

export interface FieldBounds {
  min: number;
  max: number;
  integer: boolean;
  step: number;
}

/** `layers` is the loaded teacher's layer count (the layer bound follows it). */
export function planBounds(layers: number | null): Record<keyof RunPlan, FieldBounds> {
  return {
    layer: { min: 0, max: Math.max(0, (layers ?? 1) - 1), integer: true, step: 1 },
    seqLen: { min: 8, max: 4096, integer: true, step: 8 },
    batch: { min: 1, max: 256, integer: true, step: 1 },
    steps: { min: 1, max: 1_000_000, integer: true, step: 50 },
    lr: { min: 1e-6, max: 1, integer: false, step: 0.001 },
  };
}

/** Why `value` is not acceptable for a field with `b`, or null when it is. */
export function fieldError(value: number, b: FieldBounds): string | null {
  if (!Number.isFinite(value)) return 'not a number';
  if (b.integer && !Number.isInteger(value)) return 'must be a whole number';
  if (value < b.min || value > b.max) return `must be between ${b.min} and ${b.max}`;
  return null;
}

export function planErrors(plan: RunPlan, layers: number | null): Partial<Record<keyof RunPlan, string>> {
  const bounds = planBounds(layers);
  const out: Partial<Record<keyof RunPlan, string>> = {};
  for (const k of Object.keys(bounds) as (keyof RunPlan)[]) {
    const e = fieldError(plan[k], bounds[k]);
    if (e) out[k] = e;
  }
  return out;
}
