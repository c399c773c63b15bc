// The contract between the page and the engine worker (through comlink). Only plain data crosses it.
import type { GpuInfo } from '../gpu/runtime';

export type GpuSummary = GpuInfo;

export interface TeacherSummary {
  name: string;
  modelType: string;
  layers: number;
  dModel: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  parameters: number;
  /** Warnings that did not stop the load (e.g. unused tensors). */
  warnings: string[];
}

export type EngineEvent =
  | { type: 'status'; text: string; level: 'info' | 'error' }
  | { type: 'progress'; label: string; done: number; total: number }
  | { type: 'metric'; stage: number; step: number; tokens: number; loss: number; tokensPerS: number }
  | { type: 'state'; running: boolean; paused: boolean; finished: boolean };

/** What the worker exposes. Errors are thrown as Error with a message fit for the status line. */
export interface EngineApi {
  init(): Promise<GpuSummary>;
  /** Files dropped by the user (config.json, *.safetensors, tokenizer.json, ...). */
  loadTeacherFiles(files: File[]): Promise<TeacherSummary>;
  /** The embedded stories260K teacher, fetched from `baseUrl` (the page's public/ root). */
  loadBuiltinTeacher(baseUrl: string): Promise<TeacherSummary>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Every event, the distillation's (DistillEvent) included. */
  subscribe(listener: (e: EngineEvent | DistillEvent) => void): Promise<void>;
}

// ---- MOHAWK distillation (issue 5). The engine implements DistillApi beside EngineApi. ----

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
  /** Seed of the student's initialisation and of the corpus sampler (TokenStream.seedSampler). */
  seed: number;
  /**
   * Stages 1 and 2 hold one layer of teacher and student on the GPU at a time (src/mohawk/streamed-stage.ts):
   * slower, for teachers that do not fit. Stage 3 and evaluation still need the whole models there.
   */
  streamLayers: boolean;
}

/** One plot-ready sample of layer `layer`, head `head`: row-major L×L, causal (upper triangle 0). */
export interface MixingSample {
  layer: number;
  head: number;
  L: number;
  teacher: Float32Array;
  student: Float32Array;
}

export type DistillEvent =
  /** A stage began, ended, or was skipped by the user. steps/tokens are the stage's planned totals. */
  | { type: 'stage'; stage: Stage; state: 'started' | 'finished' | 'skipped'; steps: number; tokens: number }
  /** Per optimizer step (the existing 'metric' event carries the loss curve). */
  | { type: 'timing'; stage: Stage; step: number; steps: number; elapsedS: number; etaS: number | null }
  /** Stage-1 distance ‖T_student − A_teacher‖_F per (layer, head), row-major layers × heads; NaN = not yet measured. */
  | { type: 'distances'; layers: number; heads: number; values: number[] }
  /** Held-out mean NLL (nats/token) of teacher and student. */
  | { type: 'eval'; stage: Stage | 0; teacherNll: number; studentNll: number; tokens: number }
  /** A continuation of `prompt` from each model; the student generated recurrently. */
  | { type: 'sample'; prompt: string; teacher: string; student: string; studentTokensPerS: number }
  | { type: 'checkpoint'; stage: Stage; step: number; tokens: number; at: number };

export interface CorpusSummary {
  name: string;
  documents: number;
  trainTokens: number;
  heldOutTokens: number;
}

export interface ResumeInfo {
  teacher: string;
  stage: Stage;
  step: number;
  savedAt: number;
}

export interface DistillApi {
  /** A dropped text or JSONL corpus; without one the built-in TinyStories slice is used. */
  loadCorpusFiles(files: File[]): Promise<CorpusSummary>;
  /** The plan with defaults filled in and checked against the teacher, corpus and adapter memory; throws why not. */
  checkPlan(plan: DistillPlan): Promise<{ plan: DistillPlan; memoryBytes: number; steps: PerStage<number> }>;
  startDistill(plan: DistillPlan): Promise<void>;
  /** Ends the current stage now (its checkpoint is written) and goes on with the next. */
  skipStage(): Promise<void>;
  /** Teacher attention and student SSD matrix of one (layer, head) on a held-out sample. */
  mixingSample(layer: number, head: number): Promise<MixingSample>;
  /** Held-out NLL of both models and a short continuation of `prompt` from each (emits 'eval' and 'sample'). */
  evaluate(prompt: string): Promise<void>;
  /** The student as files to download: model.safetensors, config.json and the teacher's tokenizer files. */
  exportStudent(): Promise<{ name: string; bytes: Uint8Array }[]>;
  /** A checkpoint left by an earlier run of this teacher, if any. */
  resumable(): Promise<ResumeInfo | null>;
  resumeDistill(): Promise<void>;
}
