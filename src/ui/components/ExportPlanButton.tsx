import { planFile, planTeacher, type PlanData } from '../../mohawk/plan-file';
import { downloadFiles } from '../download';
import { pageEvaluation } from '../engine-actions';
import { useUi } from '../store';

/** The held-out fraction the studio splits every corpus by (the engine's). */
const STUDIO_HELD_OUT = 0.1;

/**
 * "Export plan": the plan as the versioned JSON `mohawk plan` writes (src/mohawk/plan-file.ts), for
 * `python -m mohawk_torch.distill --plan plan.json` on a cluster, with the corpus options and the
 * evaluation this page uses.
 */
export function ExportPlanButton() {
  const teacher = useUi((s) => s.teacher);
  const corpus = useUi((s) => s.corpus);
  const column = useUi((s) => s.corpusColumn);
  const exportPlan = () => {
    const s = useUi.getState();
    if (!s.teacher) return;
    const { docs: evalDocs, tokens: evalTokens } = pageEvaluation();
    const data: PlanData = { textColumn: column, skipBadLines: false, docs: null, heldOut: STUDIO_HELD_OUT, evalDocs, evalTokens };
    const t = s.teacher;
    const json = planFile(s.plan, data, planTeacher(t.name, { modelType: t.modelType, layers: t.layers, dModel: t.dModel, heads: t.heads, vocab: t.vocab, maxPositions: t.maxPositions }), { by: 'Mohawk Studio', at: new Date() });
    const name = `${t.name.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '')}-plan.json`;
    void downloadFiles([{ name, data: new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`), type: 'application/json' }]).then(
      () => s.setStatus(`plan written to ${name}${corpus ? ` (give the run the corpus ${corpus.name} there)` : ''}`),
      (e: unknown) => s.setStatus(`could not save the plan: ${(e as Error)?.message ?? e}`, 'error'),
    );
  };
  return (
    <button type="button" className="button secondary small" data-testid="export-plan" disabled={!teacher} title={teacher ? 'the plan as versioned JSON, as `mohawk plan` writes it, for mohawk_torch under torchrun' : 'load a teacher first'} onClick={exportPlan}>
      Export plan
    </button>
  );
}
