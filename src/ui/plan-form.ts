// The plan form's own rules: the bounds of its fields and the per-field messages it shows while the
// user types. The plan itself (types, defaults, step arithmetic, the check a start goes through) is
// src/mohawk/plan.ts.
import { tokensPerStep, type DistillPlan, type Stage } from '../mohawk/plan';
import { fieldError, type FieldBounds } from './field-bounds';
import type { TeacherSummary } from '../models/teacher';

/** The plan form's bound on the sequence length from a loaded teacher, null before one is loaded. */
export function teacherPositions(t: Pick<TeacherSummary, 'maxPositions' | 'positionsField'> | null): { max: number; field: string } | null {
  return t ? { max: t.maxPositions, field: t.positionsField } : null;
}

export type ScalarField = 'seqLen' | 'batch' | 'accumulate' | 'warmup' | 'decay' | 'maxGradNorm' | 'weightDecay' | 'temperature' | 'seed';
export type PlanErrorKey = ScalarField | 'stages' | 'total' | `tokens.${Stage}` | `lr.${Stage}` | 'attentionLayers' | 'attentionAuto' | 'schedule';
export type PlanErrors = Partial<Record<PlanErrorKey, string>>;

export const SCALAR_BOUNDS: Record<ScalarField, FieldBounds> = {
  seqLen: { min: 8, max: 8192, integer: true, step: 8 },
  batch: { min: 1, max: 256, integer: true, step: 1 },
  accumulate: { min: 1, max: 1024, integer: true, step: 1 },
  warmup: { min: 0, max: 1, integer: false, step: 0.01 },
  decay: { min: 0, max: 1, integer: false, step: 0.01 },
  // The optimizer clips whenever a norm is given, so 0 ("off") is not a value it takes.
  maxGradNorm: { min: 0.001, max: 1000, integer: false, step: 0.1 },
  weightDecay: { min: 0, max: 1, integer: false, step: 0.01 },
  temperature: { min: 0.1, max: 10, integer: false, step: 0.1 },
  seed: { min: 0, max: 2 ** 31 - 1, integer: true, step: 1 },
};

export const TOKENS_BOUNDS: FieldBounds = { min: 1, max: 1e12, integer: true, step: 1000 };
export const LR_BOUNDS: FieldBounds = { min: 1e-7, max: 0.5, integer: false, step: 0.0001 };

/** "1, 3" or "1 3" → [1, 3]; an empty text is a pure Mamba student. Throws with a message otherwise. */
export function parseLayerList(text: string): number[] {
  const parts = text.split(/[\s,;]+/).filter((t) => t !== '');
  const out: number[] = [];
  for (const t of parts) {
    if (!/^\d+$/.test(t)) throw new Error(`"${t}" is not a layer number`);
    const n = Number(t);
    if (!out.includes(n)) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

export function formatLayerList(layers: readonly number[]): string {
  return layers.join(', ');
}

/**
 * Why the plan cannot run, per field (empty when it can). `layers` is the loaded teacher's layer
 * count and `positions` its longest sequence, null before one is loaded (those bounds are then left
 * to the engine).
 */
export function distillPlanErrors(p: DistillPlan, layers: number | null, positions: { max: number; field: string } | null = null): PlanErrors {
  const out: PlanErrors = {};
  for (const k of Object.keys(SCALAR_BOUNDS) as ScalarField[]) {
    const e = fieldError(p[k], SCALAR_BOUNDS[k]);
    if (e) out[k] = e;
  }
  if (!out.seqLen && positions && p.seqLen > positions.max) out.seqLen = `this teacher has ${positions.max} positions (${positions.field} in its config.json)`;
  if (!out.warmup && !out.decay && p.warmup + p.decay > 1) out.schedule = 'warmup and decay together exceed the whole stage';
  if (p.stages.length === 0) out.stages = 'choose at least one stage';
  const per = tokensPerStep(p);
  for (const s of p.stages) {
    const e = fieldError(p.tokens[s], TOKENS_BOUNDS);
    if (e) out[`tokens.${s}`] = e;
    else if (Number.isFinite(per) && per > 0 && p.tokens[s] < per) {
      out[`tokens.${s}`] = `less than one optimizer step (${per.toLocaleString('en-US')} tokens)`;
    }
    const l = fieldError(p.lr[s], LR_BOUNDS);
    if (l) out[`lr.${s}`] = l;
  }
  const a = p.attentionLayers;
  if (a.some((l) => !Number.isInteger(l) || l < 0)) out.attentionLayers = 'layers are whole numbers from 0';
  else if (new Set(a).size !== a.length) out.attentionLayers = 'a layer is named twice';
  else if (layers !== null && a.some((l) => l >= layers)) out.attentionLayers = `this teacher has layers 0 to ${layers - 1}`;
  else if (layers !== null && a.length >= layers) out.attentionLayers = 'every layer kept as attention leaves nothing to distill';
  const k = p.attentionAuto;
  if (k !== undefined && k !== null) {
    if (!Number.isInteger(k) || k < 1) out.attentionAuto = 'K is a whole number of layers from 1';
    else if (layers !== null && k >= layers) out.attentionAuto = `this teacher has ${layers} layers: K is 1 to ${layers - 1}`;
    else if (!p.stages.includes(3)) out.attentionAuto = 'the advisor chooses the layers of stage 3: turn stage 3 on';
  }
  return out;
}

export function planErrorText(errors: PlanErrors): string {
  return Object.entries(errors)
    .map(([k, v]) => `${k.replace('.', ' ')}: ${v}`)
    .join('; ');
}
