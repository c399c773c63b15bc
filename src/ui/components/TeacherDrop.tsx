import { type ChangeEvent } from 'react';
import { MODEL_TYPES } from '../../io/config';
import { useUi } from '../store';
import { filesFromDrop, filesFromInput } from '../drop-walk';
import { loadBuiltinTeacher, loadTeacherFiles } from '../engine-actions';
import { useDropTarget } from './use-drop-target';

// React's types lack the non-standard folder-picker attributes.
const folderPicker = { webkitdirectory: '', directory: '' } as Record<string, string>;

export function TeacherDrop() {
  const loading = useUi((s) => s.teacherLoading);
  const locked = useUi((s) => s.run.running || s.starting);
  const disabled = loading || locked;
  const { over, props } = useDropTarget(disabled, (data) => {
    void filesFromDrop(data).then(loadTeacherFiles, (err: unknown) =>
      useUi.getState().setStatus(`could not read the dropped files: ${(err as Error)?.message ?? err}`, 'error'),
    );
  });
  const onPick = (e: ChangeEvent<HTMLInputElement>) => {
    const picked = filesFromInput(e.target.files);
    // Cleared so that choosing the same files again (after fixing them) fires another change.
    e.target.value = '';
    void loadTeacherFiles(picked);
  };

  return (
    <section className="panel">
      <h2>Teacher</h2>
      <div
        className={`dropzone ${over ? 'over' : ''} ${disabled ? 'disabled' : ''}`}
        data-testid="dropzone"
        {...props}
      >
        <p className="drop-title">Drop a Hugging Face model folder here</p>
        <p className="muted small">
          config.json, model.safetensors (or its shards and model.safetensors.index.json), tokenizer.json,
          tokenizer_config.json; the files are read in this tab only.
        </p>
        <p className="muted small" data-testid="supported-families">
          Supported model types: {MODEL_TYPES.join(', ')} (Llama rope scaling: linear, llama3).
        </p>
        <div className="pickers">
          <label className={`button secondary ${disabled ? 'disabled' : ''}`}>
            Select files…
            <input type="file" data-testid="teacher-input" multiple disabled={disabled} onChange={onPick} />
          </label>
          <label className={`button secondary ${disabled ? 'disabled' : ''}`}>
            Select a folder…
            <input type="file" data-testid="teacher-folder-input" {...folderPicker} disabled={disabled} onChange={onPick} />
          </label>
        </div>
      </div>
      <div className="builtin-row">
        <button type="button" className="button" data-testid="builtin" disabled={disabled} onClick={() => void loadBuiltinTeacher()}>
          {loading ? 'Loading…' : 'Use the built-in teacher'}
        </button>
        <span className="muted small">stories260K: a 260K-parameter Llama trained on TinyStories</span>
      </div>
    </section>
  );
}
