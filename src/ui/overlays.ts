// Kept runs' curves to compare with the current one: built from a run's stored history, held in the
// store as `overlays`, and drawn over the current run's (chart-data.ts puts them on the charts' x-axis).
import type uPlot from 'uplot';
import type { HistoryRecord, PerStage, Stage } from '../worker/api';
import { appendPoint, emptyCurve, runOffsets, type StageCurve } from './chart-data';

export interface RunOverlay {
  id: string;
  /** The run's name (what its files are called) and a short label for a legend. */
  name: string;
  label: string;
  curves: PerStage<StageCurve>;
  /** Tokens trained in the stages before each one, for an x-axis of the whole run's tokens. */
  tokensBefore: PerStage<number>;
  /** Its held-out evaluations (stage 0: before training). */
  evals: { stage: Stage | 0; teacherNll: number; studentNll: number }[];
}

/** A run's curves from its history as it stands (foldHistory's records: one record per step). */
export function overlayOf(run: { id: string; name: string; label: string }, records: readonly HistoryRecord[]): RunOverlay {
  const curves: PerStage<StageCurve> = { 1: emptyCurve(), 2: emptyCurve(), 3: emptyCurve() };
  const evals: RunOverlay['evals'] = [];
  for (const r of records) {
    if (r.k === 'step') {
      appendPoint(curves[r.stage], r);
    } else if (r.k === 'eval') evals.push({ stage: r.stage, teacherNll: r.teacherNll, studentNll: r.studentNll });
  }
  return { ...run, curves, tokensBefore: runOffsets(curves).tokens, evals };
}

/** Colours of compared runs, apart from the current run's blue. */
const OVERLAY_COLORS = ['#f59e0b', '#a78bfa', '#34d399', '#f472b6', '#fb7185', '#22d3ee'];

/** uPlot series for the overlays' curves, in `overlays`' order (a dashed line each, in the run's colour on every chart). */
export function overlaySeries(overlays: readonly RunOverlay[], format: (v: number | null) => string): uPlot.Series[] {
  return overlays.map((o, i) => ({
    label: o.label,
    stroke: OVERLAY_COLORS[i % OVERLAY_COLORS.length],
    width: 1.5,
    dash: [6, 4],
    points: { show: false },
    value: (_u: uPlot, v: number | null) => format(v),
  }));
}
