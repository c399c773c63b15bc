import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import { AXIS_COLOR } from '../chart-options';
import { axisTicks, valueLabel } from '../ticks';
import { familyName, MIXER_FAMILIES, rowStates, type MixerFamily, type MixerLabRow } from '../../mohawk/mixer-lab-table';

const HEIGHT = 240;
const GRID = 'rgba(154, 164, 178, 0.12)';
/** One colour per family, the closest fits the warmest. */
const COLOR: Record<MixerFamily, string> = { toeplitz: '#9aa4b2', 'low-rank': '#60a5fa', ssd: '#2dd4bf', ssm: '#fbbf24' };
/** Dashes too: on a short or easy lab the three rank-N families can lie on top of each other. */
const DASH: Record<MixerFamily, number[] | undefined> = { toeplitz: undefined, 'low-rank': [10, 5], ssd: [3, 4], ssm: undefined };

function options(width: number): uPlot.Options {
  const axis = { stroke: AXIS_COLOR, grid: { stroke: GRID }, ticks: { stroke: GRID }, labelSize: 18 };
  return {
    width,
    height: HEIGHT,
    // Both axes logarithmic: the state sizes double, and the distances span orders of magnitude.
    scales: { x: { time: false, distr: 3, log: 2 }, y: { distr: 3, log: 10 } },
    // The table beside it holds the values: the legend only names the lines.
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    series: [
      { label: 'N', value: (_u, v) => valueLabel('int', v) },
      ...MIXER_FAMILIES.map((f) => ({ label: familyName(f), stroke: COLOR[f], dash: DASH[f], width: 2, points: { show: true, size: 6 }, value: (_u: uPlot, v: number | null) => valueLabel('linear', v) })),
    ],
    axes: [
      { ...axis, label: 'state size N', splits: (u: uPlot) => (u.data[0] as number[]).slice(), values: (_u: uPlot, s: number[]) => s.map(String) },
      { ...axis, label: 'mean ‖M − A‖_F', size: 60, ...axisTicks('log', 30) },
    ],
  };
}

/** The lab's mean distance per family (a line each) over the state size N, both axes logarithmic. */
export function MixerLabChart({ rows }: { rows: readonly MixerLabRow[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current!;
    const width = () => Math.max(240, el.clientWidth);
    const states = rowStates(rows);
    const at = (f: MixerFamily, N: number) => rows.find((r) => r.family === f && r.states === N)?.distance ?? null;
    const data = [states, ...MIXER_FAMILIES.map((f) => states.map((N) => at(f, N)))] as uPlot.AlignedData;
    const plot = new uPlot(options(width()), data, el);
    // For tests and tools: what the chart shows.
    el.dataset.points = String(states.length);
    el.dataset.series = String(MIXER_FAMILIES.length);
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [rows]);
  return <div className="chart mixer-lab-chart" ref={box} data-testid="mixer-lab-chart" />;
}
