import { useEffect, useState } from 'react';
import type { RunPlan } from '../../worker/api';
import { useUi } from '../store';
import { fieldError, planBounds, type FieldBounds } from '../plan';
import { RunButton } from './RunButton';

interface FieldProps {
  field: keyof RunPlan;
  label: string;
  hint: string;
  bounds: FieldBounds;
  disabled: boolean;
}

/** A bounded number input: the store only ever receives valid values; a bad entry is shown, not kept. */
function PlanField({ field, label, hint, bounds, disabled }: FieldProps) {
  const value = useUi((s) => s.plan[field]);
  const setPlan = useUi((s) => s.setPlan);
  const [draft, setDraft] = useState(String(value));
  useEffect(() => {
    // Follow changes made elsewhere (a clamp after loading a teacher), not re-format what is typed.
    setDraft((d) => (Number(d) === value ? d : String(value)));
  }, [value]);
  const parsed = Number(draft);
  const error = draft.trim() === '' ? 'required' : fieldError(parsed, bounds);
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      <input
        type="number"
        data-testid={`plan-${field}`}
        value={draft}
        min={bounds.min}
        max={bounds.max}
        step={bounds.step}
        disabled={disabled}
        aria-invalid={error ? true : undefined}
        onChange={(e) => {
          setDraft(e.target.value);
          const n = Number(e.target.value);
          if (e.target.value.trim() !== '' && !fieldError(n, bounds)) setPlan({ [field]: n });
        }}
        onBlur={() => setDraft(String(useUi.getState().plan[field]))}
      />
      <span className={`field-hint ${error ? 'invalid' : ''}`}>{error ? `${error}; keeps ${value}` : hint}</span>
    </label>
  );
}

export function PlanControls() {
  const layers = useUi((s) => s.teacher?.layers ?? null);
  const locked = useUi((s) => s.run.running || s.starting);
  const b = planBounds(layers);
  return (
    <section className="panel">
      <h2>Stage 1 · matrix orientation</h2>
      <p className="muted small">
        The student's SSD mixing matrix L∘(C·Bᵀ) is fitted to the teacher's softmax attention matrices of one layer, on
        TinyStories text.
      </p>
      <div className="fields">
        <PlanField field="layer" label="layer" hint={layers ? `0 to ${layers - 1}` : 'teacher layer'} bounds={b.layer} disabled={locked} />
        <PlanField field="seqLen" label="sequence length" hint="tokens per sequence" bounds={b.seqLen} disabled={locked} />
        <PlanField field="batch" label="batch" hint="sequences per step" bounds={b.batch} disabled={locked} />
        <PlanField field="steps" label="steps" hint="optimizer steps" bounds={b.steps} disabled={locked} />
        <PlanField field="lr" label="learning rate" hint="AdamW peak, cosine decay" bounds={b.lr} disabled={locked} />
      </div>
      <RunButton />
    </section>
  );
}
