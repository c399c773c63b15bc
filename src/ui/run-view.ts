// A kept run's view from its stored history: the records become the events the live run sent, which
// are replayed into a scratch store with the page store's own logic, and the run's fields are then
// copied over in one update. A long history is replayed in slices so that no task holds the page.
import type { DistillEvent, DistillPlan, EngineEvent, HistoryRecord } from '../worker/api';
import { clonePlan } from '../mohawk/plan';
import { RUN_FIELDS, scratchUi, useUi } from './store';

/** The events a live run sent for these records. */
export function historyEvents(records: readonly HistoryRecord[]): (EngineEvent | DistillEvent)[] {
  const out: (EngineEvent | DistillEvent)[] = [];
  for (const r of records) {
    switch (r.k) {
      case 'step':
        out.push({
          type: 'metric', stage: r.stage, step: r.step, tokens: r.tokens, loss: r.loss, tokensPerS: r.tokensPerS, gradNorm: r.gradNorm, runElapsedS: r.runElapsedS,
          ...(r.lr !== undefined ? { lr: r.lr } : {}),
        });
        out.push({ type: 'timing', stage: r.stage, step: r.step, steps: r.steps, elapsedS: r.elapsedS, etaS: null, runElapsedS: r.runElapsedS, runEtaS: null });
        break;
      case 'stage':
        out.push({ type: 'stage', stage: r.stage, state: r.state, steps: r.steps, tokens: r.tokens });
        break;
      case 'distances':
        out.push({ type: 'distances', layers: r.layers, heads: r.heads, values: r.values.map((v) => v ?? NaN), step: r.step });
        break;
      case 'eval':
        out.push({ type: 'eval', stage: r.stage, teacherNll: r.teacherNll, studentNll: r.studentNll, tokens: r.tokens });
        break;
      case 'checkpoint':
        out.push({ type: 'checkpoint', stage: r.stage, step: r.step, tokens: r.tokens, at: r.at });
        break;
      case 'resume':
        break;
    }
  }
  return out;
}

/** Milliseconds of replay per task: well under the 50 ms that counts as a long task. */
const SLICE_MS = 12;
const nextTask = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Shows a kept run: its plan in the form, its stage bars, curves, grid, evaluations and last
 * checkpoint as its history has them. `finished`: the run ended (the page's run state says so).
 */
export async function restoreRunView(plan: DistillPlan, records: readonly HistoryRecord[], finished = false): Promise<void> {
  const scratch = scratchUi();
  scratch.getState().resetRun(plan);
  const events = historyEvents(records);
  let t = performance.now();
  for (let i = 0; i < events.length; i++) {
    // The clock is looked at every 64 events.
    if ((i & 63) === 63 && performance.now() - t > SLICE_MS) {
      await nextTask();
      t = performance.now();
    }
    scratch.getState().applyEvent(events[i]!);
  }
  const s = scratch.getState();
  const fields = Object.fromEntries(RUN_FIELDS.map((k) => [k, s[k]]));
  useUi.setState((st) => ({ ...fields, plan: clonePlan(plan), metricsVersion: st.metricsVersion + 1, run: { running: false, paused: false, finished } }));
}
