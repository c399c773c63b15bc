// A whole MOHAWK run over a loaded teacher: the student, the plan's stages in order, the schedule,
// held-out evaluation. The same object serves `mohawk distill`, the worker and the tests; it reports
// through callbacks and never blocks on the GPU between steps (one step is kept in flight).
import type { Gpu } from '../gpu/runtime';
import { meanNll } from '../models/evaluate';
import { initialStudent, ParamSet, studentMixers, studentShapes, type StudentSpec } from '../models/student';
import type { LoadedTeacher } from '../models/teacher';
import { exportStudentParts, studentConfigJson, type NamedBytes, type NamedParts } from '../models/student-files';
import { StageStep, wsd, type StepResult } from './stages';
import { StreamedStageStep, type GpuStudent, type HostStudent } from './streamed-stage';
import { FlatParams } from '../models/params';
import type { CheckpointToSave, FlatReader, OpenedCheckpoint, ParamSlot } from './checkpoint';
import { FLAT_PIECE, FLAT_REGIONS, inPieces, memoryFlatStore, type FlatRegion, type FlatStore, type FlatStoreFactory } from '../io/flat-file';
import type { TokenStream } from './token-stream';
import { recomputes, streamedStudentOnGpu, sampleStep, stageOptions, stepsPerStage, STREAM_WINDOW_BYTES, studentSpec, tokensPerStep, type DistillPlan, type Stage, heldShapes, isMlp } from './plan';



export interface DistillHooks {
  /** Called at each stage's end and every `saveEveryS` seconds with the step the GPU state is at. */
  save?(stage: Stage, step: number, stageDone: boolean): Promise<void>;
  /** At 'finished' and 'skipped', `gpuPeakBytes` is the most GPU memory the run's buffers held during the stage (Gpu.memory). */
  stage?(stage: Stage, state: 'started' | 'finished' | 'skipped', steps: number, tokens: number, gpuPeakBytes?: number): void;
  /** lr: the step's learning rate (the stage's rate on the warmup-stable-decay schedule). */
  step?(r: { stage: Stage; step: number; steps: number; tokens: number; loss: number; gradNorm: number; lr: number; tokensPerS: number; elapsedS: number }): void;
  distances?(layers: number, heads: number, values: Float32Array): void;
  /** A stage waits for a streaming corpus to hold its prefix: training tokens so far and needed. */
  waiting?(stage: Stage, have: number, need: number): void;
  /** Before a stage's first step (a resumed stage's too): the run driver's hybrid advisor chooses stage 3's attention layers here. */
  beforeStage?(stage: Stage): Promise<void>;
}

export interface Control {
  /** Resolves when the run may go on (pause holds it). */
  gate?(): Promise<void>;
  /** Whether the gate is about to hold: the steps in flight finish (and report) first, so a pause stops at a step boundary. */
  holding?(): boolean;
  /** Asked before each step: end this stage now. */
  skip?(): boolean;
  /** Asked before each step: stop everything. */
  stop?(): boolean;
  /** Seconds between periodic checkpoints (default 300). */
  saveEveryS?: number;
}

/** Where a resumed run goes on: the last step a checkpoint holds. */
export interface ResumePoint {
  stage: Stage;
  step: number;
}

/**
 * Where the student's parameters and AdamW moments are: on the GPU (moments chunked like the
 * parameters, ParamSet.buffers), or off it, flat, in a store read by range (a scratch file, or memory),
 * while layers are streamed.
 */
type StudentState = { where: 'gpu'; student: ParamSet; m: GPUBuffer[]; v: GPUBuffer[] } | ({ where: 'host' } & HostStudent);

/** The student's parameters and moments as a checkpoint saves them, each read a range at a time. */
export type StudentSource = Omit<CheckpointToSave, 'state' | 'params' | 'm' | 'v'> & { params: FlatReader; m: FlatReader; v: FlatReader; paramShapes: Map<string, ParamSlot> };

export interface DistillerOptions {
  /** Bytes per GPU chunk of the student's parameters, gradients and moments; the adapter's one-binding limit by default. */
  chunkBytes?: number;
  /** Making the student: the teacher's tensors it copies are read and widened layer by layer (done of total). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Where the student goes while it is off the GPU (streamed stages 1–2 of a plan without stage 3, a
   * parked student): a scratch file the host that runs the plan makes (the CLI's run folder, the
   * worker's OPFS); in memory by default.
   */
  hostStore?: FlatStoreFactory;
}

/** A stage's per-layer losses are averaged over its last steps, this fraction of them (at least one): where the schedule has settled. */
export const LAYER_LOSS_TAIL = 0.1;

/** Each layer's mean over the rows of `t` (steps, newest last); null when there are none. */
function tailMean(t: number[][] | undefined): number[] | null {
  if (!t || t.length === 0) return null;
  return t[0]!.map((_, l) => t.reduce((a, r) => a + r[l]!, 0) / t.length);
}

export class Distiller {
  private state: StudentState;
  /** Stages 1 and 2: each layer's loss at the stage's last steps (LAYER_LOSS_TAIL), newest last. */
  private readonly tails = new Map<Stage, number[][]>();
  /** Stage 2: each layer's teacher attention-output norm at the same steps as `tails`. */
  private readonly normTails = new Map<Stage, number[][]>();
  /** Set while a streamed stage runs: nothing may move the models then. */
  private streaming: Stage | null = null;
  /** GPU memory a streamed stage gives its window of residual streams (StreamedStageStep). */
  streamWindowBytes = STREAM_WINDOW_BYTES;
  /** Where a streamed stage keeps the student: as the plan decides (streamedStudentOnGpu), or forced (tests). */
  streamedStudent: 'plan' | 'gpu' | 'host' = 'plan';

  private constructor(
    private readonly gpu: Gpu,
    readonly teacher: LoadedTeacher,
    /** The plan, spec and layout change once, when the hybrid advisor's layers are adopted (adoptAttentionLayers). */
    public plan: DistillPlan,
    readonly corpus: TokenStream,
    public spec: StudentSpec,
    /** The student's flat layout (of heldShapes(spec)). */
    public layout: FlatParams,
    /** The initial student: in a flat store (its moments zero), or made on the GPU (Distiller.create). */
    initial: FlatStore | ParamSet,
    private readonly chunkBytes: number | undefined,
    private readonly hostStore: FlatStoreFactory,
  ) {
    this.state = initial instanceof ParamSet ? this.gpuState(initial) : { where: 'host', layout: this.layout, store: initial };
  }

  /** A student made on the GPU as its state there: frozen MLPs borrowed from the teacher (see heldShapes), moments zero. */
  private gpuState(student: ParamSet): Extract<StudentState, { where: 'gpu' }> {
    if (this.plan.freezeMlp) student.borrow(this.teacher.weights, isMlp);
    return { where: 'gpu', student, m: student.buffers('adam m'), v: student.buffers('adam v') };
  }

  /** The student from its store onto the GPU, a piece at a time, with its moments (`moments` false: zero). */
  private async upload(store: FlatStore, moments = true): Promise<Extract<StudentState, { where: 'gpu' }>> {
    const student = await this.paramSet(store, 'student', true);
    const m = student.buffers('adam m');
    const v = student.buffers('adam v');
    try {
      if (moments) {
        for (const [region, bufs] of [['m', m], ['v', v]] as const) await inPieces(this.layout.size, async (at, n) => student.writeRange(bufs, at, await store.read(region, at, n)));
      }
    } catch (e) {
      Distiller.releaseGpu({ where: 'gpu', student, m, v });
      throw e;
    }
    return { where: 'gpu', student, m, v };
  }

  /** The student's parameters on the GPU, read from `store` a piece at a time; frozen MLPs are the teacher's buffers (see heldShapes). */
  private async paramSet(store: FlatStore, label: string, withGrads: boolean): Promise<ParamSet> {
    const ps = new ParamSet(this.gpu, new Map([...this.layout.slices].map(([n, s]) => [n, s.shape])), undefined, label, this.chunkBytes, withGrads);
    try {
      await inPieces(this.layout.size, async (at, n) => ps.writeRange(ps.values, at, await store.read('params', at, n)));
    } catch (e) {
      ps.release();
      throw e;
    }
    if (this.plan.freezeMlp) ps.borrow(this.teacher.weights, isMlp);
    return ps;
  }

  /** Leaves the host state for the GPU state `next`, letting its store (a scratch file) go. */
  private async onto(next: Extract<StudentState, { where: 'gpu' }>): Promise<void> {
    const st = this.state;
    this.state = next;
    if (st.where === 'host') await st.store.close();
  }

  private static releaseGpu(st: Extract<StudentState, { where: 'gpu' }>): void {
    st.student.release();
    for (const b of [...st.m, ...st.v]) b.destroy();
  }

  /** The student on the GPU; `resident()` must have put it there (always so unless layers are streamed). */
  get student(): ParamSet {
    if (this.state.where !== 'gpu') throw new Error('the student is on the host while its layers are streamed: call resident() first');
    return this.state.student;
  }

  /** Where the student's parameters and moments are kept while off the GPU ('memory', 'scratch file …'), and their bytes; null while on the GPU. */
  get hostHeld(): { where: string; bytes: number } | null {
    const st = this.state;
    return st.where === 'host' ? { where: st.store.where, bytes: 3 * 4 * st.store.length } : null;
  }

  /** GPU bytes of the student's parameters, gradients and moments while they are on the GPU (0 while streamed). */
  get studentGpuBytes(): number {
    const st = this.state;
    if (st.where !== 'gpu') return 0;
    return [...st.student.values, ...st.student.grads, ...st.m, ...st.v].reduce((a, b) => a + b.size, 0);
  }

  /** Puts the teacher and the student (with its moments) on the GPU, for stage 3, evaluation and plots. */
  async resident(): Promise<void> {
    if (this.streaming) throw new Error(`not while stage ${this.streaming} streams the layers (one layer at a time is on the GPU): available at the stage's end`);
    await this.teacher.upload();
    const st = this.state;
    if (st.where === 'gpu') return;
    await this.onto(await this.upload(st.store));
  }

  /** Moves the student and its moments to the host and frees the teacher's GPU copy (a streamed stage; `keepTeacher`: the advisor's probe). */
  private async toHost(keepTeacher = false): Promise<HostStudent> {
    const st = this.state;
    if (st.where === 'host') {
      if (!keepTeacher) this.teacher.evict();
      return st;
    }
    const store = await this.hostStore(this.layout.size);
    try {
      for (const [region, bufs] of [['params', st.student.values], ['m', st.m], ['v', st.v]] as const) {
        await inPieces(this.layout.size, async (at, n) => store.write(region, at, await st.student.readRange(bufs, at, n)));
      }
    } catch (e) {
      await store.close();
      throw e;
    }
    Distiller.releaseGpu(st);
    if (!keepTeacher) this.teacher.evict();
    const host = { where: 'host' as const, layout: this.layout, store };
    this.state = host;
    return host;
  }

  /**
   * The student on the GPU for a streamed stage, the teacher's GPU copy freed (the stage streams its
   * layers from the files); `fresh`: the moments zeroed, as each stage starts afresh.
   */
  private async onGpuStreaming(fresh: boolean): Promise<GpuStudent> {
    // The teacher goes first, so that the student's upload never has both whole models on the GPU.
    this.teacher.evict();
    if (this.state.where === 'host') await this.onto(await this.upload(this.state.store, !fresh));
    const st = this.state as Extract<StudentState, { where: 'gpu' }>;
    if (fresh) {
      const s = this.gpu.begin('reset optimizer');
      for (const b of [...st.m, ...st.v]) s.clear(b);
      s.submit();
    }
    return { set: st.student, m: st.m, v: st.v };
  }

  /**
   * Each layer's loss in `stage` (1 or 2), averaged over the stage's last steps (LAYER_LOSS_TAIL of
   * them, those this session ran), NaN for attention layers; null when no step of it ran here.
   */
  layerLossTail(stage: Stage): number[] | null {
    return tailMean(this.tails.get(stage));
  }

  /**
   * Stage 2: each layer's mean L2 norm per token of the teacher's attention output, over the same
   * steps and tokens as layerLossTail(2): the size of what the layer's loss measures against. NaN for
   * attention layers; null when no step of the stage ran here.
   */
  attentionNormTail(stage: Stage): number[] | null {
    return tailMean(this.normTails.get(stage));
  }

  /** Puts the student (and its moments) on the host while the teacher stays on the GPU: room for the advisor's probe. */
  async park(): Promise<void> {
    if (this.streaming) throw new Error(`not while stage ${this.streaming} streams the layers`);
    await this.toHost(true);
  }

  /**
   * Makes layers `layers` of the student the teacher's attention again, every other layer keeping its
   * mixer as trained (the hybrid advisor's choice, before stage 3): a new layout, the values of every
   * tensor both layouts hold carried over, the attention copied from the teacher, the moments zero
   * (stage 3 starts its own). The student stays where it was (GPU or host).
   */
  async adoptAttentionLayers(layers: readonly number[]): Promise<void> {
    if (this.streaming) throw new Error(`not while stage ${this.streaming} streams the layers`);
    const plan: DistillPlan = { ...this.plan, attentionLayers: [...layers].sort((a, b) => a - b) };
    const spec = studentSpec(this.teacher.config, plan);
    const shapes = heldShapes(spec, plan);
    const layout = FlatParams.of(shapes);
    const st = this.state;
    if (st.where === 'host') {
      // Off the GPU (a parked student): tensor by tensor into a new store, a piece at a time.
      const store = await this.hostStore(layout.size);
      try {
        for (const [n, s] of layout.slices) {
          const was = this.layout.slices.get(n);
          if (was) await inPieces(s.count, async (at, k) => store.write('params', s.offset + at, await st.store.read('params', was.offset + at, k)));
          else await store.write('params', s.offset, await this.teacher.source.read(n));
        }
      } catch (e) {
        await store.close();
        throw e;
      }
      this.plan = plan;
      this.spec = spec;
      this.layout = layout;
      this.state = { where: 'host', layout, store };
      await st.store.close();
      return;
    }
    const old = this.layout.unpack(await st.student.readFlat());
    const values = new Map<string, Float32Array>();
    for (const n of shapes.keys()) values.set(n, old.get(n) ?? (await this.teacher.source.read(n)));
    Distiller.releaseGpu(st);
    this.plan = plan;
    this.spec = spec;
    this.layout = layout;
    this.state = this.gpuState(new ParamSet(this.gpu, shapes, values, 'student', this.chunkBytes, true));
    await this.gpu.check();
  }

  /** A run of `plan`, which validatePlan (./plan.ts) has passed: the run driver checks it once, before this. */
  static async create(gpu: Gpu, teacher: LoadedTeacher, plan: DistillPlan, corpus: TokenStream, options: DistillerOptions = {}): Promise<Distiller> {
    const spec = studentSpec(teacher.config, plan);
    corpus.forPlan(plan);
    const shapes = heldShapes(spec, plan);
    const layout = FlatParams.of(shapes);
    const report = options.onProgress;
    const streamLayers = plan.streamLayers ?? false;
    // The student is made tensor by tensor where it will train: the host holds one layer's values at
    // a time. It goes to the GPU when it is there before its first step (resident stages, or streamed
    // ones that keep it there), else into the host store (a scratch file, for a teacher whose stage 3
    // does not fit the GPU: its 12 bytes per parameter would not fit the host either).
    const hostStore = options.hostStore ?? memoryFlatStore;
    if (!streamLayers || streamedStudentOnGpu(plan)) {
      const student = new ParamSet(gpu, shapes, undefined, 'student', options.chunkBytes, true);
      try {
        await initialStudent(spec, teacher.source, plan.seed, (n) => shapes.has(n), report, (n, x, at) => student.writeTensor(n, x, at));
      } catch (e) {
        student.release();
        throw e;
      }
      return new Distiller(gpu, teacher, { ...plan, streamLayers }, corpus, spec, layout, student, options.chunkBytes, hostStore);
    }
    const store = await hostStore(layout.size);
    try {
      await initialStudent(spec, teacher.source, plan.seed, (n) => shapes.has(n), report, (n, x, at) => store.write('params', layout.get(n).offset + at, x));
    } catch (e) {
      await store.close();
      throw e;
    }
    return new Distiller(gpu, teacher, { ...plan, streamLayers }, corpus, spec, layout, store, options.chunkBytes, hostStore);
  }

  /** Runs the plan's stages in order; a resumed run starts after `from`'s step. */
  async run(hooks: DistillHooks = {}, control: Control = {}, from?: ResumePoint): Promise<void> {
    const steps = stepsPerStage(this.plan);
    const order = this.plan.stages;
    for (const stage of order) {
      if (control.stop?.()) return;
      if (from && order.indexOf(stage) < order.indexOf(from.stage)) continue;
      const start = from && stage === from.stage ? from.step : 0;
      if (start >= steps[stage]) continue;
      await hooks.beforeStage?.(stage);
      if (control.stop?.()) return;
      await this.runStage(stage, steps[stage], hooks, control, start);
    }
  }

  async runStage(stage: Stage, total: number, hooks: DistillHooks, control: Control, start = 0): Promise<void> {
    const p = this.plan;
    const perStep = tokensPerStep(p);
    // A streaming corpus: the stage's windows come from its prefix, which may still be tokenizing.
    if (!(await this.corpus.enterStage(stage, { stop: control.stop, onWait: (have, need) => hooks.waiting?.(stage, have, need) }))) return;
    hooks.stage?.(stage, 'started', total, total * perStep);
    const t = this.teacher;
    const opts = { ...stageOptions(p), recompute: stage === 3 && recomputes(p, { config: t.config, parameters: t.summary.parameters, weightBytes: t.summary.weightBytes }) };
    const streamed = stage !== 3 && p.streamLayers;
    let step: { step(ids: Uint32Array, lr: number): Promise<StepResult>; release(): void; window?: number; flush?(): void };
    if (streamed) {
      const student = (this.streamedStudent === 'plan' ? streamedStudentOnGpu(p) : this.streamedStudent === 'gpu') ? await this.onGpuStreaming(start === 0) : await this.toHost();
      if (start === 0 && !('set' in student)) {
        // Adam's moments start afresh each stage: each trains a different objective.
        await student.store.zero('m');
        await student.store.zero('v');
      }
      // Buffers pooled by earlier stages would otherwise stay held through this one.
      this.gpu.trim();
      this.gpu.resetPeak();
      step = new StreamedStageStep(this.gpu, { stage, teacher: this.teacher, spec: this.spec, student, options: opts, startAt: start, windowBytes: this.streamWindowBytes });
    } else {
      await this.resident();
      const st = this.state as Extract<StudentState, { where: 'gpu' }>;
      if (start === 0) {
        const s = this.gpu.begin('reset optimizer');
        for (const b of [...st.m, ...st.v, ...st.student.grads]) s.clear(b);
        s.submit();
      }
      this.gpu.trim();
      this.gpu.resetPeak();
      step = new StageStep(this.gpu, { stage, teacher: this.teacher, spec: this.spec, student: st.student, m: st.m, v: st.v, options: opts, startAt: start });
    }
    // Out-of-memory and validation errors of the stage's buffers surface here, before any step runs.
    await this.gpu.check().catch((e: unknown) => {
      step.release();
      throw new Error(`stage ${stage} could not set up its GPU buffers (${e instanceof Error ? e.message : String(e)}): lower the batch or the sequence length${streamed || stage === 3 ? '' : ', or stream the layers'}`);
    });
    this.streaming = streamed ? stage : null;
    const t0 = performance.now();
    let lastSave = t0;
    const saveEvery = (control.saveEveryS ?? 300) * 1000;
    // Steps in flight: one (the next is recorded while this one runs), or a streamed stage's window
    // (its steps run together once the window is full or flushed).
    const ahead = step.window ?? 1;
    const inflight: Promise<unknown>[] = [];
    const settle = async (keep: number) => {
      if (keep === 0) step.flush?.();
      while (inflight.length > keep) {
        try {
          await inflight.shift();
        } catch (e) {
          // The steps behind a failed one are dropped; their own failures must not go unhandled.
          for (const q of inflight) q.catch(() => {});
          throw e;
        }
      }
    };
    let skipped = false;
    let last = start;
    const tail: number[][] = [];
    const normTail: number[][] = [];
    this.tails.set(stage, tail);
    this.normTails.set(stage, normTail);
    const tailFrom = total - Math.max(1, Math.ceil(total * LAYER_LOSS_TAIL));
    // Time spent paused counts for neither tokens/s nor the ETA.
    let pausedMs = 0;
    try {
      for (let k = start + 1; k <= total; k++) {
        if (control.holding?.()) await settle(0);
        const g0 = performance.now();
        await control.gate?.();
        pausedMs += performance.now() - g0;
        if (control.stop?.()) break;
        if (control.skip?.()) {
          skipped = true;
          break;
        }
        const ids = sampleStep(this.corpus, p);
        const lr = p.lr[stage] * wsd(k, total, p.warmup, p.decay);
        const done = step.step(ids, lr).then((r) => {
          if (!Number.isFinite(r.loss)) {
            const bad = (r.layerLosses ?? []).map((v, l) => [v, l] as const).filter(([v, l]) => !Number.isFinite(v) && !this.spec.attentionLayers.includes(l)).map(([, l]) => l);
            const where = bad.length ? ` in layer${bad.length > 1 ? 's' : ''} ${bad.join(', ')}` : '';
            throw new Error(`stage ${stage}: the loss is ${r.loss}${where} at step ${k}; the stage stopped (lower its learning rate)`);
          }
          if (r.layerLosses && k > tailFrom) tail.push(r.layerLosses);
          if (r.attentionNorms && k > tailFrom) normTail.push(r.attentionNorms);
          const elapsedS = (performance.now() - t0 - pausedMs) / 1000;
          hooks.step?.({ stage, step: k, steps: total, tokens: k * perStep, loss: r.loss, gradNorm: r.gradNorm, lr, tokensPerS: ((k - start) * perStep) / Math.max(elapsedS, 1e-9), elapsedS });
          if (r.distances) hooks.distances?.(this.teacher.config.layers, this.teacher.config.heads, r.distances);
        });
        inflight.push(done);
        await settle(ahead);
        last = k;
        if (hooks.save && performance.now() - lastSave > saveEvery) {
          // Step k's loss is checked before its state is saved: a checkpoint never holds a bad step.
          await settle(0);
          await hooks.save(stage, k, false);
          lastSave = performance.now();
        }
      }
      await settle(0);
    } finally {
      step.release();
      this.streaming = null;
    }
    // The stage's end is reported as soon as its last step is in, before its checkpoint and whatever
    // the save hook does after it (the run's held-out evaluation), so that a skip shows at once. A
    // stopped run is saved too (not marked done), so that it can be resumed.
    const stopped = !skipped && (control.stop?.() ?? false) && last < total;
    if (!stopped) hooks.stage?.(stage, skipped ? 'skipped' : 'finished', total, total * perStep, this.gpu.memory.peakBytes);
    await hooks.save?.(stage, skipped || stopped ? last : total, !stopped);
  }

  /** The student's files: model.safetensors (in parts: it may be larger than one typed array), config.json and the teacher's tokenizer files. */
  async studentFiles(teacherConfigJson: object, tokenizerFiles: NamedBytes[], provenance: Record<string, unknown>, hybridAdvisor: Record<string, unknown> | null = null): Promise<NamedParts[]> {
    // Each tensor is read when model.safetensors is written, from the GPU (or the student's store off it), one at a
    // time. Borrowed (frozen) MLPs are the teacher's, read from its files: the exported student holds
    // them like any tensor. Nothing may step until the files are written.
    const params = this.checkpointSource().params;
    const shapes = studentShapes(this.spec);
    const teacher = this.teacher.source;
    const values = new Map<string, Float32Array | (() => AsyncIterable<Float32Array>)>();
    for (const n of shapes.keys()) {
      const s = this.layout.slices.get(n);
      if (!s) values.set(n, async function* () { for await (const p of teacher.pieces(n)) yield p.values; });
      // In pieces of FLAT_PIECE floats: a 128k-row embedding is a gigabyte.
      else values.set(n, async function* () { for (let at = 0; at < s.count; at += FLAT_PIECE) yield await params.read(s.offset + at, Math.min(FLAT_PIECE, s.count - at)); });
    }
    const configJson = studentConfigJson(teacherConfigJson, { mixer: this.spec.mixer, attentionLayers: this.spec.attentionLayers, provenance, hybridAdvisor });
    return exportStudentParts({ configJson, tensors: values, shapes, tokenizerFiles });
  }

  /**
   * What a checkpoint saves, read piece by piece as it is written (saveCheckpoint): from the GPU while
   * the student is there, from its store while it is off it, so the host never holds the whole
   * student or its moments; nothing may step until the save is done.
   */
  checkpointSource(): StudentSource {
    const st = this.state;
    const paramShapes = new Map([...this.layout.slices].map(([n, s]) => [n, { offset: s.offset, count: s.count, shape: s.shape }]));
    const length = this.layout.size;
    if (st.where === 'host') {
      const reader = (region: FlatRegion): FlatReader => ({ length, read: (from, count) => st.store.read(region, from, count) });
      return { params: reader('params'), m: reader('m'), v: reader('v'), paramShapes };
    }
    const reader = (bufs: GPUBuffer[]): FlatReader => ({ length, read: (from, count) => st.student.readRange(bufs, from, count) });
    return { params: reader(st.student.values), m: reader(st.m), v: reader(st.v), paramShapes };
  }

  /** The student's parameters and moments as checkpointSource gives them (readFloats reads one whole: tests, small students). */
  snapshot(): StudentSource {
    return this.checkpointSource();
  }

  /** Refuses a checkpoint whose layout is not this student's. */
  private checkLayout(size: number, paramShapes: Map<string, { offset: number; shape: number[] }>): void {
    const mine = this.layout;
    if (size !== mine.size) throw new Error(`the checkpoint holds ${size} parameter floats, this student has ${mine.size}: it was made by another plan or teacher`);
    for (const [n, s] of mine.slices) {
      const o = paramShapes.get(n);
      if (!o || o.offset !== s.offset || o.shape.join() !== s.shape.join()) throw new Error(`the checkpoint's parameter ${n} does not match this student`);
    }
  }

  /** Writes `x` at float `at` of `region` wherever the student is. */
  private async put(region: FlatRegion, at: number, x: Float32Array): Promise<void> {
    const st = this.state;
    if (st.where === 'host') return st.store.write(region, at, x);
    st.student.writeRange(region === 'params' ? st.student.values : st[region], at, x);
  }

  /**
   * Puts an opened checkpoint's parameters and moments back, read a tensor (moments: FLAT_PIECE
   * floats) at a time, so that the host holds one piece; its layout must be this student's.
   */
  async restoreFrom(ck: OpenedCheckpoint): Promise<void> {
    this.checkLayout(ck.size, ck.paramShapes);
    for (const [n, s] of this.layout.slices) await this.put('params', s.offset, await ck.readParam(n));
    for (const which of ['m', 'v'] as const) await inPieces(ck.size, async (at, n) => this.put(which, at, await ck.readMoment(which, at, n)));
  }

  /** Puts a checkpoint's parameters and moments back (arrays, or read a piece at a time); its layout must be this student's. */
  async restore(ck: { params: Float32Array | FlatReader; m: Float32Array | FlatReader; v: Float32Array | FlatReader; paramShapes: Map<string, { offset: number; count: number; shape: number[] }> }): Promise<void> {
    this.checkLayout(ck.params.length, ck.paramShapes);
    for (const region of FLAT_REGIONS) {
      const f = ck[region];
      if (f.length !== this.layout.size) throw new Error(`the checkpoint's ${region} holds ${f.length} floats, this student has ${this.layout.size}`);
      await inPieces(f.length, async (at, n) => this.put(region, at, f instanceof Float32Array ? f.subarray(at, at + n) : await f.read(at, n)));
    }
  }

  /** Held-out mean NLL of teacher and student over the corpus's held-out documents. */
  async evaluate(maxTokens = 256, maxDocs = 50): Promise<{ teacherNll: number; studentNll: number; tokens: number }> {
    await this.corpus.awaitHeldOut(maxDocs);
    const docs = this.corpus.heldOutDocs(maxDocs).map((d) => d.slice(0, Math.min(maxTokens, this.teacher.config.maxPositions)));
    const st = this.state;
    if (st.where === 'host') {
      // A streamed run evaluates one model at a time, the student without gradients or moments:
      // the evaluation then holds no more than the larger of the two models, not both plus AdamW.
      if (this.streaming) throw new Error(`not while stage ${this.streaming} streams the layers: available at the stage's end`);
      await this.teacher.upload();
      let t: Awaited<ReturnType<typeof meanNll>>;
      try {
        t = await meanNll(this.gpu, this.teacher, docs);
      } finally {
        if (!this.plan.freezeMlp) this.teacher.evict();
      }
      if (this.plan.freezeMlp) await this.teacher.upload();
      const student = await this.paramSet(st.store, 'evaluated student', false);
      try {
        const s = await meanNll(this.gpu, this.modelOf(student), docs);
        return { teacherNll: t.meanNll, studentNll: s.meanNll, tokens: s.tokens };
      } finally {
        student.release();
        this.teacher.evict();
      }
    }
    await this.resident();
    const t = await meanNll(this.gpu, this.teacher, docs);
    const s = await meanNll(this.gpu, this.studentModel(), docs);
    return { teacherNll: t.meanNll, studentNll: s.meanNll, tokens: s.tokens };
  }

  /** The student as a runnable model: weights in the parameter buffer, no gradients (after `resident()`). */
  studentModel() {
    return this.modelOf(this.student);
  }

  private modelOf(student: ParamSet) {
    const weights = { get: (n: string) => student.get(n), has: (n: string) => student.has(n) };
    return { config: this.spec.config, weights, mixer: studentMixers(this.gpu, this.spec, weights) };
  }

  /** Frees the GPU buffers at once; the promise settles when the store (a scratch file) is gone too. */
  release(): Promise<void> {
    const st = this.state;
    if (st.where === 'gpu') {
      Distiller.releaseGpu(st);
      return Promise.resolve();
    }
    return st.store.close();
  }
}
