// The contract between the page and the engine worker (through comlink). Only plain data crosses it.
import type { GpuInfo } from '../gpu/runtime';
import type { DistillPlan, PerStage, Stage } from '../mohawk/plan';
import type { TeacherSummary } from '../models/teacher';
import type { MixingSample } from '../mohawk/inspect';
import type { Calibration } from '../mohawk/calibrate';
import type { HybridAdvice } from '../mohawk/hybrid-advisor';


/** How the studio evaluates a run: held-out NLL before training and at each stage's end, on these documents. */
export const STUDIO_EVALUATION = { docs: 10, tokens: 256 } as const;

export interface StudioEvaluation {
  readonly docs: number;
  readonly tokens: number;
}

/**
 * The evaluation the page's address asks for (`?evaluation=DOCSxTOKENS`), else STUDIO_EVALUATION.
 * The end-to-end test asks for a small one: on SwiftShader the evaluations before training, at each
 * stage's end and in the hybrid advisor took most of a case's minutes. A malformed value is an error
 * that says what it takes.
 */
export function studioEvaluationOf(search: string): StudioEvaluation {
  const asked = new URLSearchParams(search).get('evaluation');
  if (asked === null) return STUDIO_EVALUATION;
  const m = /^(\d{1,4})x(\d{1,6})$/.exec(asked.trim());
  const docs = Number(m?.[1]);
  const tokens = Number(m?.[2]);
  if (!m || docs < 1 || tokens < 2) throw new Error(`?evaluation=${asked} is not DOCSxTOKENS (documents ≥ 1 by tokens ≥ 2 each, e.g. 2x130)`);
  return { docs, tokens };
}

/** Held-out evaluations a studio run of `plan` makes: one before training, one after each stage. */
export function studioEvaluations(plan: Pick<DistillPlan, 'stages'>): number {
  return plan.stages.length + 1;
}
import type { HistoryRecord, RunPoint } from '../mohawk/history';
import type { RunRecord, RunStatus } from '../mohawk/run-library';
import type { ExportedBlob, ExportResult } from './export-store';
import type { MixerLabOptions, MixerLabProgress, MixerLabResult, MixerLabRow } from '../mohawk/mixer-lab';

export type { Calibration, ExportedBlob, ExportResult, DistillPlan, HistoryRecord, HybridAdvice, MixerLabOptions, MixerLabProgress, MixerLabResult, MixerLabRow, MixingSample, PerStage, RunPoint, RunRecord, RunStatus, Stage, TeacherSummary };

/** What the engine names the embedded teacher: a run of it can load it again by itself. */
export const BUILTIN_TEACHER_NAME = 'stories260K (built in)';

export type GpuSummary = GpuInfo;

export type ProgressUnit = 'bytes' | 'values';

export type EngineEvent =
  | { type: 'status'; text: string; level: 'info' | 'error' }
  /** unit: what done and total count (bytes of files read, values of weights read); absent: items. */
  | { type: 'progress'; label: string; done: number; total: number; unit?: ProgressUnit }
  /**
   * The corpus as its tokenizing goes on behind the page (a streaming corpus), and when it ends: all
   * in, or refused (corpus null, and why: the built-in corpus is the corpus again).
   */
  | { type: 'corpus'; corpus: CorpusSummary | null; refusal?: Extract<CorpusLoad, { ok: false }> }
  /**
   * One optimizer step of a stage: tokens are the stage's so far, runElapsedS the run's wall seconds
   * (setup and evaluations included), lr the step's learning rate (absent in histories older than it).
   */
  | { type: 'metric'; stage: number; step: number; tokens: number; loss: number; tokensPerS: number; gradNorm: number; lr?: number; runElapsedS: number }
  /** runElapsedS: the run's wall time when it stopped, finished or paused (absent before any run). */
  | { type: 'state'; running: boolean; paused: boolean; finished: boolean; runElapsedS?: number };

/** What the worker exposes. Errors are thrown as Error with a message fit for the status line. */
export interface EngineApi {
  /** Acquires the GPU; `evaluation` (the page's address may ask for one) replaces STUDIO_EVALUATION for every run after. */
  init(options?: { evaluation?: StudioEvaluation }): Promise<GpuSummary>;
  /** Files dropped by the user (config.json, *.safetensors, tokenizer.json, ...); `folder` names the teacher when they came in one. */
  loadTeacherFiles(files: File[], folder: string | null): Promise<TeacherSummary>;
  /** The embedded stories260K teacher, fetched from `baseUrl` (the page's public/ root). */
  loadBuiltinTeacher(baseUrl: string): Promise<TeacherSummary>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Every event, the distillation's (DistillEvent) included. */
  subscribe(listener: (e: EngineEvent | DistillEvent) => void): Promise<void>;
}

// ---- MOHAWK distillation. The engine implements DistillApi beside EngineApi. ----

export type DistillEvent =
  /** A stage began, ended, or was skipped by the user. steps/tokens are the stage's planned totals. */
  | { type: 'stage'; stage: Stage; state: 'started' | 'finished' | 'skipped'; steps: number; tokens: number }
  /** Per optimizer step (the existing 'metric' event carries the loss curve). */
  /**
   * elapsedS: the stage's training time; runElapsedS: the whole run's wall time, setup and evaluations
   * included; etaS: the rest of this stage; runEtaS: the rest of the run, later stages and evaluations
   * included (null while a stage to come has not been measured).
   */
  | { type: 'timing'; stage: Stage; step: number; steps: number; elapsedS: number; etaS: number | null; runElapsedS: number; runEtaS: number | null }
  /**
   * Stage-1 distance ‖T_student − A_teacher‖_F per (layer, head), row-major layers × heads; NaN = not
   * yet measured. step: the stage-1 step they were measured at.
   */
  | { type: 'distances'; layers: number; heads: number; values: number[]; step?: number }
  /** Held-out mean NLL (nats/token) of teacher and student. */
  | { type: 'eval'; stage: Stage | 0; teacherNll: number; studentNll: number; tokens: number }
  /** A continuation of `prompt` from each model; the student generated recurrently. */
  | { type: 'sample'; prompt: string; teacher: string; student: string; studentTokensPerS: number }
  | { type: 'checkpoint'; stage: Stage; step: number; tokens: number; at: number }
  /**
   * An auto:K plan's hybrid advisor ranked the layers before stage 3: `awaiting` while the run waits
   * for the page to accept or edit the choice (chooseAttentionLayers), then with the layers taken.
   */
  | { type: 'advice'; advice: HybridAdvice; awaiting: boolean };

export interface CorpusSummary {
  name: string;
  documents: number;
  trainTokens: number;
  heldOutTokens: number;
  files: number;
  /** The JSON field or parquet column documents came from; null when every file is plain text. */
  textColumn: string | null;
  /** What was skipped or ignored on the way (bad lines, files without documents). */
  notes: string[];
  /**
   * A corpus large enough to be trained on while it is tokenized (token-stream.ts): bytes read of
   * its files so far, the figures above being those so far. Absent once it is all in.
   */
  tokenizing?: { done: number; total: number };
}

/** How a dropped corpus is read: the page's text-column field and the bad-line choice. */
export interface CorpusOptions {
  textColumn: string;
  skipBadLines: boolean;
}

/** A dropped file and its path within the drop (a folder's files keep theirs). */
export interface CorpusFileIn {
  file: File;
  name: string;
}

/**
 * A corpus read, or why not, as the page acts on it: 'bad-line' (offer to skip such lines), 'column'
 * (offer `columns`), or anything else (say it). Nothing of a refused corpus is kept.
 */
export type CorpusLoad =
  | { ok: true; corpus: CorpusSummary }
  | { ok: false; kind: 'refused' | 'bad-line' | 'column' | 'changed' | 'empty'; message: string; columns?: string[] };

export interface StartedRun {
  /** The run's folder in the browser's storage (null where the browser keeps none). */
  id: string | null;
  /** The run's name, which its exported files carry. */
  name: string;
  plan: DistillPlan;
  steps: PerStage<number>;
  memoryBytes: number;
  /** Where a resumed run goes on; null for a new one. */
  from: { stage: Stage; step: number } | null;
}

/** A run this browser keeps, as the Runs panel lists it. */
export interface RunSummary {
  id: string;
  name: string;
  teacher: string;
  teacherFingerprint: string;
  corpus: string;
  /** Milliseconds since the epoch: the run's start and its last checkpoint (null before one). */
  created: number;
  lastSaved: number | null;
  /** Where its last checkpoint stands (null before one), and the stage's planned steps. */
  stage: Stage | null;
  step: number;
  steps: number;
  done: boolean;
  /** Tokens trained over all stages at the last checkpoint. */
  tokens: number;
  plan: DistillPlan;
  /** 'interrupted': the tab closed while it ran or was paused (it resumes from its last checkpoint). */
  status: RunStatus | 'interrupted';
  exported: boolean;
  lastEval: RunRecord['lastEval'];
  /** Bytes its files take in the browser's storage. */
  bytes: number;
  hasCheckpoint: boolean;
  /** The engine's run now (being trained, or opened to evaluate or export). */
  current: boolean;
}

export interface RunList {
  runs: RunSummary[];
  /** The loaded teacher's fingerprint (null without one): a run resumes only with its own teacher. */
  teacherFingerprint: string | null;
  /** Why the list is empty although runs may exist (a browser without storage here); null otherwise. */
  unavailable: string | null;
}

/** A run's history as it stands (its checkpoint's point for a run not running now), with its record. */
export interface RunHistory {
  record: RunRecord;
  records: HistoryRecord[];
}

/** The newest run that can be continued, offered on page load and after a run stops. */
export interface ResumeInfo {
  id: string;
  name: string;
  teacher: string;
  teacherFingerprint: string;
  stage: Stage;
  step: number;
  savedAt: number;
}

export interface DistillApi {
  /** A dropped corpus (files or a folder of shards); without one the built-in TinyStories slice is used. */
  loadCorpusFiles(files: CorpusFileIn[], options: CorpusOptions): Promise<CorpusLoad>;
  /**
   * Checks the plan against the teacher, corpus and adapter (throwing why not), then starts it; resolves
   * once the run is under way, with the plan's steps and memory estimate. Progress arrives as events.
   */
  startDistill(plan: DistillPlan): Promise<StartedRun>;
  /** Ends the current stage at the next step boundary (its checkpoint is written) and goes on with the next. */
  skipStage(): Promise<void>;
  /**
   * The layers stage 3 keeps as attention, while an auto:K run waits for them after its advisor's
   * ranking: the advisor's choice or an edit of it. Rejects saying why a choice cannot be taken.
   */
  chooseAttentionLayers(layers: number[]): Promise<void>;
  /**
   * What `plan` costs on this adapter, measured: a few timed steps of each stage at the plan's shapes
   * on a throwaway student, and one timed evaluation (src/mohawk/calibrate.ts); estimateCost turns it
   * into seconds and bytes for any plan it covers. Nothing of it stays (no checkpoint, no student).
   * Rejects with a message beginning "cancelled" when cancelCost(), another measurement, a start or a
   * teacher load ends it first (at a step boundary).
   */
  measureCost(plan: DistillPlan, onProgress?: (label: string, done: number, total: number) => void): Promise<Calibration>;
  /** Ends a measurement in progress at its next step boundary; resolves once its buffers are released. */
  cancelCost(): Promise<void>;
  /** Ends the run after the step in flight: its checkpoint is written and the student so far stays to evaluate, export or resume. */
  stopDistill(): Promise<void>;
  /** Teacher attention and student SSD matrix of one (layer, head) on a held-out sample. */
  mixingSample(layer: number, head: number): Promise<MixingSample>;
  /** Held-out NLL of both models and a short continuation of `prompt` from each (emits 'eval' and 'sample'). */
  evaluate(prompt: string): Promise<void>;
  /**
   * The student: model.safetensors, config.json (whose "mohawk" record says what actually ran) and the
   * teacher's tokenizer files, as they are ('files', for a folder) or in one stored .zip named after the
   * run (the files one by one when the zip would reach 4 GiB). They are written to the OPFS piece by
   * piece and come back as Files of it, which the page reads from disk, never whole in memory.
   */
  exportStudent(as: 'zip' | 'files'): Promise<ExportResult>;
  /** The newest kept run with a checkpoint to continue (of any teacher), if any. */
  resumable(): Promise<ResumeInfo | null>;
  /** Every run kept in this browser, newest first. */
  listRuns(): Promise<RunList>;
  /** A kept run's history and record. */
  runHistory(id: string): Promise<RunHistory>;
  /** Continues a kept run from its checkpoint with its own plan; the loaded teacher must be the run's (fingerprint checked). */
  resumeRun(id: string): Promise<StartedRun>;
  /** Makes a kept run the engine's run without training it, to evaluate or export its student. */
  openRun(id: string): Promise<StartedRun>;
  /** Removes a kept run and everything in its folder (not the one training now). */
  deleteRun(id: string): Promise<void>;
  /** Notes in the run's record that its student was exported. */
  markExported(): Promise<void>;
}

// ---- The mixer lab (issue 15). The engine implements MixerLabApi beside the others. ----

export interface MixerLabApi {
  /**
   * Fits Toeplitz, low-rank, SSD and SSM mixers of each state size to the loaded teacher's attention on
   * held-out sequences of the corpus (src/mohawk/mixer-lab.ts); progress through `onProgress`. Not while
   * a run trains. Rejects with a message beginning "cancelled" when cancelMixerLab() ends it.
   */
  runMixerLab(options: MixerLabOptions, onProgress?: (p: MixerLabProgress) => void): Promise<MixerLabResult>;
  /** Ends the lab at its next progress read. */
  cancelMixerLab(): Promise<void>;
}
