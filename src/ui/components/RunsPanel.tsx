import { useUi } from '../store';
import type { RunSummary } from '../../worker/api';
import { bytes, count, loss, tokens as fmtTokens } from '../../util/format';
import { deleteRun, evaluateRun, exportRun, resumeRun, toggleCompare } from '../engine-actions';

const STATUS_TEXT: Record<RunSummary['status'], string> = {
  running: 'running',
  paused: 'paused',
  stopped: 'stopped',
  finished: 'finished',
  failed: 'failed',
  interrupted: 'interrupted',
};

const STATUS_TITLE: Record<RunSummary['status'], string> = {
  running: 'training now',
  paused: 'paused at a step boundary',
  stopped: 'stopped: resumes from its last checkpoint',
  finished: 'every stage of its plan ended',
  failed: 'ended on an error: resumes from its last checkpoint',
  interrupted: 'the tab closed while it ran: resumes from its last checkpoint',
};

function when(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

function RunRow({ run }: { run: RunSummary }) {
  const comparing = useUi((s) => s.compare.includes(run.id));
  const busy = useUi((s) => s.runsBusy);
  const loading = useUi((s) => s.teacherLoading || s.corpusLoading || s.starting);
  const engineBusy = useUi((s) => s.run.running || s.exporting || s.evaluating);
  const fingerprint = useUi((s) => (s.teacher ? s.teacherFingerprint : null));
  const live = run.status === 'running' || run.status === 'paused';
  const blocked = loading || engineBusy || busy !== null;
  const needs = fingerprint === run.teacherFingerprint ? null : `needs its teacher ${run.teacher}`;
  const stage = run.stage ? `${run.stage} · ${count(run.step)} / ${count(run.steps)}` : '–';
  return (
    <tr data-testid="run-row" data-id={run.id} data-name={run.name} data-status={run.status} data-checkpoint={run.hasCheckpoint ? '1' : '0'} data-current={run.current ? '1' : '0'} className={run.current ? 'current' : undefined}>
      <td>
        <div className="run-name" title={run.id}>
          {run.name}
        </div>
        <div className="muted small">
          {run.teacher} · {run.corpus} · {when(run.created)}
        </div>
      </td>
      <td>{stage}</td>
      <td>{fmtTokens(run.tokens)}</td>
      <td data-testid="run-nll">{run.lastEval ? loss(run.lastEval.studentNll) : '–'}</td>
      <td>
        <span className={`badge ${run.status}`} title={STATUS_TITLE[run.status]} data-testid="run-status">
          {STATUS_TEXT[run.status]}
        </span>
        {run.exported ? <span className="muted small"> · exported</span> : null}
      </td>
      <td>{bytes(run.bytes)}</td>
      <td className="run-actions">
        <button
          type="button"
          className="button small"
          data-testid="run-resume"
          disabled={blocked || live || run.done || !run.hasCheckpoint}
          title={run.done ? 'every stage ended: nothing to resume' : !run.hasCheckpoint ? 'no checkpoint yet' : needs ? `${needs} (the built-in one loads by itself; any other: drop its folder)` : 'continue from its last checkpoint'}
          onClick={() => void resumeRun(run.id)}
        >
          Resume
        </button>
        <button type="button" className="button small secondary" data-testid="run-evaluate" disabled={blocked || !run.hasCheckpoint || (live && !run.current)} title={needs ?? 'held-out NLL of its student at its checkpoint'} onClick={() => void evaluateRun(run.id)}>
          Evaluate
        </button>
        <button type="button" className="button small secondary" data-testid="run-export" disabled={blocked || !run.hasCheckpoint} title={needs ?? `download ${run.name}.zip`} onClick={() => void exportRun(run.id)}>
          Export
        </button>
        <label className="toggle small" title="draw its curves over the current run's">
          <input type="checkbox" data-testid="run-compare" checked={comparing} onChange={() => void toggleCompare(run.id)} />
          compare
        </label>
        <button type="button" className="button small danger" data-testid="run-delete" disabled={loading || busy !== null || live} title={live ? 'training: stop it first' : `remove ${run.name} from this browser`} onClick={() => void deleteRun(run.id)}>
          Delete
        </button>
      </td>
    </tr>
  );
}

/** Every run kept in this browser, newest first, with what can be done with each. */
export function RunsPanel() {
  const runs = useUi((s) => s.runs);
  const unavailable = useUi((s) => s.runsUnavailable);
  const total = runs.reduce((a, r) => a + r.bytes, 0);
  return (
    <section className="panel runs-panel" data-testid="runs-panel" data-runs={runs.length}>
      <div className="panel-head">
        <h2>Runs</h2>
        <span className="muted small">
          {unavailable ?? `kept in this browser: ${runs.length} run${runs.length === 1 ? '' : 's'}, ${bytes(total)}`}
        </span>
      </div>
      {runs.length === 0 ? (
        <p className="muted small">No run yet: each run you start is kept here with its plan, curves, evaluations, checkpoint and student.</p>
      ) : (
        <div className="runs-scroll">
          <table className="runs-table">
            <thead>
              <tr>
                <th>run</th>
                <th>stage · step</th>
                <th>tokens</th>
                <th title="held-out NLL of the student at its last evaluation (nats/token)">last NLL</th>
                <th>state</th>
                <th>size</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <RunRow key={r.id} run={r} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
