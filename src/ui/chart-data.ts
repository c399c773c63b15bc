// What the run's charts draw, as plain arrays: a run's per-stage curves (the live run's series or a
// kept run's overlay) put on one x-axis (whole-run steps, whole-run tokens or wall time, or one stage
// alone), several runs joined for uPlot, and the whole run as CSV.
import { STAGES } from '../mohawk/plan';
import type { PerStage, Stage } from '../worker/api';
import { emaSmooth } from './smoothing';

export type XAxis = 'step' | 'tokens' | 'time';
/** The whole run, or one stage alone (its own steps and tokens on x). */
export type ChartView = 'run' | Stage;
export type Metric = 'loss' | 'gradNorm' | 'lr';

/**
 * One stage's curves of a run (the live run's, or a kept run's from its history), columns aligned by
 * index: one entry per step, in step order.
 */
export interface StageCurve {
  step: number[];
  /** Tokens trained in this stage up to the step (runOffsets gives where the stage begins in the run). */
  tokens: number[];
  /** The run's wall seconds at the step (setup and evaluations included). */
  timeS: number[];
  loss: number[];
  gradNorm: number[];
  /** null where the run reported no learning rate. */
  lr: (number | null)[];
}

export const emptyCurve = (): StageCurve => ({ step: [], tokens: [], timeS: [], loss: [], gradNorm: [], lr: [] });

/** One step's point added to a stage's curve: a live metric event and a kept run's history record alike. */
export function appendPoint(c: StageCurve, p: { step: number; tokens: number; runElapsedS: number; loss: number; gradNorm: number; lr?: number }): void {
  c.step.push(p.step);
  c.tokens.push(p.tokens);
  c.timeS.push(p.runElapsedS);
  c.loss.push(p.loss);
  c.gradNorm.push(p.gradNorm);
  c.lr.push(p.lr ?? null);
}

export type RunCurves = PerStage<StageCurve>;

/** Steps and tokens trained in the stages before each one: where it begins on a whole-run axis. */
export interface RunOffsets {
  steps: PerStage<number>;
  tokens: PerStage<number>;
}

/** A column's last value (the curves are in step order), 0 when empty. */
const lastOf = (a: readonly number[]) => a[a.length - 1] ?? 0;

/** From the curves themselves (a skipped stage counts the steps it trained, a stage not run none). */
export function runOffsets(curves: RunCurves): RunOffsets {
  const steps: PerStage<number> = { 1: 0, 2: 0, 3: 0 };
  const tokens: PerStage<number> = { 1: 0, 2: 0, 3: 0 };
  let s = 0;
  let t = 0;
  for (const st of STAGES) {
    steps[st] = s;
    tokens[st] = t;
    s += lastOf(curves[st].step);
    t += lastOf(curves[st].tokens);
  }
  return { steps, tokens };
}

/** One stage's points on a chart's x-axis. */
export interface StagePoints {
  stage: Stage;
  x: number[];
  y: (number | null)[];
}

/** The stages of `view` that have points, each on the x-axis asked for, with the metric's values. */
export function stagePoints(curves: RunCurves, view: ChartView, axis: XAxis, metric: Metric): StagePoints[] {
  const off = runOffsets(curves);
  const whole = view === 'run';
  const out: StagePoints[] = [];
  for (const st of whole ? STAGES : [view]) {
    const c = curves[st];
    if (c.step.length === 0) continue;
    const x =
      axis === 'time' ? c.timeS.slice() : axis === 'tokens' ? c.tokens.map((v) => v + (whole ? off.tokens[st] : 0)) : c.step.map((v) => v + (whole ? off.steps[st] : 0));
    out.push({ stage: st, x, y: (c[metric] as readonly (number | null)[]).slice() });
  }
  return out;
}

/** Where each stage lies on the x-axis (first and last point), for its band on the chart. */
export function stageSpans(points: readonly StagePoints[]): { stage: Stage; from: number; to: number }[] {
  return points.map((p) => ({ stage: p.stage, from: p.x[0]!, to: p.x[p.x.length - 1]! }));
}

/**
 * Several runs' points on one sorted x-axis, as uPlot wants them. A run holds `undefined` at the x
 * values only others have (uPlot draws its line across those) and `null` from its last point of one
 * stage to its first of the next, a row put between them included (uPlot breaks the line there: one
 * stage's loss is not another's). A repeated x within a run keeps its last value.
 */
export function joinRuns(runs: readonly (readonly StagePoints[])[]): { x: number[]; ys: (number | null | undefined)[][] } {
  const breaks = runs.map((stages) => {
    const out: number[] = [];
    for (let i = 1; i < stages.length; i++) {
      const a = stages[i - 1]!.x.at(-1)!;
      const b = stages[i]!.x[0]!;
      if (b > a) out.push((a + b) / 2);
    }
    return out;
  });
  const all = new Set<number>();
  runs.forEach((stages, r) => {
    for (const p of stages) for (const v of p.x) all.add(v);
    for (const v of breaks[r]!) all.add(v);
  });
  const x = [...all].sort((a, b) => a - b);
  const at = new Map(x.map((v, i) => [v, i]));
  const ys = runs.map((stages, r) => {
    const y: (number | null | undefined)[] = new Array(x.length).fill(undefined);
    for (const p of stages) p.x.forEach((v, i) => (y[at.get(v)!] = p.y[i] ?? null));
    // uPlot breaks a line only across the rows a null spans: the break spreads over the rows between
    // the run's two stages that only other runs have.
    for (const v of breaks[r]!) {
      const b = at.get(v)!;
      y[b] = null;
      for (let i = b - 1; i >= 0 && y[i] === undefined; i--) y[i] = null;
      for (let i = b + 1; i < y.length && y[i] === undefined; i++) y[i] = null;
    }
    return y;
  });
  return { x, ys };
}

export interface ChartOptions {
  view: ChartView;
  axis: XAxis;
  metric: Metric;
  /** The EMA weight of a smoothed line beside the raw one (each stage smoothed on its own); null draws the raw line only. */
  smoothing: number | null;
  /** A log y-axis, which cannot show zero or negative values: those become gaps. */
  log: boolean;
}

export interface ChartData {
  x: number[];
  /** The run's raw line, its smoothed line (when smoothing), then each overlay's (smoothed likewise). */
  ys: (number | null | undefined)[][];
  /** The stages' extents on x: the run's, or the first overlay's when the run has no point yet. */
  spans: { stage: Stage; from: number; to: number }[];
  /** The run's own points on the chart (finite values). */
  points: number;
}

/** One chart's data: the current run's curves of `metric` and the overlays' on one x-axis. */
export function chartData(current: RunCurves, overlays: readonly RunCurves[], o: ChartOptions): ChartData {
  const visible = (v: number | null) => (v === null || !Number.isFinite(v) || (o.log && !(v > 0)) ? null : v);
  const shown = (ps: StagePoints[]) => ps.map((p) => ({ ...p, y: p.y.map(visible) }));
  const smooth = (ps: StagePoints[]) => (o.smoothing === null ? ps : ps.map((p) => ({ ...p, y: emaSmooth(p.y.map((v) => v ?? NaN), o.smoothing!).map((v) => (Number.isFinite(v) ? v : null)) })));
  const own = stagePoints(current, o.view, o.axis, o.metric);
  const others = overlays.map((c) => stagePoints(c, o.view, o.axis, o.metric));
  const runs = [shown(own), ...(o.smoothing === null ? [] : [shown(smooth(own))]), ...others.map((ps) => shown(smooth(ps)))];
  const { x, ys } = joinRuns(runs);
  const points = runs[0]!.reduce((a, p) => a + p.y.filter((v) => v !== null).length, 0);
  return { x, ys, spans: stageSpans(own.length ? own : (others[0] ?? [])), points };
}

/** One row per step of the whole run, stages in order. */
export interface RunRow {
  stage: Stage;
  step: number;
  runStep: number;
  tokens: number;
  runTokens: number;
  timeS: number;
  loss: number;
  gradNorm: number;
  lr: number | null;
}

export function runRows(curves: RunCurves): RunRow[] {
  const off = runOffsets(curves);
  const rows: RunRow[] = [];
  for (const st of STAGES) {
    const c = curves[st];
    c.step.forEach((step, i) => {
      rows.push({
        stage: st,
        step,
        runStep: off.steps[st] + step,
        tokens: c.tokens[i]!,
        runTokens: off.tokens[st] + c.tokens[i]!,
        timeS: c.timeS[i]!,
        loss: c.loss[i]!,
        gradNorm: c.gradNorm[i]!,
        lr: c.lr[i] ?? null,
      });
    });
  }
  return rows;
}

export const CSV_HEADER = 'stage,step,run_step,tokens,run_tokens,time_s,loss,grad_norm,lr';

/** The whole run as CSV: one line per step, full precision, an empty field where no value was reported. */
export function runCsv(curves: RunCurves): string {
  const num = (v: number | null) => (v === null || !Number.isFinite(v) ? '' : String(v));
  const lines = runRows(curves).map((r) =>
    [r.stage, r.step, r.runStep, r.tokens, r.runTokens, Math.round(r.timeS * 1000) / 1000, num(r.loss), num(r.gradNorm), num(r.lr)].join(','),
  );
  return [CSV_HEADER, ...lines].join('\n') + '\n';
}

/** A file name from the run's name (what its student's .zip is called), safe on every file system. */
export function chartFileName(runName: string | null, ext: 'csv' | 'png'): string {
  const base = (runName ?? 'mohawk-run').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'mohawk-run';
  return `${base}-curves.${ext}`;
}
