// The engine behind the page, in a worker: owns the GPU, the loaded teacher and corpus, and the run,
// which the run driver (src/mohawk/run.ts) carries out; this shell turns the page's calls into it and
// its RunEvents into the page's events, and keeps each run (checkpoint, history, record) in a folder
// of its own in the browser's private file system (src/mohawk/run-library.ts).
import { releaseProxy } from 'comlink';
import { Gpu } from '../gpu/runtime';
import { CorpusError } from '../io/corpus';
import type { CorpusFile } from '../io/corpus-bytes';
import { CorpusReader, DEFAULT_TEXT_COLUMN, formatOf, type CorpusReadOptions } from '../io/corpus-read';
import { browserCorpusFile } from '../io/corpus-sources';
import { corpusBytes, openCorpusStore, type CorpusStore } from '../io/corpus-store';
import type { TokenFill } from '../io/token-fill';
import { opfsTokenCache } from '../io/token-cache';
import { clearOpfsScratch, memoryFlatStore, opfsFlatFile, type FlatStoreFactory } from '../io/flat-file';
import { inlinePool, workerPool, type TokenizePool } from '../io/tokenize-pool';
import type { TeacherTokenizer } from '../io/tokenizer';
import { browserFileSet, bytesSource, fetchFileSet, readJson, type FileSet } from '../io/files';
import { loadTeacher, teacherName, type LoadedTeacher } from '../models/teacher';
import { STATE_FILE, type RunFiles } from '../mohawk/checkpoint';
import { calibrate, CalibrationCancelled, type Calibration } from '../mohawk/calibrate';
import { HistoryRecorder, foldHistory, readHistory, type RunPoint } from '../mohawk/history';
import { continuations, mixingSample, type MixingSample } from '../mohawk/inspect';
import { heldOutSample, runMixerLab, type MixerLabOptions, type MixerLabProgress, type MixerLabResult } from '../mohawk/mixer-lab';
import { stepsPerStage, validatePlan } from '../mohawk/plan';
import { peekRunState, Run, runName, teacherFilesFingerprint, type RunEvent } from '../mohawk/run';
import { writeExport, type ExportResult } from './export-store';
import { listRuns, newRecord, newRunId, opfsRunLibrary, readRecord, writeRecord, type RunLibrary, type RunRecord, type StoredRun } from '../mohawk/run-library';
import { corpusModeFor, TokenStream, type CorpusMode } from '../mohawk/token-stream';
import {
  BUILTIN_TEACHER_NAME,
  STUDIO_EVALUATION,
  type StudioEvaluation,
  type CorpusFileIn,
  type CorpusLoad,
  type CorpusOptions,
  type CorpusSummary,
  type DistillApi,
  type DistillEvent,
  type DistillPlan,
  type EngineApi,
  type EngineEvent,
  type GpuSummary,
  type MixerLabApi,
  type ResumeInfo,
  type RunHistory,
  type RunList,
  type RunSummary,
  type StartedRun,
  type TeacherSummary,
} from './api';

export const BUILTIN_TEACHER_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
export const BUILTIN_CORPUS = 'corpus/tinystories-2MiB.txt';
const MAX_DOCS = 2000;
const HELD_OUT = 0.1;

type AnyEvent = EngineEvent | DistillEvent;

/** The corpus a run reads: its files and how they are read (read.maxDocs: the documents used, null for all). */
interface CorpusChoice {
  name: string;
  files: CorpusFile[];
  read: CorpusReadOptions;
}

/** Tokenizing workers beside this one (a core is left to the page and one to this worker), else this thread. */
function tokenizePool(tok: TeacherTokenizer): TokenizePool {
  if (typeof Worker === 'undefined') return inlinePool(tok);
  const size = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 2));
  return workerPool(
    () => {
      const w = new Worker(new URL('./tokenize.worker.ts', import.meta.url), { type: 'module', name: 'mohawk-tokenize' });
      return {
        post: (m, transfer) => w.postMessage(m, transfer ?? []),
        onMessage: (cb) => w.addEventListener('message', (ev) => cb(ev.data)),
        onError: (cb) => w.addEventListener('error', (ev) => cb(ev.message || 'the tokenizing worker could not be loaded')),
        terminate: () => w.terminate(),
      };
    },
    size,
    tok.source,
  );
}

const hasOpfs = () => typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function';

export interface EngineOptions {
  /** Corpora over this many bytes are trained on while they are tokenized (default STREAM_BYTES; tests lower it). */
  streamBytes?: number;
  /** The held-out evaluation of every run and cost measurement (default STUDIO_EVALUATION; tests make it smaller). */
  evaluation?: StudioEvaluation;
}

export class Engine implements EngineApi, DistillApi, MixerLabApi {
  /** The held-out evaluation of every run and cost measurement: the options', or the page's (init). */
  private evaluation: StudioEvaluation;

  constructor(private readonly options: EngineOptions = {}) {
    this.evaluation = options.evaluation ?? STUDIO_EVALUATION;
  }

  private gpu: Gpu | null = null;
  private teacher: LoadedTeacher | null = null;
  private teacherFiles: FileSet | null = null;
  private teacherName = '';
  private corpus: CorpusChoice | null = null;
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
  /** A kept run is being opened (to evaluate or export it): nothing else may start meanwhile. */
  private opening = false;
  /** The mixer lab, while it runs: it holds the GPU, the teacher and the corpus as a run does. */
  private lab: { stop: boolean } | null = null;

  /** Throws when the mixer lab runs: `what` would change what it reads, or compete for the GPU. */
  private notDuringLab(what: string): void {
    if (this.lab) throw new Error(`the mixer lab is running: cancel it before ${what}`);
  }
  /** The loaded teacher's fingerprint: a kept run continues only with the teacher it was made with. */
  private fingerprint: string | null = null;
  /** The kept runs (null where this browser has no storage for them). */
  private readonly library: RunLibrary | null = typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function' ? opfsRunLibrary() : null;
  /** this.run's folder, record and history writer (null for a run kept nowhere). */
  private current: { id: string; files: RunFiles; record: RunRecord; history: HistoryRecorder } | null = null;
  /** run.json writes, one after another. */
  private recordWrites: Promise<void> = Promise.resolve();

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

  async init(options: { evaluation?: StudioEvaluation } = {}): Promise<GpuSummary> {
    if (options.evaluation) this.evaluation = { docs: options.evaluation.docs, tokens: options.evaluation.tokens };
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
    return this.load(fetchFileSet(dir, BUILTIN_TEACHER_FILES), BUILTIN_TEACHER_NAME);
  }

  /** `name` null: the teacher is named by its config.json (teacherName). */
  private async load(files: FileSet, given: string | null): Promise<TeacherSummary> {
    if (this.running || this.opening) throw new Error('a run is in progress: pause it before loading another teacher');
    this.notDuringLab('loading another teacher');
    return this.withoutMeasuring(() => this.loadNow(files, given));
  }

  private async loadNow(files: FileSet, given: string | null): Promise<TeacherSummary> {
    this.calibration = null;
    const gpu = await this.device();
    await this.dropRun();
    this.teacher?.release();
    this.teacher = null;
    this.fingerprint = null;
    this.status(`reading ${files.names.join(', ')}`);
    // Nothing goes to the GPU yet: the run uploads the teacher when its plan needs it whole.
    const name = given ?? teacherName(files.has('config.json') ? await readJson(files, 'config.json') : null);
    const t = await loadTeacher(gpu, files, name, undefined, {
      upload: false,
      onRead: (done, total) => this.emit({ type: 'progress', label: 'reading the weights', done, total, unit: 'values' }),
    });
    this.teacher = t;
    this.teacherFiles = files;
    this.teacherName = name;
    this.fingerprint = await teacherFilesFingerprint(files);
    this.status(`loaded ${t.summary.name}: ${t.summary.modelType}, ${t.summary.layers} layers, ${(t.summary.parameters / 1e6).toFixed(2)}M parameters`);
    for (const w of t.summary.warnings) this.status(`warning: ${w}`);
    if (this.corpus) this.countCorpus(this.corpus);
    return t.summary;
  }

  private needTeacher(): LoadedTeacher {
    if (!this.teacher) throw new Error('load a teacher first');
    return this.teacher;
  }

  private async corpusSource(): Promise<CorpusChoice> {
    if (this.corpus) return this.corpus;
    const r = await fetch(this.baseUrl + BUILTIN_CORPUS);
    if (!r.ok) throw new Error(`could not fetch the built-in corpus (${r.status} ${r.statusText})`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    const name = BUILTIN_CORPUS.split('/').pop()!;
    // The built-in corpus keeps the first MAX_DOCS stories, as every run (and checkpoint) of it has.
    this.corpus = { name: 'TinyStories (built in)', files: [{ name, size: bytes.length, modified: 0, source: bytesSource(name, bytes) }], read: { maxDocs: MAX_DOCS } };
    return this.corpus;
  }

  // Tokenizing thousands of documents is the slow part of starting: done once per (corpus, teacher),
  // each run getting its own sampler. A corpus over STREAM_BYTES is trained on while it is tokenized
  // (token-stream.ts): its tokenizing goes on in the background, shown on the corpus card.
  private tokenized: {
    corpus: CorpusChoice;
    teacher: LoadedTeacher;
    /** How a new run reads it (by its size); a resumed run reads it as its checkpoint did. */
    mode: CorpusMode;
    fill: TokenFill;
    done: Promise<CorpusStore>;
    notes: string[];
    whole?: TokenStream;
    streaming?: TokenStream;
    /** Bytes of its files read so far, while tokenizing goes on. */
    read: { done: number; total: number };
    stop(): void;
  } | null = null;

  /** A corpus's tokenizing being opened (stream's first part): another caller waits for it, not opens it twice. */
  private corpusOpening: Promise<void> | null = null;

  private async stream(corpus: CorpusChoice, mode?: CorpusMode): Promise<TokenStream> {
    while (this.corpusOpening) await this.corpusOpening;
    const teacher = this.needTeacher();
    if (this.tokenized?.corpus !== corpus || this.tokenized.teacher !== teacher) {
      let opened!: () => void;
      this.corpusOpening = new Promise<void>((r) => (opened = r));
      try {
        await this.openTokenized(corpus, teacher);
      } finally {
        this.corpusOpening = null;
        opened();
      }
    }
    const t = this.tokenized!;
    if ((mode ?? t.mode) === 'streaming') return (t.streaming ??= TokenStream.streaming(t.fill, { heldOutFraction: HELD_OUT })).fresh();
    if (!t.whole) {
      if (!t.fill.complete) this.status(`corpus ${corpus.name}: this run read it whole, so it waits for all of it to be tokenized`);
      t.whole = TokenStream.fromStore((await t.done).store, { heldOutFraction: HELD_OUT });
    }
    return t.whole.fresh();
  }

  /**
   * A corpus dropped before any teacher was only read through (no tokenizer yet): once a teacher is
   * in, it is tokenized behind the page and the corpus card gets its token counts.
   */
  private countCorpus(c: CorpusChoice): void {
    this.stream(c).then(
      () => {
        const t = this.tokenized;
        if (this.corpus === c && t?.corpus === c) this.emit({ type: 'corpus', corpus: this.corpusSummary(c, t) });
      },
      (err: unknown) => {
        if (this.corpus !== c) return;
        this.corpus = null;
        this.refuseCorpus(c, err);
      },
    );
  }

  /** Says a corpus was refused while tokenizing, and hands the card its refusal. */
  private refuseCorpus(c: CorpusChoice, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.status(`corpus ${c.name} refused while tokenizing: ${message}`, 'error');
    const kind = err instanceof CorpusError ? err.kind : 'refused';
    this.emit({ type: 'corpus', corpus: null, refusal: { ok: false, kind, message, ...(err instanceof CorpusError && err.columns ? { columns: err.columns } : {}) } });
  }

  /** Opens `corpus`'s token store under `teacher` (tokenizing it, or reusing an earlier tokenization) as this.tokenized. */
  private async openTokenized(corpus: CorpusChoice, teacher: LoadedTeacher): Promise<void> {
    const label = `tokenizing ${corpus.name}`;
    const streams = corpusModeFor(corpusBytes(corpus.files), this.options.streamBytes) === 'streaming';
    let entry: NonNullable<Engine['tokenized']> | null = null;
    const read = { done: 0, total: corpusBytes(corpus.files) };
    const opened = await openCorpusStore({
      files: corpus.files,
      read: corpus.read,
      tokenizer: teacher.tokenizer,
      pool: () => tokenizePool(teacher.tokenizer),
      cache: hasOpfs() ? opfsTokenCache() : null,
      onNotice: (t) => this.status(`warning: ${t}`),
      onProgress: (p) => {
        read.done = p.bytesDone;
        // A streaming corpus keeps tokenizing under a run: its progress goes to the corpus card, not the run's bar.
        if (entry?.streaming && this.tokenized === entry) return this.emit({ type: 'corpus', corpus: this.corpusSummary(corpus, entry) });
        this.emit({
          type: 'progress',
          label: `${label}: ${p.documents.toLocaleString('en')} documents, ${Math.round(p.tokensPerS).toLocaleString('en')} tokens/s`,
          done: p.bytesDone,
          total: Math.max(1, p.bytesTotal),
          unit: 'bytes',
        });
      },
    });
    const e: NonNullable<Engine['tokenized']> = { corpus, teacher, mode: streams ? 'streaming' : 'whole', fill: opened.fill, done: opened.done, notes: [], read, stop: opened.stop };
    if (!streams || opened.reused) {
      const cs = await opened.done;
      e.notes = cs.notes;
      if (cs.reused) this.status(`corpus ${corpus.name}: ${cs.store.tokens.toLocaleString('en')} tokens reused from an earlier tokenization (kept in the browser's private file system)`);
    } else {
      e.streaming = TokenStream.streaming(opened.fill, { heldOutFraction: HELD_OUT });
      // The first documents are in before anything starts on it, so that a corpus refused at once is refused as any other.
      await opened.fill.until(() => opened.fill.documents > 0).catch(() => opened.done);
      // The run's bar is the run's from now on.
      this.emit({ type: 'progress', label, done: 1, total: 1 });
      opened.done.then(
        (cs) => {
          e.notes = cs.notes;
          if (this.tokenized !== e) return;
          this.status(`corpus ${corpus.name}: all ${cs.store.tokens.toLocaleString('en')} tokens in (kept in the browser's private file system for the next run)`);
          this.emit({ type: 'corpus', corpus: this.corpusSummary(corpus, e) });
        },
        (err: unknown) => {
          if (this.tokenized !== e) return;
          // Nothing of a refused corpus stays (a run on it stops itself, with a checkpoint): the built-in one is the corpus again.
          this.tokenized = null;
          if (this.corpus === corpus) this.corpus = null;
          this.refuseCorpus(corpus, err);
        },
      );
    }
    entry = e;
    // A corpus (or teacher) replaced while its tokenizing goes on: nothing will read the rest.
    const old = this.tokenized;
    this.tokenized = e;
    if (old && !old.fill.complete) old.stop();
  }

  /** The corpus card's figures (those so far, while a streaming corpus is tokenized). */
  private corpusSummary(corpus: CorpusChoice, t: NonNullable<Engine['tokenized']>): CorpusSummary {
    const s = t.streaming ?? t.whole ?? TokenStream.fromStore(t.fill.store!, { heldOutFraction: HELD_OUT });
    const structured = corpus.files.some((f) => formatOf(f.name).format !== 'text');
    return {
      name: corpus.name,
      documents: s.documents,
      trainTokens: s.trainTokens,
      heldOutTokens: s.heldOutTokens,
      files: corpus.files.length,
      textColumn: structured ? corpus.read.textColumn ?? DEFAULT_TEXT_COLUMN : null,
      notes: t.notes,
      ...(t.fill.complete ? {} : { tokenizing: { ...t.read } }),
    };
  }

  async loadCorpusFiles(picked: CorpusFileIn[], options: CorpusOptions): Promise<CorpusLoad> {
    if (this.running) throw new Error('a run is in progress: the corpus cannot change under it');
    this.notDuringLab('loading another corpus');
    if (picked.length === 0) throw new Error('no corpus file was given');
    const files = picked.map((p) => browserCorpusFile(p.file, p.name));
    const name = files.length === 1 ? files[0]!.name : `${files[0]!.name} and ${files.length - 1} more file${files.length === 2 ? '' : 's'}`;
    const choice: CorpusChoice = { name, files, read: { textColumn: options.textColumn, badLines: options.skipBadLines ? 'skip' : 'stop' } };
    const structured = files.some((f) => formatOf(f.name).format !== 'text');
    let summary: CorpusSummary = { name, documents: 0, trainTokens: 0, heldOutTokens: 0, files: files.length, textColumn: structured ? options.textColumn : null, notes: [] };
    try {
      if (this.teacher) {
        await this.stream(choice);
        summary = this.corpusSummary(choice, this.tokenized!);
      } else {
        // Without a tokenizer the corpus is still read through, so that bad input is found now.
        const reader = new CorpusReader(files, choice.read, (p) => this.emit({ type: 'progress', label: `reading ${name}`, done: p.bytesDone, total: Math.max(1, p.bytesTotal), unit: 'bytes' }));
        for await (const batch of reader.batches()) void batch;
        summary.documents = reader.documents;
        summary.notes = [reader.skippedSummary()].filter((x): x is string => x !== null);
      }
    } catch (e) {
      // Nothing of a refused corpus stays: the one before it is still the corpus.
      if (e instanceof CorpusError) return { ok: false, kind: e.kind, message: e.message, columns: e.columns };
      throw e;
    }
    this.corpus = choice;
    const sofar = summary.tokenizing ? ' so far: a run can start now, each stage once its share is in, while the rest is tokenized' : '';
    this.status(`corpus: ${name}${summary.trainTokens ? `, ${summary.trainTokens.toLocaleString('en')} training tokens${sofar}` : ''}`);
    for (const n of summary.notes) this.status(`corpus: ${n}`);
    return { ok: true, corpus: summary };
  }

  async startDistill(plan: DistillPlan): Promise<StartedRun> {
    return this.begin({ plan });
  }

  async resumeRun(id: string): Promise<StartedRun> {
    return this.begin({ id });
  }

  private needLibrary(): RunLibrary {
    if (!this.library) throw new Error('this browser keeps no runs here (no Origin Private File System)');
    return this.library;
  }

  /** The record of a kept run, after checking that the loaded teacher is the one it was made with. */
  private async runFor(id: string, purpose: string): Promise<RunRecord> {
    const record = await readRecord(this.needLibrary(), id);
    if (!record) throw new Error(`there is no run ${id} in this browser (deleted?)`);
    if (!this.teacher) throw new Error(`${purpose} ${record.name} needs its teacher ${record.teacher}: load it first`);
    if (record.teacherFingerprint !== this.fingerprint) {
      throw new Error(`${purpose} ${record.name} needs its teacher ${record.teacher}; the loaded teacher ${this.teacherName} is another (its config.json or weights differ)`);
    }
    if ((await this.needLibrary().files(id).size(STATE_FILE)) === null) throw new Error(`${record.name} has no checkpoint yet: there is nothing to ${purpose === 'resuming' ? 'resume' : 'open'}`);
    return record;
  }

  private summary(s: StoredRun): RunSummary {
    const r = s.record;
    const live = this.current?.id === r.id && this.running;
    const status = live ? (this.run?.isPaused ? 'paused' : 'running') : r.status === 'running' || r.status === 'paused' ? 'interrupted' : r.status;
    return {
      id: r.id, name: r.name, teacher: r.teacher, teacherFingerprint: r.teacherFingerprint, corpus: r.corpus,
      created: Date.parse(r.created), lastSaved: r.lastSaved ? Date.parse(r.lastSaved) : null,
      stage: r.stage, step: r.step, steps: r.stage ? stepsPerStage(r.plan)[r.stage] : 0, done: r.done, tokens: r.tokens, plan: r.plan,
      status, exported: r.exported, lastEval: r.lastEval, bytes: s.bytes, hasCheckpoint: s.hasCheckpoint, current: this.current?.id === r.id,
    };
  }

  /**
   * Lists the kept runs between the current run's history appends: a browser may refuse to read a
   * file while an access handle writes it.
   */
  private storedRuns(lib: RunLibrary): Promise<StoredRun[]> {
    const cur = this.current;
    if (!cur) return listRuns(lib);
    void cur.history.flush();
    return cur.history.after(() => listRuns(lib));
  }

  async listRuns(): Promise<RunList> {
    if (!this.library) return { runs: [], teacherFingerprint: this.fingerprint, unavailable: 'this browser keeps no runs here (no Origin Private File System)' };
    const runs = (await this.storedRuns(this.library)).map((s) => this.summary(s));
    return { runs, teacherFingerprint: this.fingerprint, unavailable: null };
  }

  async runHistory(id: string): Promise<RunHistory> {
    const lib = this.needLibrary();
    const record = await readRecord(lib, id);
    if (!record) throw new Error(`there is no run ${id} in this browser (deleted?)`);
    const files = lib.files(id);
    const live = this.current?.id === id ? this.current : null;
    if (live) void live.history.flush();
    // The live run's history is read after the appends asked for so far.
    const all = await (live ? live.history.after(() => readHistory(files)) : readHistory(files));
    // A run not training now stands at its checkpoint: steps logged after it were lost with the tab.
    const cut: RunPoint | undefined = live && this.running ? undefined : record.stage ? { stage: record.stage, step: record.step, done: record.stageDone } : { stage: 0, step: 0, done: false };
    return { record: live?.record ?? record, records: foldHistory(all, cut) };
  }

  async resumable(): Promise<ResumeInfo | null> {
    if (!this.library) return null;
    for (const s of await this.storedRuns(this.library)) {
      const r = s.record;
      if (!s.hasCheckpoint || r.done || !r.stage || (this.current?.id === r.id && this.running)) continue;
      return { id: r.id, name: r.name, teacher: r.teacher, teacherFingerprint: r.teacherFingerprint, stage: r.stage, step: r.step, savedAt: r.lastSaved ? Date.parse(r.lastSaved) : Date.parse(r.created) };
    }
    return null;
  }

  async deleteRun(id: string): Promise<void> {
    const lib = this.needLibrary();
    if (this.current?.id === id) {
      if (this.running) throw new Error('this run is training: stop it before deleting it');
      await this.dropRun();
    }
    await lib.remove(id);
  }

  async markExported(): Promise<void> {
    if (!this.current) return;
    this.current.record.exported = true;
    await this.saveRecord();
  }

  /** Lets go of the engine's run: its history is written out and its GPU memory freed. */
  private async dropRun(): Promise<void> {
    const cur = this.current;
    this.current = null;
    // Its scratch file (a plan of stages 1–2 alone) is deleted behind it; a failure to is said, not thrown.
    const released = this.run?.release().catch((e: unknown) => this.status(`warning: the run's scratch file could not be deleted (${e instanceof Error ? e.message : String(e)}); the next run deletes it`));
    this.run = null;
    await released;
    if (cur) await cur.history.flush();
  }

  /** Writes the current run's record (after any write under way); a failure is said, never thrown at the run. */
  private saveRecord(): Promise<void> {
    const cur = this.current;
    if (!cur || !this.library) return this.recordWrites;
    const snapshot: RunRecord = { ...cur.record };
    const lib = this.library;
    this.recordWrites = this.recordWrites.then(() =>
      writeRecord(lib, snapshot).catch((e: unknown) => this.status(`warning: the record of ${snapshot.name} could not be saved (${e instanceof Error ? e.message : String(e)})`)),
    );
    return this.recordWrites;
  }

  /** A name no kept run has: the default, or with -2, -3... when two runs of a teacher start in one minute. */
  private async freshName(startedAt: string): Promise<string> {
    const base = runName(this.teacherName, startedAt);
    if (!this.library) return base;
    const taken = new Set((await listRuns(this.library)).map((s) => s.record.name));
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
    return name;
  }

  /**
   * Where a run's student goes while it is off the GPU (a plan of stages 1–2 alone): an OPFS scratch
   * file; memory, said in a warning, where this browser has no OPFS or no sync access handle.
   */
  private hostStore(): FlatStoreFactory {
    const fallback = (why: string) => this.status(`warning: ${why}`);
    if (hasOpfs()) return opfsFlatFile(() => navigator.storage.getDirectory(), fallback);
    return async (floats) => {
      fallback(`this browser has no Origin Private File System, so the student's parameters and moments (${((12 * floats) / 1e9).toFixed(2)} GB) are kept in memory`);
      return memoryFlatStore(floats);
    };
  }

  /** Opens a kept run (or starts a new one) as the engine's run; `train` false leaves it at its checkpoint. */
  private async prepare(what: { plan: DistillPlan } | { id: string }, train: boolean): Promise<Run> {
    const teacher = this.needTeacher();
    const gpu = await this.device();
    const corpus = await this.corpusSource();
    const resume = 'id' in what;
    const prior = resume ? await this.runFor(what.id, train ? 'resuming' : 'opening') : null;
    await this.dropRun();
    // Scratch files a crashed tab left behind (a student off the GPU) go before this run makes its own.
    if (hasOpfs()) await clearOpfsScratch(() => navigator.storage.getDirectory()).catch(() => 0);
    const id = resume ? what.id : this.library ? newRunId() : null;
    const files = id && this.library ? this.library.files(id) : null;
    const startedAt = new Date().toISOString();
    // A kept run reads its corpus as its checkpoint did (one from before streaming: whole).
    const mode = resume && files ? ((await peekRunState(files))?.corpusMode ?? 'whole') : undefined;
    const run = await Run.prepare({
      gpu,
      teacher,
      teacherFiles: this.teacherFiles!,
      teacherName: this.teacherName,
      corpus: await this.stream(corpus, mode),
      corpusName: corpus.name,
      docs: corpus.read.maxDocs ?? null,
      heldOut: HELD_OUT,
      plan: resume ? null : what.plan,
      store: files,
      resume,
      saveEveryS: 180,
      evaluation: { ...this.evaluation, atStageEnds: true },
      tool: 'mohawk studio',
      disk: { where: "this site's browser storage", withExport: false, remedy: 'delete kept runs you no longer need' },
      // A plan of stages 1–2 alone keeps the student off the GPU: in an OPFS file, not this worker's memory.
      hostStore: this.hostStore(),
      calibration: this.calibration,
      name: resume ? prior!.name : await this.freshName(startedAt),
      // An auto:K run waits for the page to accept or edit its advisor's layers before stage 3.
      confirmAdvice: true,
      onEvent: (e) => this.onRunEvent(e),
    });
    this.run = run;
    if (id && files) {
      try {
        const record = prior ?? newRecord({ id, name: run.name, teacher: this.teacherName, teacherFingerprint: this.fingerprint ?? '', corpus: corpus.name, plan: run.plan, created: run.started });
        if (train) record.status = 'running';
        const history = await HistoryRecorder.open(files, {
          onError: (e) => this.status(`warning: the history of ${record.name} could not be saved (${e instanceof Error ? e.message : String(e)}); its checkpoints are unaffected`),
        });
        const at: RunPoint = run.from ? { stage: run.from.stage, step: run.from.step, done: run.completed.has(run.from.stage) } : { stage: 0, step: 0, done: false };
        if (train && run.from) history.resumed(at);
        else history.at(at);
        this.current = { id, files, record, history };
        await this.saveRecord();
      } catch (e) {
        // A run that cannot be recorded still runs: its checkpoints go to the same folder.
        this.status(`warning: the run's record could not be written (${e instanceof Error ? e.message : String(e)})`);
      }
    }
    return run;
  }

  async openRun(id: string): Promise<StartedRun> {
    if (this.running || this.opening) throw new Error('a run is in progress: stop it first');
    if (!(this.current?.id === id && this.run)) {
      this.opening = true;
      try {
        await this.prepare({ id }, false);
      } finally {
        this.opening = false;
      }
      this.state(false, this.run!.plan.stages.every((s) => this.run!.completed.has(s)));
      this.status(`opened ${this.run!.name}: evaluate or export its student, or resume it`);
    }
    const run = this.run!;
    return { id, name: run.name, plan: run.plan, steps: run.steps, memoryBytes: run.memoryBytes, from: run.from ?? null };
  }

  /** Prepares a run (a new one of `plan`, or a kept run to continue) and starts it; resolves once it runs. */
  private async begin(what: { plan: DistillPlan } | { id: string }): Promise<StartedRun> {
    if (this.running || this.opening) throw new Error('already running');
    this.notDuringLab('starting a run');
    return this.withoutMeasuring(() => this.beginNow(what));
  }

  private async beginNow(what: { plan: DistillPlan } | { id: string }): Promise<StartedRun> {
    if (this.running || this.opening) throw new Error('already running');
    this.running = true;
    let run: Run;
    try {
      run = await this.prepare(what, true);
    } catch (e) {
      this.running = false;
      throw e;
    }
    if (run.from) {
      this.status(`resuming at stage ${run.from.stage}, step ${run.from.step}`);
      for (const s of run.completed) this.emit({ type: 'stage', stage: s, state: 'finished', steps: run.steps[s], tokens: run.tokensDone[s] });
    }
    this.state();
    void this.drive(run);
    return { id: this.current?.id ?? null, name: run.name, plan: run.plan, steps: run.steps, memoryBytes: run.memoryBytes, from: run.from ?? null };
  }

  /** What the run's record keeps of its events: where its last checkpoint stands, its last evaluation, paused or not. */
  private track(e: RunEvent): void {
    const cur = this.current;
    if (!cur) return;
    cur.history.record(e);
    const r = cur.record;
    if (e.type === 'checkpoint') {
      const done = e.stageDone && e.stage === r.plan.stages[r.plan.stages.length - 1];
      Object.assign(r, { stage: e.stage, step: e.step, stageDone: e.stageDone, done, lastSaved: new Date(e.at).toISOString(), tokens: Object.values(this.run?.tokensDone ?? {}).reduce((a, b) => a + b, 0) });
      void this.saveRecord();
    } else if (e.type === 'eval') {
      r.lastEval = { stage: e.stage, teacherNll: e.teacherNll, studentNll: e.studentNll, tokens: e.tokens };
      void this.saveRecord();
    } else if (e.type === 'paused') {
      r.status = e.paused ? 'paused' : 'running';
      void this.saveRecord();
      if (e.paused) void cur.history.flush();
    }
  }

  private onRunEvent(e: RunEvent): void {
    this.track(e);
    switch (e.type) {
      case 'notice':
        return this.status(e.text);
      case 'progress':
        return this.emit(e);
      case 'stage':
        this.emit({ type: 'stage', stage: e.stage, state: e.state, steps: e.steps, tokens: e.tokens });
        return this.status(`stage ${e.stage} ${e.state}`);
      case 'step':
        this.emit({ type: 'metric', stage: e.stage, step: e.step, tokens: e.tokens, loss: e.loss, tokensPerS: e.tokensPerS, gradNorm: e.gradNorm, lr: e.lr, runElapsedS: e.runElapsedS });
        return this.emit({ type: 'timing', stage: e.stage, step: e.step, steps: e.steps, elapsedS: e.elapsedS, etaS: e.etaS, runElapsedS: e.runElapsedS, runEtaS: e.runEtaS });
      case 'distances':
        return this.emit({ type: 'distances', layers: e.layers, heads: e.heads, values: Array.from(e.values), ...(this.run?.lastPoint ? { step: this.run.lastPoint.step } : {}) });
      case 'checkpoint':
        return this.emit({ type: 'checkpoint', stage: e.stage, step: e.step, tokens: e.tokens, at: e.at });
      case 'eval':
        return this.emit(e);
      case 'advice':
        this.emit({ type: 'advice', advice: e.advice, awaiting: e.awaiting });
        if (e.awaiting) this.status(`the hybrid advisor chose attention in layer${e.advice.chosen.length === 1 ? '' : 's'} ${e.advice.chosen.join(', ')}: accept or edit the choice to start stage 3`);
        return;
      case 'paused':
        if (e.paused) {
          const at = this.run?.lastPoint;
          this.status(at ? `paused after stage ${at.stage}, step ${at.step}` : 'paused');
        }
        return this.state(e.paused);
    }
  }

  /** The run's end in its record, with its history written out. */
  private async ended(status: RunRecord['status'], error?: string): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    cur.record.status = status;
    if (error) cur.record.error = error;
    else delete cur.record.error;
    await Promise.all([cur.history.flush(), this.saveRecord()]);
  }

  private async drive(run: Run): Promise<void> {
    try {
      const outcome = await run.train();
      await this.ended(outcome);
      this.running = false;
      this.state(false, outcome === 'finished');
      const at = run.lastCheckpoint;
      this.status(
        outcome === 'finished'
          ? 'distillation finished: export the student or evaluate it'
          : `stopped${at ? ` at stage ${at.stage}, step ${at.step}` : ''}: the checkpoint and the student so far are kept (evaluate or export it, or resume the run)`,
      );
    } catch (e) {
      await this.ended('failed', e instanceof Error ? e.message : String(e)).catch(() => {});
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

  async chooseAttentionLayers(layers: number[]): Promise<void> {
    if (!this.running || !this.run) throw new Error('no run is in progress');
    this.run.chooseLayers(layers);
    this.status(`stage 3 keeps attention in layer${layers.length === 1 ? '' : 's'} ${layers.join(', ') || 'none'}`);
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
    const corpus = await this.stream(await this.corpusSource());
    // A streaming corpus still tokenizing: the measurement samples whatever is in (calibrate).
    const known = corpus.complete;
    validatePlan(plan, {
      teacher: { config: teacher.config, parameters: teacher.summary.parameters, weightBytes: teacher.summary.weightBytes },
      trainTokens: known ? corpus.trainTokens : Infinity,
      longestTrainDoc: known ? corpus.longestTrainDoc : undefined,
      limits: gpu.info.limits,
      shaderF16: gpu.info.shaderF16,
    });
    if (signal.aborted) throw new CalibrationCancelled();
    return calibrate(gpu, teacher, corpus, plan, {
      evaluation: this.evaluation,
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

  async runMixerLab(options: MixerLabOptions, onProgress?: (p: MixerLabProgress) => void): Promise<MixerLabResult> {
    try {
      if (this.running || this.opening) throw new Error('a run is in progress: stop it (or let it finish) before running the mixer lab');
      if (this.lab) throw new Error('the mixer lab is already running');
      const lab = { stop: false };
      this.lab = lab;
      try {
        return await this.withoutMeasuring(() => this.labNow(options, lab, onProgress));
      } catch (e) {
        if (lab.stop) throw new Error(`cancelled: ${(e as Error).message}`);
        throw e;
      } finally {
        this.lab = null;
      }
    } finally {
      (onProgress as unknown as { [releaseProxy]?: () => void } | undefined)?.[releaseProxy]?.();
    }
  }

  private async labNow(options: MixerLabOptions, lab: { stop: boolean }, onProgress?: (p: MixerLabProgress) => void): Promise<MixerLabResult> {
    const teacher = this.needTeacher();
    const gpu = await this.device();
    const corpus = await this.stream(await this.corpusSource());
    const ids = await heldOutSample(corpus, options.samples, options.seqLen);
    // The teacher goes to the GPU for the lab and, unless a run had put it there, leaves again after.
    const resident = teacher.resident;
    await teacher.upload((done, total) => this.emit({ type: 'progress', label: 'uploading the teacher', done, total }));
    try {
      const r = await runMixerLab(gpu, teacher, ids, options, {
        // A page that went away must not fail the lab.
        onProgress: (p) => void Promise.resolve(onProgress?.(p)).catch(() => {}),
        stop: () => lab.stop,
      });
      this.status(`mixer lab: ${r.matrices} attention matrices per fit, ${r.options.steps} steps, in ${r.seconds.toFixed(0)} s`);
      return r;
    } finally {
      if (!resident) teacher.evict();
    }
  }

  async cancelMixerLab(): Promise<void> {
    if (this.lab) this.lab.stop = true;
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

  async exportStudent(as: 'zip' | 'files'): Promise<ExportResult> {
    const run = this.needRun();
    // Stored, not deflated: f32 weights barely compress, and a large student would take long.
    return writeExport(await run.studentFiles(), { as, zipName: `${run.name}.zip`, root: hasOpfs() ? undefined : null });
  }

}
