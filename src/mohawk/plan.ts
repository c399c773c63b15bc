// The plan of a MOHAWK run: what it is, its defaults, the arithmetic of its steps, and the one check
// (validatePlan) every start goes through, the binding limits and the memory estimate included. The
// page's form, the command line's flags and the run driver all read the plan from here.
import type { ArchConfig } from '../io/config';
import { mixerChunk, mixerDims, mixerParamShapes } from '../models/mamba-mixer-shape';
import { oversized } from '../models/params';
import { defaultMixer, studentShapes, type StudentSpec } from '../models/student';
import { sequenceProblem } from '../models/teacher-checks';
import { streamedStageBytes } from './streamed-memory';

export type Stage = 1 | 2 | 3;
export type PerStage<T> = Record<Stage, T>;

/** A whole distillation: what `mohawk distill` takes as flags and the page as its plan form. */
export interface DistillPlan {
  /** Stages to run, in order (a subset of 1, 2, 3). */
  stages: Stage[];
  /** Token budget per stage (tokens of training text the stage consumes). */
  tokens: PerStage<number>;
  /** Peak learning rate per stage (AdamW, warmup-stable-decay). */
  lr: PerStage<number>;
  seqLen: number;
  /** Sequences per micro-batch. */
  batch: number;
  /** Micro-batches per optimizer step (gradient accumulation). */
  accumulate: number;
  /** Fractions of each stage's steps spent warming up and decaying (the rest is flat). */
  warmup: number;
  decay: number;
  maxGradNorm: number;
  weightDecay: number;
  /** Stage 3 soft cross-entropy temperature. */
  temperature: number;
  /** Stage 3: keep the copied MLPs frozen. */
  freezeMlp: boolean;
  /** Layers that keep the teacher's attention (a hybrid student); empty for a pure Mamba student. */
  attentionLayers: number[];
  /**
   * `--attention-layers auto:K`: the hybrid advisor (hybrid-advisor.ts) chooses K layers to keep the
   * teacher's attention from evidence gathered after stage 2, before stage 3 (attentionLayers is
   * then empty: stages 1–2 fit every layer's mixer). Absent or null: attentionLayers as given.
   */
  attentionAuto?: number | null;
  /**
   * How an auto:K plan's advisor decides among layer sets after ranking them (advisor-probe.ts):
   * 'sets' trains a copy of the stage-2 student through a short stage 3 once per candidate set and
   * keeps the set whose copy ends closest to the teacher; 'greedy' trains one copy, every layer a
   * mixer, through a longer short stage 3 and restores layers to attention greedily by the held-out
   * KL they save on it (after Li et al., KL-guided layer selection, ICLR 2026), the default since it
   * was measured ahead of 'sets' (BENCHMARKS.md). Absent (plans made before it existed): 'sets'.
   */
  advisorMethod?: AdvisorMethod;
  /** Seed of the student's initialisation and of the corpus sampler (TokenStream.seedSampler). */
  seed: number;
  /**
   * Stages 1 and 2 hold one layer of teacher and student on the GPU at a time (src/mohawk/streamed-stage.ts):
   * slower, for teachers that do not fit. Stage 3 and evaluation still need the whole models there.
   */
  streamLayers: boolean;
  /**
   * How training sequences meet documents: 'across' (the default, as every earlier run) reads windows
   * anywhere in the training documents back to back, each document with the BOS/EOS its tokenizer
   * places; 'within' keeps each sequence inside one document (shorter ones are not trained on).
   * Absent in plans made before it existed: 'across'.
   */
  packing?: Packing;
  /**
   * Stage 3 keeps one layer's activations and recomputes each block's in the backward ('on'), keeps
   * every layer's ('off'), or recomputes when the estimate without it is over RECOMPUTE_ABOVE_BYTES
   * ('auto', the default; see recomputes). It changes the memory and the pace, not the steps. Absent
   * in plans made before it existed: 'auto'.
   */
  recompute?: Recompute;
  /**
   * The GPU memory the run may take, GiB: what the card has less what its driver and other programs
   * keep (about 2 GiB on a 24 GB card). A plan whose estimate (estimateMemory) is over it is refused
   * before it starts, saying what would make it fit. Absent: not checked, since WebGPU does not say
   * how much memory the device has.
   */
  gpuMemoryGiB?: number;
  /**
   * 'f16': the frozen teacher's attention reads f16 copies of its rotated q, k and v (feature
   * shader-f16, which most consumer GPUs offer in Chrome), halving the bytes its flash kernel moves
   * for keys and values; every product and sum stays f32, so the teacher's outputs differ from 'f32'
   * only by those inputs' rounding (2^-11 relative). Stage 1's attention matrices, the evaluation and
   * a hybrid student's own attention layers stay f32. Absent (plans made before it existed): 'f32'.
   */
  teacherAttention?: TeacherAttention;
}

export type AdvisorMethod = 'sets' | 'greedy';
export const ADVISOR_METHODS: readonly AdvisorMethod[] = ['sets', 'greedy'];

export type TeacherAttention = 'f32' | 'f16';
export const TEACHER_ATTENTIONS: readonly TeacherAttention[] = ['f32', 'f16'];

export type Packing = 'across' | 'within';
export const PACKINGS: readonly Packing[] = ['across', 'within'];

export type Recompute = 'auto' | 'on' | 'off';
export const RECOMPUTES: readonly Recompute[] = ['auto', 'on', 'off'];
/**
 * 'auto' recomputes stage 3's activations when keeping them would take the stage over 16 GiB: WebGPU
 * does not say how much memory the device has, and a stage that fits in 16 GiB runs on most cards
 * that train at all, faster without recomputing; above it, recomputing is what lets a 24 GB card run
 * a 1B-class teacher.
 */
export const RECOMPUTE_ABOVE_BYTES = 16 * 2 ** 30;

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
 * The page and `mohawk distill` without flags both start from it.
 */
export const DEFAULT_PLAN: DistillPlan = {
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
  attentionAuto: null,
  seed: 1,
  streamLayers: false,
  packing: 'across',
  recompute: 'auto',
  teacherAttention: 'f32',
  advisorMethod: 'greedy',
};

export function clonePlan(p: DistillPlan): DistillPlan {
  return { ...p, stages: [...p.stages], tokens: { ...p.tokens }, lr: { ...p.lr }, attentionLayers: [...p.attentionLayers] };
}

/** The plan with the hybrid advisor's `layers` in place of auto:K: what stage 3 trains. */
export function withAttentionLayers(p: DistillPlan, layers: readonly number[]): DistillPlan {
  return { ...clonePlan(p), attentionLayers: [...layers].sort((a, b) => a - b) };
}

/** Sequences one optimizer step samples: the micro-batches of an accumulated step, back to back. */
export function sequencesPerStep(p: Pick<DistillPlan, 'batch' | 'accumulate'>): number {
  return p.batch * p.accumulate;
}

export function tokensPerStep(p: Pick<DistillPlan, 'seqLen' | 'batch' | 'accumulate'>): number {
  return p.seqLen * sequencesPerStep(p);
}

/** The token windows of one optimizer step, drawn from `corpus`'s sampler. */
export function sampleStep(corpus: { sample(sequences: number, L: number): Uint32Array }, p: DistillPlan): Uint32Array {
  return corpus.sample(sequencesPerStep(p), p.seqLen);
}

/** What a stage's step is built with (StageOptions in stages.ts). */
export function stageOptions(p: DistillPlan) {
  return { batch: p.batch, L: p.seqLen, accumulate: p.accumulate, weightDecay: p.weightDecay, maxGradNorm: p.maxGradNorm, temperature: p.temperature, freezeMlp: p.freezeMlp, teacherHalf: p.teacherAttention === 'f16' };
}

/** Optimizer steps per stage as the run counts them (a partial last step is still a step); 0 when off. */
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
    out[s] = Math.floor(exact[i]!);
    left -= out[s];
  });
  // Hand the remaining units to the largest fractional parts (ties to the earlier stage).
  const order = on.map((s, i) => ({ s, frac: exact[i]! - Math.floor(exact[i]!) })).sort((a, b) => b.frac - a.frac);
  for (let i = 0; left > 0; i = (i + 1) % order.length, left--) out[order[i]!.s]++;
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

/** The student a plan trains on a teacher: the Mamba-2 mixer's SSD chunk is capped at the sequence. */
export function studentSpec(config: ArchConfig, plan: Pick<DistillPlan, 'seqLen' | 'attentionLayers'>): StudentSpec {
  return { config, mixer: defaultMixer(config, Math.min(128, plan.seqLen)), attentionLayers: [...plan.attentionLayers] };
}

/** GPU memory a streamed stage gives its window of residual streams (StreamedStageStep): 16 steps of 2,048 tokens at d 2048. */
export const STREAM_WINDOW_BYTES = 256 * 2 ** 20;

/**
 * Whether a streamed stage keeps the student's parameters and AdamW moments on the GPU (their own
 * buffers, the slot filled from them by the GPU) rather than on the host: whenever the plan has a
 * stage 3, which holds all of that and more on the GPU anyway, so the streamed stages then hold less
 * than the plan's peak and the host (a browser tab's worker) holds none of the student. A plan of
 * stages 1–2 alone (a teacher whose stage 3 does not fit) keeps it off the GPU in a flat store, 12 bytes
 * per trained parameter: a scratch file where the host gives one (the CLI's --out, the page's OPFS;
 * disk-room.ts counts it), so that the host holds one piece of it at a time.
 */
export function streamedStudentOnGpu(plan: Pick<DistillPlan, 'stages'>): boolean {
  return plan.stages.includes(3);
}

/** Steps per window: as many steps' residual streams (`stepBytes` each) as `windowBytes` holds, 1 to 32. */
export function streamWindowSteps(stepBytes: number, windowBytes = STREAM_WINDOW_BYTES): number {
  return Math.max(1, Math.min(32, Math.floor(windowBytes / stepBytes)));
}

/** The plan's fields, and what a plan is checked against besides them. */
export type PlanField = keyof DistillPlan | 'corpus' | 'memory';

/** Why a plan cannot run; `field` says which part of it (the CLI names its flag, the page its field). */
export class PlanError extends Error {
  override name = 'PlanError';
  constructor(
    readonly field: PlanField,
    message: string,
  ) {
    super(message);
  }
}

/** How the page names a plan field in messages; the CLI passes its flags instead. */
export const PLAN_FIELD_NAMES: Record<PlanField, string> = {
  stages: 'stages',
  tokens: 'tokens',
  lr: 'learning rate',
  seqLen: 'sequence length',
  batch: 'batch',
  accumulate: 'accumulation',
  warmup: 'warmup',
  decay: 'decay',
  maxGradNorm: 'max grad norm',
  weightDecay: 'weight decay',
  temperature: 'temperature',
  freezeMlp: 'frozen MLPs',
  attentionLayers: 'attention layers',
  attentionAuto: 'attention layers (auto:K)',
  seed: 'seed',
  packing: 'packing',
  recompute: 'activation recomputation',
  gpuMemoryGiB: 'GPU memory limit',
  teacherAttention: "the teacher's attention precision",
  advisorMethod: "the hybrid advisor's method",
  streamLayers: 'layer streaming',
  corpus: 'the corpus',
  memory: 'GPU memory',
};

export const isMlp = (name: string) => /\.mlp\./.test(name);

/**
 * The student tensors a run holds itself: all of them, less the MLPs when they are frozen. Frozen
 * MLPs never change in any stage (stages 1 and 2 train the mixers only), so they stay the teacher's
 * own buffers: no copy, gradient or moments, and no f32 widening of a bf16 teacher's largest matrices.
 */
export function heldShapes(spec: StudentSpec, plan: Pick<DistillPlan, 'freezeMlp'>): Map<string, number[]> {
  const all = studentShapes(spec);
  return plan.freezeMlp ? new Map([...all].filter(([n]) => !isMlp(n))) : all;
}

/** What a plan is checked against: the teacher, the tokenized corpus and the adapter's limits. */
export interface PlanContext {
  /** weightBytes: the teacher's weights as they sit on the GPU (bf16 matrices stay 16-bit); default 4 bytes a parameter. */
  teacher: { config: ArchConfig; parameters: number; weightBytes?: number };
  trainTokens: number;
  /** Tokens of the longest training document: a plan that packs within documents needs one of a whole sequence. */
  longestTrainDoc?: number;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  /** Whether the adapter offers shader-f16 (teacherAttention 'f16' needs it); absent: not checked. */
  shaderF16?: boolean;
}

export interface CheckedPlan {
  plan: DistillPlan;
  steps: PerStage<number>;
  /** The plan's estimate of the most GPU memory any of its stages holds (estimateMemory). */
  memoryBytes: number;
}

/**
 * What the teacher's config.json alone decides of a plan: the sequence against its positions and the
 * kept attention layers against its layers. The command line runs it before the teacher's weights
 * are read; validatePlan runs it again with everything else.
 */
export function checkPlanAgainstConfig(plan: Pick<DistillPlan, 'seqLen' | 'attentionLayers' | 'attentionAuto' | 'stages'>, c: ArchConfig, names: Record<PlanField, string> = PLAN_FIELD_NAMES): void {
  const seq = sequenceProblem(c, plan.seqLen, `${names.seqLen} ${plan.seqLen}`, "the teacher's");
  if (seq) throw new PlanError('seqLen', `plan: ${seq}`);
  for (const l of plan.attentionLayers) {
    if (!Number.isInteger(l) || l < 0 || l >= c.layers) throw new PlanError('attentionLayers', `plan: ${names.attentionLayers}: ${l} is not a layer of this ${c.layers}-layer teacher (0..${c.layers - 1})`);
  }
  const k = plan.attentionAuto;
  if (k === undefined || k === null) return;
  const bad = (rest: string): never => {
    throw new PlanError('attentionAuto', `plan: ${names.attentionAuto} auto:${k}: ${rest}`);
  };
  if (!Number.isInteger(k) || k < 1 || k >= c.layers) bad(`K must be 1 to ${c.layers - 1} for this ${c.layers}-layer teacher (at least one layer keeps attention, at least one becomes Mamba)`);
  if (plan.attentionLayers.length > 0) bad(`the advisor chooses the layers itself: name none (got ${plan.attentionLayers.join(', ')})`);
  if (!plan.stages.includes(3)) bad('the advisor chooses the layers stage 3 trains, and this plan has no stage 3');
}

/**
 * The one check a start goes through: the plan's own values, the teacher's layers and positions,
 * the corpus, and the adapter's one-binding limit for the buffers a stage binds whole (each student
 * tensor, the attention matrices, the logits). Throws a
 * PlanError naming the field; `names` words the field as the caller's user knows it.
 */
export function validatePlan(plan: DistillPlan, ctx: PlanContext, names: Record<PlanField, string> = PLAN_FIELD_NAMES): CheckedPlan {
  const bad = (field: PlanField, rest: string): never => {
    throw new PlanError(field, `plan: ${names[field]}${rest}`);
  };
  const c = ctx.teacher.config;
  if (plan.stages.length === 0) bad('stages', ': no stage selected');
  for (const s of plan.stages) if (!STAGES.includes(s)) bad('stages', `: unknown stage ${s}`);
  for (const k of ['seqLen', 'batch', 'accumulate'] as const) if (!Number.isInteger(plan[k]) || plan[k] < 1) bad(k, ` must be a positive integer (got ${plan[k]})`);
  if (plan.seqLen < 2) bad('seqLen', ' must be at least 2');
  checkPlanAgainstConfig(plan, c, names);
  for (const s of plan.stages) {
    if (!(plan.tokens[s] > 0)) bad('tokens', `: stage ${s} has no tokens`);
    if (!(plan.lr[s] > 0 && plan.lr[s] < 1)) bad('lr', `: stage ${s}'s ${plan.lr[s]} is not in (0, 1)`);
  }
  if (!(plan.warmup >= 0 && plan.decay >= 0 && plan.warmup + plan.decay <= 1)) bad('warmup', ` ${plan.warmup} and decay ${plan.decay} must be fractions that add up to at most the whole stage`);
  if (new Set(plan.attentionLayers).size !== plan.attentionLayers.length) bad('attentionLayers', ': a layer is named twice');
  if (plan.attentionLayers.length >= c.layers && plan.stages.some((s) => s !== 3)) bad('attentionLayers', ' keeps every layer\'s attention, so stages 1 and 2 have nothing to train');
  if (plan.seqLen + 1 > ctx.trainTokens) bad('corpus', ` has ${ctx.trainTokens} training tokens, fewer than one sequence of ${plan.seqLen}`);
  if (plan.packing !== undefined && !PACKINGS.includes(plan.packing)) bad('packing', ` "${String(plan.packing)}" is not one of ${PACKINGS.join(', ')}`);
  if (plan.recompute !== undefined && !RECOMPUTES.includes(plan.recompute)) bad('recompute', ` "${String(plan.recompute)}" is not one of ${RECOMPUTES.join(', ')}`);
  if (plan.advisorMethod !== undefined && !ADVISOR_METHODS.includes(plan.advisorMethod)) bad('advisorMethod', ` "${String(plan.advisorMethod)}" is not one of ${ADVISOR_METHODS.join(', ')}`);
  if (plan.teacherAttention !== undefined && !TEACHER_ATTENTIONS.includes(plan.teacherAttention)) bad('teacherAttention', ` "${String(plan.teacherAttention)}" is not one of ${TEACHER_ATTENTIONS.join(', ')}`);
  if (plan.teacherAttention === 'f16' && ctx.shaderF16 === false) {
    bad('teacherAttention', ` f16 needs the shader-f16 feature, which this GPU adapter does not offer (SwiftShader and Dawn on NVIDIA's Vulkan driver do not; Chrome on most consumer GPUs does): use f32`);
  }
  if (plan.packing === 'within' && ctx.longestTrainDoc !== undefined && ctx.longestTrainDoc < plan.seqLen) {
    bad('corpus', `: no training document has ${plan.seqLen} tokens (the longest has ${ctx.longestTrainDoc}), so no sequence fits within one; pack across documents or shorten the sequence`);
  }

  const lim = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const matrix = plan.batch * c.heads * plan.seqLen * plan.seqLen * 4;
  if (plan.stages.includes(1) && matrix > lim) {
    bad('memory', `: stage 1's attention matrices (${plan.batch} × ${c.heads} heads × ${plan.seqLen}²) need ${mib(matrix)} in one buffer, over this adapter's ${mib(lim)}: lower the batch or sequence length`);
  }
  const logits = plan.batch * plan.seqLen * c.vocab * 4;
  if (plan.stages.includes(3) && logits > lim) {
    bad('memory', `: stage 3's logits (${plan.batch * plan.seqLen} tokens × ${c.vocab}) need ${mib(logits)} in one buffer, over this adapter's ${mib(lim)}: lower the batch or sequence length`);
  }
  // The student's parameters, gradients and moments are cut into chunks of whole tensors, each within
  // one binding (ParamSet), so only a single tensor over the limit stops a stage: any student tensor
  // for a resident stage, a mixer's for a streamed one (it binds one mixer's tensors at a time).
  const spec = studentSpec(c, plan);
  const resident = plan.stages.filter((s) => s === 3 || !plan.streamLayers);
  const streamed = plan.stages.filter((s) => !resident.includes(s));
  const firstMixer = [...Array(c.layers).keys()].find((l) => !plan.attentionLayers.includes(l));
  const mixerShapes = new Map([...mixerParamShapes(spec.mixer)].map(([n, v]) => [`layers.${firstMixer}.mixer.${n}`, v] as const));
  const overMixer = firstMixer === undefined ? null : oversized(mixerShapes, lim);
  const over = resident.length > 0 ? oversized(studentShapes(spec), lim) : null;
  const big = over ?? (streamed.length > 0 ? overMixer : null);
  if (big) {
    const stages = overMixer ? plan.stages : resident;
    const hint = overMixer ? '' : plan.stages.includes(3) ? ': run stages 1 and 2 with layer streaming only' : ': stream the layers';
    const size = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : b >= 2 ** 20 ? mib(b) : `${(b / 1024).toFixed(0)} KiB`);
    bad(
      'memory',
      `: the student's tensor ${big.name} takes ${size(big.bytes)} as f32, over this GPU's ${size(lim)} limit for one storage binding, ` +
        `so stage${stages.length > 1 ? 's' : ''} ${stages.join(', ')} cannot train it${hint}`,
    );
  }
  const memoryBytes = estimateMemory(plan, ctx.teacher);
  if (plan.gpuMemoryGiB !== undefined) {
    if (!(plan.gpuMemoryGiB > 0 && Number.isFinite(plan.gpuMemoryGiB))) bad('gpuMemoryGiB', ` must be a positive number of GiB (got ${plan.gpuMemoryGiB})`);
    const over = overMemory(plan, ctx.teacher, names);
    if (over) bad('gpuMemoryGiB', over);
  }
  return { plan, steps: stepsPerStage(plan), memoryBytes };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/**
 * Why `plan` does not fit its gpuMemoryGiB, and the nearest plans that do, or null when it fits: the
 * stages over the limit with their estimates, then each change that alone brings the whole plan
 * within it (streaming the layers, recomputing, freezing the MLPs, then the largest batch that fits
 * with the others made as well), worded with the caller's `names`.
 */
export function overMemory(plan: DistillPlan, teacher: PlanContext['teacher'], names: Record<PlanField, string> = PLAN_FIELD_NAMES): string | null {
  const limit = (plan.gpuMemoryGiB ?? Infinity) * 2 ** 30;
  const est = (p: DistillPlan) => estimateMemory(p, teacher);
  if (est(plan) <= limit) return null;
  const stages = plan.stages.map((s) => [s, stageMemory(plan, teacher, s, s === 3 && recomputes(plan, teacher))] as const).filter(([, b]) => b > limit);
  const fixes: [string, DistillPlan][] = [];
  if (!plan.streamLayers && plan.stages.some((s) => s !== 3)) fixes.push([names.streamLayers, { ...plan, streamLayers: true }]);
  if (plan.stages.includes(3) && !recomputes(plan, teacher)) fixes.push([`${names.recompute} on`, { ...plan, recompute: 'on' }]);
  if (plan.stages.includes(3) && !plan.freezeMlp) fixes.push([names.freezeMlp, { ...plan, freezeMlp: true }]);
  const ok = fixes.filter(([, p]) => est(p) <= limit).map(([what, p]) => `${what} (about ${gib(est(p))})`);
  // Fewer sequences per micro-batch, with every change above made too, keeping the tokens per step by accumulating more.
  const all: DistillPlan = { ...plan, streamLayers: plan.streamLayers || plan.stages.some((s) => s !== 3), recompute: plan.stages.includes(3) ? 'on' : plan.recompute, freezeMlp: plan.freezeMlp || plan.stages.includes(3) };
  let b = plan.batch - 1;
  while (b >= 1 && est({ ...all, batch: b }) > limit) b--;
  if (ok.length === 0 && est(all) <= limit) ok.push(`all of ${fixes.map(([w]) => w).join(', ')} (about ${gib(est(all))})`);
  else if (ok.length === 0 && b >= 1) {
    const changes = fixes.map(([w]) => w);
    ok.push(`${names.batch} ${b}${changes.length ? ` with ${changes.join(', ')}` : ''} (about ${gib(est({ ...all, batch: b }))}; ${names.accumulate} ${Math.ceil((plan.batch * plan.accumulate) / b)} keeps the tokens per step)`);
  }
  const needs = stages.map(([s, bytes]) => `stage ${s} about ${gib(bytes)}`).join(', ');
  const advice = ok.length ? `; it fits with ${ok.join(', or ')}` : `; even ${names.batch} 1 with every memory saving does not fit (about ${gib(est({ ...all, batch: 1 }))}): shorten the sequence or use a GPU with more memory`;
  return ` is ${plan.gpuMemoryGiB} GiB, and by the plan's estimate ${needs}${advice}`;
}

/** Whether stage 3 of `plan` recomputes its activations in the backward (DistillPlan.recompute). */
export function recomputes(plan: DistillPlan, teacher: PlanContext['teacher']): boolean {
  const r = plan.recompute ?? 'auto';
  if (r !== 'auto') return r === 'on';
  return stageMemory(plan, teacher, 3, false) > RECOMPUTE_ABOVE_BYTES;
}

/**
 * An estimate of the GPU memory a plan needs (weights, optimizer, activations, matrices): the most
 * any of its stages holds (stageMemory), stage 3 recomputing or not as the run will (recomputes).
 */
export function estimateMemory(plan: DistillPlan, teacher: PlanContext['teacher']): number {
  return Math.max(...plan.stages.map((s) => stageMemory(plan, teacher, s, s === 3 && recomputes(plan, teacher))));
}

/**
 * The GPU memory stage `s` of `plan` holds, by the buffers it makes. Every stage holds the teacher (in
 * its GPU precision) and, unless streamed, the student's values, gradients and two AdamW moments, f32,
 * of what it holds (frozen MLPs are the teacher's).
 *
 * Stage 3 counts its buffers (tests/mohawk/stage-memory.test.ts holds it to a step's own count), per
 * token: both models' residual streams and logits, the gradient of the student's logits, the teacher's
 * activations of one layer (layers share them), the student's of every layer (of one with
 * `recompute`), the student backward's scratch (one layer's: layers share it), and the SSD scan's
 * kernel scratch. Stages 1 and 2 keep every teacher layer's activations beside the mixers', fitted to
 * Phi-1.5 and Llama-3.2-1B shapes on the H200 (BENCHMARKS.md, "Real shapes": 1.25 layers of
 * activations per layer, measured while a stage still carried what the one before it left, so now an
 * upper estimate); stage 1 adds its attention and SSD matrices, a resident stage 2 every layer's MLP activations.
 *
 * Streamed stages count their step's buffers too (streamed-memory.ts; tests/mohawk/streamed-memory.test.ts
 * holds them to a step's own count and to the H200's at real shapes): one layer's teacher weights and
 * the embedding table, the mixer's slot, a window's residual streams, one layer's activations, the
 * stage's objective and kernel scratch; and the whole student as stage 3 holds it when it stays on
 * the GPU (streamedStudentOnGpu).
 */
export function stageMemory(plan: DistillPlan, teacher: PlanContext['teacher'], s: Stage, recompute: boolean): number {
  const c = teacher.config;
  // Stage 3 of an auto:K plan trains K attention layers (which K does not change the count).
  const auto = s === 3 && plan.attentionAuto ? Math.min(plan.attentionAuto, c.layers - 1) : 0;
  const spec = studentSpec(c, auto > 0 ? { ...plan, attentionLayers: [...Array(auto).keys()] } : plan);
  const rows = plan.batch * plan.seqLen;
  const teacherBytes = teacher.weightBytes ?? teacher.parameters * 4;
  let held = 0;
  for (const v of heldShapes(spec, plan).values()) held += v.reduce((a, b) => a * b, 1);
  const studentBytes = held * 4 * 4;
  // teacherAttention 'f16': one set of f16 copies of q, k, v that every teacher layer shares.
  const halfCopies = plan.teacherAttention === 'f16' ? rows * (c.heads + 2 * c.kvHeads) * c.headDim * 2 : 0;
  // Stages 1 and 2 (the fit): post norms (gemma3) keep two more d-wide activations per layer.
  const perLayer = rows * (c.dModel * (c.postNorms ? 16 : 14) + c.intermediate * 4 + c.heads * c.headDim * 8) * 4;
  if (s === 3) return teacherBytes + studentBytes + rows * stage3Floats(c, spec, plan.seqLen, recompute) * 4 + halfCopies;
  const matrices = s === 1 ? 3 * plan.batch * c.heads * plan.seqLen * plan.seqLen * 4 : 0;
  // Stage 2 backpropagates the block's L2 loss through its MLP to the mixer, so a resident stage 2
  // keeps every layer's MLP activations too (SmolLM2-135M at 512 × 8 on the H200: 2.2 GiB over stage 1).
  const mlp = s === 2 ? c.layers * rows * c.intermediate * (c.gatedMlp ? 3 : 2) * 4 : 0;
  if (!plan.streamLayers) return teacherBytes + studentBytes + 1.25 * c.layers * perLayer + matrices + mlp + halfCopies;
  const tables = c.vocab * c.dModel * (c.tiedEmbeddings ? 1 : 2) + (c.positions === 'learned' ? c.maxPositions * c.dModel : 0);
  const perParam = teacherBytes / teacher.parameters;
  // One layer of the teacher, and its embedding table (and learned positions), which stay on the GPU.
  const layerBytes = ((teacher.parameters - tables) / c.layers) * perParam + (c.vocab * c.dModel + (c.positions === 'learned' ? c.maxPositions * c.dModel : 0)) * perParam;
  const studentOnGpu = streamedStudentOnGpu(plan);
  const windowSteps = streamWindowSteps(plan.accumulate * rows * c.dModel * 4);
  const step = streamedStageBytes({ c, mixer: spec.mixer, stage: s, batch: plan.batch, L: plan.seqLen, windowSteps, accumulate: plan.accumulate, teacherBytes: layerBytes, studentOnGpu });
  return step + (studentOnGpu ? studentBytes : 0) + halfCopies;
}

/** Floats per token that stage 3's step holds besides the models and the optimizer (see stageMemory). */
function stage3Floats(c: ArchConfig, spec: StudentSpec, seqLen: number, recompute: boolean): number {
  const d = c.dModel;
  const ff = c.intermediate;
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const mx = spec.mixer;
  const md = mixerDims(mx);
  // A block's d-wide outputs (blockForward): the normed input, the mixer's and the MLP's outputs; a
  // sequential block's mid residual and second norm (a parallel one's second norm, phi's none); the
  // post norms' outputs. The MLP's up, activation and gate.
  const blockActs = d * (3 + (c.parallelResidual ? (c.modelType === 'phi' ? 0 : 1) : 2) + (c.postNorms ? 2 : 0)) + ff * (c.gatedMlp ? 3 : 2);
  // Attention: q, k, v and the output before o_proj, their normed and rotated copies where made.
  const attention = (qDim + kvDim) * (1 + (c.qkNorm ? 1 : 0) + (c.rotaryDim > 0 ? 1 : 0)) + kvDim + qDim;
  // The Mamba-2 mixer's saved state: its input, in_proj's output, the conv's, x, B, C, a, y, the gated y.
  const mamba = d + md.proj + md.convCh + 3 * mx.dInner + 2 * md.gN + mx.nV;
  const layers = [...Array(c.layers).keys()].map((l) => blockActs + (spec.attentionLayers.includes(l) ? attention : mamba));
  const student = recompute ? Math.max(...layers) : layers.reduce((a, b) => a + b, 0);
  const mixers = spec.attentionLayers.length < c.layers;
  // The backward's scratch: the residual stream's, the final norm's and the block norms' gradients,
  // the MLP's, the mixer's (gated output, y, x, B, C, a, the conv's output, in_proj's), attention's.
  const scratch =
    d * (4 + (c.postNorms ? 1 : 0)) +
    ff * (c.gatedMlp ? 3 : 2) +
    (mixers ? 3 * mx.dInner + 2 * md.gN + mx.nV + md.convCh + md.proj : 0) +
    (spec.attentionLayers.length > 0 ? 4 * (qDim + kvDim) : 0);
  // The SSD scan's own scratch (shared by the layers): C·Bᵀ and its gradient per chunk of Q tokens,
  // three regions of chunk states.
  const Q = mixerChunk(mx, seqLen);
  const ssd = mixers ? 2 * mx.nQK * Q + (3 * mx.dInner * mx.N) / Q : 0;
  // Residual streams of both models (every layer's input and the last output), their final norms,
  // the two models' logits and the gradient of the student's.
  const streams = 2 * (c.layers + 1) * d + 2 * d + 3 * c.vocab;
  return streams + blockActs + attention + student + scratch + ssd;
}
