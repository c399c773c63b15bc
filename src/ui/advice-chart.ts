// The hybrid advisor's ranking as the page charts it: each layer's score as a bar, coloured by whether
// the layer keeps its attention in the choice now on the page (the advisor's, or the user's edit), with
// the two kinds of evidence the score weighs, each as the layer's share of it, as points over the bars;
// and where the greedy method chose, the layer's share of the KL gain on its stage-3 probe, which decided.
import uPlot from 'uplot';
import { klGains, KL_WEIGHT, relativeResiduals, type HybridAdvice } from '../mohawk/hybrid-advisor';
import { AXIS_COLOR } from './chart-options';
import { axisTicks, valueLabel } from './ticks';

const GRID = 'rgba(154, 164, 178, 0.12)';
export const KEPT_COLOR = '#fbbf24';
const MIXER_COLOR = 'rgba(96, 165, 250, 0.55)';
const KL_COLOR = '#f472b6';
const RESIDUAL_COLOR = '#2dd4bf';
const WARM_COLOR = '#a78bfa';

/** The chart's columns: x is the layer; a score sits in `kept` or `mixer` (the other null). */
export interface AdviceBars {
  layers: number[];
  kept: (number | null)[];
  mixer: (number | null)[];
  /** Each layer's share of the leave-one-out KL gain and of the relative stage-2 residual, the two the score weighs (0 when the kind is 0 everywhere). */
  klShare: number[];
  residualShare: number[];
  /** The greedy method's: each layer's share of the KL gain of restoring it alone on the stage-3 probe; null without that probe. */
  warmShare: number[] | null;
}

/** Shares of a sum (0 everywhere when it is 0). */
const shares = (v: number[]) => {
  const t = v.reduce((x, y) => x + y, 0);
  return v.map((x) => (t > 0 ? x / t : 0));
};

export function adviceBars(a: HybridAdvice, keep: readonly number[]): AdviceBars {
  const layers = a.scores.map((_, l) => l);
  const warm = a.evidence.warm;
  return {
    layers,
    kept: a.scores.map((s, l) => (keep.includes(l) ? s : null)),
    mixer: a.scores.map((s, l) => (keep.includes(l) ? null : s)),
    klShare: shares(klGains(a.evidence)),
    residualShare: shares(relativeResiduals(a.evidence)),
    warmShare: warm ? shares(klGains(warm)) : null,
  };
}

export function adviceData(b: AdviceBars): uPlot.AlignedData {
  return [b.layers, b.kept, b.mixer, b.klShare, b.residualShare, ...(b.warmShare ? [b.warmShare] : [])] as uPlot.AlignedData;
}

/** The chart of `layers` layers; `warm`: with the greedy method's series (adviceBars' warmShare). */
export function adviceOptions(width: number, height: number, layers: number, warm = false): uPlot.Options {
  const axis = { stroke: AXIS_COLOR, grid: { stroke: GRID }, ticks: { stroke: GRID }, labelSize: 18 };
  const bars = uPlot.paths.bars!({ size: [0.6, 48] });
  const share = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)}%`);
  const dots = (label: string, color: string) => ({ label, stroke: color, width: 0, paths: () => null, points: { show: true, size: 9, stroke: color, fill: color }, value: (_u: uPlot, v: number | null) => share(v) });
  return {
    width,
    height,
    scales: { x: { time: false, range: [-0.5, layers - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(0.05, max * 1.1)] } },
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    series: [
      { label: 'layer', value: (_u, v) => valueLabel('int', v) },
      { label: 'score, kept as attention', fill: KEPT_COLOR, stroke: KEPT_COLOR, width: 0, paths: bars, points: { show: false }, value: (_u, v) => share(v) },
      { label: 'score, Mamba', fill: MIXER_COLOR, stroke: MIXER_COLOR, width: 0, paths: bars, points: { show: false }, value: (_u, v) => share(v) },
      dots(`KL gain share (× ${KL_WEIGHT})`, KL_COLOR),
      dots(`relative stage-2 residual share (× ${1 - KL_WEIGHT})`, RESIDUAL_COLOR),
      ...(warm ? [dots("KL gain share on the stage-3 probe (greedy's first round)", WARM_COLOR)] : []),
    ],
    axes: [
      { ...axis, label: 'layer', ...axisTicks('int', 40) },
      { ...axis, label: 'share of the evidence', size: 56, values: (_u, splits) => splits.map((v) => `${Math.round(100 * v)}%`) },
    ],
  };
}
