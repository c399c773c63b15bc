import { useEffect } from 'react';
import { STAGE_SHORT } from '../../mohawk/plan';
import { costStages } from '../../mohawk/calibrate';
import { bytes, count, roughDuration } from '../../util/format';
import { cancelCost, currentEstimate, measureCost, useCost, watchCost } from '../cost';
import { useUi } from '../store';

/** Time and GPU memory of the plan in the form, per stage and in all, measured on this adapter before Start. */
export function CostPanel() {
  const cost = useCost();
  const plan = useUi((s) => s.plan);
  const teacher = useUi((s) => s.teacher);
  const gpu = useUi((s) => s.gpu);
  const busy = useUi((s) => s.run.running || s.starting || s.teacherLoading);
  useEffect(() => watchCost(), []);
  const est = currentEstimate(cost, { plan, teacher });
  const state = est ? 'measured' : cost.status === 'measured' ? 'idle' : cost.status;
  const cal = cost.calibration;
  return (
    <section className="panel cost" data-testid="cost-panel" data-state={state}>
      <h2>Cost on this adapter</h2>
      {gpu?.software ? (
        <p className="small cost-warning" data-testid="cost-cpu-warning">
          <b>CPU adapter</b> ({[gpu.vendor, gpu.architecture].filter(Boolean).join(' · ')}): the GPU is emulated on the processor, so these
          times are hundreds of times longer than on a GPU. Keep plans tiny here.
        </p>
      ) : null}
      {!teacher ? (
        <p className="muted small">Load a teacher: a few steps of each stage are then timed here, on the plan's shapes.</p>
      ) : est ? (
        <>
          <table className="cost-table" data-testid="cost-table">
            <thead>
              <tr>
                <th>stage</th>
                <th>steps</th>
                <th>time</th>
                <th>GPU memory</th>
              </tr>
            </thead>
            <tbody>
              {costStages(est).map((s) => (
                <tr key={s} data-testid={`cost-stage-${s}`} data-seconds={est.stages[s]!.seconds} data-bytes={est.stages[s]!.peakBytes}>
                  <td>
                    <b>{s}</b> {STAGE_SHORT[s]}
                  </td>
                  <td>{count(est.stages[s]!.steps)}</td>
                  <td>{roughDuration(est.stages[s]!.seconds)}</td>
                  <td>{bytes(est.stages[s]!.peakBytes)}</td>
                </tr>
              ))}
              {est.advisor ? (
                <tr
                  className="muted"
                  data-testid="cost-advisor"
                  data-seconds={est.advisor.seconds}
                  title={`Before stage 3 the hybrid advisor (auto:${plan.attentionAuto}) runs ${
                    est.advisor.probes === 0
                      ? 'no stage-3 probe (it would take more than a quarter of stage 3: the score chooses)'
                      : `${est.advisor.probes === 1 ? 'one stage-3 probe' : `up to ${est.advisor.probes} stage-3 probes`} of ${est.advisor.stepsEach} steps`
                  }${est.advisor.stages12[1] + est.advisor.stages12[2] > 0 ? `, a probe of stages 1–2 (${est.advisor.stages12[1]} + ${est.advisor.stages12[2]} steps${est.advisor.unmeasured ? ', not timed: the plan runs neither stage' : ''})` : ''} and ${est.advisor.forwards} model passes over the held-out documents; its tokens come on top of the plan's.`}
                >
                  <td>hybrid advisor</td>
                  <td>{count(est.advisor.probes * est.advisor.stepsEach + est.advisor.stages12[1] + est.advisor.stages12[2])}</td>
                  <td>
                    {roughDuration(est.advisor.seconds)}
                    {est.advisor.unmeasured ? '+' : ''}
                  </td>
                  <td />
                </tr>
              ) : null}
              <tr className="muted">
                <td colSpan={2}>setup</td>
                <td>{roughDuration(est.setupSeconds)}</td>
                <td />
              </tr>
              <tr className="muted" data-testid="cost-evaluations" data-seconds={est.evalSeconds}>
                <td colSpan={2}>{est.evaluations} held-out evaluations</td>
                <td>{roughDuration(est.evalSeconds)}</td>
                <td>{bytes(cal!.evalPeakBytes)}</td>
              </tr>
              <tr className="cost-total" data-testid="cost-total" data-seconds={est.totalSeconds} data-bytes={est.peakBytes}>
                <td colSpan={2}>
                  <b>in all</b>
                </td>
                <td>
                  <b>{roughDuration(est.totalSeconds)}</b>
                </td>
                <td>
                  <b>{bytes(est.peakBytes)}</b>
                </td>
              </tr>
            </tbody>
          </table>
          <p className="muted small">
            Timed on this adapter in {roughDuration(cal!.tookS)} ({costStages(est).map((s) => `${cal!.stages[s]!.timedSteps}`).join(', ')} steps after each stage's
            first); new budgets are extrapolated at once, new shapes measured again. Memory is what the run's buffers hold at most
            (the plan's own upper estimate: {bytes(est.planBytes)}). During the run its own pace refines the ETA.
          </p>
        </>
      ) : cost.status === 'measuring' ? (
        <div className="cost-measuring" data-testid="cost-progress">
          <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={cost.progress?.total ?? 1} aria-valuenow={cost.progress?.done ?? 0}>
            <div className="progress-fill" style={{ width: `${(100 * (cost.progress ? cost.progress.done / Math.max(1, cost.progress.total) : 0)).toFixed(0)}%` }} />
          </div>
          <span className="muted small">Measuring this plan: {cost.progress?.label ?? 'starting'}…</span>
        </div>
      ) : (
        <p className="muted small" data-testid="cost-status">
          {cost.status === 'waiting'
            ? 'The plan changed: it is measured once you stop typing.'
            : cost.status === 'failed'
              ? `Could not measure this plan: ${cost.message}`
              : cost.status === 'interrupted'
                ? `Not measured (${cost.message}).`
                : 'Not measured for this plan yet.'}
        </p>
      )}
      {teacher ? (
        <div className="run-row">
          {cost.status === 'measuring' ? (
            <button type="button" className="button secondary small-button" data-testid="cost-cancel" onClick={() => void cancelCost()}>
              Cancel
            </button>
          ) : (
            <button type="button" className="button secondary small-button" data-testid="cost-measure" disabled={busy} onClick={() => void measureCost()}>
              {est ? 'Measure again' : 'Measure'}
            </button>
          )}
        </div>
      ) : null}
    </section>
  );
}
