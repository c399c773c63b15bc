import { useUi } from '../store';
import { planErrors } from '../plan';
import { toggleRun } from '../engine-actions';

export function RunButton() {
  const hasTeacher = useUi((s) => s.teacher !== null);
  const loading = useUi((s) => s.teacherLoading);
  const starting = useUi((s) => s.starting);
  const running = useUi((s) => s.run.running);
  const paused = useUi((s) => s.run.paused);
  const planOk = useUi((s) => Object.keys(planErrors(s.plan, s.teacher?.layers ?? null)).length === 0);

  const label = starting ? 'Starting…' : running ? (paused ? 'Resume' : 'Pause') : 'Start';
  const disabled = !hasTeacher || loading || starting || (!running && !planOk);
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
      {!hasTeacher ? <span className="muted small">load a teacher first</span> : null}
    </div>
  );
}
