// A kept run's view from its stored history: the page store ends as the live run left it (plan,
// stage bars, curves of every stage, grid and its distances over time, evaluations, last checkpoint),
// and kept runs' curves become overlays.
import { beforeEach, describe, expect, it } from 'vitest';
import { useUi } from '../../src/ui/store';
import { historyEvents, restoreRunView } from '../../src/ui/run-view';
import { overlayOf } from '../../src/ui/overlays';
import { DEFAULT_PLAN, clonePlan, type DistillPlan } from '../../src/mohawk/plan';
import type { HistoryRecord } from '../../src/mohawk/history';

const initial = useUi.getState();
beforeEach(() => useUi.setState(initial, true));

const plan: DistillPlan = { ...clonePlan(DEFAULT_PLAN), stages: [1, 2], seqLen: 32, batch: 2, accumulate: 1, tokens: { 1: 192, 2: 384, 3: 0 } };

function history(): HistoryRecord[] {
  const r: HistoryRecord[] = [{ k: 'eval', stage: 0, teacherNll: 1.2, studentNll: 9, tokens: 50, point: { stage: 0, step: 0, done: false }, at: 1 }];
  r.push({ k: 'stage', stage: 1, state: 'started', steps: 3, tokens: 192, at: 2 });
  for (let k = 1; k <= 3; k++) {
    r.push({ k: 'step', stage: 1, step: k, steps: 3, tokens: 64 * k, loss: 4 - k, gradNorm: k / 10, tokensPerS: 100, elapsedS: k, runElapsedS: 5 + k, lr: 1e-3, at: 2 + k });
    r.push({ k: 'distances', stage: 1, step: k, layers: 1, heads: 2, values: [k, null], at: 2 + k });
  }
  r.push({ k: 'stage', stage: 1, state: 'finished', steps: 3, tokens: 192, at: 6 });
  r.push({ k: 'checkpoint', stage: 1, step: 3, stageDone: true, tokens: 192, at: 6 });
  r.push({ k: 'eval', stage: 1, teacherNll: 1.2, studentNll: 5, tokens: 50, point: { stage: 1, step: 3, done: true }, at: 7 });
  r.push({ k: 'stage', stage: 2, state: 'started', steps: 6, tokens: 384, at: 8 });
  for (let k = 1; k <= 2; k++) r.push({ k: 'step', stage: 2, step: k, steps: 6, tokens: 64 * k, loss: 2 / k, gradNorm: 1, tokensPerS: 90, elapsedS: k, runElapsedS: 12 + k, at: 8 + k });
  r.push({ k: 'checkpoint', stage: 2, step: 2, stageDone: false, tokens: 128, at: 11 });
  return r;
}

describe('a kept run\'s view', () => {
  it('shows its plan, every stage\'s curve, its stage bars, grid, evaluations and last checkpoint, replacing the previous view', async () => {
    // Something of another run on the page first.
    useUi.getState().resetRun(clonePlan(DEFAULT_PLAN));
    useUi.getState().applyEvent({ type: 'metric', stage: 3, step: 1, tokens: 10, loss: 9, tokensPerS: 1, gradNorm: 1, runElapsedS: 1 });
    const version = useUi.getState().metricsVersion;
    await restoreRunView(plan, history());
    const s = useUi.getState();
    expect(s.plan).toEqual(plan);
    // The curves are the columns a kept run's overlay has, learning rates included where written.
    expect(s.series[1]).toEqual(overlayOf({ id: 'x', name: 'x', label: 'x' }, history()).curves[1]);
    expect(s.series[1]).toEqual({ step: [1, 2, 3], tokens: [64, 128, 192], timeS: [6, 7, 8], loss: [3, 2, 1], gradNorm: [0.1, 0.2, 0.3], lr: [1e-3, 1e-3, 1e-3] });
    expect(s.series[2]).toEqual({ step: [1, 2], tokens: [64, 128], timeS: [13, 14], loss: [2, 1], gradNorm: [1, 1], lr: [null, null] });
    expect(s.series[3].step).toEqual([]);
    // Each distance snapshot at its step, as the mean over heads per layer.
    expect(s.layerDistances).toEqual({ step: [1, 2, 3], layers: [[1, 2, 3]] });
    expect(s.stages[1]).toMatchObject({ state: 'finished', step: 3, steps: 3, firstLoss: 3, lastLoss: 1, elapsedS: 3 });
    expect(s.stages[2]).toMatchObject({ state: 'running', step: 2, steps: 6, tokensDone: 128, lastLoss: 1 });
    expect(s.stages[3].state).toBe('off');
    expect(s.evals.map((e) => [e.stage, e.studentNll])).toEqual([[0, 9], [1, 5]]);
    expect(s.distances?.values[0]).toBe(3);
    expect(Number.isNaN(s.distances?.values[1])).toBe(true);
    expect(s.checkpoint).toMatchObject({ stage: 2, step: 2, tokens: 128 });
    expect(s.runElapsedS).toBe(14);
    expect(s.currentStage).toBe(2);
    expect(s.run).toEqual({ running: false, paused: false, finished: false });
    expect(s.metricsVersion).toBeGreaterThan(version);
  });

  it('replays a long history in slices without losing a step', async () => {
    const long: HistoryRecord[] = [];
    for (let k = 1; k <= 9000; k++) long.push({ k: 'step', stage: 1, step: k, steps: 9000, tokens: k, loss: 1 / k, gradNorm: 0, tokensPerS: 1, elapsedS: k, runElapsedS: k, at: k });
    expect(historyEvents(long).length).toBe(18000);
    await restoreRunView({ ...plan, tokens: { 1: 9000 * 64, 2: 384, 3: 0 } }, long);
    expect(useUi.getState().series[1].step.length).toBe(9000);
    expect(useUi.getState().series[1].step.at(-1)).toBe(9000);
  });
});

describe('overlays', () => {
  it('hold each stage\'s columns, the tokens before each stage and the evaluations of a run', () => {
    const o = overlayOf({ id: 'r1', name: 'run-1', label: 't · now' }, history());
    expect(o.curves[1]).toEqual({ step: [1, 2, 3], tokens: [64, 128, 192], timeS: [6, 7, 8], loss: [3, 2, 1], gradNorm: [0.1, 0.2, 0.3], lr: [1e-3, 1e-3, 1e-3] });
    expect(o.curves[2].lr).toEqual([null, null]);
    expect(o.tokensBefore).toEqual({ 1: 0, 2: 192, 3: 192 + 128 });
    expect(o.evals).toEqual([{ stage: 0, teacherNll: 1.2, studentNll: 9 }, { stage: 1, teacherNll: 1.2, studentNll: 5 }]);
  });
});
