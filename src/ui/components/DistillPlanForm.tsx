import { useEffect, useState } from 'react';
import type { AdvisorMethod, Stage } from '../../mohawk/plan';
import { useUi } from '../store';
import { EVEN_MARGIN, PROBE3_SHARE, WARM_SHARE } from '../../mohawk/hybrid-advisor';
import { ADVISOR_METHODS, RECOMPUTE_ABOVE_BYTES, STAGES, STAGE_NAMES, STAGE_SHORT, stepsPerStage, tokensPerStep, totalTokens } from '../../mohawk/plan';
import { LR_BOUNDS, SCALAR_BOUNDS, TOKENS_BOUNDS, distillPlanErrors, formatLayerList, parseLayerList, teacherPositions, type ScalarField } from '../plan-form';
import { count, tokens as fmtTokens } from '../../util/format';
import { NumberField } from './NumberField';
import { ExportPlanButton } from './ExportPlanButton';

const TOTAL_BOUNDS = { ...TOKENS_BOUNDS, step: 100_000 };

function useLocked(): boolean {
  return useUi((s) => s.run.running || s.starting);
}

function useErrors() {
  const plan = useUi((s) => s.plan);
  const teacher = useUi((s) => s.teacher);
  return distillPlanErrors(plan, teacher?.layers ?? null, teacherPositions(teacher));
}

function Scalar({ field, label, hint }: { field: ScalarField; label: string; hint: string }) {
  const value = useUi((s) => s.plan[field]);
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  const errors = useErrors();
  return (
    <NumberField
      testId={`plan-${field}`}
      label={label}
      hint={hint}
      value={value}
      bounds={SCALAR_BOUNDS[field]}
      disabled={locked}
      problem={errors[field]}
      onValue={(n) => setPlan({ [field]: n })}
    />
  );
}

/** A yes/no plan field as a checkbox. */
function Toggle({ field, label, title }: { field: 'freezeMlp' | 'streamLayers'; label: string; title?: string }) {
  const value = useUi((s) => s.plan[field]);
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  return (
    <label className="field toggle-field wide" title={title}>
      <input type="checkbox" data-testid={`plan-${field}`} checked={value} disabled={locked} onChange={(e) => setPlan({ [field]: e.target.checked })} />
      <span>{label}</span>
    </label>
  );
}

/** Packing within documents as a checkbox: off is the default, windows across documents. */
function Packing() {
  const within = useUi((s) => s.plan.packing === 'within');
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  return (
    <label
      className="field toggle-field wide"
      title="Off (the default): training sequences are windows anywhere in the documents back to back, each document with the BOS/EOS its tokenizer places. On: each sequence lies inside one document, and documents shorter than a sequence are not trained on."
    >
      <input type="checkbox" data-testid="plan-packing" checked={within} disabled={locked} onChange={(e) => setPlan({ packing: e.target.checked ? 'within' : 'across' })} />
      <span>keep each sequence within one document</span>
    </label>
  );
}

/** Recomputing stage 3's activations always as a checkbox: off is the default, 'auto' (recompute when the plan needs it). */
function Recompute() {
  const on = useUi((s) => s.plan.recompute === 'on');
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  return (
    <label
      className="field toggle-field wide"
      title={`Stage 3 keeps one layer's activations and recomputes each block's in the backward: less GPU memory for slower steps, the same training. Off, it recomputes only when the plan's estimate without it is over ${RECOMPUTE_ABOVE_BYTES / 2 ** 30} GiB.`}
    >
      <input type="checkbox" data-testid="plan-recompute" checked={on} disabled={locked} onChange={(e) => setPlan({ recompute: e.target.checked ? 'on' : 'auto' })} />
      <span>always recompute stage 3 activations (less GPU memory, slower)</span>
    </label>
  );
}

/**
 * The teacher's attention in f16 storage as a checkbox: off is f32, the default. It needs shader-f16;
 * where the adapter has none the box is disabled and says so (a plan loaded with f16 is refused at
 * Start by validatePlan, naming the feature).
 */
function TeacherAttention() {
  const on = useUi((s) => s.plan.teacherAttention === 'f16');
  const f16 = useUi((s) => s.gpu?.shaderF16 ?? false);
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  const why = f16
    ? "The frozen teacher's attention reads f16 copies of its q, k and v: half the bytes for keys and values, every product and sum still f32. Its outputs differ from f32 by those inputs' rounding only."
    : 'Needs the shader-f16 feature, which this GPU adapter does not offer.';
  return (
    <label className="field toggle-field wide" title={why}>
      <input
        type="checkbox"
        data-testid="plan-teacher-f16"
        checked={on}
        disabled={locked || (!f16 && !on)}
        onChange={(e) => setPlan({ teacherAttention: e.target.checked ? 'f16' : 'f32' })}
      />
      <span>teacher attention reads f16 q, k, v (half the key and value bytes){f16 ? '' : ': this GPU has no shader-f16'}</span>
    </label>
  );
}

/**
 * The GPU memory the run may take: blank leaves it unchecked (WebGPU does not say how much the device
 * has); a number makes Start refuse a plan whose estimate is over it, naming what would fit.
 */
function GpuMemory() {
  const value = useUi((s) => s.plan.gpuMemoryGiB);
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  const [draft, setDraft] = useState(value === undefined ? '' : String(value));
  const n = Number(draft);
  const bad = draft.trim() !== '' && !(n > 0 && Number.isFinite(n));
  return (
    <label className="field" title="What the card has less what its driver and other programs keep (about 22 GiB on a 24 GB card). Start refuses a plan whose estimate is over it and says what would make it fit.">
      <span className="field-label">GPU memory limit</span>
      <input
        type="number"
        data-testid="plan-gpu-memory"
        value={draft}
        min={0}
        step={1}
        placeholder="not checked"
        disabled={locked}
        aria-invalid={bad ? true : undefined}
        onChange={(e) => {
          setDraft(e.target.value);
          const t = e.target.value.trim();
          const x = Number(t);
          if (t === '') setPlan({ gpuMemoryGiB: undefined });
          else if (x > 0 && Number.isFinite(x)) setPlan({ gpuMemoryGiB: x });
        }}
      />
      <span className={`field-hint ${bad ? 'invalid' : ''}`}>{bad ? 'a positive number of GiB, or blank' : 'GiB; blank: not checked'}</span>
    </label>
  );
}

function StageRow({ stage }: { stage: Stage }) {
  const on = useUi((s) => s.plan.stages.includes(stage));
  const budget = useUi((s) => s.plan.tokens[stage]);
  const lr = useUi((s) => s.plan.lr[stage]);
  const steps = useUi((s) => stepsPerStage(s.plan)[stage]);
  const { setStageOn, setStageTokens, setStageLr } = useUi.getState();
  const locked = useLocked();
  const errors = useErrors();
  return (
    <div className={`stage-row ${on ? '' : 'off'}`} data-testid={`plan-stage-row-${stage}`}>
      <label className="stage-name" title={STAGE_NAMES[stage]}>
        <input type="checkbox" data-testid={`plan-stage-${stage}`} checked={on} disabled={locked} onChange={(e) => setStageOn(stage, e.target.checked)} />
        <span>
          <b>{stage}</b> {STAGE_SHORT[stage]}
        </span>
      </label>
      <NumberField
        testId={`plan-tokens-${stage}`}
        label=""
        hint={on ? fmtTokens(budget) : ''}
        value={budget}
        bounds={TOKENS_BOUNDS}
        disabled={locked || !on}
        problem={errors[`tokens.${stage}`]}
        onValue={(n) => setStageTokens(stage, n)}
      />
      <NumberField
        testId={`plan-lr-${stage}`}
        label=""
        hint=""
        value={lr}
        bounds={LR_BOUNDS}
        disabled={locked || !on}
        problem={errors[`lr.${stage}`]}
        onValue={(n) => setStageLr(stage, n)}
      />
      <span className="stage-steps" data-testid={`plan-steps-${stage}`}>
        {on ? count(steps) : '–'}
      </span>
    </div>
  );
}

/** auto:K: the hybrid advisor chooses K layers to keep the teacher's attention before stage 3. */
function AttentionAuto() {
  const k = useUi((s) => s.plan.attentionAuto ?? null);
  const layers = useUi((s) => s.teacher?.layers ?? null);
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  const errors = useErrors();
  return (
    <div className="field wide auto-k">
      <label
        className="toggle-field"
        title="After stage 2 (or a short probe of stages 1–2 when the plan has no stage 2), rank the layers by their stage-2 residual relative to the attention output it fits and by the held-out KL with each layer alone restored to attention; keep the K best as attention in stage 3. The page shows the ranking and waits for you to accept or edit it."
      >
        <input
          type="checkbox"
          data-testid="plan-attentionAuto-on"
          checked={k !== null}
          disabled={locked}
          onChange={(e) => setPlan(e.target.checked ? { attentionAuto: Math.max(1, Math.min(2, (layers ?? 3) - 1)), attentionLayers: [] } : { attentionAuto: null })}
        />
        <span>choose the attention layers by evidence (auto:K)</span>
      </label>
      {k !== null ? (
        <NumberField
          testId="plan-attentionAuto"
          label="K"
          hint={`layers kept as attention${layers ? ` (1 to ${layers - 1})` : ''}`}
          value={k}
          bounds={AUTO_K_BOUNDS}
          disabled={locked}
          problem={errors.attentionAuto}
          onValue={(n) => setPlan({ attentionAuto: n })}
        />
      ) : null}
      {k !== null ? <AdvisorMethodField /> : null}
    </div>
  );
}

const ADVISOR_METHOD_HELP: Record<AdvisorMethod, string> = {
  sets: `a short stage 3 (${100 * PROBE3_SHARE}% of it) for each of up to 4 candidate sets; the set that ends closest to the teacher is kept (evenly spaced placement unless another is ${100 * EVEN_MARGIN}% closer)`,
  greedy: `one short stage 3 (${100 * WARM_SHARE}% of it) with every layer a mixer, then layers restored to attention one at a time by the held-out KL they save (KL-guided layer selection); evenly spaced placement kept unless a set restores ${100 * EVEN_MARGIN}% closer`,
};

/** How auto:K decides among the candidate layer sets (DistillPlan.advisorMethod). */
function AdvisorMethodField() {
  const method = useUi((s) => s.plan.advisorMethod ?? 'sets');
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  return (
    <label className="field" title={`sets: ${ADVISOR_METHOD_HELP.sets}. greedy: ${ADVISOR_METHOD_HELP.greedy}. Either probe's tokens come on top of the plan's.`}>
      <span className="field-label">decided by</span>
      <select data-testid="plan-advisorMethod" value={method} disabled={locked} onChange={(e) => setPlan({ advisorMethod: e.target.value as AdvisorMethod })}>
        {ADVISOR_METHODS.map((m) => (
          <option key={m} value={m}>
            {m === 'sets' ? 'a stage-3 probe per candidate set' : 'greedy KL after one stage-3 probe'}
          </option>
        ))}
      </select>
      <span className="field-hint">{ADVISOR_METHOD_HELP[method]}</span>
    </label>
  );
}

const AUTO_K_BOUNDS = { min: 1, max: 1024, integer: true, step: 1 };

function AttentionLayers() {
  const value = useUi((s) => s.plan.attentionLayers);
  const auto = useUi((s) => (s.plan.attentionAuto ?? null) !== null);
  const layers = useUi((s) => s.teacher?.layers ?? null);
  const setPlan = useUi((s) => s.setPlan);
  const locked = useLocked();
  const errors = useErrors();
  const [draft, setDraft] = useState(formatLayerList(value));
  const [parseError, setParseError] = useState<string | null>(null);
  useEffect(() => {
    setDraft((d) => {
      try {
        return formatLayerList(parseLayerList(d)) === formatLayerList(value) ? d : formatLayerList(value);
      } catch {
        return d;
      }
    });
  }, [value]);
  const error = parseError ?? errors.attentionLayers ?? null;
  return (
    <label className="field wide">
      <span className="field-label">attention layers (hybrid student)</span>
      <input
        type="text"
        data-testid="plan-attentionLayers"
        value={draft}
        placeholder={auto ? 'chosen by the advisor (auto:K)' : 'none: every layer becomes Mamba'}
        disabled={locked || auto}
        aria-invalid={error ? true : undefined}
        onChange={(e) => {
          setDraft(e.target.value);
          try {
            setPlan({ attentionLayers: parseLayerList(e.target.value) });
            setParseError(null);
          } catch (err) {
            setParseError((err as Error).message);
          }
        }}
      />
      <span className={`field-hint ${error ? 'invalid' : ''}`}>
        {error ?? `layers that keep the teacher's attention, e.g. "1, 3"${layers ? ` (0 to ${layers - 1})` : ''}`}
      </span>
    </label>
  );
}

export function DistillPlanForm() {
  const plan = useUi((s) => s.plan);
  const setTotalTokens = useUi((s) => s.setTotalTokens);
  const locked = useLocked();
  const errors = useErrors();
  const total = totalTokens(plan);
  const per = tokensPerStep(plan);
  return (
    <section className="panel" data-testid="plan-form">
      <h2>Distillation plan</h2>
      <NumberField
        testId="plan-total"
        label="total tokens"
        hint={`${fmtTokens(total)} in all, split 80 : 160 : 2760 over the stages that run, as the paper's 80M : 160M : 2.76B`}
        value={total}
        bounds={TOTAL_BOUNDS}
        disabled={locked || plan.stages.length === 0}
        onValue={setTotalTokens}
      />
      <div className="stage-table">
        <div className="stage-row head">
          <span>stage</span>
          <span>tokens</span>
          <span>peak lr</span>
          <span>steps</span>
        </div>
        {STAGES.map((s) => (
          <StageRow key={s} stage={s} />
        ))}
        {errors.stages ? <p className="field-hint invalid">{errors.stages}</p> : null}
      </div>
      <div className="fields">
        <Scalar field="seqLen" label="sequence length" hint="tokens per sequence" />
        <Scalar field="batch" label="batch" hint="sequences per micro-batch" />
        <Scalar field="accumulate" label="gradient accumulation" hint={`${count(per)} tokens per step`} />
        <Scalar field="temperature" label="temperature" hint="stage 3 soft cross-entropy" />
        <Toggle field="freezeMlp" label="freeze the copied MLPs in stage 3" />
        <Toggle
          field="streamLayers"
          label="stream layers in stages 1–2 (one layer on the GPU at a time)"
          title="Stages 1 and 2 keep one layer of teacher and student on the GPU at a time, copying the rest to and from memory: slower, for a teacher that does not fit. The held-out evaluation then holds one model at a time; stage 3 still needs both whole models on the GPU."
        />
        <Recompute />
        <TeacherAttention />
        <GpuMemory />
        <Packing />
        <AttentionLayers />
        <AttentionAuto />
      </div>
      <details className="more">
        <summary>Schedule and optimizer</summary>
        <div className="fields">
          <Scalar field="warmup" label="warmup" hint="fraction of each stage" />
          <Scalar field="decay" label="decay" hint="fraction at the end" />
          <Scalar field="maxGradNorm" label="gradient clip" hint="max global norm" />
          <Scalar field="weightDecay" label="weight decay" hint="AdamW" />
          <Scalar field="seed" label="seed" hint="initialisation and sampling" />
        </div>
        {errors.schedule ? <p className="field-hint invalid">{errors.schedule}</p> : null}
        <p className="muted small">
          AdamW (β 0.9, 0.95) per stage with warmup-stable-decay: a linear warmup, a flat middle, and a linear decay to
          10% of the peak.
        </p>
      </details>
      <ExportPlanButton />
    </section>
  );
}
