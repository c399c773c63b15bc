// The engine behind the page: owns the GPU, the loaded teacher, the corpus and the running
// distillation, and reports everything as plain events. It runs in a worker in the browser.
import { joinBytes } from '../io/safetensors';
import { defaultMixer } from '../models/student';
import { mixerDims } from '../models/mamba-mixer-shape';
import { streamWindowSteps } from './streamed-stage';
import { Gpu } from '../gpu/runtime';
import type {
  CorpusSummary, DistillApi, DistillEvent, DistillPlan, EngineApi, EngineEvent, GpuSummary, MixingSample, PerStage, ResumeInfo, Stage, TeacherSummary,
} from '../worker/api';
import { loadTeacher, type LoadedTeacher } from '../models/teacher';
import { browserFileSet, fetchFileSet, readJson, type FileSet } from '../io/files';
import { DOC_SEPARATOR } from '../io/corpus';
import { Decoder } from '../models/decoder';
import { MambaMixer } from '../models/mamba-mixer';
import { greedyFull, greedyRecurrent, recurrentStudent } from '../models/generate';
import { ssdMatrixForward } from '../kernels/ssd-matrix';
import { checkPlan, Distiller } from './distiller';
import { stepsPerStage } from '../ui/distill-plan';
import { TokenStream } from './token-stream';
import { loadCheckpoint, opfsStore, peekCheckpoint, saveCheckpoint, teacherFingerprint, type CheckpointStore } from './checkpoint';

export const BUILTIN_TEACHER_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
export const BUILTIN_CORPUS = 'corpus/tinystories-2MiB.txt';
const MAX_DOCS = 2000;

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
  private corpus: { name: string; text: string } | null = null;
  private baseUrl = '/';
  private readonly listeners: ((e: AnyEvent) => void)[] = [];
  private distiller: Distiller | null = null;
  private running = false;
  private paused = false;
  private stopRequested = false;
  private skipRequested = false;
  private wake: (() => void) | null = null;
  /** The last stage that finished (0 before any): what an on-demand evaluation is labelled with. */
  private lastStage: Stage | 0 = 0;

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
          this.emit({ type: 'state', running: false, paused: false, finished: false });
        }
      });
    }
    return this.gpu.info;
  }

  private async device(): Promise<Gpu> {
    if (!this.gpu) await this.init();
    return this.gpu!;
  }

  async loadTeacherFiles(files: File[]): Promise<TeacherSummary> {
    const folder = (files[0] as File & { webkitRelativePath?: string })?.webkitRelativePath?.split('/')[0];
    return this.load(browserFileSet(files), folder || files.find((f) => f.name === 'config.json')?.name.replace(/\.json$/, '') || 'dropped teacher');
  }

  async loadBuiltinTeacher(baseUrl: string): Promise<TeacherSummary> {
    this.baseUrl = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
    const dir = `${this.baseUrl}teacher/stories260K/`;
    return this.load(fetchFileSet(dir, BUILTIN_TEACHER_FILES), 'stories260K (built in)');
  }

  private async load(files: FileSet, name: string): Promise<TeacherSummary> {
    if (this.running) throw new Error('a run is in progress: pause it before loading another teacher');
    const gpu = await this.device();
    this.distiller?.release();
    this.distiller = null;
    this.teacher?.release();
    this.teacher = null;
    this.status(`reading ${files.names.join(', ')}`);
    const t = await loadTeacher(gpu, files, name, (done, total) => this.emit({ type: 'progress', label: 'loading weights', done, total }));
    this.teacher = t;
    this.teacherFiles = files;
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

  // Tokenizing thousands of documents is the slow part of checking a plan and of starting: done once
  // per (corpus, teacher), each caller getting its own sampler.
  private tokenized: { text: string; teacher: LoadedTeacher; stream: TokenStream } | null = null;

  private stream(text: string): TokenStream {
    const teacher = this.needTeacher();
    if (this.tokenized?.text !== text || this.tokenized.teacher !== teacher) {
      this.tokenized = { text, teacher, stream: TokenStream.fromText(text, teacher.tokenizer, { maxDocs: MAX_DOCS, heldOutFraction: 0.1 }) };
    }
    return this.tokenized.stream.fresh();
  }

  async loadCorpusFiles(files: File[]): Promise<CorpusSummary> {
    if (this.running) throw new Error('a run is in progress: the corpus cannot change under it');
    if (files.length === 0) throw new Error('no corpus file was given');
    const parts: string[] = [];
    for (const f of files) {
      const text = corpusText(f.name, await f.text());
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

  /**
   * A rough upper estimate of the GPU memory a plan needs (weights, optimizer, activations, matrices):
   * the most any of its stages holds. Streamed stages hold one layer's teacher weights, the mixer's slot
   * (parameters, gradients, two moments, a mask and two copy-back staging buffers: seven floats per
   * parameter), one layer's activations and a window's residual streams.
   */
  private memoryEstimate(plan: DistillPlan): number {
    const t = this.needTeacher();
    const c = t.config;
    const rows = plan.batch * plan.seqLen;
    const teacherBytes = t.summary.parameters * 4;
    const studentBytes = teacherBytes * 4 * 1.2; // values, gradients, two moments; mixers a little larger
    const perLayer = rows * (c.dModel * 14 + c.intermediate * 4 + c.heads * c.headDim * 8) * 4;
    const matrices = 3 * plan.batch * c.heads * plan.seqLen * plan.seqLen * 4;
    const logits = 3 * rows * c.vocab * 4;
    const stage = (s: Stage): number => {
      const extra = s === 1 ? matrices : s === 3 ? logits : 0;
      if (s === 3 || !plan.streamLayers) return teacherBytes + studentBytes + 2 * c.layers * perLayer + extra;
      const tables = c.vocab * c.dModel * (c.tiedEmbeddings ? 1 : 2) + (c.positions === 'learned' ? c.maxPositions * c.dModel : 0);
      const layerBytes = ((t.summary.parameters - tables) / c.layers) * 4;
      const m = mixerDims(defaultMixer(c));
      const mixerBytes = (m.proj * c.dModel + c.dModel * c.heads * c.headDim) * 4;
      const stepBytes = plan.accumulate * rows * c.dModel * 4;
      return layerBytes + 7 * mixerBytes + 2 * perLayer + streamWindowSteps(stepBytes) * stepBytes + extra;
    };
    return Math.max(...plan.stages.map(stage));
  }

  async checkPlan(plan: DistillPlan): Promise<{ plan: DistillPlan; memoryBytes: number; steps: PerStage<number> }> {
    const t = this.needTeacher();
    const gpu = await this.device();
    const corpus = this.stream((await this.corpusSource()).text);
    checkPlan(plan, t.config.layers, t.config.maxPositions, corpus.trainTokens);
    const lim = Math.min(gpu.info.limits.maxStorageBufferBindingSize, gpu.info.limits.maxBufferSize);
    const matrix = plan.batch * t.config.heads * plan.seqLen * plan.seqLen * 4;
    if (plan.stages.includes(1) && matrix > lim) {
      throw new Error(`stage 1's attention matrices (${plan.batch} × ${t.config.heads} heads × ${plan.seqLen}²) need ${(matrix / 2 ** 20).toFixed(0)} MiB in one buffer, over this adapter's ${(lim / 2 ** 20).toFixed(0)} MiB: lower the batch or sequence length`);
    }
    const logits = plan.batch * plan.seqLen * t.config.vocab * 4;
    if (plan.stages.includes(3) && logits > lim) {
      throw new Error(`stage 3's logits (${plan.batch * plan.seqLen} tokens × ${t.config.vocab}) need ${(logits / 2 ** 20).toFixed(0)} MiB in one buffer, over this adapter's ${(lim / 2 ** 20).toFixed(0)} MiB: lower the batch or sequence length`);
    }
    return { plan, memoryBytes: this.memoryEstimate(plan), steps: stepsPerStage(plan) };
  }

  private async store(): Promise<CheckpointStore> {
    const t = this.needTeacher();
    const config = this.teacherFiles ? JSON.stringify(await readJson(this.teacherFiles, 'config.json')) : t.summary.name;
    return opfsStore(await teacherFingerprint([config, String(t.summary.parameters)]));
  }

  async startDistill(plan: DistillPlan): Promise<void> {
    await this.begin(plan, false);
  }

  async resumeDistill(): Promise<void> {
    const store = await this.store();
    const ck = await loadCheckpoint(store);
    if (!ck) throw new Error('there is no checkpoint of this teacher to resume');
    await this.begin(ck.state.plan as DistillPlan, true);
  }

  async resumable(): Promise<ResumeInfo | null> {
    if (!this.teacher || typeof navigator === 'undefined' || !navigator.storage?.getDirectory) return null;
    const p = await peekCheckpoint(await this.store());
    if (!p) return null;
    const s = p.state as { stage?: Stage; step?: number; done?: boolean };
    if (s.done || !s.stage) return null;
    return { teacher: this.teacher.summary.name, stage: s.stage, step: s.step ?? 0, savedAt: p.savedAt };
  }

  private async begin(plan: DistillPlan, resume: boolean): Promise<void> {
    if (this.running) throw new Error('already running');
    const teacher = this.needTeacher();
    const gpu = await this.device();
    await this.checkPlan(plan);
    const corpus = this.stream((await this.corpusSource()).text);
    this.distiller?.release();
    this.distiller = null;
    const d = await Distiller.create(gpu, teacher, plan, corpus);
    const store = await this.store().catch(() => null);
    let from: { stage: Stage; step: number } | undefined;
    if (resume && store) {
      const ck = await loadCheckpoint(store);
      if (!ck) throw new Error('the checkpoint disappeared');
      d.restore(ck);
      from = { stage: ck.state.stage as Stage, step: ck.state.step as number };
      this.status(`resuming at stage ${from.stage}, step ${from.step}`);
    }
    await gpu.check();
    this.distiller = d;
    this.lastStage = from ? (plan.stages[plan.stages.indexOf(from.stage) - 1] ?? 0) : 0;
    this.running = true;
    this.paused = false;
    this.stopRequested = false;
    this.skipRequested = false;
    this.emit({ type: 'state', running: true, paused: false, finished: false });
    void this.drive(d, plan, store, from);
  }

  private async drive(d: Distiller, plan: DistillPlan, store: CheckpointStore | null, from?: { stage: Stage; step: number }): Promise<void> {
    let lastGood: { stage: Stage; step: number } | null = from ?? null;
    try {
      if (!from) await this.evaluateWith(d, 0);
      await d.run(
        {
          stage: (stage, state, steps, tokens) => {
            this.emit({ type: 'stage', stage, state, steps, tokens });
            if (state !== 'started') this.lastStage = stage;
            this.status(`stage ${stage} ${state}`);
          },
          step: (r) => {
            this.emit({ type: 'metric', stage: r.stage, step: r.step, tokens: r.tokens, loss: r.loss, tokensPerS: r.tokensPerS });
            const eta = r.step > 0 ? (r.elapsedS / r.step) * (r.steps - r.step) : null;
            this.emit({ type: 'timing', stage: r.stage, step: r.step, steps: r.steps, elapsedS: r.elapsedS, etaS: eta });
          },
          distances: (layers, heads, values) => this.emit({ type: 'distances', layers, heads, values: Array.from(values) }),
          save: async (stage, step, stageDone) => {
            lastGood = { stage, step };
            if (!store) return;
            const snap = await d.snapshot();
            const isLast = stageDone && stage === plan.stages[plan.stages.length - 1];
            await saveCheckpoint(store, { ...snap, state: { stage, step, plan, done: isLast, savedAt: Date.now() } });
            this.emit({ type: 'checkpoint', stage, step, tokens: step * plan.seqLen * plan.batch * plan.accumulate, at: Date.now() });
            if (stageDone) await this.evaluateWith(d, stage);
          },
        },
        {
          gate: async () => {
            if (!this.paused) return;
            this.emit({ type: 'state', running: true, paused: true, finished: false });
            await new Promise<void>((r) => (this.wake = r));
            this.emit({ type: 'state', running: true, paused: false, finished: false });
          },
          skip: () => {
            const s = this.skipRequested;
            this.skipRequested = false;
            return s;
          },
          stop: () => this.stopRequested,
          saveEveryS: 180,
        },
        from,
      );
      this.emit({ type: 'state', running: false, paused: false, finished: !this.stopRequested });
      this.status(this.stopRequested ? 'stopped' : 'distillation finished: export the student or evaluate it');
    } catch (e) {
      const where = lastGood ? ` The last good checkpoint is stage ${lastGood.stage}, step ${lastGood.step}.` : '';
      this.status(`${e instanceof Error ? e.message : String(e)}.${where}`, 'error');
      this.emit({ type: 'state', running: false, paused: false, finished: false });
    } finally {
      this.running = false;
      this.paused = false;
    }
  }

  private async evaluateWith(d: Distiller, stage: Stage | 0): Promise<void> {
    const r = await d.evaluate(Math.min(256, d.plan.seqLen * 2), 10);
    this.emit({ type: 'eval', stage, teacherNll: r.teacherNll, studentNll: r.studentNll, tokens: r.tokens });
  }

  async pause(): Promise<void> {
    if (this.running) this.paused = true;
  }

  async resume(): Promise<void> {
    this.paused = false;
    this.wake?.();
    this.wake = null;
  }

  async skipStage(): Promise<void> {
    if (!this.running) throw new Error('no run is in progress');
    this.skipRequested = true;
    await this.resume();
  }

  private needStudent(): Distiller {
    if (!this.distiller) throw new Error('start a distillation first: there is no student yet');
    return this.distiller;
  }

  async mixingSample(layer: number, head: number): Promise<MixingSample> {
    const d = this.needStudent();
    const gpu = await this.device();
    const c = d.teacher.config;
    if (!(layer >= 0 && layer < c.layers && head >= 0 && head < c.heads)) throw new Error(`no layer ${layer}, head ${head} in this ${c.layers}×${c.heads} model`);
    if (d.spec.attentionLayers.includes(layer)) throw new Error(`layer ${layer} keeps the teacher's attention: there is no SSD matrix to compare`);
    const doc = d.corpus.heldOut.find((x) => x.length >= 8) ?? d.corpus.heldOut[0];
    if (!doc) throw new Error('the corpus has no held-out document');
    await d.resident();
    const L = Math.min(64, doc.length, d.plan.seqLen);
    const ids = gpu.upload(Uint32Array.from(doc.slice(0, L)), 'sample ids');
    const teach = new Decoder(gpu, c, d.teacher.weights, { batch: 1, L, ids }, { keepLayers: true, logits: false });
    const A = gpu.buffer(c.heads * L * L * 4, 'sample attention');
    const T = gpu.buffer(d.spec.mixer.nV * L * L * 4, 'sample ssd matrix');
    const p = `layers.${layer}.mixer.`;
    const mixer = new MambaMixer(gpu, d.spec.mixer, { batch: 1, L }, { w: (n) => d.student.get(p + n), g: () => undefined });
    const s = { batch: 1, L, h: d.spec.mixer.nV, g: d.spec.mixer.nQK, n: d.spec.mixer.N };
    gpu.run([
      ...teach.ops,
      ...teach.attention(layer).probabilities(A),
      ...mixer.matrixForward(teach.normed[layer]!),
      ...ssdMatrixForward(gpu, s, { ...mixer.matrixInputs(), D: d.student.get(p + 'D'), out: T }),
    ]);
    const teacher = (await gpu.read(A)).slice(head * L * L, (head + 1) * L * L);
    const student = (await gpu.read(T)).slice(head * L * L, (head + 1) * L * L);
    teach.release();
    mixer.release();
    for (const b of [ids, A, T]) gpu.release(b);
    return { layer, head, L, teacher, student };
  }

  async evaluate(prompt: string): Promise<void> {
    const d = this.needStudent();
    if (this.running && !this.paused) throw new Error('pause the run to evaluate');
    const gpu = await this.device();
    await this.evaluateWith(d, this.lastStage);
    const tok = d.teacher.tokenizer;
    const ids = tok.encode(prompt || 'Once upon a time');
    const steps = 40;
    const eos = d.teacher.config.eosId;
    const t = await greedyFull(gpu, d.teacher, ids, steps, eos);
    const student = d.studentModel();
    const s = recurrentStudent(d.spec) ? await greedyRecurrent(gpu, d.spec, student.weights, ids, steps, eos) : await greedyFull(gpu, student, ids, steps, eos);
    this.emit({ type: 'sample', prompt, teacher: tok.decode(t.ids, { skipSpecial: true }), student: tok.decode(s.ids, { skipSpecial: true }), studentTokensPerS: s.tokensPerS });
  }

  async exportStudent(): Promise<{ name: string; bytes: Uint8Array }[]> {
    const d = this.needStudent();
    const files = this.teacherFiles;
    if (!files) throw new Error('the teacher files are no longer available');
    const config = (await readJson(files, 'config.json')) as object;
    const tokenizerFiles = [];
    for (const n of ['tokenizer.json', 'tokenizer_config.json']) {
      if (!files.has(n)) continue;
      const src = await files.source(n);
      tokenizerFiles.push({ name: n, bytes: await src.read(0, src.size) });
    }
    const parts = await d.studentFiles(config, tokenizerFiles, { teacher: d.teacher.summary.name, plan: d.plan, exported: new Date().toISOString(), producer: 'mohawk-studio' });
    return parts.map((f) => ({ name: f.name, bytes: joinBytes(f.parts) }));
  }
}
