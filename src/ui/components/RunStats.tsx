import { useEffect, useState } from 'react';
import { useUi } from '../store';
import { STAGES } from '../../mohawk/plan';
import { count, duration, loss, roughDuration } from '../../util/format';

/** "12 s ago", refreshed every few seconds so the age of the last checkpoint stays true. */
function useAge(at: number | null): string {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (at === null) return;
    const t = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(t);
  }, [at]);
  if (at === null) return '';
  const s = Math.max(0, (now - at) / 1000);
  return s < 60 ? `${Math.round(s)} s ago` : `${duration(s)} ago`;
}

export function RunStats() {
  const lastLoss = useUi((s) => s.lastLoss);
  const firstLoss = useUi((s) => s.firstLoss);
  const tokensPerS = useUi((s) => s.tokensPerS);
  const tokens = useUi((s) => s.tokens);
  const current = useUi((s) => s.currentStage);
  const progress = useUi((s) => s.progress);
  const finished = useUi((s) => s.run.finished);
  const stages = useUi((s) => s.stages);
  const checkpoint = useUi((s) => s.checkpoint);
  const age = useAge(checkpoint?.at ?? null);

  const on = STAGES.filter((s) => stages[s].state !== 'off');
  // The engine's wall time covers setup, uploads and evaluations, which the stages' own clocks leave out.
  const runElapsed = useUi((s) => s.runElapsedS);
  // The rest of the whole run (later stages and evaluations too), while it runs.
  const runEta = useUi((s) => (s.run.running ? s.runEtaS : null));
  const elapsed = runElapsed ?? on.reduce((a, s) => a + stages[s].elapsedS, 0);
  const runDone = on.reduce((a, s) => a + (stages[s].state === 'finished' || stages[s].state === 'skipped' ? stages[s].steps : stages[s].step), 0);
  const runTotal = on.reduce((a, s) => a + stages[s].steps, 0);
  // Loading reports progress too; the bar follows whatever is under way, else the whole run's steps.
  const loading = progress !== null && progress.done < progress.total;
  const [done, total, label] = loading ? [progress.done, progress.total, progress.label] : [runDone, runTotal, 'all stages'];
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  return (
    <div className="stats">
      <div className="stat">
        <span className="stat-label">latest loss{current ? ` · stage ${current}` : ''}</span>
        <span className="stat-value" data-testid="latest-loss" data-value={lastLoss ?? ''}>
          {loss(lastLoss)}
        </span>
        {firstLoss !== null && lastLoss !== null ? <span className="muted small">from {loss(firstLoss)}</span> : null}
      </div>
      <div className="stat">
        <span className="stat-label">tokens / s</span>
        <span className="stat-value" data-testid="tokens-per-s">
          {tokensPerS === null ? '–' : count(tokensPerS)}
        </span>
        <span className="muted small">{count(tokens)} tokens this stage</span>
      </div>
      <div className="stat">
        <span className="stat-label">elapsed</span>
        <span className="stat-value" data-testid="elapsed">
          {duration(elapsed > 0 ? elapsed : null)}
        </span>
        <span className="muted small" data-testid="checkpoint">
          {checkpoint ? `checkpoint: stage ${checkpoint.stage}, step ${count(checkpoint.step)}, ${age}` : 'no checkpoint yet'}
        </span>
      </div>
      <div className="stat">
        <span className="stat-label">ETA · whole run</span>
        <span className="stat-value" data-testid="run-eta" data-value={runEta ?? ''}>
          {runEta === null ? '–' : roughDuration(runEta)}
        </span>
        <span className="muted small">{runEta === null ? 'known once each stage to come is measured' : 'stages to come and evaluations included'}</span>
      </div>
      <div className="stat grow">
        <span className="stat-label">
          {label} {finished && !loading ? '· finished' : ''}
        </span>
        <div className="progress" data-testid="progress" role="progressbar" aria-valuemin={0} aria-valuemax={total} aria-valuenow={done}>
          <div className="progress-fill" style={{ width: `${(frac * 100).toFixed(1)}%` }} />
        </div>
        <span className="muted small">
          {count(done)} / {count(total)} {loading ? '' : 'steps'}
        </span>
      </div>
    </div>
  );
}
