import { useUi } from '../store';
import { VIRIDIS, cssColor, cssGradient, sequentialColor } from '../heatmap';
import { loss as fmt } from '../../util/format';
import { showMixing } from '../engine-actions';

/** The grid is coloured linearly: distances differ by small factors across layers, not by decades. */
const GRID_K = 0;

/** Stage-1 distance ‖T_student − A_teacher‖_F per (layer, head), coloured on one scale for the whole grid. */
export function MixingGrid() {
  const teacher = useUi((s) => s.teacher);
  const distances = useUi((s) => s.distances);
  const selected = useUi((s) => s.selected);
  const attention = useUi((s) => s.plan.attentionLayers);
  if (!teacher && !distances) return <p className="muted small">Load a teacher to see its layers and heads.</p>;
  // Before the first measurement the grid still shows the teacher's shape, so a cell can be opened.
  const layers = distances?.layers ?? teacher!.layers;
  const heads = distances?.heads ?? teacher!.heads;
  const values = distances?.values ?? new Array<number>(layers * heads).fill(NaN);
  const finite = values.filter(Number.isFinite);
  const max = finite.length ? Math.max(...finite) : 0;
  const min = finite.length ? Math.min(...finite) : 0;
  return (
    <div className="grid-wrap">
      <div
        className="mixing-grid"
        data-testid="mixing-grid"
        data-layers={layers}
        data-heads={heads}
        data-measured={finite.length}
        style={{ gridTemplateColumns: `auto repeat(${heads}, minmax(12px, 36px))` }}
      >
        <span className="grid-corner muted small">layer \ head</span>
        {Array.from({ length: heads }, (_, h) => (
          <span key={`h${h}`} className="grid-label col muted small">
            {h}
          </span>
        ))}
        {Array.from({ length: layers }, (_, l) => [
          <span key={`l${l}`} className="grid-label row muted small">
            {l}
            {attention.includes(l) ? ' attn' : ''}
          </span>,
          ...Array.from({ length: heads }, (_, h) => {
            const v = values[l * heads + h];
            const measured = Number.isFinite(v);
            const isSel = selected?.layer === l && selected?.head === h;
            return (
              <button
                key={`${l}.${h}`}
                type="button"
                className={`grid-cell ${measured ? '' : 'unmeasured'} ${isSel ? 'selected' : ''}`}
                data-testid="grid-cell"
                data-layer={l}
                data-head={h}
                data-value={measured ? String(v) : ''}
                style={measured ? { background: cssColor(sequentialColor(v, max, GRID_K)) } : undefined}
                title={`layer ${l}, head ${h}: ${measured ? fmt(v) : 'not measured yet'}`}
                aria-label={`layer ${l} head ${h}`}
                aria-pressed={isSel}
                onClick={() => void showMixing(l, h)}
              />
            );
          }),
        ])}
      </div>
      <div className="legend">
        <span className="muted small">0</span>
        <span className="legend-bar" style={{ background: cssGradient(VIRIDIS) }} />
        <span className="muted small" data-testid="grid-max">
          {finite.length ? fmt(max) : '–'}
        </span>
        <span className="muted small legend-note">
          {finite.length ? `‖T − A‖_F per head, ${fmt(min)} to ${fmt(max)}; click a cell for its matrices` : 'not measured yet: stage 1 reports it'}
        </span>
      </div>
    </div>
  );
}
