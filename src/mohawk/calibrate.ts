// What a plan costs on this adapter, measured before the run: a few timed steps of each stage at the
// plan's shapes on a throwaway student (the run's own code path, Distiller.runStage), one timed
// held-out evaluation, then extrapolated to the plan's steps and evaluations. Nothing of it outlives
// the call: no checkpoint, the caller's corpus sampler untouched, the teacher on or off the GPU as it
// was, every buffer of its own released. (Its compiled pipelines stay in the Gpu's cache, which only
// makes the run's first steps quicker.) The run refines the estimate live (remainingSeconds).
import type { Gpu } from '../gpu/runtime';
import { OpProfiler, type OpTime } from '../gpu/profile';
import type { LoadedTeacher } from '../models/teacher';
import { probe3Plan, probesAffordable, warmAffordable } from './advisor-probe';
import { probePlan } from './advisor-evidence';
import { Distiller } from './distiller';
import { estimateMemory, STAGES, stepsPerStage, streamWindowSteps, type DistillPlan, type PerStage, type Recompute, type Stage, type TeacherAttention } from './plan';
import type { TokenStream } from './token-stream';

/** What a stage costs per step, as measured. */
export interface StageCalibration {
  /** Seconds from the stage's start to its first step's result (buffers, uploads, one step), its GPU programs already built. */
  setupS: number;
  /** The same the first time in a process, building the stage's GPU programs (a later `mohawk distill` pays this). */
  coldSetupS: number;
  /** Seconds per further step once the stage runs. */
  stepS: number;
  /** A streamed stage: seconds per window of steps besides the steps (each layer on and off the GPU); 0 when resident. */
  windowS: number;
  /** Steps per window (1 for a resident stage). */
  window: number;
  /** The most GPU memory the stage held, bytes (Gpu.memory: the buffers a run makes, the teacher's included). */
  peakBytes: number;
  /** Steps that were timed. */
  timedSteps: number;
}

/** The fields of a plan that change what a step costs; budgets, rates and the schedule do not. */
export interface PlanShape {
  stages: Stage[];
  seqLen: number;
  batch: number;
  accumulate: number;
  attentionLayers: number[];
  streamLayers: boolean;
  freezeMlp: boolean;
  /** DistillPlan.recompute ('auto' where a plan or a calibration made before it has none). */
  recompute: Recompute;
  /** DistillPlan.teacherAttention ('f32' where a plan or a calibration made before it has none). */
  teacherAttention?: TeacherAttention;
}

export interface Calibration {
  shape: PlanShape;
  stages: Partial<PerStage<StageCalibration>>;
  /** Seconds before the first stage: the teacher onto the GPU (unless streamed) and the student made. */
  prepareS: number;
  /** Seconds of one held-out evaluation of both models at `evaluation`'s size; null when none was timed. */
  evalS: number | null;
  evaluation: { docs: number; tokens: number } | null;
  /** GPU memory an evaluation held at most, bytes. */
  evalPeakBytes: number;
  /** The plan's own upper estimate of its GPU memory (estimateMemory). */
  planBytes: number;
  /** A CPU implementation of WebGPU (GpuInfo.software): times are the processor's, not a GPU's. */
  software: boolean;
  /** Wall seconds the measurement took. */
  tookS: number;
  /** With CalibrateOptions.profile: each stage's GPU time by op label, the most first. */
  profile?: Partial<PerStage<OpTime[]>>;
  /** The teacher's layers (what an auto:K plan's advisor measures per layer); absent in older calibrations. */
  layers?: number;
}

export interface StageCost {
  steps: number;
  seconds: number;
  peakBytes: number;
}

/**
 * What an auto:K plan's hybrid advisor runs before stage 3, beside the plan's steps (run.ts, advise):
 * its stage-3 probes (each a throwaway student through `stepsEach` steps at stage 3's shapes), the
 * probe of stages 1–2 a plan without stage 2 needs, and its held-out KLs, counted in model forwards
 * over the run's evaluation documents (the teacher's once per call, a student's per model).
 */
export interface AdvisorWork {
  probes: number;
  stepsEach: number;
  /** Steps of the stages 1–2 probe (0 where the plan's own stage 2 gives the residuals). */
  stages12: { 1: number; 2: number };
  forwards: number;
}

const choose = (n: number, k: number) => {
  let c = 1;
  for (let i = 0; i < k; i++) c = (c * (n - i)) / (i + 1);
  return Math.round(c);
};

/**
 * The advisor's work for `plan` on a teacher of `layers` layers, at most: the 'sets' method probes up
 * to four distinct candidate sets (fewer where the teacher has fewer sets of K), which are only known
 * once the evidence is in; null for a plan without auto:K or stage 3.
 */
export function advisorWork(plan: DistillPlan, layers: number): AdvisorWork | null {
  const k = plan.attentionAuto;
  if (!k || !plan.stages.includes(3)) return null;
  const p12 = plan.stages.includes(2) ? null : stepsPerStage(probePlan(plan));
  const stages12 = { 1: p12 ? p12[1] : 0, 2: p12 ? p12[2] : 0 };
  // Leave-one-out after stage 2: the teacher, the student as it is, and each layer restored.
  let forwards = 2 + layers;
  if (plan.advisorMethod === 'greedy') {
    const w = warmAffordable(plan);
    if (!w.ok) return { probes: 0, stepsEach: 0, stages12, forwards };
    // K rounds (the first with the student as it is too), then the candidate sets (at most four) in one call.
    for (let i = 0; i < k; i++) forwards += 1 + (i === 0 ? 1 : 0) + (layers - i);
    forwards += 1 + 4;
    return { probes: 1, stepsEach: w.steps, stages12, forwards };
  }
  const n = Math.min(4, choose(layers, k));
  const a = probesAffordable(plan, n);
  if (!a.ok) return { probes: 0, stepsEach: 0, stages12, forwards };
  // Each probed candidate's KL: the teacher and its student.
  return { probes: n, stepsEach: stepsPerStage(probe3Plan(plan))[3], stages12, forwards: forwards + 2 * n };
}

/** Seconds of `w` by `cal`: stage-3 probes at stage 3's pace (each sets up anew), the stages 1–2 probe where `cal` measured those stages, forwards at half an evaluation (a teacher's and a student's) each. */
function advisorSeconds(cal: Calibration, w: AdvisorWork): { seconds: number; unmeasured: boolean } {
  const c3 = cal.stages[3];
  let seconds = c3 ? w.probes * stageSeconds(c3, w.stepsEach) : 0;
  let unmeasured = !c3 && w.probes > 0;
  for (const s of [1, 2] as const) {
    if (w.stages12[s] === 0) continue;
    const c = cal.stages[s];
    if (c) seconds += stageSeconds(c, w.stages12[s]);
    else unmeasured = true;
  }
  seconds += (w.forwards * (cal.evalS ?? 0)) / 2;
  return { seconds, unmeasured };
}

export interface CostEstimate {
  stages: Partial<PerStage<StageCost>>;
  /**
   * An auto:K plan: the hybrid advisor's probes and held-out KLs before stage 3, at most (counted in
   * totalSeconds). `unmeasured`: a probe of stages the plan does not run, which the calibration did
   * not time, is left out.
   */
  advisor?: AdvisorWork & { seconds: number; unmeasured: boolean };
  /** Before the first stage (teacher upload, student). */
  setupSeconds: number;
  evaluations: number;
  evalSeconds: number;
  totalSeconds: number;
  /** The most GPU memory any stage or evaluation held. */
  peakBytes: number;
  planBytes: number;
  software: boolean;
}

export function planShape(p: DistillPlan): PlanShape {
  return { stages: [...p.stages], seqLen: p.seqLen, batch: p.batch, accumulate: p.accumulate, attentionLayers: [...p.attentionLayers], streamLayers: p.streamLayers, freezeMlp: p.freezeMlp, recompute: p.recompute ?? 'auto', teacherAttention: p.teacherAttention ?? 'f32' };
}

/** Whether `cal` measured what `plan` runs: the same shapes, and every stage it runs. */
export function covers(cal: Calibration, plan: DistillPlan): boolean {
  const a = cal.shape;
  const b = planShape(plan);
  return (
    a.seqLen === b.seqLen &&
    a.batch === b.batch &&
    a.accumulate === b.accumulate &&
    a.streamLayers === b.streamLayers &&
    a.freezeMlp === b.freezeMlp &&
    (a.recompute ?? 'auto') === b.recompute &&
    (a.teacherAttention ?? 'f32') === b.teacherAttention &&
    a.attentionLayers.join() === b.attentionLayers.join() &&
    b.stages.every((s) => cal.stages[s] !== undefined)
  );
}

/**
 * Seconds `steps` steps of a stage take from its start, by its calibration; `programs` says whether
 * the run finds the GPU programs the measurement built (the page's worker: same device) or builds
 * them again (a new process).
 */
export function stageSeconds(c: StageCalibration, steps: number, programs: 'built' | 'cold' = 'built'): number {
  if (steps <= 0) return 0;
  return (programs === 'cold' ? c.coldSetupS : c.setupS) + (steps - 1) * c.stepS + (Math.ceil(steps / c.window) - 1) * c.windowS;
}

/** The cost of `plan` (which `cal` covers) with `evaluations` held-out evaluations (see stageSeconds for `programs`). */
export function estimateCost(cal: Calibration, plan: DistillPlan, evaluations: number, programs: 'built' | 'cold' = 'built'): CostEstimate {
  if (!covers(cal, plan)) throw new Error('the calibration was measured for another plan shape');
  const steps = stepsPerStage(plan);
  const stages: Partial<PerStage<StageCost>> = {};
  let total = cal.prepareS;
  let peak = 0;
  for (const s of plan.stages) {
    const c = cal.stages[s]!;
    const seconds = stageSeconds(c, steps[s], programs);
    stages[s] = { steps: steps[s], seconds, peakBytes: c.peakBytes };
    total += seconds;
    peak = Math.max(peak, c.peakBytes);
  }
  const evalSeconds = evaluations * (cal.evalS ?? 0);
  if (evaluations > 0) peak = Math.max(peak, cal.evalPeakBytes);
  const work = cal.layers === undefined ? null : advisorWork(plan, cal.layers);
  const advisor = work ? { ...work, ...advisorSeconds(cal, work) } : undefined;
  if (advisor) total += advisor.seconds;
  return { stages, ...(advisor ? { advisor } : {}), setupSeconds: cal.prepareS, evaluations, evalSeconds, totalSeconds: total + evalSeconds, peakBytes: peak, planBytes: cal.planBytes, software: cal.software };
}

/** Where a run is, for the whole run's remaining time. */
export interface RunPoint {
  stage: Stage;
  step: number;
  /** Seconds per step this stage has run at so far (null before its first steps). */
  stepS: number | null;
}

/**
 * Seconds left of the whole run: the current stage at its measured pace, the stages after it by the
 * calibration scaled by how this stage's pace compares with its calibrated one (the adapter runs
 * faster or slower than measured for all stages alike), and the evaluations still to come. Null when
 * a stage still to run was never measured (no calibration covers it, and it has not begun).
 */
export function remainingSeconds(plan: DistillPlan, at: RunPoint, cal: Calibration | null, evaluationsLeft: number, evalS: number | null, advisorPending = false): number | null {
  const steps = stepsPerStage(plan);
  const mine = cal?.stages[at.stage];
  const pace = at.stepS ?? (mine ? mine.stepS : null);
  if (pace === null) return null;
  // One noisy early step must not swing the later stages by more than a factor of four.
  const scale = mine && mine.stepS > 0 && at.stepS !== null ? Math.min(4, Math.max(0.25, at.stepS / mine.stepS)) : 1;
  let left = Math.max(0, steps[at.stage] - at.step) * pace;
  for (const s of plan.stages) {
    if (s <= at.stage) continue;
    const c = cal?.stages[s];
    if (!c || !cal || !covers(cal, { ...plan, stages: [s] })) return null;
    left += stageSeconds(c, steps[s]) * scale;
  }
  if (evaluationsLeft > 0) {
    const e = evalS ?? cal?.evalS ?? null;
    if (e === null) return null;
    left += evaluationsLeft * e;
  }
  // The hybrid advisor still to run before stage 3: its probes at the calibrated pace, scaled like the stages.
  const work = advisorPending && cal?.layers !== undefined ? advisorWork(plan, cal.layers) : null;
  if (work && cal) left += advisorSeconds(cal, { ...work, stages12: { 1: 0, 2: 0 } }).seconds * scale;
  return left;
}

export class CalibrationCancelled extends Error {
  override name = 'CalibrationCancelled';
  constructor() {
    super('the cost measurement was cancelled');
  }
}

export interface CalibrateOptions {
  /** Time one held-out evaluation of this size (the run's own); null: none. */
  evaluation: { docs: number; tokens: number } | null;
  /** Cancels at the next step boundary; the call then rejects with CalibrationCancelled. */
  signal?: AbortSignal;
  /** What is being measured, and how far along (in parts of the whole measurement). */
  onProgress?(label: string, done: number, total: number): void;
  /** At least this many seconds of steady steps per stage (more steps for fast ones, up to MAX_TIMED). */
  minTimedS?: number;
  /**
   * After each stage's measurement, this many more steps with every op timed on the GPU (OpProfiler):
   * where the stage's time goes, by kernel. Needs timestamp-query; 0 or absent: none.
   */
  profile?: number;
}

/** Steps timed after the first: at most 8 (8 fast steps average out a timer's jitter). */
const MAX_TIMED = 8;

/**
 * Measures `plan` (which validatePlan has passed) on `gpu`. Per stage: a first pass of one step
 * builds its GPU programs (timed as the cold setup), then, from a fresh start, step 1 alone (setup), step 2 alone, then m more steps together (m by the pace of step 2: more for fast
 * steps), each part ended by a barrier that waits for the GPU. Steps 2.. give the pace; for a
 * streamed stage the lone step 2 against the m together tells a window's cost (moving the layers)
 * apart from the steps'. The held-out evaluation is timed on one document and scaled.
 */
export async function calibrate(gpu: Gpu, teacher: LoadedTeacher, corpus: TokenStream, plan: DistillPlan, opts: CalibrateOptions): Promise<Calibration> {
  const t0 = performance.now();
  const c = teacher.config;
  const signal = opts.signal;
  const cancelled = () => signal?.aborted === true;
  const check = () => {
    if (cancelled()) throw new CalibrationCancelled();
  };
  const wasResident = teacher.resident;
  // What a run would not hold: buffers left by others (a finished run's student, kept for export).
  const teacherBytes = () => [...teacher.weights.buffers.values()].reduce((a, b) => a + b.size, 0);
  const others = gpu.memory.liveBytes - teacherBytes();
  const parts = plan.stages.length + 1 + (opts.evaluation ? 1 : 0);
  let part = 0;
  const progress = (label: string) => opts.onProgress?.(label, part, parts);

  progress(plan.streamLayers ? 'making a throwaway student' : 'uploading the teacher and making a throwaway student');
  if (!plan.streamLayers) await teacher.upload();
  // The run's sampler is not touched: the throwaway student draws from its own (from a streaming
  // corpus, from whatever is tokenized when a stage starts: the cost does not depend on which windows).
  const d = await Distiller.create(gpu, teacher, plan, corpus.fresh().measuring());
  const stages: Partial<PerStage<StageCalibration>> = {};
  let evalS: number | null = null;
  let evalPeakBytes = 0;
  let profile: Partial<PerStage<OpTime[]>> | undefined;
  // What the timed passes left to the garbage collector: a run's stages leave it once, not twice.
  let extra = 0;
  try {
    const prepareS = (performance.now() - t0) / 1000;
    part++;
    check();
    const steps = stepsPerStage(plan);
    for (const stage of plan.stages) {
      progress(`measuring stage ${stage}`);
      const { leftBytes, ...m } = await measureStage(gpu, d, stage, steps[stage], plan, opts, cancelled, (k, n) => opts.onProgress?.(`measuring stage ${stage}: step ${k} of ${n}`, part, parts));
      stages[stage] = { ...m, peakBytes: Math.max(0, m.peakBytes - others - extra) };
      extra += leftBytes;
      if (opts.profile && opts.profile > 0 && gpu.info.timestamps) {
        progress(`profiling stage ${stage}`);
        const live = gpu.memory.liveBytes;
        (profile ??= {})[stage] = await profileStage(gpu, d, stage, steps[stage], opts.profile, cancelled);
        // What the profiled steps left behind must not count in later stages' peaks either.
        extra += Math.max(0, gpu.memory.liveBytes - live);
      }
      part++;
      check();
    }
    if (opts.evaluation && corpus.heldOutCount > 0) {
      progress('timing a held-out evaluation');
      const { docs, tokens } = opts.evaluation;
      // An evaluation reads its documents as one padded batch (docs × the longest, up to `tokens`) and
      // costs in proportion to its rows; on a CPU adapter the run's own takes minutes, so one document
      // is timed and scaled. The first call builds the evaluation's pipelines, the second is timed.
      const lengths = (n: number) => corpus.heldOutDocs(n).map((x) => Math.min(x.length, tokens, c.maxPositions)).filter((l) => l >= 2);
      const rows = (n: number) => lengths(n).length * Math.max(0, ...lengths(n));
      if (rows(1) > 0) {
        await d.evaluate(tokens, 1);
        check();
        const before = gpu.memory.liveBytes;
        gpu.resetPeak();
        const e0 = performance.now();
        await d.evaluate(tokens, 1);
        const scale = rows(docs) / rows(1);
        evalS = ((performance.now() - e0) / 1000) * scale;
        // Its buffers (activations, logits) grow with the rows; the models it reads do not.
        evalPeakBytes = Math.max(0, before + (gpu.memory.peakBytes - before) * scale - others - extra);
      }
      part++;
    }
    progress('measured');
    return {
      shape: planShape(plan),
      stages,
      prepareS,
      evalS,
      evaluation: evalS === null ? null : { ...opts.evaluation! },
      evalPeakBytes,
      planBytes: estimateMemory(plan, { config: teacher.config, parameters: teacher.summary.parameters, weightBytes: teacher.summary.weightBytes }),
      software: gpu.info.software,
      tookS: (performance.now() - t0) / 1000,
      layers: c.layers,
      ...(profile ? { profile } : {}),
    };
  } finally {
    d.release();
    // A streamed stage moves the teacher off the GPU, as the run would; it goes back if it was there.
    if (!wasResident) teacher.evict();
    else await teacher.upload().catch(() => {});
    gpu.trim();
  }
}

async function measureStage(
  gpu: Gpu,
  d: Distiller,
  stage: Stage,
  total: number,
  plan: DistillPlan,
  opts: CalibrateOptions,
  cancelled: () => boolean,
  onStep: (k: number, n: number) => void,
): Promise<StageCalibration & { leftBytes: number }> {
  // The stage's memory is the first pass's peak: at that point the GPU holds what a run's would (the
  // buffers earlier stages left to the garbage collector, once). The timed pass leaves its own again,
  // which later stages' peaks must not count: `leftBytes` says how much.
  const unowned = () => gpu.memory.liveBytes - [...d.teacher.weights.buffers.values()].reduce((a, b) => a + b.size, 0) - d.studentGpuBytes;
  // A first pass of one step builds the stage's GPU programs; the second, timed, finds them built.
  let coldStart = 0;
  let coldSetupS = 0;
  let coldSteps = 0;
  let peakBytes = 0;
  await d.runStage(
    stage,
    total,
    {
      stage: (_s, state, _steps, _tokens, peak) => {
        if (state === 'started') coldStart = performance.now();
        else {
          coldSetupS = (performance.now() - coldStart) / 1000;
          peakBytes = peak ?? 0;
        }
      },
    },
    { stop: cancelled, skip: () => coldSteps++ >= 1 },
  );
  if (cancelled()) throw new CalibrationCancelled();
  const afterCold = unowned();
  const minTimedS = opts.minTimedS ?? 0.5;
  // Barrier times: after step 1, after step 2, and after the timed steps.
  const marks: number[] = [];
  let started = 0;
  let ended = 0;
  let submitted = 0;
  let timed = 2;
  let barrier = false;
  const streamed = stage !== 3 && plan.streamLayers;
  const c = d.teacher.config;
  const window = streamed ? streamWindowSteps(plan.accumulate * plan.batch * plan.seqLen * c.dModel * 4, d.streamWindowBytes) : 1;
  await d.runStage(
    stage,
    total,
    {
      stage: (_s, state) => {
        if (state === 'started') started = performance.now();
        else ended = performance.now();
      },
    },
    {
      holding: () => (barrier = submitted === 1 || submitted === 2),
      gate: async () => {
        if (!barrier) return;
        barrier = false;
        marks.push(performance.now());
        if (marks.length === 2) {
          // As many steps as fill minTimedS at step 2's pace: a streamed stage needs two or more in
          // one window (to tell the window's cost from the steps'), a resident one counts step 2 too.
          const lone = (marks[1]! - marks[0]!) / 1000;
          const want = Math.ceil(minTimedS / Math.max(lone, 1e-3));
          timed = streamed ? Math.max(Math.min(2, window), Math.min(MAX_TIMED, want, window)) : Math.max(1, Math.min(MAX_TIMED - 1, want - 1));
        }
      },
      stop: cancelled,
      skip: () => {
        if (submitted >= 2 + timed) return true;
        submitted++;
        onStep(submitted, Math.min(total, 2 + timed));
        return false;
      },
    },
  );
  if (cancelled()) throw new CalibrationCancelled();
  const leftBytes = Math.max(0, unowned() - afterCold);
  const setupS = ((marks[0] ?? ended) - started) / 1000;
  if (submitted < 2) return { setupS, coldSetupS, stepS: 0, windowS: 0, window, peakBytes, leftBytes, timedSteps: submitted };
  const loneS = ((marks[1] ?? ended) - marks[0]!) / 1000;
  const n = submitted - 2;
  if (n === 0) return { setupS, coldSetupS, stepS: loneS, windowS: 0, window: 1, peakBytes, leftBytes, timedSteps: 1 };
  const groupS = (ended - marks[1]!) / 1000;
  // A resident stage keeps a step in flight, so the lone step and the group run at the same pace (as
  // does a streamed one whose window holds a single step).
  if (!streamed || n < 2) return { setupS, coldSetupS, stepS: (loneS + groupS) / (n + 1), windowS: 0, window: 1, peakBytes, leftBytes, timedSteps: n + 1 };
  // A streamed window of n steps costs windowS + n·stepS; the lone step was a window of one.
  const stepS = Math.max(0, (groupS - loneS) / (n - 1));
  return { setupS, coldSetupS, stepS, windowS: Math.max(0, loneS - stepS), window, peakBytes, leftBytes, timedSteps: n + 1 };
}

/** `steps` steps of `stage` from its start with every op timed (OpProfiler), after the measurement. */
async function profileStage(gpu: Gpu, d: Distiller, stage: Stage, total: number, steps: number, cancelled: () => boolean): Promise<OpTime[]> {
  const profiler = new OpProfiler();
  let k = 0;
  gpu.profiler = profiler;
  try {
    await d.runStage(stage, total, {}, { stop: cancelled, skip: () => k++ >= steps });
  } finally {
    gpu.profiler = null;
  }
  if (cancelled()) throw new CalibrationCancelled();
  return profiler.report();
}

/** The stages in the order STAGES lists them, for reports. */
export function costStages(e: CostEstimate): Stage[] {
  return STAGES.filter((s) => e.stages[s] !== undefined);
}
