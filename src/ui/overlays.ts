// Kept runs' curves to compare with the current one: built from a run's stored history, held in the
// store as `overlays`, and put on one x-axis with another curve for a uPlot chart.
import type uPlot from 'uplot';
import type { HistoryRecord, PerStage, Stage } from '../worker/api';

/** One stage's curve of a run, columns aligned by index (one entry per step, in step order). */
export interface OverlayCurve {
  step: number[];
  /** Tokens trained in this stage up to the step (add the run's `tokensBefore[stage]` for a whole-run axis). */
  tokens: number[];
  /** The run's wall seconds at the step (setup and evaluations included). */
  timeS: number[];
  loss: number[];
  gradNorm: number[];
  /** null where the run reported no learning rate. */
  lr: (number | null)[];
}

export interface RunOverlay {
  id: string;
  /** The run's name (what its files are called) and a short label for a legend. */
  name: string;
  label: string;
  curves: PerStage<OverlayCurve>;
  /** Tokens trained in the stages before each one, for an x-axis of the whole run's tokens. */
  tokensBefore: PerStage<number>;
  /** Its held-out evaluations (stage 0: before training). */
  evals: { stage: Stage | 0; teacherNll: number; studentNll: number }[];
}

const emptyCurve = (): OverlayCurve => ({ step: [], tokens: [], timeS: [], loss: [], gradNorm: [], lr: [] });

/** A run's curves from its history as it stands (foldHistory's records: one record per step). */
export function overlayOf(run: { id: string; name: string; label: string }, records: readonly HistoryRecord[]): RunOverlay {
  const curves: PerStage<OverlayCurve> = { 1: emptyCurve(), 2: emptyCurve(), 3: emptyCurve() };
  const trained: PerStage<number> = { 1: 0, 2: 0, 3: 0 };
  const evals: RunOverlay['evals'] = [];
  for (const r of records) {
    if (r.k === 'step') {
      const c = curves[r.stage];
      c.step.push(r.step);
      c.tokens.push(r.tokens);
      c.timeS.push(r.runElapsedS);
      c.loss.push(r.loss);
      c.gradNorm.push(r.gradNorm);
      c.lr.push(r.lr ?? null);
      trained[r.stage] = Math.max(trained[r.stage], r.tokens);
    } else if (r.k === 'eval') evals.push({ stage: r.stage, teacherNll: r.teacherNll, studentNll: r.studentNll });
  }
  const tokensBefore: PerStage<number> = { 1: 0, 2: trained[1], 3: trained[1] + trained[2] };
  return { ...run, curves, tokensBefore, evals };
}

/**
 * Several (x, y) series on one sorted x-axis, as uPlot wants them: each series holds null at the x
 * values only others have. Within a series a repeated x keeps its last y.
 */
export function alignSeries(series: readonly { x: readonly number[]; y: readonly (number | null)[] }[]): { x: number[]; ys: (number | null)[][] } {
  const x = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const at = new Map(x.map((v, i) => [v, i]));
  const ys = series.map((s) => {
    const out: (number | null)[] = new Array(x.length).fill(null);
    s.x.forEach((v, i) => (out[at.get(v)!] = s.y[i] ?? null));
    return out;
  });
  return { x, ys };
}

/** Colours of compared runs, apart from the current run's blue. */
const OVERLAY_COLORS = ['#f59e0b', '#a78bfa', '#34d399', '#f472b6', '#fb7185', '#22d3ee'];

/** uPlot series for the overlays' losses, in `overlays`' order (a gap-spanning line each). */
export function overlaySeries(overlays: readonly RunOverlay[], format: (v: number | null) => string): uPlot.Series[] {
  return overlays.map((o, i) => ({
    label: o.label,
    stroke: OVERLAY_COLORS[i % OVERLAY_COLORS.length],
    width: 1.5,
    dash: [6, 4],
    spanGaps: true,
    points: { show: false },
    value: (_u: uPlot, v: number | null) => format(v),
  }));
}

/**
 * A chart's data (x first, then its series) with each overlay's loss of `stage` added after, all on
 * one x-axis of steps, smoothed by `smooth` as the chart smooths its own; `log` leaves out values a
 * log axis cannot show.
 */
export function withOverlays(
  data: uPlot.AlignedData,
  overlays: readonly RunOverlay[],
  stage: Stage,
  log: boolean,
  smooth: (ys: number[]) => number[] = (ys) => ys,
): uPlot.AlignedData {
  if (overlays.length === 0) return data;
  const [x, ...ys] = data.map((a) => Array.from(a as ArrayLike<number | null>)) as [number[], ...(number | null)[][]];
  const merged = alignSeries([
    ...ys.map((y) => ({ x, y })),
    ...overlays.map((o) => ({ x: o.curves[stage].step, y: smooth(o.curves[stage].loss).map((v) => (log && !(v > 0) ? null : v)) })),
  ]);
  return [merged.x, ...merged.ys] as uPlot.AlignedData;
}
