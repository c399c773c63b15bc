import { useRef } from 'react';
import type uPlot from 'uplot';
import type { Stage } from '../../mohawk/plan';
import { STAGES, STAGE_NAMES } from '../../mohawk/plan';
import { chartView, useUi } from '../store';
import type { XAxis } from '../chart-data';
import { downloadRunCsv, downloadRunPng } from '../chart-export';
import { RUN_CHARTS, useRunPlots, xLabel } from './use-run-plots';
import { loss as fmtLoss } from '../../util/format';

/** What each stage's loss measures. */
const LOSS_TEXT: Record<Stage, string> = {
  1: 'mean over heads of ‖student SSD matrix − teacher attention‖_F',
  2: 'mean over tokens of ‖student mixer output − teacher attention output‖₂',
  3: 'soft cross-entropy against the teacher’s logits (nats/token)',
};

const X_NAMES: Record<XAxis, string> = { step: 'steps', tokens: 'tokens', time: 'wall time' };

/** The run's loss, learning rate and gradient norm: the whole run stage after stage (or one stage), on steps, tokens or wall time. */
export function RunCharts() {
  const lossBox = useRef<HTMLDivElement>(null);
  const lrBox = useRef<HTMLDivElement>(null);
  const gradBox = useRef<HTMLDivElement>(null);
  const plots = useRef<uPlot[]>([]);
  const logScale = useUi((s) => s.logScale);
  const smoothing = useUi((s) => s.smoothing);
  const setLogScale = useUi((s) => s.setLogScale);
  const setSmoothing = useUi((s) => s.setSmoothing);
  const view = useUi(chartView);
  const setChartStage = useUi((s) => s.setChartStage);
  const x = useUi((s) => s.chartX);
  const setChartX = useUi((s) => s.setChartX);
  const planned = useUi((s) => s.plan.stages);
  // The series grow in place, so their lengths (joined into one comparable value) are what changes.
  const points = useUi((s) => STAGES.map((st) => s.series[st].step.length).join(',')).split(',').map(Number);
  const lastLosses = useUi((s) => s.stages);
  const overlays = useUi((s) => s.overlays);
  useRunPlots([lossBox, lrBox, gradBox], plots, { logScale, overlays, x, view });

  const total = points.reduce((a, b) => a + b, 0);
  const shown = view === 'run' ? total : points[view - 1]!;
  const captionStages = view === 'run' ? STAGES.filter((st) => planned.includes(st) || points[st - 1]! > 0) : [view];
  const subtitle = () =>
    [view === 'run' ? 'whole run' : `stage ${view} alone`, `x: ${xLabel(x, view)}`, logScale ? 'log scale' : 'linear scale', `smoothing ${smoothing.toFixed(2)}`, ...(overlays.length ? [`compared with ${overlays.map((o) => o.name).join(', ')}`] : [])].join(' · ');

  return (
    <section className="panel chart-panel" data-testid="run-charts">
      <div className="chart-head">
        <h2>Curves</h2>
        <div className="tabs" role="tablist" aria-label="what the charts show">
          <button type="button" role="tab" className={`tab ${view === 'run' ? 'active' : ''}`} aria-selected={view === 'run'} data-testid="chart-run" data-points={total} title="every stage, one after another" onClick={() => setChartStage(null)}>
            Whole run
          </button>
          {STAGES.map((st) => (
            <button
              key={st}
              type="button"
              role="tab"
              className={`tab ${st === view ? 'active' : ''}`}
              aria-selected={st === view}
              data-testid={`chart-stage-${st}`}
              data-points={points[st - 1]}
              title={`${STAGE_NAMES[st]} alone`}
              onClick={() => setChartStage(st === view ? null : st)}
            >
              Stage {st}
              {lastLosses[st].lastLoss !== null ? <span className="tab-value">{fmtLoss(lastLosses[st].lastLoss)}</span> : null}
            </button>
          ))}
        </div>
        <div className="chart-controls">
          <label className="toggle">
            x
            <select data-testid="chart-x" value={x} onChange={(e) => setChartX(e.target.value as XAxis)}>
              {(Object.keys(X_NAMES) as XAxis[]).map((k) => (
                <option key={k} value={k}>
                  {X_NAMES[k]}
                </option>
              ))}
            </select>
          </label>
          <label className="toggle">
            <input type="checkbox" data-testid="log-scale" checked={logScale} onChange={(e) => setLogScale(e.target.checked)} />
            log scale
          </label>
          <label className="slider">
            smoothing
            <input type="range" data-testid="smoothing" min={0} max={0.99} step={0.01} value={smoothing} onChange={(e) => setSmoothing(Number(e.target.value))} />
            <output>{smoothing.toFixed(2)}</output>
          </label>
          <button type="button" className="button secondary small-button" data-testid="chart-csv" disabled={total === 0} title="every step of the run: stage, step, tokens, wall time, loss, grad norm, learning rate" onClick={() => void downloadRunCsv()}>
            CSV
          </button>
          <button type="button" className="button secondary small-button" data-testid="chart-png" disabled={total === 0 && overlays.length === 0} title="the charts as shown, in one image" onClick={() => void downloadRunPng(plots.current, subtitle())}>
            PNG
          </button>
        </div>
      </div>
      <p className="muted small chart-caption">
        {captionStages.map((st, i) => (
          <span key={st}>
            {i > 0 ? ' · ' : ''}
            {captionStages.length > 1 ? `stage ${st}: ` : ''}
            {LOSS_TEXT[st]}
          </span>
        ))}
      </p>
      <div className="chart-wrap">
        <div className="chart" ref={lossBox} data-testid={RUN_CHARTS[0]!.testId} />
        {shown === 0 ? <div className="chart-empty">{view === 'run' ? 'The loss of each stage is drawn here as the run reports it.' : `The stage ${view} loss is drawn here as the run reports it.`}</div> : null}
      </div>
      <div className="chart small-chart" ref={lrBox} data-testid={RUN_CHARTS[1]!.testId} />
      <div className="chart small-chart" ref={gradBox} data-testid={RUN_CHARTS[2]!.testId} />
      <p className="muted small chart-caption">Drag across a chart to zoom all three; double-click to see the whole again.</p>
    </section>
  );
}
