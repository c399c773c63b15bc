// A distillation plan as a versioned JSON file (issue 16): what the page's "Export plan" and `mohawk plan`
// write, for another engine (python/mohawk_torch under torchrun) to run unchanged. It holds every field
// `mohawk distill` uses: the plan itself, how the corpus is read and split, and the held-out evaluation,
// plus the teacher it was made for (what the steps and limits were checked against) and the steps it
// comes to. Keys are snake_case, as a Python reader expects; the plan's fields keep their meaning.
import type { ArchConfig } from '../io/config';
import { ADVISOR_METHODS, DEFAULT_PLAN, PACKINGS, RECOMPUTES, STAGES, TEACHER_ATTENTIONS, stepsPerStage, tokensPerStep, type DistillPlan, type PerStage, type Stage } from './plan';

export const PLAN_FORMAT = 'mohawk-plan';
export const PLAN_VERSION = 1;

/** How distill reads and splits the corpus, and measures the held-out NLL at the end. */
export interface PlanData {
  /** The JSON field or parquet column documents are read from. */
  textColumn: string;
  skipBadLines: boolean;
  /** Documents of the corpus used (null: all). */
  docs: number | null;
  /** Fraction of the documents never trained on. */
  heldOut: number;
  evalDocs: number;
  evalTokens: number;
}

export const DEFAULT_PLAN_DATA: PlanData = { textColumn: 'text', skipBadLines: false, docs: null, heldOut: 0.1, evalDocs: 50, evalTokens: 256 };

export interface PlanTeacher {
  name: string;
  modelType: string;
  layers: number;
  dModel: number;
  heads: number;
  vocab: number;
  maxPositions: number;
}

export function planTeacher(name: string, c: { modelType: string } & Pick<ArchConfig, 'layers' | 'dModel' | 'heads' | 'vocab' | 'maxPositions'>): PlanTeacher {
  return { name, modelType: c.modelType, layers: c.layers, dModel: c.dModel, heads: c.heads, vocab: c.vocab, maxPositions: c.maxPositions };
}

const perStage = <T>(p: PerStage<T>, stages: readonly Stage[]) => Object.fromEntries(stages.map((s) => [String(s), p[s]]));

/** The file's JSON object (stringify it with two spaces for people to read). */
export function planFile(plan: DistillPlan, data: PlanData, teacher: PlanTeacher, made: { by: string; at: Date }): Record<string, unknown> {
  const steps = stepsPerStage(plan);
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    made_by: made.by,
    made_at: made.at.toISOString(),
    teacher: { name: teacher.name, model_type: teacher.modelType, layers: teacher.layers, d_model: teacher.dModel, heads: teacher.heads, vocab: teacher.vocab, max_positions: teacher.maxPositions },
    plan: {
      stages: [...plan.stages],
      tokens: perStage(plan.tokens, plan.stages),
      lr: perStage(plan.lr, plan.stages),
      seq_len: plan.seqLen,
      batch: plan.batch,
      accumulate: plan.accumulate,
      warmup: plan.warmup,
      decay: plan.decay,
      max_grad_norm: plan.maxGradNorm,
      weight_decay: plan.weightDecay,
      temperature: plan.temperature,
      freeze_mlp: plan.freezeMlp,
      // auto:K as the command line writes it: a reader that does not run the hybrid advisor fails on it, not on a pure Mamba run.
      attention_layers: plan.attentionAuto ? `auto:${plan.attentionAuto}` : [...plan.attentionLayers],
      seed: plan.seed,
      stream_layers: plan.streamLayers,
      packing: plan.packing ?? 'across',
      recompute: plan.recompute ?? 'auto',
      teacher_attention: plan.teacherAttention ?? 'f32',
      advisor_method: plan.advisorMethod ?? 'sets',
      gpu_memory_gib: plan.gpuMemoryGiB ?? null,
    },
    data: { text_column: data.textColumn, skip_bad_lines: data.skipBadLines, docs: data.docs, held_out: data.heldOut },
    evaluation: { docs: data.evalDocs, tokens: data.evalTokens },
    // What the plan comes to (a reader checks it computes the same).
    steps: perStage(steps, plan.stages),
    tokens_per_step: tokensPerStep(plan),
    // The learning rate of step k (1-based) of a stage of n steps is lr × wsd(k, n) (src/mohawk/stages.ts).
    schedule: 'wsd: w = max(1, round(n·warmup)), d = floor(n·(1 − decay)); k ≤ w: k/w; k ≤ d: 1; else 1 − 0.9·(k − d)/max(1, n − d)',
  };
}

export class PlanFileError extends Error {
  override name = 'PlanFileError';
}

/** A plan file read back: every field checked for type and range, named when wrong. */
export function readPlanFile(json: unknown): { plan: DistillPlan; data: PlanData; teacher: PlanTeacher } {
  const bad = (what: string): never => {
    throw new PlanFileError(`plan file: ${what}`);
  };
  const obj = (v: unknown, where: string) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : bad(`${where} must be an object`));
  const f = obj(json, 'the file');
  if (f.format !== PLAN_FORMAT) bad(`"format" is ${JSON.stringify(f.format)}, not "${PLAN_FORMAT}"`);
  if (f.version !== PLAN_VERSION) bad(`version ${JSON.stringify(f.version)} is not one this build reads (${PLAN_VERSION})`);
  const p = obj(f.plan, '"plan"');
  const num = (o: Record<string, unknown>, k: string, where: string, ok: (x: number) => boolean = () => true): number => {
    const v = o[k];
    return typeof v === 'number' && Number.isFinite(v) && ok(v) ? v : bad(`${where}.${k} is ${JSON.stringify(v)}`);
  };
  const int = (o: Record<string, unknown>, k: string, where: string, min: number) => num(o, k, where, (x) => Number.isInteger(x) && x >= min);
  const bool = (o: Record<string, unknown>, k: string, where: string): boolean => (typeof o[k] === 'boolean' ? (o[k] as boolean) : bad(`${where}.${k} is ${JSON.stringify(o[k])}`));
  const stages = Array.isArray(p.stages) && p.stages.length > 0 && p.stages.every((s) => (STAGES as readonly unknown[]).includes(s)) ? (p.stages as Stage[]) : bad(`plan.stages is ${JSON.stringify(p.stages)}`);
  // As distill sets them: a stage the plan leaves out trains no tokens and keeps its default rate.
  const stageMap = (k: 'tokens' | 'lr', ok: (x: number) => boolean): PerStage<number> => {
    const m = obj(p[k], `plan.${k}`);
    const out: PerStage<number> = k === 'tokens' ? { 1: 0, 2: 0, 3: 0 } : { ...DEFAULT_PLAN.lr };
    for (const s of stages) out[s] = num(m, String(s), `plan.${k}`, ok);
    return out;
  };
  const oneOf = <T extends string>(k: string, options: readonly T[]): T => (options.includes(p[k] as T) ? (p[k] as T) : bad(`plan.${k} is ${JSON.stringify(p[k])}, not one of ${options.join(', ')}`));
  const auto = typeof p.attention_layers === 'string' ? /^auto:([1-9]\d*)$/.exec(p.attention_layers) : null;
  const layers = auto
    ? []
    : Array.isArray(p.attention_layers) && p.attention_layers.every((l) => Number.isInteger(l) && (l as number) >= 0)
      ? (p.attention_layers as number[])
      : bad(`plan.attention_layers is ${JSON.stringify(p.attention_layers)}, not a list of layers or "auto:K" (K ≥ 1)`);
  const plan: DistillPlan = {
    stages,
    tokens: stageMap('tokens', (x) => x > 0),
    lr: stageMap('lr', (x) => x > 0 && x < 1),
    seqLen: int(p, 'seq_len', 'plan', 2),
    batch: int(p, 'batch', 'plan', 1),
    accumulate: int(p, 'accumulate', 'plan', 1),
    warmup: num(p, 'warmup', 'plan', (x) => x >= 0 && x <= 1),
    decay: num(p, 'decay', 'plan', (x) => x >= 0 && x <= 1),
    maxGradNorm: num(p, 'max_grad_norm', 'plan', (x) => x > 0),
    weightDecay: num(p, 'weight_decay', 'plan', (x) => x >= 0 && x < 1),
    temperature: num(p, 'temperature', 'plan', (x) => x > 0),
    freezeMlp: bool(p, 'freeze_mlp', 'plan'),
    attentionLayers: [...layers],
    attentionAuto: auto ? Number(auto[1]) : null,
    seed: int(p, 'seed', 'plan', 0),
    streamLayers: bool(p, 'stream_layers', 'plan'),
    packing: oneOf('packing', PACKINGS),
    recompute: oneOf('recompute', RECOMPUTES),
    // Absent in files written before it existed: the f32 teacher every earlier run had.
    teacherAttention: p.teacher_attention === undefined ? 'f32' : oneOf('teacher_attention', TEACHER_ATTENTIONS),
    // Absent in files written before it existed: the candidate sets' probes every earlier advisor ran.
    advisorMethod: p.advisor_method === undefined ? 'sets' : oneOf('advisor_method', ADVISOR_METHODS),
    // Absent in files written before it existed, null when not set: not checked.
    ...(p.gpu_memory_gib === undefined || p.gpu_memory_gib === null ? {} : { gpuMemoryGiB: num(p, 'gpu_memory_gib', 'plan', (x) => x > 0) }),
  };
  const d = obj(f.data, '"data"');
  const e = obj(f.evaluation, '"evaluation"');
  const data: PlanData = {
    textColumn: typeof d.text_column === 'string' && d.text_column ? d.text_column : bad(`data.text_column is ${JSON.stringify(d.text_column)}`),
    skipBadLines: bool(d, 'skip_bad_lines', 'data'),
    docs: d.docs === null ? null : int(d, 'docs', 'data', 2),
    heldOut: num(d, 'held_out', 'data', (x) => x > 0 && x < 1),
    evalDocs: int(e, 'docs', 'evaluation', 1),
    evalTokens: int(e, 'tokens', 'evaluation', 2),
  };
  const t = obj(f.teacher, '"teacher"');
  const teacher: PlanTeacher = {
    name: typeof t.name === 'string' ? t.name : bad(`teacher.name is ${JSON.stringify(t.name)}`),
    modelType: typeof t.model_type === 'string' ? t.model_type : bad(`teacher.model_type is ${JSON.stringify(t.model_type)}`),
    layers: int(t, 'layers', 'teacher', 1),
    dModel: int(t, 'd_model', 'teacher', 1),
    heads: int(t, 'heads', 'teacher', 1),
    vocab: int(t, 'vocab', 'teacher', 1),
    maxPositions: int(t, 'max_positions', 'teacher', 1),
  };
  return { plan, data, teacher };
}
