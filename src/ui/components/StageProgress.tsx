import type { Stage } from '../../mohawk/plan';
import { useUi } from '../store';
import { STAGES, STAGE_NAMES } from '../../mohawk/plan';
import { count, duration, loss, tokens as fmtTokens } from '../../util/format';

const STATE_TEXT = { off: 'not in the plan', pending: 'waiting', running: 'running', finished: 'finished', skipped: 'skipped' } as const;

function StageBar({ stage }: { stage: Stage }) {
  const v = useUi((s) => s.stages[stage]);
  const paused = useUi((s) => s.run.paused && s.currentStage === stage && v.state === 'running');
  const frac = v.steps > 0 ? Math.min(1, v.step / v.steps) : 0;
  const done = v.state === 'finished' || v.state === 'skipped';
  return (
    <div
      className={`stage-bar state-${v.state}`}
      data-testid={`stage-progress-${stage}`}
      data-state={v.state}
      data-step={v.step}
      data-steps={v.steps}
      data-first-loss={v.firstLoss ?? ''}
      data-last-loss={v.lastLoss ?? ''}
    >
      <div className="stage-bar-head">
        <span className="stage-title">
          <b>Stage {stage}</b> · {STAGE_NAMES[stage]}
        </span>
        <span className={`badge ${v.state}`}>{paused ? 'paused' : STATE_TEXT[v.state]}</span>
      </div>
      <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={v.steps} aria-valuenow={v.step} aria-label={`stage ${stage}`}>
        <div className="progress-fill" style={{ width: `${(frac * 100).toFixed(1)}%` }} />
      </div>
      {v.state === 'off' ? null : (
        <div className="stage-bar-facts muted small">
          <span>
            step {count(v.step)} / {count(v.steps)} · {fmtTokens(v.tokensDone)} / {fmtTokens(v.tokens)} tokens
          </span>
          <span data-testid={`stage-elapsed-${stage}`}>elapsed {duration(v.state === 'pending' ? null : v.elapsedS)}</span>
          <span data-testid={`stage-eta-${stage}`}>{done ? 'done' : `ETA ${duration(v.state === 'running' ? v.etaS : null)}`}</span>
          {v.tokensPerS !== null ? <span>{count(v.tokensPerS)} tokens/s</span> : null}
          {v.lastLoss !== null ? (
            <span>
              loss {loss(v.firstLoss)} → <b>{loss(v.lastLoss)}</b>
            </span>
          ) : null}
        </div>
      )}
    </div>
  );
}

export function StageProgress() {
  return (
    <div className="stage-bars">
      {STAGES.map((s) => (
        <StageBar key={s} stage={s} />
      ))}
    </div>
  );
}
