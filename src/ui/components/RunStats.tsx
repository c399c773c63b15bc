import { useUi } from '../store';
import { count, loss } from '../format';

export function RunStats() {
  const lastLoss = useUi((s) => s.lastLoss);
  const firstLoss = useUi((s) => s.firstLoss);
  const tokensPerS = useUi((s) => s.tokensPerS);
  const step = useUi((s) => s.lastStep);
  const steps = useUi((s) => s.plan.steps);
  const tokens = useUi((s) => s.tokens);
  const progress = useUi((s) => s.progress);
  const finished = useUi((s) => s.run.finished);

  // Weight loading reports progress too; the bar follows whatever is under way, else the run's steps.
  const [done, total, label] = progress ? [progress.done, progress.total, progress.label] : [step, steps, 'stage 1'];
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  return (
    <div className="stats">
      <div className="stat">
        <span className="stat-label">latest loss</span>
        <span className="stat-value" data-testid="latest-loss" data-value={lastLoss ?? ''}>
          {loss(lastLoss)}
        </span>
        {firstLoss !== null && lastLoss !== null ? (
          <span className="muted small">from {loss(firstLoss)}</span>
        ) : null}
      </div>
      <div className="stat">
        <span className="stat-label">tokens / s</span>
        <span className="stat-value" data-testid="tokens-per-s">
          {tokensPerS === null ? '–' : count(tokensPerS)}
        </span>
        <span className="muted small">{count(tokens)} tokens</span>
      </div>
      <div className="stat grow">
        <span className="stat-label">
          {label} {finished && !progress?.label.startsWith('loading') ? '· finished' : ''}
        </span>
        <div
          className="progress"
          data-testid="progress"
          role="progressbar"
          aria-valuemin={0}
          aria-valuemax={total}
          aria-valuenow={done}
        >
          <div className="progress-fill" style={{ width: `${(frac * 100).toFixed(1)}%` }} />
        </div>
        <span className="muted small">
          {count(done)} / {count(total)}
        </span>
      </div>
    </div>
  );
}
