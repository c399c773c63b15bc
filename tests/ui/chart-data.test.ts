// The run charts' data: stages one after another on a whole-run axis (steps, tokens or wall time),
// several runs joined for uPlot with breaks between stages, and the whole run as CSV.
import { describe, expect, it } from 'vitest';
import { CSV_HEADER, chartData, chartFileName, emptyCurve, joinRuns, runCsv, runOffsets, runRows, stagePoints, type RunCurves } from '../../src/ui/chart-data';

/** Stage 1: 3 steps of 64 tokens; stage 2 skipped after 2 steps of 128; stage 3 not run. */
function curves(): RunCurves {
  return {
    1: { step: [1, 2, 3], tokens: [64, 128, 192], timeS: [5, 6, 7], loss: [4, 2, 1], gradNorm: [0.5, 0.4, 0.3], lr: [1e-3, 1e-3, 5e-4] },
    2: { step: [1, 2], tokens: [128, 256], timeS: [9.5, 10.25], loss: [0.8, -0.1], gradNorm: [2, 1], lr: [null, 2e-3] },
    3: emptyCurve(),
  };
}

describe('a run on one x-axis', () => {
  it('begins each stage where the stages before it ended (the steps and tokens they trained)', () => {
    expect(runOffsets(curves())).toEqual({ steps: { 1: 0, 2: 3, 3: 5 }, tokens: { 1: 0, 2: 192, 3: 448 } });
  });

  it('puts stages side by side on whole-run steps, tokens or wall time, or shows one stage on its own', () => {
    const c = curves();
    expect(stagePoints(c, 'run', 'step', 'loss')).toEqual([
      { stage: 1, x: [1, 2, 3], y: [4, 2, 1] },
      { stage: 2, x: [4, 5], y: [0.8, -0.1] },
    ]);
    expect(stagePoints(c, 'run', 'tokens', 'lr').map((p) => p.x)).toEqual([[64, 128, 192], [320, 448]]);
    expect(stagePoints(c, 'run', 'time', 'gradNorm')).toEqual([
      { stage: 1, x: [5, 6, 7], y: [0.5, 0.4, 0.3] },
      { stage: 2, x: [9.5, 10.25], y: [2, 1] },
    ]);
    expect(stagePoints(c, 2, 'step', 'loss')).toEqual([{ stage: 2, x: [1, 2], y: [0.8, -0.1] }]);
    expect(stagePoints(c, 2, 'tokens', 'loss')[0]!.x).toEqual([128, 256]);
    expect(stagePoints(c, 3, 'step', 'loss')).toEqual([]);
  });
});

describe('runs joined for uPlot', () => {
  it('hold undefined where only another run has a point, and a null between two stages of a run', () => {
    const a = [{ stage: 1 as const, x: [1, 2], y: [10, 20] }, { stage: 2 as const, x: [4], y: [5] }];
    const b = [{ stage: 1 as const, x: [2, 5], y: [7, null] }];
    const { x, ys } = joinRuns([a, b]);
    expect(x).toEqual([1, 2, 3, 4, 5]);
    expect(ys[0]).toEqual([10, 20, null, 5, undefined]);
    expect(ys[1]).toEqual([undefined, 7, undefined, undefined, null]);
  });

  it('break a run between its stages across the rows only other runs have', () => {
    const a = [{ stage: 1 as const, x: [1, 3], y: [1, 3] }, { stage: 2 as const, x: [7], y: [7] }];
    const b = [{ stage: 1 as const, x: [2, 4, 5, 6, 8], y: [2, 4, 5, 6, 8] }];
    const { x, ys } = joinRuns([a, b]);
    expect(x).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ys[0]).toEqual([1, undefined, 3, null, null, null, 7, undefined]);
    expect(ys[1]).toEqual([undefined, 2, undefined, 4, 5, 6, undefined, 8]);
  });

  it('keep the last value of a repeated x (steps reported together at one wall time)', () => {
    expect(joinRuns([[{ stage: 1, x: [1, 1, 2], y: [3, 4, 5] }]])).toEqual({ x: [1, 2], ys: [[4, 5]] });
  });

  it('give a chart the run\'s raw and smoothed lines, each stage smoothed on its own, then the overlays', () => {
    const c = curves();
    const other: RunCurves = { 1: { step: [2], tokens: [10], timeS: [1], loss: [3], gradNorm: [1], lr: [1e-3] }, 2: emptyCurve(), 3: emptyCurve() };
    const d = chartData(c, [other], { view: 'run', axis: 'step', metric: 'loss', smoothing: 0, log: false });
    expect(d.x).toEqual([1, 2, 3, 3.5, 4, 5]);
    expect(d.ys).toEqual([
      [4, 2, 1, null, 0.8, -0.1],
      [4, 2, 1, null, 0.8, -0.1],
      [undefined, 3, undefined, undefined, undefined, undefined],
    ]);
    expect(d.spans).toEqual([{ stage: 1, from: 1, to: 3 }, { stage: 2, from: 4, to: 5 }]);
    expect(d.points).toBe(5);
    // Smoothing restarts at each stage: stage 2's first smoothed value is its own first loss.
    const s = chartData(c, [], { view: 'run', axis: 'step', metric: 'loss', smoothing: 0.9, log: false });
    expect(s.ys[1]![4]).toBeCloseTo(0.8, 12);
    expect(s.ys[1]![1]).toBeGreaterThan(2);
    // A log axis leaves out what it cannot show.
    const l = chartData(c, [], { view: 'run', axis: 'step', metric: 'loss', smoothing: null, log: true });
    expect(l.ys).toEqual([[4, 2, 1, null, 0.8, null]]);
    expect(l.points).toBe(4);
    // Learning rates a run did not report are gaps; the bands follow an overlay when the run has no point.
    const r = chartData({ 1: emptyCurve(), 2: emptyCurve(), 3: emptyCurve() }, [c], { view: 'run', axis: 'time', metric: 'lr', smoothing: null, log: false });
    expect(r.ys[1]).toEqual([1e-3, 1e-3, 5e-4, null, null, 2e-3]);
    expect(r.spans.map((x) => x.stage)).toEqual([1, 2]);
    expect(r.points).toBe(0);
  });
});

describe('the run as CSV', () => {
  it('has a row per step with stage and whole-run steps and tokens, wall time, loss, gradient norm and learning rate', () => {
    const rows = runRows(curves());
    expect(rows.map((r) => [r.stage, r.step, r.runStep, r.runTokens])).toEqual([[1, 1, 1, 64], [1, 2, 2, 128], [1, 3, 3, 192], [2, 1, 4, 320], [2, 2, 5, 448]]);
    const csv = runCsv(curves()).split('\n');
    expect(csv[0]).toBe(CSV_HEADER);
    expect(CSV_HEADER).toBe('stage,step,run_step,tokens,run_tokens,time_s,loss,grad_norm,lr');
    expect(csv[1]).toBe('1,1,1,64,64,5,4,0.5,0.001');
    expect(csv[4]).toBe('2,1,4,128,320,9.5,0.8,2,');
    expect(csv[5]).toBe('2,2,5,256,448,10.25,-0.1,1,0.002');
    expect(csv.length).toBe(7);
    expect(csv[6]).toBe('');
    expect(runCsv({ 1: emptyCurve(), 2: emptyCurve(), 3: emptyCurve() })).toBe(`${CSV_HEADER}\n`);
  });

  it('is named after the run', () => {
    expect(chartFileName('stories260K-built-in-mohawk-student-20250101-1200', 'csv')).toBe('stories260K-built-in-mohawk-student-20250101-1200-curves.csv');
    expect(chartFileName(null, 'png')).toBe('mohawk-run-curves.png');
    expect(chartFileName('a b/c', 'png')).toBe('a-b-c-curves.png');
  });
});
