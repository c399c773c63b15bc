// The distillation plan as the page edits it: defaults, the paper's token proportions, and the checks
// the page makes before the engine sees a plan (the engine checks again against the corpus, the
// teacher's positions and the adapter's memory).
import type { DistillPlan, PerStage, Stage } from '../worker/api';
import { fieldError, type FieldBounds } from './plan';

export const STAGES: readonly Stage[] = [1, 2, 3];

export const STAGE_NAMES: PerStage<string> = {
  1: 'matrix orientation',
  2: 'hidden-state alignment',
  3: 'weight transfer & distillation',
};

/** For narrow places (the plan's stage table). */
export const STAGE_SHORT: PerStage<string> = { 1: 'orientation', 2: 'alignment', 3: 'distillation' };

/** The MOHAWK paper's budgets for Phi-Mamba (80M : 160M : 2.76B tokens); only their ratio is used. */
export const PAPER_TOKENS: PerStage<number> = { 1: 80e6, 2: 160e6, 3: 2.76e9 };

/**
 * Sized for the built-in stories260K teacher (5 layers, d 64, 512 positions) on a laptop GPU:
 * - 3M tokens in all, the paper's 3B divided by 1000, so the split is a round 80K : 160K : 2.76M.
 * - seq 256 (half the teacher's context, the length its held-out NLL is quoted at) × batch 4 = 1,024
 *   tokens per optimizer step: 79, 157 and 2,696 steps, enough for AdamW to settle each stage while
 *   the whole run stays in minutes.
 * - Stages 1 and 2 regress a few mixer parameters per layer onto fixed teacher targets and take a
 *   larger rate (1e-3); stage 3 moves the whole network away from weights that already work, so it
 *   takes a smaller one (3e-4) to keep what stages 1–2 and the copied MLPs bring.
 * - A short warmup (5%) and a decay over the last 20% (warmup-stable-decay), clipping at norm 1,
 *   no weight decay (budgets this short do not overfit), temperature 1 (plain soft cross-entropy).
 * The same values as the engine's own default plan, so `mohawk distill` without flags matches the page.
 */
export const DEFAULT_DISTILL_PLAN: DistillPlan = {
  stages: [1, 2, 3],
  tokens: { 1: 80_000, 2: 160_000, 3: 2_760_000 },
  lr: { 1: 1e-3, 2: 1e-3, 3: 3e-4 },
  seqLen: 256,
  batch: 4,
  accumulate: 1,
  warmup: 0.05,
  decay: 0.2,
  maxGradNorm: 1,
  weightDecay: 0,
  temperature: 1,
  freezeMlp: false,
  attentionLayers: [],
  seed: 1,
  streamLayers: false,
};

export function clonePlan(p: DistillPlan): DistillPlan {
  return { ...p, stages: [...p.stages], tokens: { ...p.tokens }, lr: { ...p.lr }, attentionLayers: [...p.attentionLayers] };
}

export function tokensPerStep(p: Pick<DistillPlan, 'seqLen' | 'batch' | 'accumulate'>): number {
  return p.seqLen * p.batch * p.accumulate;
}

/** Optimizer steps per stage as the engine counts them (a partial last step is still a step); 0 when off. */
export function stepsPerStage(p: DistillPlan): PerStage<number> {
  const per = tokensPerStep(p);
  const f = (s: Stage) => (p.stages.includes(s) && per > 0 ? Math.max(1, Math.ceil(p.tokens[s] / per)) : 0);
  return { 1: f(1), 2: f(2), 3: f(3) };
}

/** Tokens the enabled stages consume together. */
export function totalTokens(p: DistillPlan): number {
  return p.stages.reduce((sum, s) => sum + p.tokens[s], 0);
}

/**
 * `total` whole tokens split over `stages` in proportion to `weights` (largest remainders, so the
 * parts are integers that add up to `total` exactly). Stages not listed get 0.
 */
export function splitTokens(total: number, stages: readonly Stage[], weights: PerStage<number> = PAPER_TOKENS): PerStage<number> {
  const out: PerStage<number> = { 1: 0, 2: 0, 3: 0 };
  const on = STAGES.filter((s) => stages.includes(s));
  const sum = on.reduce((a, s) => a + weights[s], 0);
  if (on.length === 0 || !(sum > 0) || !(total > 0)) return out;
  const exact = on.map((s) => (total * weights[s]) / sum);
  let left = Math.round(total);
  on.forEach((s, i) => {
    out[s] = Math.floor(exact[i]);
    left -= out[s];
  });
  // Hand the remaining units to the largest fractional parts (ties to the earlier stage).
  const order = on.map((s, i) => ({ s, frac: exact[i] - Math.floor(exact[i]) })).sort((a, b) => b.frac - a.frac);
  for (let i = 0; left > 0; i = (i + 1) % order.length, left--) out[order[i].s]++;
  return out;
}

/** The plan with its enabled stages' budgets replaced by `total` split in the paper's proportions. */
export function withTotal(p: DistillPlan, total: number): DistillPlan {
  const parts = splitTokens(total, p.stages);
  const tokens = { ...p.tokens };
  for (const s of p.stages) tokens[s] = parts[s];
  return { ...clonePlan(p), tokens };
}

/** Turns a stage on or off; budgets stay as they are, so turning one back on restores its budget. */
export function toggleStage(p: DistillPlan, stage: Stage, on: boolean): DistillPlan {
  const set = new Set(p.stages);
  if (on) set.add(stage);
  else set.delete(stage);
  return { ...clonePlan(p), stages: STAGES.filter((s) => set.has(s)) };
}

export type ScalarField = 'seqLen' | 'batch' | 'accumulate' | 'warmup' | 'decay' | 'maxGradNorm' | 'weightDecay' | 'temperature' | 'seed';
export type PlanErrorKey = ScalarField | 'stages' | 'total' | `tokens.${Stage}` | `lr.${Stage}` | 'attentionLayers' | 'schedule';
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
 * count, null before one is loaded (layer bounds are then left to the engine).
 */
export function distillPlanErrors(p: DistillPlan, layers: number | null): PlanErrors {
  const out: PlanErrors = {};
  for (const k of Object.keys(SCALAR_BOUNDS) as ScalarField[]) {
    const e = fieldError(p[k], SCALAR_BOUNDS[k]);
    if (e) out[k] = e;
  }
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
  return out;
}

export function planErrorText(errors: PlanErrors): string {
  return Object.entries(errors)
    .map(([k, v]) => `${k.replace('.', ' ')}: ${v}`)
    .join('; ');
}
