// What the page asks of the engine. Every call goes to the worker; results and failures land in the
// store, so components only read the store and call these.
import { createEngineClient, type EngineClient } from '../worker/client';
import { BUILTIN_TEACHER_NAME, STUDIO_EVALUATION, studioEvaluationOf, type StudioEvaluation, type DistillEvent, type DistillPlan, type EngineEvent, type RunSummary, type StartedRun, type TeacherSummary } from '../worker/api';
import { runPoint, useUi } from './store';
import { checkTeacherFiles, type PickedFile } from './teacher-files';
import { STAGES, tokensPerStep } from '../mohawk/plan';
import { distillPlanErrors, planErrorText, teacherPositions } from './plan-form';
import { checkCorpusFiles } from './corpus-files';
import { DEFAULT_TEXT_COLUMN } from '../io/corpus-format';
import { canPickFolder, downloadFiles, pickFolder, saveToFolder } from './download';
import { bytes, count, mib } from '../util/format';
import { restoreRunView } from './run-view';
import { emptyLayerDistances } from './layer-distances';
import { overlayOf } from './overlays';

let client: EngineClient | null = null;

/** The held-out evaluation of this page's runs: the address's ?evaluation=DOCSxTOKENS (the end-to-end test's), else the studio's. */
let evaluation: StudioEvaluation = STUDIO_EVALUATION;

export function pageEvaluation(): StudioEvaluation {
  return evaluation;
}

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

/** The engine, once started (null before, or when its worker could not start). */
export function engineClient(): EngineClient | null {
  return client;
}

/** Busy with something that changes what the engine holds (teacher, corpus, a run). */
function locked(): boolean {
  const s = useUi.getState();
  return s.teacherLoading || s.corpusLoading || s.run.running || s.starting;
}

// The engine's events are applied in batches, one every EVENT_BATCH_MS at most: a fast GPU reports
// hundreds of steps a second (each a loss point and a timing, in stage 1 a layer × head grid too), and
// applied one by one they would re-render the page for each. A batch is one React render, and of the
// grids in it only the last is drawn.
const EVENT_BATCH_MS = 33;
let pending: (EngineEvent | DistillEvent)[] = [];
let flushTimer: ReturnType<typeof setTimeout> | null = null;

function onEvent(e: EngineEvent | DistillEvent): void {
  pending.push(e);
  flushTimer ??= setTimeout(flushEvents, EVENT_BATCH_MS);
}

function flushEvents(): void {
  flushTimer = null;
  const batch = pending;
  pending = [];
  let lastGrid = -1;
  batch.forEach((e, i) => {
    if (e.type === 'distances') lastGrid = i;
  });
  batch.forEach((e, i) => {
    if (e.type !== 'distances' || i === lastGrid) applyEvent(e);
  });
}

function applyEvent(e: EngineEvent | DistillEvent): void {
  const before = useUi.getState().run;
  useUi.getState().applyEvent(e);
  // A run that stopped without finishing (an error, a lost device) may have left a checkpoint.
  if (e.type === 'state' && before.running && !e.running && !e.finished) void offerResume();
  // The Runs panel follows the run's state and checkpoints.
  if ((e.type === 'state' && (before.running !== e.running || before.paused !== e.paused)) || e.type === 'checkpoint') void refreshRuns();
}

// Listings can settle out of order (each waits on storage): one asked for earlier never replaces a later one.
let listingsAsked = 0;
let listingShown = 0;

/** Asks the engine for the runs it keeps (and the loaded teacher's fingerprint); quiet on failure. */
export async function refreshRuns(): Promise<void> {
  if (!client) return;
  const ticket = ++listingsAsked;
  try {
    const list = await client.api.listRuns();
    if (ticket < listingShown) return;
    listingShown = ticket;
    useUi.setState({ runs: list.runs, runsUnavailable: list.unavailable, teacherFingerprint: list.teacherFingerprint });
  } catch (e) {
    if (ticket >= listingShown) useUi.setState({ runsUnavailable: messageOf(e) });
  }
}

/** Starts the worker and asks it for a GPU. Never throws: a page without WebGPU still works. */
export async function startEngine(): Promise<void> {
  if (client) return;
  const initial = useUi.getState().status;
  try {
    evaluation = studioEvaluationOf(globalThis.location?.search ?? '');
  } catch (e) {
    fail(`${messageOf(e)}: runs evaluate on ${STUDIO_EVALUATION.docs} documents of ${STUDIO_EVALUATION.tokens} tokens`);
  }
  try {
    client = createEngineClient((message) => {
      useUi.setState((s) => ({
        gpuPending: false,
        gpuError: s.gpu ? s.gpuError : message,
        teacherLoading: false,
        corpusLoading: false,
        starting: false,
        evaluating: false,
        mixingPending: false,
        exporting: false,
        run: { running: false, paused: false, finished: false },
      }));
      fail(message);
    });
    await client.subscribe(onEvent);
    const gpu = await client.api.init({ evaluation });
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
  // Kept runs are listed, and the newest unfinished one offered (where it can run), before any teacher is loaded.
  await refreshRuns();
  if (useUi.getState().gpu) await offerResume();
}

/** Asks the engine for the newest kept run to continue (of any teacher); quiet when there is none. */
async function offerResume(): Promise<void> {
  if (!client) return;
  try {
    const info = await client.api.resumable();
    useUi.setState({ resume: info });
  } catch {
    // An engine that cannot look (no storage in this context) simply has nothing to offer.
    useUi.setState({ resume: null });
  }
}

/**
 * Whether the user lets the engine drop the student of a run that was never exported (a new teacher,
 * a new run or another kept run replaces it). Its last checkpoint stays in the Runs panel.
 */
function discardStudentOk(what: string, keepRun: string | null = null): boolean {
  const s = useUi.getState();
  const name = s.unexported;
  if (!name || (keepRun !== null && keepRun === s.currentRunId)) return true;
  return globalThis.confirm(`${what} discards the student of ${name}, which has not been exported. Its last checkpoint stays in this browser, in the Runs panel, to export or resume later. Go on?`);
}

async function loadWith(load: (c: EngineClient) => Promise<TeacherSummary>, asked = false): Promise<void> {
  if (locked()) return;
  if (!asked && !discardStudentOk('Loading a teacher')) return;
  // The engine drops its run (and student) before reading the new teacher, whatever comes of it.
  useUi.setState({ unexported: null, currentRunId: null });
  useUi.setState({ teacherLoading: true, progress: null });
  try {
    const teacher = await load(engine());
    useUi.setState({ teacher, distances: null, layerDistances: emptyLayerDistances(), selected: null, mixing: null });
  } catch (e) {
    // The engine drops its previous teacher before reading a new one, so none is loaded now.
    useUi.setState({ teacher: null });
    fail(messageOf(e));
  } finally {
    useUi.setState({ teacherLoading: false });
  }
  // The new teacher's fingerprint tells which kept runs it can resume.
  await refreshRuns();
  await offerResume();
}

/** Checks a dropped or picked set of files on the page, then hands the teacher's files to the engine. */
export async function loadTeacherFiles(picked: PickedFile[]): Promise<void> {
  if (locked()) return;
  if (picked.length === 0) return fail('no files were selected');
  const check = await checkTeacherFiles(picked);
  if (!check.ok) return fail(check.message);
  await loadWith((c) => c.api.loadTeacherFiles(check.files, check.folder));
}

export async function loadBuiltinTeacher(): Promise<void> {
  await loadWith((c) => c.api.loadBuiltinTeacher(import.meta.env.BASE_URL));
}

/** The last corpus dropped, kept so that a refusal's choices (skip bad lines, another column) can read it again. */
let lastCorpus: { picked: PickedFile[]; skipBadLines: boolean } | null = null;

/**
 * A dropped or picked corpus: files, or folders of shards. The engine reads and tokenizes it with the
 * loaded teacher's tokenizer; a refusal lands in the store with what the user may choose.
 */
export async function loadCorpusFiles(picked: PickedFile[], skipBadLines = false): Promise<void> {
  if (locked()) return;
  const check = checkCorpusFiles(picked);
  if (!check.ok) return fail(check.message);
  lastCorpus = { picked, skipBadLines };
  const textColumn = useUi.getState().corpusColumn.trim() || DEFAULT_TEXT_COLUMN;
  useUi.setState({ corpusLoading: true, corpusRefusal: null });
  try {
    const r = await engine().api.loadCorpusFiles(check.files, { textColumn, skipBadLines });
    if (!r.ok) {
      useUi.setState({ corpusRefusal: r });
      return fail(r.message);
    }
    const corpus = r.corpus;
    useUi.setState({ corpus });
    const ignored = check.ignored.length ? `; ignored ${check.ignored.join(', ')}` : '';
    useUi.getState().setStatus(
      `corpus ${corpus.name}: ${count(corpus.documents)} documents, ${count(corpus.trainTokens)} training and ${count(corpus.heldOutTokens)} held-out tokens${ignored}`,
    );
  } catch (e) {
    fail(messageOf(e));
  } finally {
    useUi.setState({ corpusLoading: false });
  }
}

/** A refusal's choice: read the same drop again skipping bad lines, or from another text column. */
export async function retryCorpus(choice: { skipBadLines: true } | { textColumn: string }): Promise<void> {
  if (!lastCorpus) return;
  if ('textColumn' in choice) useUi.setState({ corpusColumn: choice.textColumn });
  await loadCorpusFiles(lastCorpus.picked, 'skipBadLines' in choice || lastCorpus.skipBadLines);
}

export function dismissCorpusRefusal(): void {
  useUi.setState({ corpusRefusal: null });
}

function stepsText(steps: Record<number, number>, plan: DistillPlan): string {
  const parts = plan.stages.map((s) => `stage ${s}: ${count(steps[s])}`);
  return `${parts.join(', ')} steps of ${count(tokensPerStep(plan))} tokens`;
}

/**
 * Starts a run through `call` (a new plan, or a kept run's) and hands what started to `started`.
 * The run's view is laid out before the call (cleared, or a kept run's history): its first events
 * arrive before the call settles.
 */
async function launch(status: string, call: (c: EngineClient) => Promise<StartedRun>, started: (r: StartedRun) => void, view?: () => Promise<void>): Promise<void> {
  const s = useUi.getState();
  useUi.setState({ starting: true, resume: null });
  try {
    if (view) await view();
    else s.resetRun(s.plan);
    s.setStatus(status);
    const r = await call(engine());
    useUi.setState({ unexported: r.name, currentRunId: r.id, runName: r.name });
    started(r);
  } catch (e) {
    useUi.setState({ run: { running: false, paused: false, finished: false } });
    fail(messageOf(e));
    void offerResume();
  } finally {
    useUi.setState({ starting: false });
  }
}

/** Checks the form, then starts the plan: the engine checks it against the corpus, the teacher and the adapter once, and starts. */
async function startDistill(): Promise<void> {
  const s = useUi.getState();
  const errors = distillPlanErrors(s.plan, s.teacher?.layers ?? null, teacherPositions(s.teacher));
  if (Object.keys(errors).length > 0) return fail(`the plan is not valid: ${planErrorText(errors)}`);
  if (!discardStudentOk('Starting a new run')) return;
  await launch('checking the plan', (c) => c.api.startDistill(s.plan), (r) =>
    s.setStatus(`started: ${stepsText(r.steps, r.plan)}; about ${mib(r.memoryBytes)} of GPU memory`),
  );
}

/** The one run button: Start, Pause or Resume depending on the run's state. */
export async function toggleRun(): Promise<void> {
  const s = useUi.getState();
  if (!s.teacher || s.teacherLoading || s.corpusLoading || s.starting) return;
  try {
    if (s.run.running && !s.run.paused) {
      // The engine holds the run at the next step boundary and then says "paused" itself.
      s.setStatus('pausing after the step in flight');
      await engine().api.pause();
    } else if (s.run.running) {
      useUi.setState({ run: { ...s.run, paused: false } });
      s.setStatus(s.currentStage ? `resuming stage ${s.currentStage} after step ${s.lastStep}` : 'resuming');
      await engine().api.resume();
    } else {
      await startDistill();
    }
  } catch (e) {
    fail(messageOf(e));
  }
}

/** Ends the run after the step in flight; the checkpoint and the student so far stay. */
export async function stopRun(): Promise<void> {
  if (!useUi.getState().run.running) return;
  try {
    await engine().api.stopDistill();
  } catch (e) {
    fail(messageOf(e));
  }
}

/** Ends the current stage now (the engine writes its checkpoint) and goes on with the next. */
export async function skipStage(): Promise<void> {
  const s = useUi.getState();
  if (!s.run.running) return;
  try {
    s.setStatus(s.currentStage ? `skipping the rest of stage ${s.currentStage}` : 'skipping to the next stage');
    await engine().api.skipStage();
  } catch (e) {
    fail(messageOf(e));
  }
}

/**
 * Makes sure the loaded teacher is the kept run's: the built-in one is loaded when the run needs it,
 * any other must be dropped by the user. False (with the reason in the status line) when it is not.
 */
async function teacherFor(run: { name: string; teacher: string; teacherFingerprint: string }, keepRun: string): Promise<boolean> {
  const matches = () => {
    const s = useUi.getState();
    return s.teacher !== null && s.teacherFingerprint === run.teacherFingerprint;
  };
  if (matches()) return true;
  if (run.teacher === BUILTIN_TEACHER_NAME) {
    if (!discardStudentOk('Loading the run\'s teacher', keepRun)) return false;
    await loadWith((c) => c.api.loadBuiltinTeacher(import.meta.env.BASE_URL), true);
    if (matches()) return true;
    fail(`the built-in teacher is not the one ${run.name} was made with (its config.json or weights differ)`);
    return false;
  }
  const loaded = useUi.getState().teacher;
  fail(
    loaded
      ? `${run.name} needs its teacher ${run.teacher}; the loaded teacher ${loaded.name} is another (its config.json or weights differ): drop ${run.teacher}'s folder`
      : `${run.name} needs its teacher ${run.teacher}: drop its folder (its config.json and weights are checked against the run)`,
  );
  return false;
}

/** The run's summary from the Runs panel's list (or the resume offer's). */
function keptRun(id: string): Pick<RunSummary, 'id' | 'name' | 'teacher' | 'teacherFingerprint'> | null {
  const s = useUi.getState();
  const r = s.runs.find((x) => x.id === id);
  if (r) return r;
  return s.resume?.id === id ? s.resume : null;
}

/**
 * Runs `body` as the Runs panel's one action under way (on run `id`); `whileTraining` lets it run
 * beside a run that trains (one that leaves the engine's run alone).
 */
async function runAction(id: string, body: () => Promise<void>, whileTraining = false): Promise<void> {
  const s = useUi.getState();
  if (s.runsBusy || (whileTraining ? s.teacherLoading || s.corpusLoading || s.starting : locked())) return;
  useUi.setState({ runsBusy: id });
  try {
    await body();
  } catch (e) {
    fail(messageOf(e));
  } finally {
    useUi.setState({ runsBusy: null });
    void refreshRuns();
  }
}

/** Continues a kept run from its checkpoint with its own plan: the page first shows the run as stored (plan, stages, curves, evaluations). */
export async function resumeRun(id: string): Promise<void> {
  const run = keptRun(id);
  if (!run) return fail('that run is no longer kept (deleted?)');
  await runAction(id, async () => {
    if (!(await teacherFor(run, id))) return;
    if (!discardStudentOk('Resuming another run', id)) return;
    const history = await engine().api.runHistory(id);
    const at = history.record.stage ? `stage ${history.record.stage} from step ${history.record.step}` : 'the start';
    // launch leaves `starting` set until the engine answers; the Runs panel's action ends with it.
    useUi.setState({ runsBusy: null });
    await launch(`resuming ${history.record.name} at ${at}`, (c) => c.api.resumeRun(id), (r) => useUi.getState().adoptRunPlan(r.plan), () =>
      restoreRunView(history.record.plan, history.records),
    );
  });
}

/** Continues the run the resume offer names. */
export async function resumeDistill(): Promise<void> {
  const info = useUi.getState().resume;
  if (!info) return;
  await resumeRun(info.id);
}

/** Makes a kept run the engine's run (its student, at its checkpoint) and shows it; nothing when it already is. */
async function openRun(id: string): Promise<boolean> {
  if (useUi.getState().currentRunId === id) return true;
  const run = keptRun(id);
  if (!run) {
    fail('that run is no longer kept (deleted?)');
    return false;
  }
  if (!(await teacherFor(run, id))) return false;
  if (!discardStudentOk('Opening another run', id)) return false;
  const history = await engine().api.runHistory(id);
  useUi.getState().setStatus(`opening ${history.record.name}`);
  const r = await engine().api.openRun(id);
  await restoreRunView(r.plan, history.records, history.record.done);
  useUi.setState({ currentRunId: id, runName: history.record.name, unexported: history.record.exported ? null : history.record.name });
  return true;
}

/** Held-out NLL of a kept run's student (and continuations), in the evaluation panel. */
export async function evaluateRun(id: string): Promise<void> {
  await runAction(id, async () => {
    if (await openRun(id)) await evaluateNow();
  });
}

/** A kept run's student as one .zip named after the run. */
export async function exportRun(id: string): Promise<void> {
  await runAction(id, async () => {
    if (await openRun(id)) await exportStudent('downloads');
  });
}

/** Removes a kept run and its files, after a confirmation naming it. */
export async function deleteRun(id: string): Promise<void> {
  const run = useUi.getState().runs.find((r) => r.id === id);
  if (!run) return;
  if (!globalThis.confirm(`Delete the run ${run.name} (${run.teacher}, ${bytes(run.bytes)})? Its checkpoint, student and history are removed from this browser${run.exported ? '' : '; its student was never exported'}.`)) return;
  if (run.status === 'running' || run.status === 'paused') return fail(`${run.name} is training: stop it before deleting it`);
  await runAction(id, async () => {
    await engine().api.deleteRun(id);
    const s = useUi.getState();
    useUi.setState({ compare: s.compare.filter((x) => x !== id), overlays: s.overlays.filter((o) => o.id !== id), ...(s.resume?.id === id ? { resume: null } : {}) });
    if (s.currentRunId === id) {
      s.resetRun(s.plan);
      useUi.setState({ currentRunId: null, runName: null, unexported: null });
    }
    useUi.getState().setStatus(`deleted ${run.name}`);
  }, true);
}

/** Picks a kept run to compare (its curves become an overlay once read), or unpicks it. */
export async function toggleCompare(id: string): Promise<void> {
  const s = useUi.getState();
  if (s.compare.includes(id)) {
    useUi.setState({ compare: s.compare.filter((x) => x !== id), overlays: s.overlays.filter((o) => o.id !== id) });
    return;
  }
  const run = s.runs.find((r) => r.id === id);
  if (!run) return;
  useUi.setState({ compare: [...s.compare, id] });
  try {
    const h = await engine().api.runHistory(id);
    const overlay = overlayOf({ id, name: run.name, label: `${run.name}${run.current ? ' (this run)' : ''}` }, h.records);
    // Unpicked meanwhile: nothing to show.
    const now = useUi.getState();
    if (now.compare.includes(id)) useUi.setState({ overlays: [...now.overlays.filter((o) => o.id !== id), overlay].sort((a, b) => now.compare.indexOf(a.id) - now.compare.indexOf(b.id)) });
  } catch (e) {
    useUi.setState((st) => ({ compare: st.compare.filter((x) => x !== id) }));
    fail(messageOf(e));
  }
}

export function dismissResume(): void {
  useUi.setState({ resume: null });
}

/** The teacher's attention and the student's SSD matrix of one (layer, head), for the heatmaps. */
export async function showMixing(layer: number, head: number): Promise<void> {
  useUi.setState({ selected: { layer, head }, mixingPending: true });
  try {
    const at = runPoint(useUi.getState());
    const sample = await engine().api.mixingSample(layer, head);
    // A later click wins: drop an answer to an earlier one.
    const sel = useUi.getState().selected;
    if (sel && sel.layer === layer && sel.head === head) useUi.setState({ mixing: sample, mixingAt: at, mixingNote: null });
  } catch (e) {
    fail(messageOf(e));
  } finally {
    const sel = useUi.getState().selected;
    if (sel && sel.layer === layer && sel.head === head) useUi.setState({ mixingPending: false });
  }
}

/** Held-out NLL of both models and a continuation of the prompt from each (arrive as events). */
export async function evaluateNow(): Promise<void> {
  const s = useUi.getState();
  if (s.evaluating || !s.teacher) return;
  useUi.setState({ evaluating: true });
  try {
    await engine().api.evaluate(s.prompt);
  } catch (e) {
    fail(messageOf(e));
  } finally {
    useUi.setState({ evaluating: false });
  }
}

/**
 * The student: its files into a folder the user picks (File System Access API), or one .zip named
 * after the run as a download (its files one by one when the zip would reach 4 GiB). The folder is
 * asked for first, while the click still counts as the user's gesture.
 */
export async function exportStudent(to: 'downloads' | 'folder'): Promise<void> {
  const s = useUi.getState();
  if (s.exporting) return;
  useUi.setState({ exporting: true });
  try {
    const dir = to === 'folder' && canPickFolder() ? await pickFolder() : null;
    if (to === 'folder' && !dir) return;
    s.setStatus('writing the student');
    const { files: written, zipTooLarge } = await engine().api.exportStudent(dir ? 'files' : 'zip');
    const files = written.map((f) => ({ name: f.name, data: f.file }));
    const size = written.reduce((a, f) => a + f.file.size, 0);
    if (dir) await saveToFolder(dir, files);
    else await downloadFiles(files);
    useUi.setState({ unexported: null });
    await engine().api.markExported();
    void refreshRuns();
    const why = zipTooLarge ? ' as separate files: a .zip holds under 4 GiB' : '';
    s.setStatus(`exported ${files.map((f) => f.name).join(', ')} (${bytes(size)})${dir ? ` to ${dir.name}/` : why}`);
  } catch (e) {
    fail(messageOf(e));
  } finally {
    useUi.setState({ exporting: false });
  }
}

/** The layers stage 3 of an auto:K run keeps as attention: the advisor's choice, or the user's edit of it. */
export async function chooseAttentionLayers(layers: number[]): Promise<void> {
  try {
    await engine().api.chooseAttentionLayers(layers);
  } catch (e) {
    fail(messageOf(e));
  }
}
