// What the page asks of the engine. Every call goes to the worker; results and failures land in the
// store, so components only read the store and call these.
import { createEngineClient, type EngineClient } from '../worker/client';
import type { RunPlan, TeacherSummary } from '../worker/api';
import { useUi } from './store';
import { checkTeacherFiles, type PickedFile } from './teacher-files';
import { planErrors } from './plan';

let client: EngineClient | null = null;

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

function fail(text: string): void {
  useUi.getState().setStatus(text, 'error');
}

function engine(): EngineClient {
  if (!client) throw new Error('the engine is not running');
  return client;
}

/** Starts the worker and asks it for a GPU. Never throws: a page without WebGPU still works. */
export async function startEngine(): Promise<void> {
  if (client) return;
  const initial = useUi.getState().status;
  try {
    client = createEngineClient((message) => {
      useUi.setState((s) => ({
        gpuPending: false,
        gpuError: s.gpu ? s.gpuError : message,
        teacherLoading: false,
        starting: false,
        run: { running: false, paused: false, finished: false },
      }));
      fail(message);
    });
    await client.subscribe((e) => useUi.getState().applyEvent(e));
    const gpu = await client.api.init();
    useUi.setState({ gpu, gpuError: null, gpuPending: false });
    // Keep anything the engine said while acquiring the device (fallback adapter, missing features).
    if (useUi.getState().status === initial) {
      useUi.getState().setStatus('GPU ready: load a teacher (drop its folder or use the built-in one)');
    }
  } catch (e) {
    const message = messageOf(e);
    useUi.setState({ gpu: null, gpuError: message, gpuPending: false });
    fail(message);
  }
}

async function loadWith(load: (c: EngineClient) => Promise<TeacherSummary>): Promise<void> {
  const s = useUi.getState();
  if (s.teacherLoading || s.run.running || s.starting) return;
  useUi.setState({ teacherLoading: true, progress: null });
  try {
    const teacher = await load(engine());
    const layer = Math.min(useUi.getState().plan.layer, teacher.layers - 1);
    useUi.setState((st) => ({ teacher, plan: { ...st.plan, layer: Math.max(0, layer) } }));
  } catch (e) {
    // The engine drops its previous teacher before reading a new one, so none is loaded now.
    useUi.setState({ teacher: null });
    fail(messageOf(e));
  } finally {
    useUi.setState({ teacherLoading: false });
  }
}

/** Checks a dropped or picked set of files on the page, then hands the teacher's files to the engine. */
export async function loadTeacherFiles(picked: PickedFile[]): Promise<void> {
  const s = useUi.getState();
  if (s.teacherLoading || s.run.running || s.starting) return;
  if (picked.length === 0) return fail('no files were selected');
  const check = await checkTeacherFiles(picked);
  if (!check.ok) return fail(check.message);
  await loadWith((c) => c.api.loadTeacherFiles(check.files));
}

export async function loadBuiltinTeacher(): Promise<void> {
  await loadWith((c) => c.api.loadBuiltinTeacher(import.meta.env.BASE_URL));
}

function start(plan: RunPlan): void {
  const s = useUi.getState();
  const errors = Object.entries(planErrors(plan, s.teacher?.layers ?? null));
  if (errors.length > 0) return fail(`the plan is not valid: ${errors.map(([k, v]) => `${k} ${v}`).join('; ')}`);
  s.resetMetrics();
  useUi.setState({ starting: true });
  s.setStatus(`starting stage 1 on layer ${plan.layer}: ${plan.steps} steps of ${plan.batch}×${plan.seqLen} tokens`);
  // start() settles only when the run ends; its progress arrives as events meanwhile.
  engine()
    .api.start(plan)
    .catch((e) => {
      useUi.setState({ starting: false, run: { running: false, paused: false, finished: false } });
      fail(messageOf(e));
    });
}

/** The one run button: Start, Pause or Resume depending on the run's state. */
export async function toggleRun(): Promise<void> {
  const s = useUi.getState();
  if (!s.teacher || s.teacherLoading || s.starting) return;
  try {
    if (s.run.running && !s.run.paused) {
      // Shown at once; the engine confirms with a 'state' event when the step in flight is done.
      useUi.setState({ run: { ...s.run, paused: true } });
      await engine().api.pause();
    } else if (s.run.running) {
      useUi.setState({ run: { ...s.run, paused: false } });
      s.setStatus(`resuming after step ${s.lastStep}`);
      await engine().api.resume();
    } else {
      start(s.plan);
    }
  } catch (e) {
    fail(messageOf(e));
  }
}
