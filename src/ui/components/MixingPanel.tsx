import { MixingGrid } from './MixingGrid';
import { LayerDistanceChart } from './LayerDistanceChart';
import { Heatmaps } from './Heatmaps';

export function MixingPanel() {
  return (
    <section className="panel" data-testid="mixing-panel">
      <div className="panel-head">
        <h2>Mixing matrices</h2>
        <span className="muted small">stage-1 distance per layer and head, updated live</span>
      </div>
      <div className="mixing-row">
        <MixingGrid />
        <LayerDistanceChart />
      </div>
      <Heatmaps />
    </section>
  );
}
