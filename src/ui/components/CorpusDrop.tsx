import { type ChangeEvent } from 'react';
import { useUi } from '../store';
import { count } from '../../util/format';
import { loadCorpusFiles } from '../engine-actions';
import { useDropTarget } from './use-drop-target';

/** Training text: a dropped .txt or .jsonl, else the built-in TinyStories slice. */
export function CorpusDrop() {
  const corpus = useUi((s) => s.corpus);
  const loading = useUi((s) => s.corpusLoading);
  const locked = useUi((s) => s.run.running || s.starting || s.teacherLoading);
  const disabled = loading || locked;
  const { over, props } = useDropTarget(disabled, (data) => void loadCorpusFiles([...data.files]));
  const onPick = (e: ChangeEvent<HTMLInputElement>) => {
    const files = [...(e.target.files ?? [])];
    e.target.value = '';
    void loadCorpusFiles(files);
  };
  return (
    <section className="panel">
      <h2>Corpus</h2>
      <div
        className={`dropzone compact ${over ? 'over' : ''} ${disabled ? 'disabled' : ''}`}
        data-testid="corpus-dropzone"
        {...props}
      >
        <p className="small" data-testid="corpus-summary">
          {corpus ? (
            <>
              <b>{corpus.name}</b>: {count(corpus.documents)} documents, {count(corpus.trainTokens)} training tokens,{' '}
              {count(corpus.heldOutTokens)} held out
            </>
          ) : (
            <>
              <b>Built-in TinyStories</b> (a 2 MiB slice) unless you drop your own text here
            </>
          )}
        </p>
        <p className="muted small">Plain text (documents separated by blank lines) or JSONL with a "text" field. A held-out slice is never trained on.</p>
        <label className={`button secondary ${disabled ? 'disabled' : ''}`}>
          {loading ? 'Reading…' : 'Select text or JSONL…'}
          <input type="file" data-testid="corpus-input" multiple accept=".txt,.text,.md,.jsonl,.ndjson,.json" disabled={disabled} onChange={onPick} />
        </label>
      </div>
    </section>
  );
}
