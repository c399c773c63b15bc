import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import { useUi } from '../store';
import { VIRIDIS, cssColor, interpolate } from '../heatmap';
import { AXIS_COLOR } from '../chart-options';
import { axisTicks, valueLabel } from '../ticks';
import { loss as fmt } from '../../util/format';

const HEIGHT = 220;
const GRID = 'rgba(154, 164, 178, 0.12)';

/** Layer l of n on viridis, leaving out its darkest fifth (a line on the dark panel must show). */
const layerColor = (l: number, n: number) => cssColor(interpolate(VIRIDIS, 0.2 + (0.8 * l) / Math.max(1, n - 1)));

function options(width: number, layers: number): uPlot.Options {
  const axis = { stroke: AXIS_COLOR, grid: { stroke: GRID }, ticks: { stroke: GRID }, labelSize: 18 };
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: false } },
    legend: { show: true, live: true },
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: 'stage-1 step', value: (_u, v) => valueLabel('int', v) },
      ...Array.from({ length: layers }, (_, l) => ({ label: `layer ${l}`, stroke: layerColor(l, layers), width: 1.5, points: { show: false }, value: (_u: uPlot, v: number | null) => fmt(v) })),
    ],
    axes: [
      { ...axis, label: 'stage-1 step', ...axisTicks('int', 70) },
      { ...axis, label: 'mean ‖T − A‖_F', size: 56, ...axisTicks('linear', 30) },
    ],
  };
}

/** Each layer's stage-1 distance (mean over its heads) at every reported step: which layers are still far from their teacher. */
export function LayerDistanceChart() {
  const box = useRef<HTMLDivElement>(null);
  // The series grow in place; their layer count decides the plot's lines, their length whether there is anything to draw.
  const layers = useUi((s) => s.layerDistances.layers.length);
  const points = useUi((s) => (s.distances ? s.layerDistances.step.length : 0));

  useEffect(() => {
    const el = box.current!;
    const width = () => Math.max(220, el.clientWidth);
    const plot = new uPlot(options(width(), layers), [[], ...Array.from({ length: layers }, () => [])], el);
    let frame = 0;
    const draw = () => {
      frame = 0;
      const d = useUi.getState().layerDistances;
      if (d.layers.length !== layers) return;
      plot.setData([d.step.slice(), ...d.layers.map((c) => c.slice())] as uPlot.AlignedData);
      // For tests and tools: what the chart shows.
      el.dataset.points = String(d.step.length);
      el.dataset.layers = String(layers);
      el.dataset.lastStep = d.step.length ? String(d.step[d.step.length - 1]) : '';
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(draw);
    };
    draw();
    const unsubscribe = useUi.subscribe((s, prev) => {
      if (s.distances !== prev.distances || s.layerDistances !== prev.layerDistances) schedule();
    });
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: HEIGHT }));
    resize.observe(el);
    return () => {
      unsubscribe();
      resize.disconnect();
      if (frame) cancelAnimationFrame(frame);
      plot.destroy();
    };
  }, [layers]);

  return (
    <div className="layer-distances">
      <div className="chart-wrap">
        <div className="chart layer-chart" ref={box} data-testid="layer-distance-chart" />
        {points === 0 ? <div className="chart-empty">Stage 1 reports each layer’s distance here as it trains.</div> : null}
      </div>
    </div>
  );
}
