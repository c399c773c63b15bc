// The run's charts as uPlot instances kept drawn from the store: built into their boxes, redrawn at
// most once a frame as metrics arrive, rebuilt when what they are built for changes.
import { useEffect, type MutableRefObject, type RefObject } from 'react';
import uPlot from 'uplot';
import { chartView, useUi, type UiState } from '../store';
import { chartData, type ChartView, type Metric, type XAxis } from '../chart-data';
import { runPlotOptions, type StageSpan } from '../chart-options';
import type { RunOverlay } from '../overlays';
import { compactNumber } from '../ticks';
import { loss as fmtLoss } from '../../util/format';

export interface RunChartDef {
  metric: Metric;
  testId: string;
  name: string;
  height: number;
  smoothed: boolean;
  /** Whether the log-scale toggle applies (a learning rate schedule reads best on a linear axis). */
  logApplies: boolean;
  format(v: number | null): string;
}

export const RUN_CHARTS: readonly RunChartDef[] = [
  { metric: 'loss', testId: 'loss-chart', name: 'loss', height: 300, smoothed: true, logApplies: true, format: fmtLoss },
  { metric: 'lr', testId: 'lr-chart', name: 'learning rate', height: 160, smoothed: false, logApplies: false, format: (v) => (v === null ? '–' : compactNumber(v)) },
  { metric: 'gradNorm', testId: 'grad-norm-chart', name: 'grad norm', height: 180, smoothed: true, logApplies: true, format: fmtLoss },
];

export function xLabel(x: XAxis, view: ChartView): string {
  if (x === 'time') return 'wall time of the run';
  const what = x === 'step' ? 'step' : 'tokens';
  return view === 'run' ? `${what} (whole run)` : `${what} (stage ${view})`;
}

export interface PlotSettings {
  logScale: boolean;
  overlays: readonly RunOverlay[];
  x: XAxis;
  view: ChartView;
}

const width = (el: HTMLElement) => Math.max(200, el.clientWidth);

/** Writes what a chart shows onto its box, for tests and tools. */
function describe(el: HTMLElement, def: RunChartDef, s: UiState, x: number[], points: number): void {
  const view = chartView(s);
  el.dataset.view = String(view);
  el.dataset.x = s.chartX;
  el.dataset.points = String(points);
  el.dataset.xMin = x.length ? String(x[0]) : '';
  el.dataset.xMax = x.length ? String(x[x.length - 1]) : '';
  const values = (view === 'run' ? ([1, 2, 3] as const) : [view]).flatMap((st) => s.series[st][def.metric] as (number | null)[]).filter((v): v is number => v !== null);
  el.dataset.first = values.length ? String(values[0]) : '';
  el.dataset.last = values.length ? String(values[values.length - 1]) : '';
}

/**
 * Keeps RUN_CHARTS drawn in `boxes`. They share the cursor and the x range: a zoom (drag) on one
 * zooms all and stays while points arrive; a double click returns to the whole. `plots` holds them
 * (for the PNG).
 */
export function useRunPlots(boxes: readonly RefObject<HTMLDivElement | null>[], plots: MutableRefObject<uPlot[]>, set: PlotSettings): void {
  const { logScale, overlays, x, view } = set;
  useEffect(() => {
    const els = boxes.map((b) => b.current!);
    const all: uPlot[] = [];
    const spans: StageSpan[][] = RUN_CHARTS.map(() => []);
    /** The data's x extent at the last draw; a narrower x range is the user's zoom. */
    let full: [number, number] | null = null;
    let zoomed = false;
    let syncing = false;
    const onXScale = (u: uPlot) => {
      const { min, max } = u.scales.x;
      if (min === undefined || max === undefined || min === null || max === null) return;
      if (full) zoomed = min > full[0] || max < full[1];
      if (syncing) return;
      syncing = true;
      for (const p of all) if (p !== u && (p.scales.x.min !== min || p.scales.x.max !== max)) p.setScale('x', { min, max });
      syncing = false;
    };
    const key = `mohawk-run-${Math.random().toString(36).slice(2)}`;
    RUN_CHARTS.forEach((def, i) => {
      const log = def.logApplies && logScale;
      const opts = runPlotOptions(
        { metric: def.metric, name: def.name, height: def.height, x, xLabel: i === RUN_CHARTS.length - 1 ? xLabel(x, view) : null, log, smoothed: def.smoothed, overlays, format: def.format, syncKey: key, spans: () => spans[i]!, onXScale },
        width(els[i]!),
      );
      all.push(new uPlot(opts, [[], ...opts.series.slice(1).map(() => [])], els[i]!));
    });
    plots.current = all;

    let frame = 0;
    const draw = () => {
      frame = 0;
      const s = useUi.getState();
      const curves = overlays.map((o) => o.curves);
      const keep = zoomed;
      RUN_CHARTS.forEach((def, i) => {
        const p = all[i]!;
        const d = chartData(s.series, curves, { view, axis: x, metric: def.metric, smoothing: def.smoothed ? s.smoothing : null, log: def.logApplies && logScale });
        spans[i] = view === 'run' ? d.spans : [];
        if (i === 0) full = d.x.length ? [d.x[0]!, d.x[d.x.length - 1]!] : null;
        const range = { min: p.scales.x.min, max: p.scales.x.max };
        if (keep && range.min != null && range.max != null) {
          p.setData([d.x, ...d.ys] as uPlot.AlignedData, false);
          p.setScale('x', { min: range.min, max: range.max });
        } else p.setData([d.x, ...d.ys] as uPlot.AlignedData);
        describe(els[i]!, def, s, d.x, d.points);
      });
    };
    // Metrics can arrive faster than the screen refreshes: at most one redraw per frame.
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };
    draw();
    const unsubscribe = useUi.subscribe((s, prev) => {
      if (s.metricsVersion !== prev.metricsVersion || s.smoothing !== prev.smoothing) schedule();
    });
    const resize = new ResizeObserver(() => all.forEach((p, i) => p.setSize({ width: width(els[i]!), height: RUN_CHARTS[i]!.height })));
    els.forEach((el) => resize.observe(el));
    return () => {
      unsubscribe();
      resize.disconnect();
      if (frame) cancelAnimationFrame(frame);
      all.forEach((p) => p.destroy());
      plots.current = [];
    };
    // The boxes and the plots' holder are refs, stable for the component's life.
  }, [logScale, overlays, x, view]);
}
