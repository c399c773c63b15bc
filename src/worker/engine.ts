// The engine behind the page, in a worker: owns the GPU, the loaded teacher and corpus, and the run,
// which the run driver (src/mohawk/run.ts) carries out; this shell turns the page's calls into it and
// its RunEvents into the page's events, and keeps checkpoints in the browser's private file system.
import { releaseProxy } from 'comlink';
import { zipSync } from 'fflate';
import { Gpu } from '../gpu/runtime';
import { corpusFileText, DOC_SEPARATOR } from '../io/corpus';
import { browserFileSet, fetchFileSet, readJson, type FileSet } from '../io/files';
import { joinBytes } from '../io/safetensors';
import { loadTeacher, teacherName, type LoadedTeacher } from '../models/teacher';
import { opfsStore, type CheckpointStore } from '../mohawk/checkpoint';
import { calibrate, CalibrationCancelled, type Calibration } from '../mohawk/calibrate';
import { continuations, mixingSample, type MixingSample } from '../mohawk/inspect';
import { validatePlan } from '../mohawk/plan';
import { Run, peekRunState, teacherFilesFingerprint, type RunEvent } from '../mohawk/run';
import { TokenStream } from '../mohawk/token-stream';
import { STUDIO_EVALUATION, type CorpusSummary, type DistillApi, type DistillEvent, type DistillPlan, type EngineApi, type EngineEvent, type GpuSummary, type ResumeInfo, type StartedRun, type TeacherSummary } from './api';

export const BUILTIN_TEACHER_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
export const BUILTIN_CORPUS = 'corpus/tinystories-2MiB.txt';
const MAX_DOCS = 2000;
const HELD_OUT = 0.1;

type AnyEvent = EngineEvent | DistillEvent;

/** Dropped corpus files as one text: JSONL lines' "text" fields become documents. */
export function corpusText(name: string, text: string): string {
  if (!/\.jsonl$/i.test(name)) return text;
  const docs: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let j: unknown;
    try {
      j = JSON.parse(line);
    } catch {
      throw new Error(`${name}, line ${i + 1}: not valid JSON`);
    }
    const t = (j as { text?: unknown })?.text;
    if (typeof t !== 'string') throw new Error(`${name}, line ${i + 1}: no "text" string field`);
    docs.push(t);
  });
  return docs.join(`\n${DOC_SEPARATOR}\n`);
}

export class Engine implements EngineApi, DistillApi {
  private gpu: Gpu | null = null;
  private teacher: LoadedTeacher | null = null;
  private teacherFiles: FileSet | null = null;
  private teacherName = '';
  private corpus: { name: string; text: string } | null = null;
  private baseUrl = '/';
  private readonly listeners: ((e: AnyEvent) => void)[] = [];
  private run: Run | null = null;
  private running = false;
  /** A cost measurement in progress, and the last one made for the loaded teacher (a run's ETA counts later stages by it). */
  private costing: { abort: AbortController; done: Promise<Calibration> } | null = null;
  private calibration: Calibration | null = null;
  /** Loads and starts in progress: they change what a measurement reads, so none may begin meanwhile. */
  private exclusive = 0;

  /** Runs `f` (a teacher load, a run's start) with no cost measurement under it: one in progress ends first. */
  private async withoutMeasuring<T>(f: () => Promise<T>): Promise<T> {
    this.exclusive++;
    try {
      await this.cancelCost();
      return await f();
    } finally {
      this.exclusive--;
    }
  }

  private emit(e: AnyEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener that went away (closed page) must not stop the engine.
      }
    }
  }

  private status(text: string, level: 'info' | 'error' = 'info'): void {
    this.emit({ type: 'status', text, level });
  }

  private state(paused = false, finished = false): void {
    this.emit({ type: 'state', running: this.running, paused, finished, runElapsedS: this.run?.elapsedS });
  }

  async subscribe(listener: (e: AnyEvent) => void): Promise<void> {
    this.listeners.push(listener);
  }

  async init(): Promise<GpuSummary> {
    if (!this.gpu) {
      this.gpu = await Gpu.create({ notice: (line) => this.status(line) });
      void this.gpu.lost.then((msg) => {
        if (this.gpu?.deviceLost) {
          this.running = false;
          this.status(`${msg}. The last checkpoint is kept: reload the page and resume.`, 'error');
          this.state();
        }
      });
    }
    return this.gpu.info;
  }

  private async device(): Promise<Gpu> {
    if (!this.gpu) await this.init();
    return this.gpu!;
  }

  async loadTeacherFiles(files: File[], folder: string | null): Promise<TeacherSummary> {
    return this.load(browserFileSet(files), folder);
  }

  async loadBuiltinTeacher(baseUrl: string): Promise<TeacherSummary> {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
    const dir = `${this.baseUrl}teacher/stories260K/`;
    return this.load(fetchFileSet(dir, BUILTIN_TEACHER_FILES), 'stories260K (built in)');
  }

  /** `name` null: the teacher is named by its config.json (teacherName). */
  private async load(files: FileSet, given: string | null): Promise<TeacherSummary> {
    if (this.running) throw new Error('a run is in progress: pause it before loading another teacher');
    return this.withoutMeasuring(() => this.loadNow(files, given));
  }

  private async loadNow(files: FileSet, given: string | null): Promise<TeacherSummary> {
    this.calibration = null;
    const gpu = await this.device();
    this.run?.release();
    this.run = null;
    this.teacher?.release();
    this.teacher = null;
    this.status(`reading ${files.names.join(', ')}`);
    // Nothing goes to the GPU yet: the run uploads the teacher when its plan needs it whole.
    const name = given ?? teacherName(files.has('config.json') ? await readJson(files, 'config.json') : null);
    const t = await loadTeacher(gpu, files, name, undefined, {
      upload: false,
      onRead: (done, total) => this.emit({ type: 'progress', label: 'reading the weights (parameters)', done, total }),
    });
    this.teacher = t;
    this.teacherFiles = files;
    this.teacherName = name;
    this.status(`loaded ${t.summary.name}: ${t.summary.modelType}, ${t.summary.layers} layers, ${(t.summary.parameters / 1e6).toFixed(2)}M parameters`);
    for (const w of t.summary.warnings) this.status(`warning: ${w}`);
    return t.summary;
  }

  private needTeacher(): LoadedTeacher {
    if (!this.teacher) throw new Error('load a teacher first');
    return this.teacher;
  }

  private async corpusSource(): Promise<{ name: string; text: string }> {
    if (this.corpus) return this.corpus;
    const r = await fetch(this.baseUrl + BUILTIN_CORPUS);
    if (!r.ok) throw new Error(`could not fetch the built-in corpus (${r.status} ${r.statusText})`);
    this.corpus = { name: 'TinyStories (built in)', text: await r.text() };
    return this.corpus;
  }

  // Tokenizing thousands of documents is the slow part of starting: done once per (corpus, teacher),
  // each run getting its own sampler.
  private tokenized: { text: string; teacher: LoadedTeacher; stream: TokenStream } | null = null;

  private stream(text: string): TokenStream {
    const teacher = this.needTeacher();
    if (this.tokenized?.text !== text || this.tokenized.teacher !== teacher) {
      this.tokenized = { text, teacher, stream: TokenStream.fromText(text, teacher.tokenizer, { maxDocs: MAX_DOCS, heldOutFraction: HELD_OUT }) };
    }
    return this.tokenized.stream.fresh();
  }

  async loadCorpusFiles(files: File[]): Promise<CorpusSummary> {
    if (this.running) throw new Error('a run is in progress: the corpus cannot change under it');
    if (files.length === 0) throw new Error('no corpus file was given');
    const parts: string[] = [];
    for (const f of files) {
      const text = corpusText(f.name, corpusFileText(f.name, new Uint8Array(await f.arrayBuffer())));
      if (!text.trim()) throw new Error(`${f.name} is empty`);
      parts.push(text);
    }
    const name = files.map((f) => f.name).join(', ');
    const text = parts.join(`\n${DOC_SEPARATOR}\n`);
    const summary: CorpusSummary = { name, documents: 0, trainTokens: 0, heldOutTokens: 0 };
    if (this.teacher) {
      const s = this.stream(text);
      summary.documents = s.documents;
      summary.trainTokens = s.trainTokens;
      summary.heldOutTokens = s.heldOut.reduce((a, d) => a + d.length, 0);
    }
    this.corpus = { name, text };
    this.status(`corpus: ${name}${summary.trainTokens ? `, ${summary.trainTokens.toLocaleString('en')} training tokens` : ''}`);
    return summary;
  }

  private async store(): Promise<CheckpointStore> {
    return opfsStore(await teacherFilesFingerprint(this.teacherFiles!));
  }

  async startDistill(plan: DistillPlan): Promise<StartedRun> {
    return this.begin(plan);
  }

  async resumeDistill(): Promise<StartedRun> {
    return this.begin(null);
  }

  async resumable(): Promise<ResumeInfo | null> {
    if (!this.teacher || typeof navigator === 'undefined' || !navigator.storage?.getDirectory) return null;
    const s = await peekRunState(await this.store());
    if (!s || s.done || !s.stage) return null;
    return { teacher: this.teacher.summary.name, stage: s.stage, step: s.step ?? 0, savedAt: s.savedAtMs };
  }

  /** Prepares a run (a new one of `plan`, or the checkpoint's when null) and starts it; resolves once it runs. */
  private async begin(plan: DistillPlan | null): Promise<StartedRun> {
    if (this.running) throw new Error('already running');
    return this.withoutMeasuring(() => this.beginNow(plan));
  }

  private async beginNow(plan: DistillPlan | null): Promise<StartedRun> {
    if (this.running) throw new Error('already running');
    const teacher = this.needTeacher();
    const gpu = await this.device();
    const corpus = await this.corpusSource();
    this.run?.release();
    this.run = null;
    const store = await this.store().catch(() => null);
    if (plan === null && !store) throw new Error('this browser keeps no checkpoints here: there is nothing to resume');
    this.running = true;
    let run: Run;
    try {
      run = await Run.prepare({
        gpu,
        teacher,
        teacherFiles: this.teacherFiles!,
        teacherName: this.teacherName,
        corpus: this.stream(corpus.text),
        corpusName: corpus.name,
        docs: MAX_DOCS,
        heldOut: HELD_OUT,
        plan,
        store,
        resume: plan === null,
        saveEveryS: 180,
        evaluation: { ...STUDIO_EVALUATION, atStageEnds: true },
        tool: 'mohawk studio',
        calibration: this.calibration,
        onEvent: (e) => this.onRunEvent(e),
      });
    } catch (e) {
      this.running = false;
      throw e;
    }
    this.run = run;
    if (run.from) {
      this.status(`resuming at stage ${run.from.stage}, step ${run.from.step}`);
      for (const s of run.completed) this.emit({ type: 'stage', stage: s, state: 'finished', steps: run.steps[s], tokens: run.tokensDone[s] });
    }
    this.state();
    void this.drive(run);
    return { name: run.name, plan: run.plan, steps: run.steps, memoryBytes: run.memoryBytes, from: run.from ?? null };
  }

  private onRunEvent(e: RunEvent): void {
    switch (e.type) {
      case 'notice':
        return this.status(e.text);
      case 'progress':
        return this.emit(e);
      case 'stage':
        this.emit({ type: 'stage', stage: e.stage, state: e.state, steps: e.steps, tokens: e.tokens });
        return this.status(`stage ${e.stage} ${e.state}`);
      case 'step':
        this.emit({ type: 'metric', stage: e.stage, step: e.step, tokens: e.tokens, loss: e.loss, tokensPerS: e.tokensPerS });
        return this.emit({ type: 'timing', stage: e.stage, step: e.step, steps: e.steps, elapsedS: e.elapsedS, etaS: e.etaS, runElapsedS: e.runElapsedS, runEtaS: e.runEtaS });
      case 'distances':
        return this.emit({ type: 'distances', layers: e.layers, heads: e.heads, values: Array.from(e.values) });
      case 'checkpoint':
        return this.emit({ type: 'checkpoint', stage: e.stage, step: e.step, tokens: e.tokens, at: e.at });
      case 'eval':
        return this.emit(e);
      case 'paused':
        if (e.paused) {
          const at = this.run?.lastPoint;
          this.status(at ? `paused after stage ${at.stage}, step ${at.step}` : 'paused');
        }
        return this.state(e.paused);
    }
  }

  private async drive(run: Run): Promise<void> {
    try {
      const outcome = await run.train();
      this.running = false;
      this.state(false, outcome === 'finished');
      const at = run.lastCheckpoint;
      this.status(
        outcome === 'finished'
          ? 'distillation finished: export the student or evaluate it'
          : `stopped${at ? ` at stage ${at.stage}, step ${at.step}` : ''}: the checkpoint and the student so far are kept (evaluate or export it, or resume the run)`,
      );
    } catch (e) {
      this.running = false;
      const at = run.lastCheckpoint;
      const where = at ? ` The last good checkpoint is stage ${at.stage}, step ${at.step}.` : '';
      this.status(`${e instanceof Error ? e.message : String(e)}.${where}`, 'error');
      this.state();
    }
  }

  async pause(): Promise<void> {
    if (this.running) this.run?.pause();
  }

  async resume(): Promise<void> {
    this.run?.resume();
  }

  async stopDistill(): Promise<void> {
    if (!this.running || !this.run) throw new Error('no run is in progress');
    this.status('stopping after the step in flight');
    this.run.stop();
  }

  async skipStage(): Promise<void> {
    if (!this.running || !this.run) throw new Error('no run is in progress');
    this.run.skip();
  }

  async measureCost(plan: DistillPlan, onProgress?: (label: string, done: number, total: number) => void): Promise<Calibration> {
    try {
      while (this.costing) await this.cancelCost();
      if (this.running) throw new Error('a run is in progress: its own pace refines the estimate');
      if (this.exclusive > 0) throw new Error('cancelled: a teacher is loading or a run is starting');
      const abort = new AbortController();
      const done = this.calibrate(plan, abort.signal, onProgress);
      this.costing = { abort, done };
      try {
        const cal = await done;
        this.calibration = cal;
        return cal;
      } catch (e) {
        if (e instanceof CalibrationCancelled) throw new Error(`cancelled: ${e.message}`);
        throw e;
      } finally {
        if (this.costing?.abort === abort) this.costing = null;
      }
    } finally {
      // The page's callback is a comlink proxy: its port is closed once the measurement is over.
      (onProgress as unknown as { [releaseProxy]?: () => void } | undefined)?.[releaseProxy]?.();
    }
  }

  private async calibrate(plan: DistillPlan, signal: AbortSignal, onProgress?: (label: string, done: number, total: number) => void): Promise<Calibration> {
    const teacher = this.needTeacher();
    const gpu = await this.device();
    const corpus = this.stream((await this.corpusSource()).text);
    validatePlan(plan, { teacher: { config: teacher.config, parameters: teacher.summary.parameters }, trainTokens: corpus.trainTokens, limits: gpu.info.limits });
    if (signal.aborted) throw new CalibrationCancelled();
    return calibrate(gpu, teacher, corpus, plan, {
      evaluation: STUDIO_EVALUATION,
      signal,
      // A page that went away must not fail the measurement.
      onProgress: (label, done, total) => void Promise.resolve(onProgress?.(label, done, total)).catch(() => {}),
    });
  }

  async cancelCost(): Promise<void> {
    const c = this.costing;
    if (!c) return;
    c.abort.abort();
    await c.done.catch(() => {});
  }

  private needRun(): Run {
    if (!this.run) throw new Error('start a distillation first: there is no student yet');
    return this.run;
  }

  async mixingSample(layer: number, head: number): Promise<MixingSample> {
    return mixingSample(await this.device(), this.needRun().distiller, layer, head);
  }

  async evaluate(prompt: string): Promise<void> {
    const run = this.needRun();
    if (this.running && !run.isPaused) throw new Error('pause the run to evaluate');
    await run.evaluate();
    const c = await continuations(await this.device(), run.distiller, prompt || 'Once upon a time');
    this.emit({ type: 'sample', prompt, ...c });
  }

  async exportStudent(as: 'zip' | 'files'): Promise<{ name: string; bytes: Uint8Array }[]> {
    const run = this.needRun();
    const files = (await run.studentFiles()).map((f) => ({ name: f.name, bytes: joinBytes(f.parts) }));
    if (as === 'files') return files;
    // Stored, not deflated: f32 weights barely compress, and a large student would take long.
    const zip = zipSync(Object.fromEntries(files.map((f) => [f.name, [f.bytes, { level: 0 }]])));
    return [{ name: `${run.name}.zip`, bytes: zip }];
  }

}
