import { useEffect, useMemo, useRef, useState } from 'react';
import { useUi } from '../store';
import {
  RDBU,
  VIRIDIS,
  causalFrobenius,
  causalMaxAbs,
  causalPixels,
  cssGradient,
  difference,
  divergingColor,
  expand,
  sequentialColor,
  type Rgb,
} from '../heatmap';
import { loss as fmt } from '../../util/format';
import { showMixing } from '../engine-actions';
import { followRun } from '../mixing-live';

/** Attention spans decades within a row; see `compress`. */
const MATRIX_K = 1000;
/** Differences concentrate near 0 with a few large ones; a milder lift keeps those apart. */
const DIFF_K = 100;

interface Hover {
  i: number;
  j: number;
}

function MatrixCanvas(props: {
  testId: string;
  title: string;
  values: Float32Array;
  L: number;
  color: (v: number) => Rgb;
  onHover(h: Hover | null): void;
}) {
  const { testId, title, values, L, color, onHover } = props;
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current!;
    c.width = L;
    c.height = L;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.putImageData(new ImageData(causalPixels(values, L, color), L, L), 0, 0);
    c.dataset.drawn = '1';
  }, [values, L, color]);
  const at = (e: React.MouseEvent<HTMLCanvasElement>): Hover | null => {
    const r = e.currentTarget.getBoundingClientRect();
    const j = Math.floor(((e.clientX - r.left) / r.width) * L);
    const i = Math.floor(((e.clientY - r.top) / r.height) * L);
    return i >= 0 && i < L && j >= 0 && j <= i ? { i, j } : null;
  };
  return (
    <figure className="heatmap">
      <figcaption>{title}</figcaption>
      <canvas ref={ref} data-testid={testId} data-drawn="0" onMouseMove={(e) => onHover(at(e))} onMouseLeave={() => onHover(null)} />
    </figure>
  );
}

/** Teacher attention, student SSD matrix and their difference for the selected (layer, head). */
export function Heatmaps() {
  const sample = useUi((s) => s.mixing);
  const selected = useUi((s) => s.selected);
  const pending = useUi((s) => s.mixingPending);
  const at = useUi((s) => s.mixingAt);
  const note = useUi((s) => s.mixingNote);
  const running = useUi((s) => s.run.running && !s.run.paused);
  // The grid's live value of this cell (on the training batch), beside the sample's.
  const gridValue = useUi((s) => (s.selected && s.distances ? (s.distances.values[s.selected.layer * s.distances.heads + s.selected.head] ?? NaN) : NaN));
  const [hover, setHover] = useState<Hover | null>(null);
  // The open cell's matrices are read again as the run trains.
  useEffect(() => followRun(), []);

  const view = useMemo(() => {
    if (!sample) return null;
    const { L, teacher, student } = sample;
    const diff = difference(student, teacher);
    const max = causalMaxAbs(L, teacher, student);
    const maxDiff = causalMaxAbs(L, diff);
    return {
      L,
      teacher,
      student,
      diff,
      max,
      maxDiff,
      norm: causalFrobenius(L, diff),
      seq: (v: number) => sequentialColor(v, max, MATRIX_K),
      div: (v: number) => divergingColor(v, maxDiff, DIFF_K),
    };
  }, [sample]);

  if (!selected) return <p className="muted small heatmap-empty">Click a cell of the grid to compare its matrices on a held-out sample.</p>;
  const stale = view && sample && (sample.layer !== selected.layer || sample.head !== selected.head);
  const v = (a: Float32Array, h: Hover) => fmt(a[h.i * view!.L + h.j]);
  return (
    <div
      className={`heatmaps ${pending || stale ? 'pending' : ''}`}
      data-testid="heatmaps"
      data-layer={sample?.layer ?? ''}
      data-head={sample?.head ?? ''}
      data-at={at ? `${at.stage}:${at.step}` : ''}
    >
      <div className="heatmaps-head">
        <span>
          <b>
            Layer {selected.layer}, head {selected.head}
          </b>
          {view ? <span className="muted small"> · {view.L} tokens · ‖student − teacher‖_F = {fmt(view.norm)}</span> : null}
          {Number.isFinite(gridValue) ? <span className="muted small"> · on the training batch {fmt(gridValue)}</span> : null}
          <span className="muted small" data-testid="heatmap-at">
            {at ? ` · as of stage ${at.stage}, step ${at.step}` : ''}
            {running ? (note ? ` · not following the run: ${note}` : ' · follows the run') : ''}
          </span>
        </span>
        <button type="button" className="button secondary small-button" data-testid="heatmap-refresh" disabled={pending} onClick={() => void showMixing(selected.layer, selected.head)}>
          {pending ? 'Reading…' : 'Refresh'}
        </button>
      </div>
      {view ? (
        <>
          <div className="heatmap-row">
            <MatrixCanvas testId="heatmap-teacher" title="Teacher attention" values={view.teacher} L={view.L} color={view.seq} onHover={setHover} />
            <MatrixCanvas testId="heatmap-student" title="Student SSD matrix" values={view.student} L={view.L} color={view.seq} onHover={setHover} />
            <MatrixCanvas testId="heatmap-diff" title="Student − teacher" values={view.diff} L={view.L} color={view.div} onHover={setHover} />
          </div>
          <div className="heatmap-legends">
            <div className="legend span-2">
              <span className="muted small">0</span>
              <span className="legend-bar" style={{ background: cssGradient(VIRIDIS) }} />
              <span className="muted small">{fmt(view.max)}</span>
              <span className="muted small legend-note">log-like scale: the middle is {fmt(expand(0.5, MATRIX_K) * view.max)}; values below 0 as 0</span>
            </div>
            <div className="legend">
              <span className="muted small">−{fmt(view.maxDiff)}</span>
              <span className="legend-bar" style={{ background: cssGradient(RDBU) }} />
              <span className="muted small">+{fmt(view.maxDiff)}</span>
            </div>
          </div>
          <p className="muted small hover-readout" data-testid="heatmap-readout">
            {hover
              ? `query ${hover.i}, key ${hover.j}: teacher ${v(view.teacher, hover)} · student ${v(view.student, hover)} · difference ${v(view.diff, hover)}`
              : 'rows are query positions, columns key positions; hover for values'}
          </p>
        </>
      ) : (
        <p className="muted small">{pending ? 'Reading the matrices…' : 'No sample yet.'}</p>
      )}
    </div>
  );
}
