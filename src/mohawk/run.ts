// One run driver for the page's worker and `mohawk distill`: it checks the plan once, puts the
// teacher on the GPU when the plan needs it whole, creates the distiller or resumes it from a
// checkpoint store, keeps the one checkpoint schema (RunState), the save cadence, the held-out
// evaluations, pause/skip/stop, and reports everything as RunEvents. The shells own only their I/O:
// files, OPFS or folders, the console or the page, signals.
import type { Gpu } from '../gpu/runtime';
import type { FileSet } from '../io/files';
import type { FlatStoreFactory } from '../io/flat-file';
import { readJson } from '../io/files';
import { TOKENIZER_FILES, type NamedBytes, type NamedParts } from '../models/student-files';
import type { LoadedTeacher } from '../models/teacher';
import { remainingSeconds, type Calibration } from './calibrate';
import { openCheckpoint, OPTIMIZER_FILE, peekCheckpoint, saveCheckpoint, type OpenedCheckpoint, STUDENT_FILE, teacherFingerprint, type CheckpointStore, type RunFiles } from './checkpoint';
import { checkDiskRoom, runDiskBytes } from './disk-room';
import { gatherEvidence, stage2Evidence, type Stage2Evidence } from './advisor-evidence';
import { PROBE3_MAX_SHARE, probeCandidates, probesAffordable, warmAffordable, warmProbeCandidates } from './advisor-probe';
import { Distiller, type ResumePoint } from './distiller';
import { adviceFromRecord, adviceRecord, adviseLayers, candidateSets, layerChoiceProblem, type HybridAdvice } from './hybrid-advisor';
import { PLAN_FIELD_NAMES, sequencesPerStep, STAGES, tokensPerStep, validatePlan, withAttentionLayers, type DistillPlan, type PerStage, type PlanField, type Stage } from './plan';
import type { CorpusMode, TokenStream } from './token-stream';

/** A checkpoint's run state (state.json's "state"): where the run is and what it was made from. */
export interface RunState {
  stage: Stage;
  step: number;
  /** The stage ended (finished or skipped) at this save. */
  stageDone: boolean;
  /** The whole plan is done: nothing is left to resume. */
  done: boolean;
  /** Tokens trained so far in `stage`. */
  tokens: number;
  /** Tokens each stage actually trained (a skipped stage less than its budget). */
  tokensDone: PerStage<number>;
  plan: DistillPlan;
  teacher: string;
  teacherFingerprint: string;
  corpus: string;
  /** Documents of the corpus used (null: all) and the fraction held out: a resumed run must hold out the same. */
  docs: number | null;
  heldOut: number;
  /**
   * How the corpus was split and sampled (token-stream.ts): absent in checkpoints made before
   * streaming existed, which split it 'whole'. A resumed run reads its corpus the same way.
   */
  corpusMode?: CorpusMode;
  savedAt: string;
  /** Wall seconds the run has taken so far, setup and evaluations included, pauses not. */
  elapsedS?: number;
  /** The run's name and start (ISO), which a resumed run keeps (absent in checkpoints of older versions). */
  name?: string;
  startedAt?: string;
  /** Training seconds of `stage` up to this save, over every session: a resumed stage's clock goes on from it. */
  stageElapsedS?: number;
  /**
   * An auto:K plan: the hybrid advisor's choice and evidence (adviceRecord), once stage 3's layers are
   * chosen; the checkpoint's student is then laid out with them. Absent before.
   */
  advice?: Record<string, unknown>;
  /** An auto:K plan: each layer's stage-2 residual, kept for an advisor that runs after a resume (absent before stage 2 ran). */
  residuals?: number[];
  /** Beside `residuals`: each layer's mean norm of the teacher's attention output over the same steps (absent in older checkpoints: the advisor then probes). */
  attentionNorms?: number[];
}

/** A run's name for files: the teacher's, the student's stages and the run's start (UTC, to the minute). */
export function runName(teacher: string, startedAtIso: string): string {
  const safe = teacher.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'teacher';
  return `${safe}-mohawk-student-${startedAtIso.replace(/[-:]/g, '').replace('T', '-').slice(0, 13)}`;
}

export type RunEvent =
  | { type: 'notice'; text: string }
  | { type: 'progress'; label: string; done: number; total: number }
  /** A stage began, ended, or was skipped. steps/tokens are the stage's planned totals. */
  | { type: 'stage'; stage: Stage; state: 'started' | 'finished' | 'skipped'; steps: number; tokens: number; gpuPeakBytes?: number }
  /**
   * elapsedS: the stage's training time; runElapsedS: the whole run's wall time (Run.elapsedS); etaS:
   * the rest of this stage; runEtaS: the rest of the run, later stages and evaluations included
   * (null while a stage to come was never measured: see RunSetup.calibration). lr: the step's learning
   * rate, the stage's on the plan's warmup-stable-decay schedule.
   */
  | { type: 'step'; stage: Stage; step: number; steps: number; tokens: number; loss: number; gradNorm: number; lr: number; tokensPerS: number; elapsedS: number; etaS: number | null; runElapsedS: number; runEtaS: number | null }
  /** Stage-1 distance ‖T_student − A_teacher‖_F per (layer, head), row-major layers × heads; NaN = not yet measured. */
  | { type: 'distances'; layers: number; heads: number; values: Float32Array }
  | { type: 'checkpoint'; stage: Stage; step: number; stageDone: boolean; tokens: number; at: number }
  /** Held-out mean NLL (nats/token) of teacher and student; stage 0 is before any training. */
  | { type: 'eval'; stage: Stage | 0; teacherNll: number; studentNll: number; tokens: number }
  | { type: 'paused'; paused: boolean }
  /**
   * An auto:K plan's hybrid advisor has ranked the layers (before stage 3): `awaiting` while the run
   * waits for the user to accept or edit the choice (Run.chooseLayers), then again with the layers
   * adopted. A resumed run that had chosen reports its choice once more at its start.
   */
  | { type: 'advice'; advice: HybridAdvice; awaiting: boolean };

export interface RunSetup {
  gpu: Gpu;
  /** Loaded with nothing on the GPU: the run uploads it when the plan needs it whole. */
  teacher: LoadedTeacher;
  teacherFiles: FileSet;
  /** The teacher's name in records and messages (its folder's). */
  teacherName: string;
  corpus: TokenStream;
  corpusName: string;
  docs: number | null;
  heldOut: number;
  /** The plan to run; on resume, null takes the checkpoint's (any other must equal it). */
  plan: DistillPlan | null;
  /** Where checkpoints go; null runs without (nothing to resume from). */
  store: CheckpointStore | null;
  resume: boolean;
  /** Seconds between checkpoints besides stage ends and stops. */
  saveEveryS: number;
  /** Held-out NLL over `docs` documents of at most `tokens` tokens: before training and at each stage end, or only when asked. */
  evaluation: { docs: number; tokens: number; atStageEnds: boolean };
  /** What made the student, for its record (`mohawk distill`, the studio). */
  tool: string;
  /** A measurement of this plan's shapes (calibrate.ts): how the whole run's remaining time counts the stages to come. */
  calibration?: Calibration | null;
  /** How the caller's user names the plan's fields in messages (the CLI: its flags). */
  fieldNames?: Record<PlanField, string>;
  /** The run's name for its files (default runName's); a resumed run keeps its checkpoint's. */
  name?: string;
  /**
   * An auto:K plan waits, after its advisor ranks the layers, for the user to accept or edit the
   * choice (Run.chooseLayers): the page. Otherwise (the command line) the advisor's choice stands.
   */
  confirmAdvice?: boolean;
  /**
   * The store's disk, for the check that the run's checkpoints (and with `withExport` the exported
   * student) fit before anything trains: where it is and what else frees room, in the caller's words.
   */
  disk?: { where: string; withExport: boolean; remedy: string };
  /**
   * Where the student goes while it is off the GPU (a streamed plan of stages 1–2 alone: 12 bytes per
   * held parameter): the CLI's scratch file in its run folder, the worker's OPFS file; memory if absent.
   */
  hostStore?: FlatStoreFactory;
  onEvent(e: RunEvent): void;
}

/** Throws DiskRoomError when the store's disk cannot take the run's checkpoints (disk-room.ts). */
async function checkRoom(s: RunSetup, plan: DistillPlan): Promise<void> {
  const store = s.store as (CheckpointStore & Partial<Pick<RunFiles, 'size'>>) | null;
  if (!store?.free || !s.disk) return;
  const free = await store.free();
  if (free === null) return;
  // A resumed run's saves replace its checkpoint's files.
  let held = 0;
  if (s.resume && store.size) for (const f of [STUDENT_FILE, OPTIMIZER_FILE]) held += (await store.size(f)) ?? 0;
  const freezeName = plan.freezeMlp ? null : (s.fieldNames ?? PLAN_FIELD_NAMES).freezeMlp;
  checkDiskRoom(runDiskBytes(s.teacher.config, plan, s.hostStore !== undefined), { free, held, where: s.disk.where, withExport: s.disk.withExport }, { freezeMlp: freezeName, remedy: s.disk.remedy });
}

/** config.json and each safetensors header: a different teacher of the same shapes is told apart by its names and metadata at least. */
export async function teacherFilesFingerprint(files: FileSet): Promise<string> {
  const parts: (string | Uint8Array)[] = [];
  for (const name of files.names) {
    if (name !== 'config.json' && !name.endsWith('.safetensors')) continue;
    const src = await files.source(name);
    if (name === 'config.json') parts.push(name, await src.read(0, src.size));
    else {
      const len = src.size >= 8 ? Number(new DataView((await src.read(0, 8)).slice().buffer).getBigUint64(0, true)) : 0;
      parts.push(name, await src.read(0, Math.min(src.size, 8 + len)));
    }
  }
  return teacherFingerprint(parts);
}

/**
 * The first field where `now` differs from the checkpoint's plan, named as the user knows it; null
 * when equal. streamLayers, recompute and teacherAttention are not compared: they change where and how the work runs, not what it computes (teacherAttention only by the rounding of the teacher's attention inputs).
 */
export function planDifference(saved: unknown, now: DistillPlan, names: Record<PlanField, string> = PLAN_FIELD_NAMES): string | null {
  const s = (typeof saved === 'object' && saved !== null ? saved : {}) as Record<string, unknown>;
  // Plans saved before packing or auto:K were choices packed across documents with the layers named.
  const absent: Partial<Record<keyof DistillPlan, unknown>> = { packing: 'across', attentionAuto: null, advisorMethod: 'sets' };
  const keys = new Set([...(Object.keys(now) as (keyof DistillPlan)[]), 'attentionAuto' as const]);
  for (const k of keys) {
    // How a run holds its memory (and the limit it is checked against) may change between sessions: the steps do not.
    // teacherAttention too: a run started where the adapter offered shader-f16 may go on where it does not.
    if (k === 'streamLayers' || k === 'recompute' || k === 'gpuMemoryGiB' || k === 'teacherAttention') continue;
    // The advisor's method decides nothing without auto:K (and its default changed): compared only beside auto:K.
    if (k === 'advisorMethod' && (s.attentionAuto ?? null) === null && (now.attentionAuto ?? null) === null) continue;
    const a = JSON.stringify(s[k] ?? absent[k]);
    const b = JSON.stringify(now[k] ?? absent[k]);
    if (a !== b) return `${names[k]} (${k}): the checkpoint has ${a ?? 'nothing'}, this run asks for ${b}`;
  }
  return null;
}

/** What a resumed run must match: checked before anything is loaded, and again on the checkpoint it loads. */
export interface ResumeExpectation {
  plan: DistillPlan | null;
  teacherFingerprint: string;
  teacherName: string;
  docs: number | null;
  heldOut: number;
  fieldNames?: Record<PlanField, string>;
}

/** The checkpoint's run state if a run with `expect` may continue it; throws saying what differs. */
export function checkResume(state: unknown, expect: ResumeExpectation): RunState {
  const st = (typeof state === 'object' && state !== null ? state : {}) as Partial<RunState>;
  const diff = expect.plan ? planDifference(st.plan, expect.plan, expect.fieldNames) : null;
  if (diff) throw new Error(`this run's plan is not the checkpoint's: ${diff}`);
  if (typeof st.plan !== 'object' || st.plan === null) throw new Error('the checkpoint names no plan');
  if (st.teacherFingerprint !== expect.teacherFingerprint) throw new Error(`the checkpoint was made with another teacher (${String(st.teacher)}; its config.json or weights differ from ${expect.teacherName}'s)`);
  if ((st.docs ?? null) !== expect.docs || st.heldOut !== expect.heldOut) {
    throw new Error(`the checkpoint held out another part of the corpus (${st.docs ?? 'all'} documents, ${String(st.heldOut)} held out; this run: ${expect.docs ?? 'all'}, ${expect.heldOut})`);
  }
  return st as RunState;
}

/** The state of the checkpoint in `store`, if there is one (unread: a glance for resume offers). */
export async function peekRunState(store: CheckpointStore): Promise<(Partial<RunState> & { savedAtMs: number }) | null> {
  const p = await peekCheckpoint(store);
  return p ? { ...(p.state as Partial<RunState>), savedAtMs: p.savedAt } : null;
}

/** A checkpoint's advice, checked against the plan and the teacher; null when it names none. */
function adviceOf(state: RunState, plan: DistillPlan, layers: number): HybridAdvice | null {
  if (state.advice === undefined) return null;
  const a = adviceFromRecord(state.advice);
  const problem = a ? layerChoiceProblem(a.layers, layers) : 'it is not a record of the advisor';
  if (!a || problem || a.k !== plan.attentionAuto) throw new Error(`the checkpoint's hybrid advisor choice cannot be read (${problem ?? `it kept ${a!.k} layers, the plan auto:${plan.attentionAuto}`})`);
  return a;
}

export class Run {
  private paused = false;
  private stopRequested = false;
  private skipRequested = false;
  private wake: (() => void) | null = null;
  private lastSaved: { stage: Stage; step: number; stageDone: boolean } | null = null;
  /** What the run is doing: a shell that must quit may do so while it trains, never while it saves. */
  private phase: 'idle' | 'training' | 'saving' = 'idle';
  /** The last stage that ended (0 before any): what an evaluation is labelled with. */
  lastStage: Stage | 0;
  readonly completed = new Set<Stage>();
  /** Held-out evaluations this run made, for the student's record. */
  readonly evaluations: { stage: Stage | 0; teacherNll: number; studentNll: number; tokens: number; at: string }[] = [];
  /** When the run first started (a resumed run's is its checkpoint's), and its name. */
  private startedAt = new Date().toISOString();
  private runName: string | null = null;
  /** When prepare() began: the run's wall time counts its setup (uploads, the distiller) too. */
  private t0 = performance.now();
  private pausedMs = 0;
  /** Seconds earlier sessions of a resumed run took, in all and training the stage it resumes in. */
  private priorS = 0;
  /** Seconds the last held-out evaluation took, for the remaining time of the evaluations to come. */
  private evalS: number | null = null;
  private priorStageS = 0;
  /** The last step's stage and that stage's training seconds over every session. */
  private stageClock: { stage: Stage; s: number } | null = null;
  /** An auto:K plan: the layers its advisor chose (or the user made of the choice), once adopted; null before. */
  advice: HybridAdvice | null = null;
  /** Stage-2 residuals and attention-output norms a resumed run's checkpoint kept (this session may not have run stage 2). */
  private savedStage2: Stage2Evidence | null = null;
  /** Waiting for the user's layers (confirmAdvice): how to hand them over. */
  private choose: ((layers: number[] | null) => void) | null = null;

  private constructor(
    private readonly s: RunSetup,
    readonly distiller: Distiller,
    readonly plan: DistillPlan,
    readonly steps: PerStage<number>,
    /** The plan's estimate of the most GPU memory a stage holds. */
    readonly memoryBytes: number,
    private readonly fingerprint: string,
    readonly tokensDone: PerStage<number>,
    /** Where a resumed run goes on (undefined: from the start). */
    readonly from: ResumePoint | undefined,
  ) {
    this.lastStage = from ? (plan.stages[plan.stages.indexOf(from.stage) - 1] ?? 0) : 0;
  }

  static async prepare(s: RunSetup): Promise<Run> {
    const began = performance.now();
    const fingerprint = await teacherFilesFingerprint(s.teacherFiles);
    const expect: ResumeExpectation = { plan: s.plan, teacherFingerprint: fingerprint, teacherName: s.teacherName, docs: s.docs, heldOut: s.heldOut, fieldNames: s.fieldNames };
    let state: RunState | null = null;
    // Opened once, every file checked but no tensor read: the restore below reads it piece by piece.
    let ck: OpenedCheckpoint | null = null;
    if (s.resume) {
      if (!s.store) throw new Error('there is no checkpoint store to resume from');
      ck = await openCheckpoint(s.store);
      if (!ck) throw new Error('there is no checkpoint to resume');
      state = checkResume(ck.state, expect);
      if (state.corpus !== s.corpusName) s.onEvent({ type: 'notice', text: `warning: the checkpoint was trained on ${String(state.corpus)}, this run reads ${s.corpusName}` });
    }
    if (state && (state.corpusMode ?? 'whole') !== s.corpus.mode) {
      throw new Error(`the checkpoint read its corpus ${state.corpusMode === 'streaming' ? 'streaming' : 'whole'}, this run ${s.corpus.mode === 'streaming' ? 'streaming' : 'whole'}: a resumed run must split and sample it as the checkpoint did`);
    }
    const plan = s.plan ?? state!.plan;
    // A streaming corpus still tokenizing is held to the plan at each stage's start (TokenStream.enterStage).
    const corpusKnown = s.corpus.complete;
    const { steps, memoryBytes } = validatePlan(
      plan,
      {
        teacher: { config: s.teacher.config, parameters: s.teacher.summary.parameters, weightBytes: s.teacher.summary.weightBytes },
        trainTokens: corpusKnown ? s.corpus.trainTokens : Infinity,
        longestTrainDoc: corpusKnown ? s.corpus.longestTrainDoc : undefined,
        limits: s.gpu.info.limits,
        shaderF16: s.gpu.info.shaderF16,
      },
      s.fieldNames,
    );
    await checkRoom(s, plan);
    // One upload policy: the teacher goes to the GPU here when a stage holds it whole, else when
    // stage 3 or an evaluation asks for it (Distiller.resident); streamed stages read the host copy.
    if (!plan.streamLayers) await s.teacher.upload((done, total) => s.onEvent({ type: 'progress', label: 'uploading the teacher', done, total }));
    // An auto:K checkpoint made after the advisor chose holds the student laid out with its layers.
    const advice = state && plan.attentionAuto ? adviceOf(state, plan, s.teacher.config.layers) : null;
    if (state && plan.attentionAuto && !advice && state.stage === 3 && state.step > 0) throw new Error('the checkpoint is in stage 3 of an auto:K plan but names no layers the advisor chose');
    const d = await Distiller.create(s.gpu, s.teacher, advice ? withAttentionLayers(plan, advice.layers) : plan, s.corpus, {
      onProgress: (done, total) => s.onEvent({ type: 'progress', label: "making the student from the teacher's layers", done, total }),
      hostStore: s.hostStore,
    });
    // A plan of stages 1–2 alone writes gigabytes to disk for a large teacher: say where.
    const held = d.hostHeld;
    if (held && held.where !== 'memory') s.onEvent({ type: 'notice', text: `the student's parameters and AdamW moments (${(held.bytes / 2 ** 30).toFixed(2)} GiB) are kept in the ${held.where} while the layers are streamed; it is deleted when the run is let go (a command's at its end; the page's once another run or teacher replaces it, or the run is deleted: it holds the student until then)` });
    const tokensDone: PerStage<number> = { 1: 0, 2: 0, 3: 0 };
    let from: ResumePoint | undefined;
    try {
      if (state && ck) {
        // Held to the plan the run resolved (the checkpoint's own when none was given).
        const again = checkResume(ck.state, { ...expect, plan });
        if (!STAGES.includes(again.stage) || !plan.stages.includes(again.stage) || !Number.isInteger(again.step) || again.step < 0 || again.step > steps[again.stage]) {
          throw new Error(`the checkpoint's stage ${String(again.stage)} step ${String(again.step)} is not a point of this plan`);
        }
        await d.restoreFrom(ck);
        from = { stage: again.stage, step: again.step };
        for (const st of plan.stages) tokensDone[st] = again.tokensDone?.[st] ?? (st < from.stage ? steps[st] * tokensPerStep(plan) : 0);
        tokensDone[from.stage] = from.step * tokensPerStep(plan);
        // The corpus sampler goes on where the interrupted run left it, so that a resumed run sees
        // the same windows as one never stopped.
        let calls = from.step;
        for (const st of plan.stages) if (st < from.stage) calls += steps[st];
        s.corpus.skip(calls * sequencesPerStep(plan));
      }
      await s.gpu.check();
    } catch (e) {
      await d.release().catch(() => {});
      throw e;
    }
    const run = new Run(s, d, plan, steps, memoryBytes, fingerprint, tokensDone, from);
    run.advice = advice;
    run.savedStage2 = state?.residuals && state.attentionNorms ? { residual: state.residuals, attentionNorm: state.attentionNorms } : null;
    if (advice) s.onEvent({ type: 'advice', advice, awaiting: false });
    run.t0 = began;
    if (state?.startedAt) run.startedAt = state.startedAt;
    run.runName = state?.name ?? s.name ?? null;
    if (state && Number.isFinite(state.elapsedS)) run.priorS = state.elapsedS!;
    if (state && from && !run.completed.has(from.stage) && Number.isFinite(state.stageElapsedS)) run.priorStageS = state.stageElapsedS!;
    if (from && state) {
      for (const st of plan.stages) if (st < from.stage || (st === from.stage && (state.stageDone || from.step >= steps[st]))) run.completed.add(st);
    }
    return run;
  }

  /** Trains the plan's stages (from the resume point); 'stopped' when stop() ended it first. */
  async train(): Promise<'finished' | 'stopped'> {
    const { plan, s } = this;
    const perStep = tokensPerStep(plan);
    if (!this.from && s.evaluation.atStageEnds) await this.evaluate(0);
    this.phase = 'training';
    try {
      await this.trainStages(perStep);
    } finally {
      this.phase = 'idle';
    }
    // Tokenizing failed behind the run: it stopped at the next step with a checkpoint, and says why.
    if (s.corpus.failure) throw s.corpus.failure;
    return plan.stages.every((st) => this.completed.has(st)) ? 'finished' : 'stopped';
  }

  private async trainStages(perStep: number): Promise<void> {
    const { s } = this;
    await this.distiller.run(
      {
        stage: (stage, state, steps, tokens, gpuPeakBytes) => {
          if (state !== 'started') {
            this.completed.add(stage);
            this.lastStage = stage;
          }
          s.onEvent({ type: 'stage', stage, state, steps, tokens, gpuPeakBytes });
        },
        step: (r) => {
          this.tokensDone[r.stage] = r.tokens;
          this.lastPoint = { stage: r.stage, step: r.step };
          const start = this.from && this.from.stage === r.stage ? this.from.step : 0;
          const stepS = r.step > start ? r.elapsedS / (r.step - start) : null;
          const etaS = stepS === null ? null : (r.steps - r.step) * stepS;
          const evaluationsLeft = s.evaluation.atStageEnds ? this.plan.stages.filter((st) => st >= r.stage).length : 0;
          const advisorPending = !!this.plan.attentionAuto && !this.advice && r.stage < 3;
          const runEtaS = remainingSeconds(this.plan, { stage: r.stage, step: r.step, stepS }, s.calibration ?? null, evaluationsLeft, this.evalS, advisorPending);
          // The distiller's clock is this session's; the stage's own counts its earlier sessions too.
          const stageS = r.elapsedS + (start > 0 ? this.priorStageS : 0);
          this.stageClock = { stage: r.stage, s: stageS };
          s.onEvent({ type: 'step', ...r, elapsedS: stageS, etaS, runElapsedS: this.elapsedS, runEtaS });
        },
        distances: (layers, heads, values) => s.onEvent({ type: 'distances', layers, heads, values }),
        waiting: (stage, have, need) => s.onEvent({ type: 'progress', label: `stage ${stage} waits for its first ${need.toLocaleString('en-US')} training tokens to be tokenized`, done: have, total: need }),
        beforeStage: async (stage) => {
          if (stage === 3 && this.plan.attentionAuto && !this.advice) await this.advise();
        },
        save: async (stage, step, stageDone) => {
          this.tokensDone[stage] = step * perStep;
          await this.save(stage, step, stageDone);
          if (stageDone && s.evaluation.atStageEnds) await this.evaluate(stage);
        },
      },
      {
        gate: async () => {
          if (!this.paused || this.stopRequested) return;
          s.onEvent({ type: 'paused', paused: true });
          const p0 = performance.now();
          await new Promise<void>((r) => (this.wake = r));
          this.pausedMs += performance.now() - p0;
          s.onEvent({ type: 'paused', paused: false });
        },
        holding: () => this.paused && !this.stopRequested,
        skip: () => {
          const k = this.skipRequested;
          this.skipRequested = false;
          return k;
        },
        // A streaming corpus whose tokenizing failed ends the run at the next step, with a checkpoint.
        stop: () => this.stopRequested || s.corpus.failure !== null,
        saveEveryS: s.saveEveryS,
      },
      // A stage that ended (finished or skipped) at the checkpoint is not taken up again.
      this.from && this.completed.has(this.from.stage) ? { stage: this.from.stage, step: this.steps[this.from.stage] } : this.from,
    );
  }

  /**
   * The hybrid advisor, before stage 3 of an auto:K plan: gathers the evidence (advisor-evidence.ts),
   * probes the candidate sets of K layers (advisor-probe.ts: a short stage 3 each, or with
   * advisorMethod 'greedy' one short stage 3 of the all-mixer student and greedy restoration), keeps the set
   * that probed best (hybrid-advisor.ts), waits for the user's word where the shell asks for it,
   * re-lays the student out with those layers and checkpoints it. A stop on the way leaves the run as
   * it was before (the advisor runs again on resume).
   */
  private async advise(): Promise<void> {
    const { s, plan, distiller } = this;
    // The advisor measures on the held-out documents after the evaluation's (the next as many), so
    // that the layers are not chosen on the documents the run's held-out NLL is then quoted on; a
    // corpus that holds out fewer lends the last ones it has.
    const { docs: nDocs, tokens } = s.evaluation;
    await s.corpus.awaitHeldOut(2 * nDocs, { stop: () => this.stopRequested });
    const held = s.corpus.heldOutDocs(2 * nDocs);
    const docs = held.slice(Math.max(0, held.length - nDocs)).map((d) => d.slice(0, Math.min(tokens, s.teacher.config.maxPositions)));
    const stage2 = plan.stages.includes(2) ? (stage2Evidence(distiller) ?? this.savedStage2) : null;
    const stop = () => this.stopRequested;
    const onProgress = (label: string, done: number, total: number) => s.onEvent({ type: 'progress', label, done, total });
    const gathered = await gatherEvidence(s.gpu, distiller, { docs, stage2, stop, onProgress });
    if (!gathered || this.stopRequested) return;
    const greedy = plan.advisorMethod === 'greedy';
    const afford = greedy ? warmAffordable(distiller.plan) : probesAffordable(distiller.plan, candidateSets(gathered, plan.attentionAuto!).length);
    if (!afford.ok) {
      const what = greedy ? 'its short stage 3 with every layer a mixer' : 'probing the candidate layer sets';
      s.onEvent({ type: 'notice', text: `hybrid advisor: chosen by its score; ${what} would take ${afford.steps} of stage 3's ${afford.of} steps (more than ${PROBE3_MAX_SHARE * 100}%)` });
    }
    const probe = greedy ? warmProbeCandidates : probeCandidates;
    const evidence = afford.ok ? await probe(s.gpu, distiller, gathered, plan.attentionAuto!, { docs, stop, onProgress }) : gathered;
    if (!evidence || this.stopRequested) return;
    let advice = adviseLayers(evidence, plan.attentionAuto!);
    // The choice is awaited before it is announced, so that an answer given at once is heard.
    const chosen = s.confirmAdvice ? new Promise<number[] | null>((resolve) => (this.choose = resolve)) : null;
    s.onEvent({ type: 'advice', advice, awaiting: !!chosen });
    if (chosen) {
      const layers = await chosen;
      this.choose = null;
      if (layers === null || this.stopRequested) return;
      advice = { ...advice, layers: [...layers].sort((a, b) => a - b) };
      s.onEvent({ type: 'advice', advice, awaiting: false });
    }
    await distiller.adoptAttentionLayers(advice.layers);
    this.advice = advice;
    // The choice and the student laid out with it are checkpointed where the run stands: the end of
    // the stage before stage 3 (or, with none, stage 3 at step 0).
    const at = this.lastSaved ?? (this.from ? { stage: this.from.stage, step: this.from.step, stageDone: this.completed.has(this.from.stage) } : null);
    this.lastSaved = null;
    if (at) await this.save(at.stage, at.step, at.stageDone);
    else await this.save(3, 0, false);
  }

  /**
   * The user's layers for stage 3 of an auto:K plan, while the run waits for them (an 'advice' event
   * with awaiting): the advisor's choice or an edit of it. Throws saying why a choice cannot be taken.
   */
  chooseLayers(layers: number[]): void {
    if (!this.choose) throw new Error('the run is not waiting for a choice of attention layers');
    const problem = layerChoiceProblem(layers, this.s.teacher.config.layers);
    if (problem) throw new Error(`attention layers: ${problem}`);
    const choose = this.choose;
    this.choose = null;
    choose([...layers]);
  }

  /** Waiting for the user to accept or edit the advisor's layers. */
  get awaitingChoice(): boolean {
    return this.choose !== null;
  }

  private async save(stage: Stage, step: number, stageDone: boolean): Promise<void> {
    const store = this.s.store;
    if (!store) return;
    // A stop right after a periodic save asks for the same checkpoint again.
    const last = this.lastSaved;
    if (last && last.stage === stage && last.step === step && last.stageDone === stageDone) return;
    const plan = this.plan;
    // Read from the GPU while the files are written: the run steps again only after the save.
    const snap = this.distiller.checkpointSource();
    const state: RunState = {
      stage,
      step,
      stageDone,
      done: stageDone && stage === plan.stages[plan.stages.length - 1],
      tokens: step * tokensPerStep(plan),
      tokensDone: { ...this.tokensDone },
      plan,
      teacher: this.s.teacherName,
      teacherFingerprint: this.fingerprint,
      corpus: this.s.corpusName,
      docs: this.s.docs,
      heldOut: this.s.heldOut,
      corpusMode: this.s.corpus.mode,
      savedAt: new Date().toISOString(),
      elapsedS: this.elapsedS,
      stageElapsedS: this.stageClock?.stage === stage ? this.stageClock.s : 0,
      name: this.name,
      startedAt: this.startedAt,
    };
    if (plan.attentionAuto) {
      if (this.advice) state.advice = adviceRecord(this.advice);
      const stage2 = stage2Evidence(this.distiller) ?? this.savedStage2;
      if (stage2) {
        state.residuals = stage2.residual;
        state.attentionNorms = stage2.attentionNorm;
      }
    }
    this.phase = 'saving';
    try {
      await saveCheckpoint(store, { state: state as unknown as Record<string, unknown>, ...snap });
    } finally {
      this.phase = 'training';
    }
    this.lastSaved = { stage, step, stageDone };
    this.s.onEvent({ type: 'checkpoint', stage, step, stageDone, tokens: state.tokens, at: Date.now() });
  }

  /** Holds the run at the next step boundary. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wake?.();
    this.wake = null;
  }

  /** Ends the current stage at the next step boundary (its checkpoint is written) and goes on with the next. */
  skip(): void {
    this.skipRequested = true;
    this.resume();
  }

  /** Ends the run after the step in flight, with a checkpoint to resume from. */
  stop(): void {
    this.stopRequested = true;
    const choose = this.choose;
    this.choose = null;
    choose?.(null);
    this.resume();
  }

  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Training, and not writing a checkpoint: quitting now loses only the steps since the last checkpoint. */
  get interruptible(): boolean {
    return this.phase === 'training';
  }

  /** Wall seconds of the whole run: setup, uploads, stages and evaluations, across resumes; pauses left out. */
  get elapsedS(): number {
    return this.priorS + (performance.now() - this.t0 - this.pausedMs) / 1000;
  }

  /** The last step whose results have been reported (or the resume point). */
  lastPoint: ResumePoint | null = null;

  /** The last checkpoint written: what a run that quits leaves to resume from. */
  get lastCheckpoint(): ResumePoint | null {
    return this.lastSaved ? { stage: this.lastSaved.stage, step: this.lastSaved.step } : this.from ?? null;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Held-out NLL of teacher and student (also reported as an 'eval' event, and kept for the student's record). */
  async evaluate(stage: Stage | 0 = this.lastStage): Promise<{ teacherNll: number; studentNll: number; tokens: number }> {
    const { docs, tokens } = this.s.evaluation;
    const corpus = this.s.corpus;
    const label = `the evaluation waits for its ${docs} held-out documents to be tokenized`;
    let waited = false;
    await corpus.awaitHeldOut(docs, {
      onWait: () => {
        waited = true;
        this.s.onEvent({ type: 'progress', label, done: corpus.heldOutCount, total: docs });
      },
    });
    if (waited) this.s.onEvent({ type: 'progress', label, done: docs, total: docs });
    const e0 = performance.now();
    const r = await this.distiller.evaluate(tokens, docs);
    this.evalS = (performance.now() - e0) / 1000;
    this.evaluations.push({ stage, ...r, at: new Date().toISOString() });
    this.s.onEvent({ type: 'eval', stage, ...r });
    return r;
  }

  /** The run's name for files (runName's unless the caller or the checkpoint gave one). */
  get name(): string {
    return this.runName ?? runName(this.s.teacherName, this.startedAt);
  }

  /** When the run first started (ISO). */
  get started(): string {
    return this.startedAt;
  }

  /** The student's files (model.safetensors made as it is written, config.json, the teacher's tokenizer files) with a record of what ran. */
  async studentFiles(): Promise<NamedParts[]> {
    const files = this.s.teacherFiles;
    const tokenizerFiles: NamedBytes[] = [];
    for (const name of TOKENIZER_FILES) {
      if (!files.has(name)) continue;
      const src = await files.source(name);
      tokenizerFiles.push({ name, bytes: await src.read(0, src.size) });
    }
    const provenance = {
      tool: this.s.tool,
      teacher: this.s.teacherName,
      corpus: this.s.corpusName,
      stages: this.plan.stages.filter((st) => this.completed.has(st)),
      tokens: { ...this.tokensDone },
      plan: this.plan,
      evaluations: this.evaluations,
      date: new Date().toISOString(),
    };
    const advisor = this.advice ? adviceRecord(this.advice) : null;
    return this.distiller.studentFiles((await readJson(files, 'config.json')) as object, tokenizerFiles, provenance, advisor);
  }

  /** Frees the run's GPU memory at once; the promise settles when its scratch file (if any) is deleted too. */
  release(): Promise<void> {
    return this.distiller.release();
  }
}
