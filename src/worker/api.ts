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

/** The plan for the stage-1 seed run. */
export interface RunPlan {
  /** Teacher layer whose attention matrices the student's SSD matrix is fitted to. */
  layer: number;
  seqLen: number;
  batch: number;
  steps: number;
  lr: number;
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
  start(plan: RunPlan): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  subscribe(listener: (e: EngineEvent) => void): Promise<void>;
}
