import { useUi } from '../store';
import { distillPlanErrors, teacherPositions } from '../plan-form';
import { skipStage, stopRun, toggleRun } from '../engine-actions';

/** Start (the plan), Pause, Resume, Stop, and Skip to the next stage. */
export function RunButton() {
  const hasTeacher = useUi((s) => s.teacher !== null);
  const busy = useUi((s) => s.teacherLoading || s.corpusLoading);
  const starting = useUi((s) => s.starting);
  const running = useUi((s) => s.run.running);
  const paused = useUi((s) => s.run.paused);
  const current = useUi((s) => s.currentStage);
  const hasNext = useUi((s) => (current ? s.plan.stages.some((st) => st > current) : false));
  const planOk = useUi((s) => Object.keys(distillPlanErrors(s.plan, s.teacher?.layers ?? null, teacherPositions(s.teacher))).length === 0);

  const label = starting ? 'Starting…' : running ? (paused ? 'Resume' : 'Pause') : 'Start';
  const disabled = !hasTeacher || busy || starting || (!running && !planOk);
  return (
    <div className="run-row">
      <button
        type="button"
        className={`button run ${running && !paused ? 'pause' : ''}`}
        data-testid="run"
        data-state={starting ? 'starting' : running ? (paused ? 'paused' : 'running') : 'idle'}
        disabled={disabled}
        onClick={() => void toggleRun()}
      >
        {label}
      </button>
      <button
        type="button"
        className="button secondary"
        data-testid="stop"
        disabled={!running || starting}
        title="End the run after the step in flight: its checkpoint and the student so far are kept, to evaluate, export or resume"
        onClick={() => void stopRun()}
      >
        Stop
      </button>
      <button
        type="button"
        className="button secondary"
        data-testid="skip-stage"
        disabled={!running || starting || current === null}
        title="End the current stage now (its checkpoint is written) and go on with the next"
        onClick={() => void skipStage()}
      >
        {hasNext || current === null ? 'Skip to the next stage' : 'End the last stage'}
      </button>
      {!hasTeacher ? (
        <span className="muted small">load a teacher first</span>
      ) : !running && !planOk ? (
        <span className="muted small invalid-text">the plan has errors</span>
      ) : null}
    </div>
  );
}
