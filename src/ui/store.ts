// All of the page's state. Components subscribe to the slices they draw; the engine's events and the
// user's actions (src/ui/engine-actions.ts) are the only writers.
import { create, type StateCreator } from 'zustand';
import { createStore } from 'zustand/vanilla';
import type {
  CorpusLoad,
  CorpusSummary,
  DistillEvent,
  DistillPlan,
  EngineEvent,
  GpuSummary,
  MixingSample,
  PerStage,
  HybridAdvice,
  ResumeInfo,
  RunSummary,
  Stage,
  TeacherSummary,
} from '../worker/api';
import { DEFAULT_PLAN, STAGES, clonePlan, stepsPerStage, toggleStage, withTotal } from '../mohawk/plan';
import { DEFAULT_TEXT_COLUMN } from '../io/corpus-format';
import type { RunOverlay } from './overlays';
import { appendPoint, emptyCurve, type ChartView, type StageCurve, type XAxis } from './chart-data';
import { appendLayerDistances, emptyLayerDistances, layerMeans, type LayerDistanceSeries } from './layer-distances';

export type StatusLevel = 'info' | 'error';

export interface RunState {
  running: boolean;
  paused: boolean;
  finished: boolean;
}

export interface Progress {
  label: string;
  done: number;
  total: number;
  unit?: 'bytes' | 'values';
}

/**
 * One stage's curves (step, stage tokens, run wall seconds, loss, gradient norm, learning rate), the
 * columns a kept run's overlay has. Appended in place (a run can have many thousands of points) and
 * announced by `metricsVersion`, so that a new point costs O(1) and the charts redraw at most once a frame.
 */
export type MetricSeries = StageCurve;

export type StageState = 'off' | 'pending' | 'running' | 'finished' | 'skipped';

export interface StageView {
  state: StageState;
  /** Planned totals (from the plan, then from the engine's 'stage' event). */
  steps: number;
  tokens: number;
  /** Progress as last reported. */
  step: number;
  tokensDone: number;
  elapsedS: number;
  etaS: number | null;
  tokensPerS: number | null;
  firstLoss: number | null;
  lastLoss: number | null;
}

export interface DistanceGrid {
  layers: number;
  heads: number;
  /** Row-major layers × heads; NaN where not measured yet. */
  values: number[];
}

export interface EvalRecord {
  stage: Stage | 0;
  teacherNll: number;
  studentNll: number;
  tokens: number;
  at: number;
}

export interface SampleRecord {
  prompt: string;
  teacher: string;
  student: string;
  studentTokensPerS: number;
  at: number;
}

export interface CheckpointInfo {
  stage: Stage;
  step: number;
  tokens: number;
  at: number;
}

export interface Cell {
  layer: number;
  head: number;
}

export type CorpusRefusal = Extract<CorpusLoad, { ok: false }>;

export interface UiState {
  gpu: GpuSummary | null;
  /** Why the engine could not get a GPU; null while it is being asked or when it has one. */
  gpuError: string | null;
  gpuPending: boolean;

  teacher: TeacherSummary | null;
  teacherLoading: boolean;
  corpus: CorpusSummary | null;
  corpusLoading: boolean;
  /** The JSON field or parquet column the next dropped corpus is read from. */
  corpusColumn: string;
  /** Why the last dropped corpus was refused, with what the user may do about it; null when none. */
  corpusRefusal: CorpusRefusal | null;

  plan: DistillPlan;
  run: RunState;
  /** A start was requested and the engine has not yet answered. */
  starting: boolean;
  /** A checkpoint the engine offers to continue from; null when none (or dismissed). */
  resume: ResumeInfo | null;

  stages: PerStage<StageView>;
  /** The stage the engine last reported on. */
  currentStage: Stage | null;
  series: PerStage<MetricSeries>;
  metricsVersion: number;
  /** The stage the charts show alone; null shows the whole run, stage after stage. */
  chartStage: Stage | null;
  /** The charts' x-axis: whole-run steps, whole-run tokens or the run's wall time. */
  chartX: XAxis;

  /** Latest values over all stages, for the summary line. */
  firstLoss: number | null;
  lastLoss: number | null;
  lastStep: number;
  tokens: number;
  tokensPerS: number | null;
  /** The run's wall time as the engine last reported it (setup and evaluations included), null before. */
  runElapsedS: number | null;
  /** The rest of the whole run as the engine last estimated it (later stages and evaluations included); null when unknown. */
  runEtaS: number | null;
  progress: Progress | null;
  checkpoint: CheckpointInfo | null;

  distances: DistanceGrid | null;
  /** The grid's mean over heads per layer at each reported step (appended in place; a new `distances` announces it). */
  layerDistances: LayerDistanceSeries;
  selected: Cell | null;
  mixing: MixingSample | null;
  /** Where the run stood when `mixing` was read (the matrices change as it trains); null before any run. */
  mixingAt: { stage: Stage; step: number } | null;
  /** Why the matrices could not be read again as the run went on (e.g. while a stage streams its layers); null when they were. */
  mixingNote: string | null;
  mixingPending: boolean;

  /** An auto:K run's hybrid advisor: its ranking and whether the run waits for the page's choice; null before. */
  advice: { advice: HybridAdvice; awaiting: boolean } | null;
  evals: EvalRecord[];
  samples: SampleRecord[];
  evaluating: boolean;
  prompt: string;
  exporting: boolean;

  status: { text: string; level: StatusLevel };

  logScale: boolean;
  smoothing: number;
  /** The run whose student exists only in the engine (not exported yet): loading or starting anew asks first. */
  unexported: string | null;

  /** The runs this browser keeps (the Runs panel), newest first; why none can be listed, when so. */
  runs: RunSummary[];
  runsUnavailable: string | null;
  /** The engine's run (training, or opened from the Runs panel), by its id among `runs`. */
  currentRunId: string | null;
  /** Its name, which its downloads carry (the student's .zip, the curves' CSV and PNG). */
  runName: string | null;
  /** The loaded teacher's fingerprint, which a kept run's must equal for it to resume. */
  teacherFingerprint: string | null;
  /** A Runs panel action (resume, open, delete...) is under way, on this run. */
  runsBusy: string | null;
  /** Runs picked in the Runs panel to compare (ids, in the order picked), and their curves once read: for the charts to draw over the current run's. */
  compare: string[];
  overlays: RunOverlay[];

  setPlan(patch: Partial<DistillPlan>): void;
  setTotalTokens(total: number): void;
  setStageOn(stage: Stage, on: boolean): void;
  setStageTokens(stage: Stage, tokens: number): void;
  setStageLr(stage: Stage, lr: number): void;
  setChartStage(stage: Stage | null): void;
  setChartX(x: XAxis): void;
  setPrompt(prompt: string): void;
  setLogScale(on: boolean): void;
  setSmoothing(w: number): void;
  setStatus(text: string, level?: StatusLevel): void;
  /** Clears everything a previous run left and lays out the stages of `plan`. */
  resetRun(plan: DistillPlan): void;
  /** A resumed run's own plan: the form shows it, and stages the run has not reported on take its totals. */
  adoptRunPlan(plan: DistillPlan): void;
  applyEvent(e: EngineEvent | DistillEvent): void;
}

function stageViews(plan: DistillPlan): PerStage<StageView> {
  const steps = stepsPerStage(plan);
  const view = (s: Stage): StageView => ({
    state: plan.stages.includes(s) ? 'pending' : 'off',
    steps: steps[s],
    tokens: plan.stages.includes(s) ? plan.tokens[s] : 0,
    step: 0,
    tokensDone: 0,
    elapsedS: 0,
    etaS: null,
    tokensPerS: null,
    firstLoss: null,
    lastLoss: null,
  });
  return { 1: view(1), 2: view(2), 3: view(3) };
}

const emptySeries = (): PerStage<MetricSeries> => ({ 1: emptyCurve(), 2: emptyCurve(), 3: emptyCurve() });

function isStage(n: number): n is Stage {
  return (STAGES as number[]).includes(n);
}

/** What one run shows, as a new run starts it: everything the previous run drew is cleared. */
function runFields(plan: DistillPlan) {
  return {
    stages: stageViews(plan),
    currentStage: null,
    series: emptySeries(),
    chartStage: null,
    firstLoss: null,
    lastLoss: null,
    lastStep: 0,
    tokens: 0,
    tokensPerS: null,
    runElapsedS: null,
    runEtaS: null,
    progress: null,
    checkpoint: null,
    distances: null,
    layerDistances: emptyLayerDistances(),
    selected: null,
    mixing: null,
    mixingAt: null,
    mixingNote: null,
    advice: null,
    evals: [],
    samples: [],
  } satisfies Partial<UiState>;
}

/** The names of the fields a run owns (what resetRun clears): a kept run's view is restored by copying them. */
export const RUN_FIELDS = Object.keys(runFields(DEFAULT_PLAN)) as (keyof ReturnType<typeof runFields>)[];

const initUi: StateCreator<UiState> = (set, get) => {
  /** Replaces one stage's view (new objects, so selectors on it see the change). */
  const patchStage = (stage: Stage, patch: Partial<StageView>) =>
    set((s) => ({ stages: { ...s.stages, [stage]: { ...s.stages[stage], ...patch } } }));
  // Stage views follow the plan until a run starts; then they belong to the run.
  const planned = (plan: DistillPlan) => (get().run.running || get().starting || get().run.finished ? {} : { stages: stageViews(plan) });
  const setPlanned = (plan: DistillPlan) => set({ plan, ...planned(plan) });

  return {
    gpu: null,
    gpuError: null,
    gpuPending: true,

    teacher: null,
    teacherLoading: false,
    corpus: null,
    corpusLoading: false,
    corpusColumn: DEFAULT_TEXT_COLUMN,
    corpusRefusal: null,

    plan: clonePlan(DEFAULT_PLAN),
    run: { running: false, paused: false, finished: false },
    starting: false,
    resume: null,

    ...runFields(DEFAULT_PLAN),
    metricsVersion: 0,
    mixingPending: false,
    evaluating: false,
    prompt: 'Once upon a time',
    exporting: false,

    status: { text: 'starting the engine…', level: 'info' },

    logScale: false,
    smoothing: 0.6,
    chartX: 'step',
    unexported: null,

    runs: [],
    runsUnavailable: null,
    currentRunId: null,
    runName: null,
    teacherFingerprint: null,
    runsBusy: null,
    compare: [],
    overlays: [],

    setPlan: (patch) => setPlanned({ ...clonePlan(get().plan), ...patch }),
    setTotalTokens: (total) => setPlanned(withTotal(get().plan, total)),
    setStageOn: (stage, on) => setPlanned(toggleStage(get().plan, stage, on)),
    setStageTokens: (stage, tokens) => {
      const p = clonePlan(get().plan);
      p.tokens[stage] = tokens;
      setPlanned(p);
    },
    setStageLr: (stage, lr) => {
      const p = clonePlan(get().plan);
      p.lr[stage] = lr;
      setPlanned(p);
    },
    setChartStage: (stage) => set({ chartStage: stage }),
    setChartX: (x) => set({ chartX: x }),
    setPrompt: (prompt) => set({ prompt }),
    setLogScale: (on) => set({ logScale: on }),
    setSmoothing: (w) => set({ smoothing: Math.min(Math.max(w, 0), 0.99) }),
    setStatus: (text, level = 'info') => set({ status: { text, level } }),
    resetRun: (plan) =>
      set((s) => ({
        ...runFields(plan),
        metricsVersion: s.metricsVersion + 1,
        run: { running: false, paused: false, finished: false },
      })),

    adoptRunPlan: (plan) =>
      set((s) => {
        const fresh = stageViews(plan);
        const stages = { ...s.stages };
        for (const st of STAGES) if (stages[st].state === 'pending' || stages[st].state === 'off') stages[st] = fresh[st];
        return { plan: clonePlan(plan), stages };
      }),

    applyEvent: (e) => {
      switch (e.type) {
        case 'status':
          set({ status: { text: e.text, level: e.level } });
          return;
        case 'progress':
          set({ progress: { label: e.label, done: e.done, total: e.total, ...(e.unit ? { unit: e.unit } : {}) } });
          return;
        case 'corpus':
          set(e.refusal ? { corpus: e.corpus, corpusRefusal: e.refusal } : { corpus: e.corpus });
          return;
        case 'metric': {
          if (!isStage(e.stage)) return;
          appendPoint(get().series[e.stage], e);
          const v = get().stages[e.stage];
          patchStage(e.stage, {
            state: v.state === 'pending' || v.state === 'off' ? 'running' : v.state,
            step: Math.max(v.step, e.step),
            tokensDone: e.tokens,
            tokensPerS: e.tokensPerS,
            firstLoss: v.firstLoss ?? e.loss,
            lastLoss: e.loss,
          });
          set((s) => ({
            metricsVersion: s.metricsVersion + 1,
            currentStage: e.stage as Stage,
            firstLoss: s.firstLoss ?? e.loss,
            lastLoss: e.loss,
            lastStep: e.step,
            tokens: e.tokens,
            tokensPerS: e.tokensPerS,
            runElapsedS: e.runElapsedS,
          }));
          return;
        }
        case 'state':
          set({ run: { running: e.running, paused: e.paused, finished: e.finished }, starting: false, ...(e.runElapsedS !== undefined ? { runElapsedS: e.runElapsedS } : {}) });
          return;
        case 'stage': {
          const state: StageState = e.state === 'started' ? 'running' : e.state;
          patchStage(e.stage, { state, steps: e.steps, tokens: e.tokens, ...(e.state === 'started' ? {} : { etaS: 0 }) });
          if (e.state === 'started') set({ currentStage: e.stage });
          return;
        }
        case 'timing':
          patchStage(e.stage, { step: e.step, steps: e.steps, elapsedS: e.elapsedS, etaS: e.etaS });
          set({ runElapsedS: e.runElapsedS, runEtaS: e.runEtaS });
          return;
        case 'distances': {
          appendLayerDistances(get().layerDistances, e.step ?? get().lastStep, layerMeans(e.values, e.layers, e.heads));
          set({ distances: { layers: e.layers, heads: e.heads, values: e.values.slice() } });
          return;
        }
        case 'eval':
          set((s) => ({ evals: [...s.evals, { stage: e.stage, teacherNll: e.teacherNll, studentNll: e.studentNll, tokens: e.tokens, at: Date.now() }] }));
          return;
        case 'sample':
          set((s) => ({
            samples: [...s.samples, { prompt: e.prompt, teacher: e.teacher, student: e.student, studentTokensPerS: e.studentTokensPerS, at: Date.now() }],
          }));
          return;
        case 'checkpoint':
          set({ checkpoint: { stage: e.stage, step: e.step, tokens: e.tokens, at: e.at } });
          return;
        case 'advice':
          set({ advice: { advice: e.advice, awaiting: e.awaiting } });
          return;
      }
    },
  };
};

export const useUi = create<UiState>()(initUi);

/** A store of its own with the page store's logic: events replayed into it leave the page's alone until copied over. */
export const scratchUi = () => createStore<UiState>()(initUi);

/** Where the run stands now, as a mixing sample read now is labelled. */
export function runPoint(s: Pick<UiState, 'currentStage' | 'lastStep'>): { stage: Stage; step: number } | null {
  return s.currentStage === null ? null : { stage: s.currentStage, step: s.lastStep };
}

/** What the charts show: one stage alone, or the whole run. */
export function chartView(s: Pick<UiState, 'chartStage'>): ChartView {
  return s.chartStage ?? 'run';
}
