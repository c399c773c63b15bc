import { useUi, type EvalRecord } from '../store';
import { count, loss as fmt } from '../../util/format';
import { evaluateNow } from '../engine-actions';

function stageText(r: EvalRecord): string {
  return r.stage === 0 ? 'before stage 1' : `stage ${r.stage}`;
}

function Nll({ who, nll, testId }: { who: string; nll: number; testId: string }) {
  return (
    <div className="eval-model">
      <span className="stat-label">{who}</span>
      <span className="stat-value" data-testid={`${testId}-nll`} data-value={nll}>
        {fmt(nll)}
      </span>
      <span className="muted small">
        nats/token · perplexity{' '}
        <b data-testid={`${testId}-ppl`} data-value={Math.exp(nll)}>
          {fmt(Math.exp(nll))}
        </b>
      </span>
    </div>
  );
}

/** Held-out NLL and perplexity of both models, and a continuation of a prompt from each. */
export function EvalPanel() {
  const evals = useUi((s) => s.evals);
  const samples = useUi((s) => s.samples);
  const evaluating = useUi((s) => s.evaluating);
  const prompt = useUi((s) => s.prompt);
  const setPrompt = useUi((s) => s.setPrompt);
  const hasTeacher = useUi((s) => s.teacher !== null);
  const training = useUi((s) => s.run.running && !s.run.paused);
  const latest = evals.at(-1) ?? null;
  const sample = samples.at(-1) ?? null;
  return (
    <section className="panel" data-testid="eval-panel" data-evals={evals.length} data-samples={samples.length}>
      <div className="panel-head">
        <h2>Held-out evaluation</h2>
        <span className="muted small">after each stage, and whenever you ask</span>
      </div>
      <form
        className="eval-form"
        onSubmit={(e) => {
          e.preventDefault();
          void evaluateNow();
        }}
      >
        <label className="field grow">
          <span className="field-label">prompt for the continuations</span>
          <input type="text" data-testid="eval-prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} />
        </label>
        <button
          type="submit"
          className="button"
          data-testid="evaluate"
          disabled={!hasTeacher || evaluating || training}
          title={training ? 'The GPU is training: pause or stop the run to evaluate' : undefined}
        >
          {evaluating ? 'Evaluating…' : 'Evaluate now'}
        </button>
      </form>
      {training ? <p className="muted small" data-testid="evaluate-reason">pause or stop the run to evaluate</p> : null}
      {latest ? (
        <>
          <div className="eval-latest">
            <Nll who="teacher" nll={latest.teacherNll} testId="eval-teacher" />
            <Nll who="student" nll={latest.studentNll} testId="eval-student" />
            <div className="eval-model">
              <span className="stat-label">gap</span>
              <span className="stat-value" data-testid="eval-gap">
                {latest.studentNll >= latest.teacherNll ? '+' : ''}
                {fmt(latest.studentNll - latest.teacherNll)}
              </span>
              <span className="muted small">
                {stageText(latest)} · {count(latest.tokens)} held-out tokens
              </span>
            </div>
          </div>
          {evals.length > 1 ? (
            <table className="eval-history" data-testid="eval-history">
              <thead>
                <tr>
                  <th>when</th>
                  <th>teacher NLL</th>
                  <th>student NLL</th>
                  <th>student perplexity</th>
                </tr>
              </thead>
              <tbody>
                {evals.map((r, i) => (
                  <tr key={i}>
                    <td>{stageText(r)}</td>
                    <td>{fmt(r.teacherNll)}</td>
                    <td>{fmt(r.studentNll)}</td>
                    <td>{fmt(Math.exp(r.studentNll))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </>
      ) : (
        <p className="muted small">No evaluation yet.</p>
      )}
      {sample ? (
        <div className="samples" data-testid="samples">
          <div className="sample">
            <span className="stat-label">teacher</span>
            <p data-testid="sample-teacher">
              <b>{sample.prompt}</b>
              {sample.teacher}
            </p>
          </div>
          <div className="sample">
            <span className="stat-label">
              student · <span data-testid="sample-speed" data-value={sample.studentTokensPerS}>{count(sample.studentTokensPerS)} tokens/s</span>{' '}
              (recurrent, O(1) per token)
            </span>
            <p data-testid="sample-student">
              <b>{sample.prompt}</b>
              {sample.student}
            </p>
          </div>
        </div>
      ) : null}
    </section>
  );
}
