// All of the page's state. Components subscribe to the slices they draw; the engine's events and the
// user's actions (src/ui/engine-actions.ts) are the only writers.
import { create } from 'zustand';
import type { EngineEvent, GpuSummary, RunPlan, TeacherSummary } from '../worker/api';
import { DEFAULT_PLAN } from './plan';

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
}

/**
 * The loss curve. Appended in place (a run can have many thousands of points) and announced by
 * `metricsVersion`, so that a new point costs O(1) and the chart redraws at most once a frame.
 */
export interface MetricSeries {
  steps: number[];
  losses: number[];
}

export interface UiState {
  gpu: GpuSummary | null;
  /** Why the engine could not get a GPU; null while it is being asked or when it has one. */
  gpuError: string | null;
  gpuPending: boolean;

  teacher: TeacherSummary | null;
  teacherLoading: boolean;

  plan: RunPlan;
  run: RunState;
  /** A start was requested and the engine has not yet answered. */
  starting: boolean;

  metrics: MetricSeries;
  metricsVersion: number;
  firstLoss: number | null;
  lastLoss: number | null;
  lastStep: number;
  tokens: number;
  tokensPerS: number | null;
  progress: Progress | null;

  status: { text: string; level: StatusLevel };

  logScale: boolean;
  smoothing: number;

  setPlan(patch: Partial<RunPlan>): void;
  setLogScale(on: boolean): void;
  setSmoothing(w: number): void;
  setStatus(text: string, level?: StatusLevel): void;
  resetMetrics(): void;
  applyEvent(e: EngineEvent): void;
}

export const useUi = create<UiState>()((set, get) => ({
  gpu: null,
  gpuError: null,
  gpuPending: true,

  teacher: null,
  teacherLoading: false,

  plan: { ...DEFAULT_PLAN },
  run: { running: false, paused: false, finished: false },
  starting: false,

  metrics: { steps: [], losses: [] },
  metricsVersion: 0,
  firstLoss: null,
  lastLoss: null,
  lastStep: 0,
  tokens: 0,
  tokensPerS: null,
  progress: null,

  status: { text: 'starting the engine…', level: 'info' },

  logScale: false,
  smoothing: 0.6,

  setPlan: (patch) => set((s) => ({ plan: { ...s.plan, ...patch } })),
  setLogScale: (on) => set({ logScale: on }),
  setSmoothing: (w) => set({ smoothing: Math.min(Math.max(w, 0), 0.99) }),
  setStatus: (text, level = 'info') => set({ status: { text, level } }),
  resetMetrics: () =>
    set((s) => ({
      metrics: { steps: [], losses: [] },
      metricsVersion: s.metricsVersion + 1,
      firstLoss: null,
      lastLoss: null,
      lastStep: 0,
      tokens: 0,
      tokensPerS: null,
      progress: null,
    })),

  applyEvent: (e) => {
    switch (e.type) {
      case 'status':
        set({ status: { text: e.text, level: e.level } });
        return;
      case 'progress':
        set({ progress: { label: e.label, done: e.done, total: e.total } });
        return;
      case 'metric': {
        const m = get().metrics;
        m.steps.push(e.step);
        m.losses.push(e.loss);
        set((s) => ({
          metricsVersion: s.metricsVersion + 1,
          firstLoss: s.firstLoss ?? e.loss,
          lastLoss: e.loss,
          lastStep: e.step,
          tokens: e.tokens,
          tokensPerS: e.tokensPerS,
        }));
        return;
      }
      case 'state':
        set({ run: { running: e.running, paused: e.paused, finished: e.finished }, starting: false });
        return;
    }
  },
}));
