import { useUi } from '../store';
import { canPickFolder } from '../download';
import { exportStudent } from '../engine-actions';

/** The student's files: model.safetensors, config.json and the teacher's tokenizer files. */
export function ExportPanel() {
  const exporting = useUi((s) => s.exporting);
  // A student exists once a run has started (or a checkpoint was resumed); before that there is nothing to save.
  const hasStudent = useUi((s) => s.teacher !== null && (s.run.running || s.run.finished || s.checkpoint !== null || s.currentStage !== null));
  const folder = canPickFolder();
  return (
    <section className="panel" data-testid="export-panel">
      <div className="panel-head">
        <h2>Export the student</h2>
        <span className="muted small">model.safetensors, config.json (with a record of what ran) and the teacher's tokenizer files</span>
      </div>
      <div className="run-row">
        <button type="button" className="button" data-testid="export" disabled={!hasStudent || exporting} onClick={() => void exportStudent('downloads')}>
          {exporting ? 'Exporting…' : 'Download .zip'}
        </button>
        {folder ? (
          <button
            type="button"
            className="button secondary"
            data-testid="export-folder"
            disabled={!hasStudent || exporting}
            onClick={() => void exportStudent('folder')}
          >
            Save to a folder…
          </button>
        ) : null}
        {!hasStudent ? <span className="muted small">start a run first</span> : null}
      </div>
    </section>
  );
}
