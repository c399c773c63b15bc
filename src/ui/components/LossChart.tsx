import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import type { Stage } from '../../mohawk/plan';
import { shownStage, useUi } from '../store';
import { emaSmooth } from '../smoothing';
import { overlaySeries, withOverlays, type RunOverlay } from '../overlays';
import { loss as fmtLoss } from '../../util/format';
import { STAGES, STAGE_NAMES } from '../../mohawk/plan';

/** What each stage's loss measures, under the tabs. */
const LOSS_TEXT: Record<Stage, string> = {
  1: 'mean over heads of ‖student SSD matrix − teacher attention‖_F',
  2: 'mean over tokens of ‖student mixer output − teacher attention output‖₂',
  3: 'soft cross-entropy against the teacher’s logits (nats/token)',
};

const HEIGHT = 320;
const AXIS = '#9aa4b2';
const GRID = 'rgba(154, 164, 178, 0.12)';

function options(width: number, log: boolean, overlays: readonly RunOverlay[]): uPlot.Options {
  return {
    width,
    height: HEIGHT,
    scales: {
      x: { time: false },
      // uPlot widens a log axis to whole decades; a loss curve wants its own span, padded a little.
      y: log ? { distr: 3, log: 10, range: (_u, min, max) => (min > 0 && max > 0 ? [min / 1.1, max * 1.1] : [0.1, 10]) } : { distr: 1 },
    },
    legend: { show: true, live: true },
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: 'step', value: (_u, v) => (v === null ? '–' : String(v)) },
      // Raw first, so the smoothed line is drawn over it.
      { label: 'loss', stroke: 'rgba(96, 165, 250, 0.28)', width: 1, points: { show: false }, value: (_u, v) => fmtLoss(v) },
      { label: 'smoothed', stroke: '#60a5fa', width: 2, points: { show: false }, value: (_u, v) => fmtLoss(v) },
      // Runs picked in the Runs panel to compare.
      ...overlaySeries(overlays, fmtLoss),
    ],
    axes: [
      { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, label: 'step', labelSize: 18 },
      { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, label: 'loss', labelSize: 18, size: 64 },
    ],
  };
}

/** The series as uPlot draws them; a log axis cannot show zero or negative losses, so those become gaps. */
function chartData(steps: number[], losses: number[], smoothing: number, log: boolean): uPlot.AlignedData {
  const raw: (number | null)[] = log ? losses.map((v) => (v > 0 ? v : null)) : losses.slice();
  const smooth: (number | null)[] = emaSmooth(losses, smoothing).map((v) => (log && !(v > 0) ? null : v));
  return [steps.slice(), raw, smooth];
}

export function LossChart() {
  const box = useRef<HTMLDivElement>(null);
  const logScale = useUi((s) => s.logScale);
  const smoothing = useUi((s) => s.smoothing);
  const setLogScale = useUi((s) => s.setLogScale);
  const setSmoothing = useUi((s) => s.setSmoothing);
  const stage = useUi(shownStage);
  const following = useUi((s) => s.chartStage === null);
  const setChartStage = useUi((s) => s.setChartStage);
  // The series grow in place, so their lengths (joined into one comparable value) are what changes.
  const points = useUi((s) => STAGES.map((st) => s.series[st].steps.length).join(',')).split(',').map(Number);
  const lastLosses = useUi((s) => s.stages);
  const empty = points[stage - 1] === 0;
  const overlays = useUi((s) => s.overlays);

  useEffect(() => {
    const el = box.current!;
    // A log axis is fixed when the plot is built, so toggling it rebuilds the plot.
    const plot = new uPlot(options(Math.max(200, el.clientWidth), logScale, overlays), [[], [], [], ...overlays.map(() => [])], el);
    let frame = 0;
    const draw = () => {
      frame = 0;
      const s = useUi.getState();
      const st = shownStage(s);
      const { steps, losses } = s.series[st];
      plot.setData(withOverlays(chartData(steps, losses, s.smoothing, s.logScale), overlays, st, s.logScale, (ys) => emaSmooth(ys, s.smoothing)));
      // For tests and tools: what the chart shows right now.
      el.dataset.stage = String(st);
      el.dataset.points = String(steps.length);
      el.dataset.firstLoss = losses.length ? String(losses[0]) : '';
      el.dataset.lastLoss = losses.length ? String(losses[losses.length - 1]) : '';
    };
    // Metrics can arrive faster than the screen refreshes: at most one redraw per frame.
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };
    draw();
    const unsubscribe = useUi.subscribe((s, prev) => {
      if (s.metricsVersion !== prev.metricsVersion || s.smoothing !== prev.smoothing || shownStage(s) !== shownStage(prev)) schedule();
    });
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      unsubscribe();
      resize.disconnect();
      if (frame) cancelAnimationFrame(frame);
      plot.destroy();
    };
  }, [logScale, overlays]);

  return (
    <section className="panel chart-panel">
      <div className="chart-head">
        <h2>Loss</h2>
        <div className="tabs" role="tablist" aria-label="stage">
          {STAGES.map((st) => (
            <button
              key={st}
              type="button"
              role="tab"
              className={`tab ${st === stage ? 'active' : ''}`}
              aria-selected={st === stage}
              data-testid={`chart-stage-${st}`}
              data-points={points[st - 1]}
              title={STAGE_NAMES[st]}
              // Clicking the tab of the stage being followed keeps following; any other pins it.
              onClick={() => setChartStage(following && st === stage ? null : st)}
            >
              Stage {st}
              {lastLosses[st].lastLoss !== null ? <span className="tab-value">{fmtLoss(lastLosses[st].lastLoss)}</span> : null}
            </button>
          ))}
          {!following ? (
            <button type="button" className="tab follow" onClick={() => setChartStage(null)} title="Show whichever stage is running">
              follow the run
            </button>
          ) : null}
        </div>
        <div className="chart-controls">
          <label className="toggle">
            <input type="checkbox" data-testid="log-scale" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} />
            log scale
          </label>
          <label className="slider">
            smoothing
            <input
              type="range"
              data-testid="smoothing"
              min={0}
              max={0.99}
              step={0.01}
              value={smoothing}
              onChange={(e) => setSmoothing(Number(e.target.value))}
            />
            <output>{smoothing.toFixed(2)}</output>
          </label>
        </div>
      </div>
      <p className="muted small chart-caption">{LOSS_TEXT[stage]}</p>
      <div className="chart-wrap">
        <div className="chart" ref={box} data-testid="loss-chart" />
        {empty ? <div className="chart-empty">The stage {stage} loss is drawn here as the run reports it.</div> : null}
      </div>
    </section>
  );
}
