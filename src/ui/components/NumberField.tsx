import { useEffect, useState } from 'react';
import { fieldError, type FieldBounds } from '../field-bounds';

interface Props {
  testId: string;
  label: string;
  hint: string;
  value: number;
  bounds: FieldBounds;
  disabled: boolean;
  onValue(n: number): void;
  /** A problem the bounds cannot see (e.g. a budget below one optimizer step). */
  problem?: string;
  className?: string;
}

/** A bounded number input: the store only ever receives valid values; a bad entry is shown, not kept. */
export function NumberField({ testId, label, hint, value, bounds, disabled, onValue, problem, className }: Props) {
  const [draft, setDraft] = useState(String(value));
  useEffect(() => {
    // Follow changes made elsewhere (a total re-split), not re-format what is typed.
    setDraft((d) => (Number(d) === value ? d : String(value)));
  }, [value]);
  const parsed = Number(draft);
  const own = draft.trim() === '' ? 'required' : fieldError(parsed, bounds);
  const error = own ? `${own}; keeps ${value}` : (problem ?? null);
  return (
    <label className={`field ${className ?? ''}`}>
      {label ? <span className="field-label">{label}</span> : null}
      <input
        type="number"
        data-testid={testId}
        value={draft}
        min={bounds.min}
        max={bounds.max}
        step={bounds.step}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        aria-label={label || undefined}
        onChange={(e) => {
          setDraft(e.target.value);
          const n = Number(e.target.value);
          if (e.target.value.trim() !== '' && !fieldError(n, bounds)) onValue(n);
        }}
        onBlur={() => setDraft(String(value))}
      />
      {hint || error ? <span className={`field-hint ${error ? 'invalid' : ''}`}>{error ?? hint}</span> : null}
    </label>
  );
}
