// uPlot options for the run's charts (loss, learning rate, gradient norm): the axes' ticks from
// ticks.ts, the run's lines and the compared runs', and a shaded band per stage with its boundary.
import type uPlot from 'uplot';
import type { Stage } from '../worker/api';
import type { Metric, XAxis } from './chart-data';
import { overlaySeries, type RunOverlay } from './overlays';
import { axisTicks, valueLabel, type TickKind } from './ticks';

export const AXIS_COLOR = '#9aa4b2';
const GRID = 'rgba(154, 164, 178, 0.12)';
const RUN_COLOR = '#60a5fa';
const RUN_FAINT = 'rgba(96, 165, 250, 0.28)';
/** The y-axis gutter of every run chart: equal, so that their plot areas (and synced cursors) line up. */
const Y_AXIS_PX = 64;

/** The stages' tints (bands and their labels), apart from the run's blue. */
const STAGE_TINT: Record<Stage, [number, number, number]> = { 1: [167, 139, 250], 2: [45, 212, 191], 3: [251, 191, 36] };
const tint = (s: Stage, a: number) => `rgba(${STAGE_TINT[s].join(', ')}, ${a})`;

export const X_KIND: Record<XAxis, TickKind> = { step: 'int', tokens: 'tokens', time: 'time' };
/** The x value's name in a legend. */
const X_NAME: Record<XAxis, string> = { step: 'step', tokens: 'tokens', time: 'time' };

export type StageSpan = { stage: Stage; from: number; to: number };

/**
 * Shades each stage's extent on x and marks where one stage gives way to the next, under the grid
 * and the lines; `spans` is read at each redraw (empty: nothing drawn).
 */
export function stageBands(spans: () => readonly StageSpan[]): uPlot.Plugin {
  return {
    hooks: {
      drawClear: (u: uPlot) => {
        const ss = spans();
        if (ss.length === 0) return;
        const { ctx } = u;
        const { left, top, width, height } = u.bbox;
        const px = (v: number) => Math.min(left + width, Math.max(left, u.valToPos(v, 'x', true)));
        const ratio = u.ctx.canvas.width / Math.max(1, u.width);
        ctx.save();
        ss.forEach((s, i) => {
          // Neighbouring bands meet halfway between one stage's last point and the next one's first.
          const from = i === 0 ? s.from : (ss[i - 1]!.to + s.from) / 2;
          const to = i === ss.length - 1 ? s.to : (s.to + ss[i + 1]!.from) / 2;
          const x0 = px(from);
          const x1 = px(to);
          if (x1 <= left || x0 >= left + width) return;
          ctx.fillStyle = tint(s.stage, 0.07);
          ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
          if (i > 0) {
            ctx.strokeStyle = tint(s.stage, 0.6);
            ctx.lineWidth = ratio;
            ctx.setLineDash([4 * ratio, 4 * ratio]);
            ctx.beginPath();
            ctx.moveTo(x0, top);
            ctx.lineTo(x0, top + height);
            ctx.stroke();
          }
          ctx.fillStyle = tint(s.stage, 0.9);
          ctx.font = `${11 * ratio}px system-ui, sans-serif`;
          ctx.textBaseline = 'top';
          ctx.textAlign = 'left';
          if (x1 - x0 > 44 * ratio) ctx.fillText(`stage ${s.stage}`, x0 + 4 * ratio, top + 3 * ratio);
        });
        ctx.restore();
      },
    },
  };
}

/**
 * Widens each break of a line by a stroke's width on either side: two stages meet at nearly one x, and
 * a break as wide as the space between their points would leave the jump from one to the other drawn.
 */
const widenGaps: uPlot.Series.GapsRefiner = (u, _i, _a, _b, gaps) => {
  const r = 2 * (u.ctx.canvas.width / Math.max(1, u.width));
  return gaps.map(([a, b]) => [a - r, b + r] as uPlot.Series.Gap);
};

export interface RunPlotSpec {
  metric: Metric;
  /** The y-axis label and the run's line in the legend. */
  name: string;
  height: number;
  x: XAxis;
  /** The x-axis' label; null leaves it to the chart below (the ticks stay). */
  xLabel: string | null;
  log: boolean;
  /** A smoothed line over a faint raw one (else the raw line alone). */
  smoothed: boolean;
  overlays: readonly RunOverlay[];
  format(v: number | null): string;
  /** Charts with one key share the cursor. */
  syncKey: string;
  spans(): readonly StageSpan[];
  /** Told when the x-axis' range changes (a zoom, or new data), to keep the other charts on it. */
  onXScale(u: uPlot): void;
}

export function runPlotOptions(spec: RunPlotSpec, width: number): uPlot.Options {
  const xKind = X_KIND[spec.x];
  const y: uPlot.Scale = spec.log
    ? // uPlot widens a log axis to whole decades; a curve wants its own span, padded a little.
      { distr: 3, log: 10, range: (_u, min, max) => (min > 0 && max > 0 ? [min / 1.1, max * 1.1] : [0.1, 10]) }
    : { distr: 1 };
  const value = (_u: uPlot, v: number | null) => spec.format(v);
  // uPlot's own points (drawn only while they are sparse) show a run's first steps.
  const own: uPlot.Series[] = spec.smoothed
    ? [
        { label: spec.name, stroke: RUN_FAINT, width: 1, value, gaps: widenGaps },
        { label: 'smoothed', stroke: RUN_COLOR, width: 2, value, gaps: widenGaps },
      ]
    : [{ label: spec.name, stroke: RUN_COLOR, width: 1.5, value, gaps: widenGaps }];
  const axis = { stroke: AXIS_COLOR, grid: { stroke: GRID }, ticks: { stroke: GRID }, labelSize: 18 };
  return {
    width,
    height: spec.height,
    scales: { x: { time: false }, y },
    legend: { show: true, live: true },
    cursor: { drag: { x: true, y: false }, sync: { key: spec.syncKey } },
    series: [{ label: X_NAME[spec.x], value: (_u, v) => valueLabel(xKind, v) }, ...own, ...overlaySeries(spec.overlays, spec.format).map((o) => ({ ...o, gaps: widenGaps }))],
    axes: [
      { ...axis, ...(spec.xLabel === null ? {} : { label: spec.xLabel }), ...axisTicks(xKind, 80) },
      { ...axis, label: spec.name, size: Y_AXIS_PX, ...axisTicks(spec.log ? 'log' : 'linear', spec.height > 200 ? 36 : 28) },
    ],
    plugins: [stageBands(spec.spans)],
    hooks: {
      setScale: [
        (u, key) => {
          if (key === 'x') spec.onXScale(u);
        },
      ],
    },
  };
}
