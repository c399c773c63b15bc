import { useUi } from '../store';
import { compact, count } from '../../util/format';

export function TeacherCard() {
  const t = useUi((s) => s.teacher);
  if (!t) return null;
  const rows: [string, string][] = [
    ['model type', t.modelType],
    ['layers', count(t.layers)],
    ['d_model', count(t.dModel)],
    ['heads / kv heads', `${t.heads} / ${t.kvHeads}`],
    ['head dim', count(t.headDim)],
    ['vocab', count(t.vocab)],
    ['parameters', `${compact(t.parameters)} (${count(t.parameters)})`],
  ];
  return (
    <section className="panel card" data-testid="teacher-summary">
      <h2>
        {t.name}
      </h2>
      <dl className="facts">
        {rows.map(([k, v], i) => (
          // An odd last fact takes the whole row rather than squeezing into half of it.
          <div key={k} className={i === rows.length - 1 && rows.length % 2 === 1 ? 'wide' : undefined}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {t.warnings.length > 0 ? (
        <ul className="warnings" data-testid="teacher-warnings">
          {t.warnings.map((w, i) => (
            <li key={i}>{w}</li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
