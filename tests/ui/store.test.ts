// The page's store: how engine events (a distillation's included) land in what the views draw.
import { beforeEach, describe, expect, it } from 'vitest';
import { chartView, useUi } from '../../src/ui/store';
import { appendLayerDistances, emptyLayerDistances, layerMeans } from '../../src/ui/layer-distances';
import { DEFAULT_PLAN, clonePlan } from '../../src/mohawk/plan';

const ev = useUi.getState().applyEvent;
const initial = useUi.getState();

beforeEach(() => useUi.setState(initial, true));

describe('the hybrid advisor', () => {
  it('shows its ranking, waiting or not, until a new run clears it', () => {
    const advice = { k: 1, chosen: [1], layers: [1], scores: [0.2, 0.8], evidence: { source: 'stage 2' as const, residual: [1, 2], attentionNorm: [2, 2], baseKl: 1, looKl: [1, 0.5], docs: 2, tokens: 10, probeTokens: 0 } };
    ev({ type: 'advice', advice, awaiting: true });
    expect(useUi.getState().advice).toEqual({ advice, awaiting: true });
    ev({ type: 'advice', advice: { ...advice, layers: [0] }, awaiting: false });
    expect(useUi.getState().advice).toMatchObject({ advice: { layers: [0] }, awaiting: false });
    useUi.getState().resetRun(clonePlan(DEFAULT_PLAN));
    expect(useUi.getState().advice).toBeNull();
  });
});

describe('plan edits', () => {
  it('lay out the stages from the plan until a run starts', () => {
    useUi.getState().setStageOn(2, false);
    expect(useUi.getState().stages[2].state).toBe('off');
    useUi.getState().setTotalTokens(2_840_000);
    expect(useUi.getState().plan.tokens).toEqual({ 1: 80_000, 2: 160_000, 3: 2_760_000 });
    expect(useUi.getState().stages[3]).toMatchObject({ state: 'pending', steps: 2696, tokens: 2_760_000 });
    useUi.setState({ run: { running: true, paused: false, finished: false } });
    useUi.getState().setStageTokens(3, 5000);
    expect(useUi.getState().plan.tokens[3]).toBe(5000);
    expect(useUi.getState().stages[3].steps).toBe(2696);
  });
});

describe('a distillation run as events', () => {
  it('fills per-stage series, stage states, timing, distances, evals, samples and checkpoints', () => {
    const plan = { ...clonePlan(DEFAULT_PLAN), stages: [1, 3] as (1 | 3)[] };
    useUi.getState().resetRun(plan);
    expect(useUi.getState().stages[2].state).toBe('off');
    ev({ type: 'state', running: true, paused: false, finished: false });
    ev({ type: 'stage', stage: 1, state: 'started', steps: 3, tokens: 3072 });
    expect(useUi.getState().stages[1].state).toBe('running');
    expect(chartView(useUi.getState())).toBe('run');
    for (const [k, loss] of [[1, 2], [2, 1.5], [3, 1]]) {
      ev({ type: 'metric', stage: 1, step: k, tokens: k * 1024, loss, tokensPerS: 500, gradNorm: k / 2, lr: k / 1e4, runElapsedS: 10 + k });
      ev({ type: 'timing', stage: 1, step: k, steps: 3, elapsedS: k, etaS: 3 - k, runElapsedS: 10 + k, runEtaS: 20 - k });
    }
    // The run's wall time (setup included) is the engine's, not the sum of the stages' training clocks;
    // so is the whole run's remaining time.
    expect(useUi.getState().runElapsedS).toBe(13);
    expect(useUi.getState().runEtaS).toBe(17);
    ev({ type: 'distances', layers: 2, heads: 2, values: [0.5, NaN, 0.25, 1], step: 3 });
    ev({ type: 'stage', stage: 1, state: 'finished', steps: 3, tokens: 3072 });
    ev({ type: 'checkpoint', stage: 1, step: 3, tokens: 3072, at: 123 });
    ev({ type: 'eval', stage: 1, teacherNll: 1.25, studentNll: 3, tokens: 100 });
    ev({ type: 'stage', stage: 3, state: 'started', steps: 10, tokens: 10240 });
    ev({ type: 'metric', stage: 3, step: 1, tokens: 1024, loss: 4, tokensPerS: 300, gradNorm: 7, runElapsedS: 30 });
    ev({ type: 'sample', prompt: 'Once', teacher: ' upon', student: ' a', studentTokensPerS: 900 });
    ev({ type: 'stage', stage: 3, state: 'skipped', steps: 10, tokens: 10240 });
    ev({ type: 'state', running: false, paused: false, finished: true });

    const s = useUi.getState();
    expect(s.series[1]).toEqual({ step: [1, 2, 3], tokens: [1024, 2048, 3072], timeS: [11, 12, 13], loss: [2, 1.5, 1], gradNorm: [0.5, 1, 1.5], lr: [1e-4, 2e-4, 3e-4] });
    expect(s.series[3]).toEqual({ step: [1], tokens: [1024], timeS: [30], loss: [4], gradNorm: [7], lr: [null] });
    expect(s.series[2].step).toEqual([]);
    expect(s.stages[1]).toMatchObject({ state: 'finished', step: 3, steps: 3, elapsedS: 3, firstLoss: 2, lastLoss: 1, tokensPerS: 500, etaS: 0 });
    expect(s.stages[3]).toMatchObject({ state: 'skipped', step: 1, steps: 10, lastLoss: 4 });
    expect(s.currentStage).toBe(3);
    expect(chartView(s)).toBe('run');
    expect(s.lastLoss).toBe(4);
    expect(s.firstLoss).toBe(2);
    expect(s.distances?.values.slice(0, 1)).toEqual([0.5]);
    expect(Number.isNaN(s.distances!.values[1])).toBe(true);
    expect(s.layerDistances).toEqual({ step: [3], layers: [[0.5], [0.625]] });
    expect(s.checkpoint).toEqual({ stage: 1, step: 3, tokens: 3072, at: 123 });
    expect(s.evals.map((e) => [e.stage, e.teacherNll, e.studentNll])).toEqual([[1, 1.25, 3]]);
    expect(s.samples.map((x) => x.student)).toEqual([' a']);
    expect(s.run).toEqual({ running: false, paused: false, finished: true });

    // A stage tab shows that stage alone; a new run clears everything it left (the chosen x-axis stays).
    useUi.getState().setChartStage(1);
    useUi.getState().setChartX('tokens');
    expect(chartView(useUi.getState())).toBe(1);
    useUi.getState().resetRun(plan);
    const r = useUi.getState();
    expect(r.chartX).toBe('tokens');
    expect(r.layerDistances).toEqual({ step: [], layers: [] });
    expect(r.series[1].step).toEqual([]);
    expect([r.distances, r.checkpoint, r.currentStage, r.chartStage, r.evals.length]).toEqual([null, null, null, null, 0]);
    expect(r.stages[1]).toMatchObject({ state: 'pending', step: 0, steps: 79 });
  });

  it('ignores a metric of a stage that does not exist', () => {
    ev({ type: 'metric', stage: 7, step: 1, tokens: 1, loss: 1, tokensPerS: 1, gradNorm: 1, runElapsedS: 1 });
    expect(useUi.getState().lastLoss).toBeNull();
  });
});

describe('per-layer distances over time', () => {
  it('are the mean over each layer\'s measured heads (none measured: a gap)', () => {
    expect(layerMeans([1, 3, NaN, NaN, 2, NaN], 3, 2)).toEqual([2, null, 2]);
  });

  it('grow by step; a snapshot at or before the last replaces what lay from its step on; another grid shape starts afresh', () => {
    const d = emptyLayerDistances();
    appendLayerDistances(d, 1, [4, 5]);
    appendLayerDistances(d, 3, [3, 4]);
    appendLayerDistances(d, 5, [2, 3]);
    expect(d).toEqual({ step: [1, 3, 5], layers: [[4, 3, 2], [5, 4, 3]] });
    appendLayerDistances(d, 3, [3.5, 4.5]);
    expect(d).toEqual({ step: [1, 3], layers: [[4, 3.5], [5, 4.5]] });
    appendLayerDistances(d, 4, [1]);
    expect(d).toEqual({ step: [4], layers: [[1]] });
  });

  it('take the step of the last metric when the event names none', () => {
    useUi.getState().resetRun(clonePlan(DEFAULT_PLAN));
    ev({ type: 'metric', stage: 1, step: 7, tokens: 1, loss: 1, tokensPerS: 1, gradNorm: 1, runElapsedS: 1 });
    ev({ type: 'distances', layers: 1, heads: 1, values: [0.25] });
    expect(useUi.getState().layerDistances).toEqual({ step: [7], layers: [[0.25]] });
  });
});
