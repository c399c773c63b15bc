import { useUi } from '../store';
import { cancelLab, labErrors, labFraction, parseStates, runLab, setLabSettings, useMixerLab } from '../mixer-lab';
import { NumberField } from './NumberField';
import { MixerLabChart } from './MixerLabChart';
import { checkFinding, familyName, labCaveats, MIXER_FAMILIES, rowStates, type MixerLabRow } from '../../mohawk/mixer-lab-table';
import type { MixerLabResult } from '../../worker/api';

const cell = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : x < 0.01 ? x.toExponential(2) : x.toFixed(3));

function Table({ result, perLayer }: { result: MixerLabResult; perLayer: boolean }) {
  const states = rowStates(result.rows);
  const at = (f: string, N: number): MixerLabRow | undefined => result.rows.find((r) => r.family === f && r.states === N);
  const layers = result.options.layers;
  return (
    <>
      <table className="cost-table mixer-lab-table" data-testid="mixer-lab-table">
        <thead>
          <tr>
            <th>family</th>
            {states.map((N) => (
              <th key={N}>N={N}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {MIXER_FAMILIES.map((f) => (
            <tr key={f} data-testid={`mixer-lab-row-${f}`}>
              <td>{familyName(f)}</td>
              {states.map((N) => (
                <td key={N} data-value={at(f, N)?.distance}>
                  {cell(at(f, N)?.distance)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {perLayer ? (
        <table className="cost-table mixer-lab-table" data-testid="mixer-lab-layers">
          <thead>
            <tr>
              <th>family</th>
              <th>N</th>
              {layers.map((l) => (
                <th key={l}>layer {l}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {MIXER_FAMILIES.flatMap((f) =>
              states.map((N) => (
                <tr key={`${f}/${N}`}>
                  <td>{familyName(f)}</td>
                  <td>{N}</td>
                  {layers.map((l) => (
                    <td key={l}>{cell(at(f, N)?.layers[String(l)])}</td>
                  ))}
                </tr>
              )),
            )}
            <tr className="muted">
              <td colSpan={2}>‖A‖_F</td>
              {layers.map((l) => (
                <td key={l}>{cell(result.targetNorm.layers[String(l)])}</td>
              ))}
            </tr>
          </tbody>
        </table>
      ) : null}
    </>
  );
}

/**
 * The mixer lab (the MOHAWK paper's Table 3) on the loaded teacher and corpus: how closely Toeplitz,
 * low-rank, SSD and general diagonal SSM mixers of each state size fit the teacher's attention
 * matrices on held-out sequences.
 */
export function MixerLabPanel() {
  const lab = useMixerLab();
  const teacher = useUi((s) => s.teacher);
  const gpu = useUi((s) => s.gpu);
  const busy = useUi((s) => s.run.running || s.starting || s.teacherLoading || s.corpusLoading);
  const running = lab.status === 'running';
  const errors = labErrors(lab.settings, teacher?.maxPositions ?? null);
  const states = parseStates(lab.settings.states);
  const result = lab.result && lab.teacher === teacher ? lab.result : null;
  const finding = result ? checkFinding(result.rows) : null;
  const p = lab.progress;
  const fraction = p && typeof states !== 'string' ? labFraction(p, states) : 0;
  return (
    <section className="panel" data-testid="mixer-lab" data-state={lab.status}>
      <div className="panel-head">
        <h2>Mixer lab</h2>
        <span className="muted small">which subquadratic mixer can express this teacher's attention (the paper's Table 3)</span>
      </div>
      <p className="muted small">
        Each family's factors are fitted by Adam, for a fixed number of steps, to every (sequence, layer, head) attention matrix of
        held-out sequences; the distance is ‖M − A‖_F after the last step, averaged over the matrices.
      </p>
      <form
        className="run-row mixer-lab-form"
        onSubmit={(e) => {
          e.preventDefault();
          void runLab();
        }}
      >
        <label className="field">
          <span className="field-label">state sizes N</span>
          <input type="text" data-testid="mixer-lab-states" value={lab.settings.states} disabled={running} aria-invalid={errors.states ? true : undefined} onChange={(e) => setLabSettings({ states: e.target.value })} />
          <span className={`field-hint ${errors.states ? 'invalid' : ''}`}>{errors.states ?? 'comma-separated'}</span>
        </label>
        <NumberField testId="mixer-lab-steps" label="steps" hint="Adam steps per fit" value={lab.settings.steps} bounds={{ min: 1, max: 100000, integer: true, step: 1 }} disabled={running} onValue={(steps) => setLabSettings({ steps })} />
        <NumberField testId="mixer-lab-samples" label="sequences" hint="held-out, K" value={lab.settings.samples} bounds={{ min: 1, max: 1024, integer: true, step: 1 }} disabled={running} onValue={(samples) => setLabSettings({ samples })} />
        <NumberField
          testId="mixer-lab-seq"
          label="tokens"
          hint="per sequence, L"
          value={lab.settings.seqLen}
          bounds={{ min: 2, max: teacher?.maxPositions ?? 1 << 16, integer: true, step: 1 }}
          disabled={running}
          onValue={(seqLen) => setLabSettings({ seqLen })}
          problem={errors.seqLen}
        />
        {running ? (
          <button type="button" className="button secondary" data-testid="mixer-lab-cancel" onClick={() => void cancelLab()}>
            Cancel
          </button>
        ) : (
          <button type="submit" className="button" data-testid="mixer-lab-run" disabled={!teacher || !gpu || busy || Object.keys(errors).length > 0}>
            Run the lab
          </button>
        )}
      </form>
      {!teacher ? <p className="muted small">Load a teacher to run the lab on its attention.</p> : null}
      {gpu?.software && teacher ? (
        <p className="small cost-warning">CPU adapter: keep the lab small here (state sizes 4,8,16 over one sequence of 64 tokens, 100 steps, take about five minutes).</p>
      ) : null}
      {typeof states !== 'string'
        ? labCaveats(states, lab.settings.seqLen).map((c) => (
            <p key={c} className="small cost-warning" data-testid="mixer-lab-caveat">
              {c}.
            </p>
          ))
        : null}
      {running ? (
        <div className="cost-measuring" data-testid="mixer-lab-progress" data-fraction={fraction}>
          <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={1} aria-valuenow={fraction}>
            <div className="progress-fill" style={{ width: `${(100 * fraction).toFixed(0)}%` }} />
          </div>
          <span className="muted small">
            {p
              ? `${familyName(p.family)}${p.states === null ? '' : ` N=${p.states}`}: step ${p.step} of ${p.steps}, distance ${cell(p.distance)}${p.batches > 1 ? ` (batch ${p.batch + 1} of ${p.batches})` : ''}`
              : 'reading the held-out sequences and the teacher’s attention…'}
          </span>
        </div>
      ) : null}
      {lab.status === 'failed' || lab.status === 'cancelled' ? (
        <p className={`small ${lab.status === 'failed' ? 'invalid-text' : 'muted'}`} data-testid="mixer-lab-message">
          {lab.status === 'failed' ? `The lab failed: ${lab.message}` : `Cancelled (${lab.message}).`}
        </p>
      ) : null}
      {result ? (
        <div className="mixer-lab-result" data-testid="mixer-lab-result">
          <p className="muted small">
            {result.matrices} attention matrices per fit ({result.options.samples} × {result.options.seqLen} tokens, {result.options.layers.length} layers × {result.matrices / result.options.samples / result.options.layers.length}{' '}
            heads), {result.options.steps} steps, {result.seconds.toFixed(0)} s. ‖A‖_F itself: {cell(result.targetNorm.mean)}.
          </p>
          <Table result={result} perLayer={lab.perLayer} />
          <label className="field toggle-field">
            <input type="checkbox" data-testid="mixer-lab-per-layer" checked={lab.perLayer} onChange={(e) => useMixerLab.setState({ perLayer: e.target.checked })} />
            <span>per layer</span>
          </label>
          {finding ? (
            <p className="small" data-testid="mixer-lab-finding" data-ordered={finding.ordered} data-falling={finding.falling}>
              SSM &lt; SSD &lt; low-rank &lt; Toeplitz at every N: <b>{finding.ordered ? 'yes' : 'no'}</b>; closer as N grows: <b>{finding.falling ? 'yes' : 'no'}</b>
              {finding.problems.length ? ` (${finding.problems.join('; ')})` : ''}. The paper (Llama-2-7B, 512 tokens) has SSM &lt; SSD &lt; low-rank ≪ Toeplitz.
            </p>
          ) : null}
          <MixerLabChart rows={result.rows} />
        </div>
      ) : null}
    </section>
  );
}
