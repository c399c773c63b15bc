import { type ChangeEvent } from 'react';
import { useUi } from '../store';
import { count } from '../../util/format';
import { CORPUS_ACCEPT } from '../../io/corpus-format';
import { filesFromDrop, filesFromInput } from '../drop-walk';
import { dismissCorpusRefusal, loadCorpusFiles, retryCorpus } from '../engine-actions';
import { useDropTarget } from './use-drop-target';

// React's types lack the non-standard folder-picker attributes.
const folderPicker = { webkitdirectory: '', directory: '' } as Record<string, string>;

/** Training text: dropped files or a folder of shards, else the built-in TinyStories slice. */
export function CorpusDrop() {
  const corpus = useUi((s) => s.corpus);
  const loading = useUi((s) => s.corpusLoading);
  const column = useUi((s) => s.corpusColumn);
  const refusal = useUi((s) => s.corpusRefusal);
  const locked = useUi((s) => s.run.running || s.starting || s.teacherLoading);
  const disabled = loading || locked;
  const { over, props } = useDropTarget(disabled, (data) => {
    void filesFromDrop(data).then(
      (picked) => loadCorpusFiles(picked),
      (err: unknown) => useUi.getState().setStatus(`could not read the dropped files: ${(err as Error)?.message ?? err}`, 'error'),
    );
  });
  const onPick = (e: ChangeEvent<HTMLInputElement>) => {
    const picked = filesFromInput(e.target.files);
    e.target.value = '';
    void loadCorpusFiles(picked);
  };
  return (
    <section className="panel">
      <h2>Corpus</h2>
      <div className={`dropzone compact ${over ? 'over' : ''} ${disabled ? 'disabled' : ''}`} data-testid="corpus-dropzone" {...props}>
        <p className="small" data-testid="corpus-summary">
          {corpus ? (
            <>
              <b>{corpus.name}</b>: {count(corpus.documents)} documents, {count(corpus.trainTokens)} training tokens, {count(corpus.heldOutTokens)} held out
              {corpus.textColumn !== null && <> (text column "{corpus.textColumn}")</>}
            </>
          ) : (
            <>
              <b>Built-in TinyStories</b> (a 2 MiB slice) unless you drop your own text here
            </>
          )}
        </p>
        {corpus?.tokenizing && (
          <p className="muted small" data-testid="corpus-tokenizing">
            Tokenizing {((100 * corpus.tokenizing.done) / Math.max(1, corpus.tokenizing.total)).toFixed(0)}% of {(corpus.tokenizing.total / 2 ** 20).toFixed(0)} MiB: a run can
            start now, each stage once its share is in, while the rest is tokenized behind it.
          </p>
        )}
        {corpus?.notes.map((n) => (
          <p key={n} className="muted small" data-testid="corpus-note">
            {n}
          </p>
        ))}
        <p className="muted small">
          Plain text (documents separated by blank lines or &lt;|endoftext|&gt;), JSONL or JSON, gzipped or not, or Parquet; several files or a folder of shards at once. A
          held-out slice is never trained on.
        </p>
        {refusal && (
          <div className="small error-box" data-testid="corpus-refusal" role="alert">
            <p>{refusal.message}</p>
            <div className="pickers">
              {refusal.kind === 'bad-line' && (
                <button type="button" className="button secondary" data-testid="corpus-skip-bad-lines" disabled={disabled} onClick={() => void retryCorpus({ skipBadLines: true })}>
                  Skip such lines
                </button>
              )}
              {refusal.kind === 'column' &&
                refusal.columns?.map((c) => (
                  <button key={c} type="button" className="button secondary" data-testid="corpus-use-column" disabled={disabled} onClick={() => void retryCorpus({ textColumn: c })}>
                    Use "{c}"
                  </button>
                ))}
              <button type="button" className="button secondary" onClick={dismissCorpusRefusal}>
                {refusal.kind === 'bad-line' ? 'Stop' : 'Dismiss'}
              </button>
            </div>
          </div>
        )}
        <div className="pickers">
          <label className="small">
            Text column{' '}
            <input
              type="text"
              className="narrow"
              data-testid="corpus-column"
              value={column}
              disabled={disabled}
              title="The JSON field or parquet column documents are read from"
              onChange={(e) => useUi.setState({ corpusColumn: e.target.value })}
            />
          </label>
          <label className={`button secondary ${disabled ? 'disabled' : ''}`}>
            {loading ? 'Reading…' : 'Select files…'}
            <input type="file" data-testid="corpus-input" multiple accept={CORPUS_ACCEPT} disabled={disabled} onChange={onPick} />
          </label>
          <label className={`button secondary ${disabled ? 'disabled' : ''}`}>
            Select a folder…
            <input type="file" data-testid="corpus-folder-input" {...folderPicker} disabled={disabled} onChange={onPick} />
          </label>
        </div>
      </div>
    </section>
  );
}
