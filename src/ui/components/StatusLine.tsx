import { useUi } from '../store';
import { progressText as describe } from '../progress-text';

export function StatusLine() {
  const status = useUi((s) => s.status);
  const progress = useUi((s) => s.progress);
  const busy = useUi((s) => s.teacherLoading || s.starting || (s.run.running && !s.run.paused));
  // Only while something is under way: a finished load's "3 / 3" would otherwise stay beside every later message.
  const progressText = progress && progress.done < progress.total ? describe(progress) : null;
  return (
    <div className="status" data-testid="status" data-level={status.level} role="status" aria-live="polite">
      <span className={`status-dot ${busy ? 'busy' : ''}`} aria-hidden="true" />
      <span className="status-text" data-testid="status-text">
        {status.level === 'error' ? <b>Error: </b> : null}
        {status.text}
      </span>
      {progressText ? (
        <span className="status-progress" data-testid="progress-text">
          {progressText}
        </span>
      ) : null}
    </div>
  );
}
