import { useUi } from '../store';
import { count } from '../../util/format';
import { dismissResume, resumeDistill } from '../engine-actions';

/** Shown when the engine holds a checkpoint of an earlier run of the loaded teacher. */
export function ResumeOffer() {
  const info = useUi((s) => s.resume);
  const busy = useUi((s) => s.run.running || s.starting);
  if (!info || busy) return null;
  return (
    <section className="panel resume" data-testid="resume-offer" data-stage={info.stage} data-step={info.step}>
      <h2>Continue the earlier run?</h2>
      <p className="small">
        A checkpoint of <b>{info.teacher}</b> stopped in stage {info.stage} at step {count(info.step)} (saved{' '}
        {new Date(info.savedAt).toLocaleString()}).
      </p>
      <div className="run-row">
        <button type="button" className="button" data-testid="resume-run" onClick={() => void resumeDistill()}>
          Resume from the checkpoint
        </button>
        <button type="button" className="button secondary" data-testid="resume-dismiss" onClick={dismissResume}>
          Start over instead
        </button>
      </div>
    </section>
  );
}
