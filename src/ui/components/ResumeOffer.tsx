import { useUi } from '../store';
import { count } from '../../util/format';
import { dismissResume, resumeDistill } from '../engine-actions';
import { BUILTIN_TEACHER_NAME } from '../../worker/api';

/**
 * The newest kept run that can be continued, offered from page load on (before any teacher is
 * loaded), with the teacher it needs: the loaded teacher's fingerprint is checked against the run's.
 */
export function ResumeOffer() {
  const info = useUi((s) => s.resume);
  const hidden = useUi((s) => s.run.running || s.starting);
  const busy = useUi((s) => s.teacherLoading || s.runsBusy !== null);
  const teacher = useUi((s) => s.teacher);
  const fingerprint = useUi((s) => s.teacherFingerprint);
  if (!info || hidden) return null;
  const matches = teacher !== null && fingerprint === info.teacherFingerprint;
  const builtin = info.teacher === BUILTIN_TEACHER_NAME;
  const teacherState = matches ? 'loaded' : teacher ? 'other' : 'none';
  return (
    <section className="panel resume" data-testid="resume-offer" data-run={info.id} data-stage={info.stage} data-step={info.step} data-teacher={teacherState}>
      <h2>Continue the earlier run?</h2>
      <p className="small">
        <b data-testid="resume-run-name">{info.name}</b> stopped in stage {info.stage} at step {count(info.step)} (saved {new Date(info.savedAt).toLocaleString()}).
      </p>
      <p className="small" data-testid="resume-teacher">
        {matches ? (
          <>
            Its teacher <b>{info.teacher}</b> is loaded (config.json and weights match the run).
          </>
        ) : teacher ? (
          <>
            It needs its teacher <b>{info.teacher}</b>; the loaded teacher {teacher.name} is another (its config.json or weights differ).
            {builtin ? ' Resuming loads the built-in one.' : ` Drop ${info.teacher}'s folder to resume.`}
          </>
        ) : (
          <>
            It needs its teacher <b>{info.teacher}</b>
            {builtin ? ', which resuming loads.' : `: drop its folder (its config.json and weights are checked against the run).`}
          </>
        )}
      </p>
      <div className="run-row">
        <button type="button" className="button" data-testid="resume-run" disabled={busy || !(matches || builtin)} onClick={() => void resumeDistill()}>
          {matches || !builtin ? 'Resume from the checkpoint' : 'Load the built-in teacher and resume'}
        </button>
        <button type="button" className="button secondary" data-testid="resume-dismiss" onClick={dismissResume}>
          Start over instead
        </button>
      </div>
    </section>
  );
}
