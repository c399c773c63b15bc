// The cost of the plan in the form, measured on this adapter before Start (src/mohawk/calibrate.ts,
// through the engine). A measurement holds for every plan of the same shapes, so a new budget is
// re-extrapolated at once; new shapes or a new teacher are measured again after a pause in typing
// (any measurement of the old ones is cancelled). A number is shown only for the plan and teacher
// the page holds now: currentEstimate gives none for anything else.
import * as Comlink from 'comlink';
import { create } from 'zustand';
import { covers, estimateCost, planShape, type Calibration, type CostEstimate } from '../mohawk/calibrate';
import { clonePlan, type DistillPlan } from '../mohawk/plan';
import { studioEvaluations, type TeacherSummary } from '../worker/api';
import { engineClient } from './engine-actions';
import { distillPlanErrors } from './plan-form';
import { useUi } from './store';

/** waiting: the plan changed and will be measured after a pause; interrupted: cancelled, or a start or load came first. */
export type CostStatus = 'idle' | 'waiting' | 'measuring' | 'measured' | 'interrupted' | 'failed';

export interface CostState {
  status: CostStatus;
  calibration: Calibration | null;
  /** The teacher the calibration was measured with (the store's summary object: a reload is another). */
  teacher: TeacherSummary | null;
  progress: { label: string; done: number; total: number } | null;
  /** Why the last measurement did not finish. */
  message: string | null;
}

export const useCost = create<CostState>()(() => ({ status: 'idle', calibration: null, teacher: null, progress: null, message: null }));

/** Milliseconds without a change of shape before a measurement starts: typing "256" is one change, not three. */
export const MEASURE_DELAY_MS = 1000;

/** What the plan the page holds costs with the teacher it holds, or null when that was not measured. */
export function currentEstimate(cost: Pick<CostState, 'calibration' | 'teacher'>, ui: { plan: DistillPlan; teacher: TeacherSummary | null }): CostEstimate | null {
  if (!cost.calibration || !ui.teacher || cost.teacher !== ui.teacher || !covers(cost.calibration, ui.plan)) return null;
  return estimateCost(cost.calibration, ui.plan, studioEvaluations(ui.plan));
}

/** Why nothing may be measured now, or null. */
function blocked(): string | null {
  const s = useUi.getState();
  if (!s.teacher) return 'load a teacher first';
  if (!engineClient() || !s.gpu) return 'there is no GPU to measure on';
  if (s.run.running || s.starting) return 'a run is in progress';
  if (s.teacherLoading || s.corpusLoading) return 'a teacher or corpus is loading';
  if (Object.keys(distillPlanErrors(s.plan, s.teacher.layers)).length > 0) return 'the plan has errors';
  return null;
}

// Each measurement's number: an answer to an earlier one (cancelled, superseded) is dropped.
let current = 0;
let timer: ReturnType<typeof setTimeout> | null = null;

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

/** Measures the plan in the form now (a measurement in progress is replaced). */
export async function measureCost(): Promise<void> {
  if (timer) clearTimeout(timer);
  timer = null;
  const why = blocked();
  const client = engineClient();
  if (why || !client) {
    useCost.setState({ status: 'idle', progress: null, message: why });
    return;
  }
  const id = ++current;
  const ui = useUi.getState();
  const teacher = ui.teacher;
  useCost.setState({ status: 'measuring', progress: { label: 'starting', done: 0, total: 1 }, message: null });
  const onProgress = Comlink.proxy((label: string, done: number, total: number) => {
    if (id === current) useCost.setState({ progress: { label, done, total } });
  });
  try {
    const calibration = await client.api.measureCost(clonePlan(ui.plan), onProgress);
    if (id !== current) return;
    useCost.setState({ status: 'measured', calibration, teacher, progress: null });
  } catch (e) {
    if (id !== current) return;
    const m = messageOf(e);
    useCost.setState({ status: m.startsWith('cancelled') ? 'interrupted' : 'failed', progress: null, message: m });
  }
}

/** Stops a measurement at its next step boundary (and one waiting to begin). */
export async function cancelCost(message = 'cancelled'): Promise<void> {
  if (timer) clearTimeout(timer);
  timer = null;
  const was = useCost.getState().status;
  if (was !== 'measuring' && was !== 'waiting') return;
  current++;
  useCost.setState({ status: 'interrupted', progress: null, message });
  await engineClient()?.api.cancelCost().catch(() => {});
}

const shapeKey = (p: DistillPlan) => JSON.stringify(planShape(p));

/**
 * Follows the plan and the teacher: a change of shapes (or teacher) that the last measurement does
 * not cover cancels any measurement of the old ones and measures the new after MEASURE_DELAY_MS.
 * Returns the unsubscribe.
 */
export function watchCost(): () => void {
  let shape = '';
  let teacher: TeacherSummary | null = null;
  const check = () => {
    const s = useUi.getState();
    // Until the teacher (or corpus) has loaded and the GPU answered, the change is not taken in.
    if (!s.gpu || s.teacherLoading || s.corpusLoading) return;
    const nextShape = shapeKey(s.plan);
    if (nextShape === shape && s.teacher === teacher) return;
    shape = nextShape;
    teacher = s.teacher;
    const cost = useCost.getState();
    if (currentEstimate(cost, s)) {
      // Back on measured shapes (or a stage fewer): nothing to measure, and nothing else is worth finishing.
      if (cost.status === 'measuring' || cost.status === 'waiting') void cancelCost();
      useCost.setState({ status: 'measured', message: null });
      return;
    }
    if (cost.status === 'measuring') void cancelCost('the plan changed');
    if (timer) clearTimeout(timer);
    timer = null;
    const why = blocked();
    if (why) {
      useCost.setState({ status: 'idle', progress: null, message: why });
      return;
    }
    useCost.setState({ status: 'waiting', progress: null, message: null });
    timer = setTimeout(() => void measureCost(), MEASURE_DELAY_MS);
  };
  check();
  const unsubscribe = useUi.subscribe((s, prev) => {
    if (s.plan !== prev.plan || s.teacher !== prev.teacher || s.gpu !== prev.gpu || s.teacherLoading !== prev.teacherLoading || s.corpusLoading !== prev.corpusLoading) check();
  });
  return () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
