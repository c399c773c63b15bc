// Bounds of the page's number fields: the store only ever receives values that pass them.

export interface FieldBounds {
  min: number;
  max: number;
  integer: boolean;
  step: number;
}

/** Why `value` is not acceptable for a field with `b`, or null when it is. */
export function fieldError(value: number, b: FieldBounds): string | null {
  if (!Number.isFinite(value)) return 'not a number';
  if (b.integer && !Number.isInteger(value)) return 'must be a whole number';
  if (value < b.min || value > b.max) return `must be between ${b.min} and ${b.max}`;
  return null;
}
