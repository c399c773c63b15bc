// Stages 1 and 2 with one layer of teacher and student on the GPU at a time (layer streaming), for
// teachers whose weights, activations and student optimizer state do not all fit.
//
// The stages are teacher-forced and their loss is a sum of per-layer terms: layer l's updates depend
// only on the teacher's inputs to layer l, never on other layers of the student. So the work is done
// layer-major over a window of W steps: layer l's teacher weights and the student mixer's parameters
// and AdamW moments are written into one slot of buffers once; for each of the W steps, every
// micro-batch's residual stream (kept on the GPU) goes through the teacher's block l while the
// mixer's loss and gradients are computed on the block's normed input, and the mixer takes that
// step's AdamW update; then the mixer's state is copied back to where the student lives. The result
// is the one a step-by-step walk would give, with W times fewer transfers. What lives on the GPU is one
// layer's weights, the slot, the window's residuals and one layer's activations, whatever the depth.
//
// The student lives on the host (HostStudent: a flat store of parameters and moments, 12 bytes per
// parameter, in a scratch file or in memory, read and written a piece at a time) or in its own GPU buffers (GpuStudent: GPU-to-GPU copies in and out of the slot, nothing on the host). The
// Distiller takes the GPU when the plan has a stage 3, which holds the whole student there anyway
// (plan.ts, streamedStudentOnGpu): then a browser tab's worker holds none of it.
//
// Differences from the resident step (stages.ts), both deliberate:
//   - gradient clipping is per layer, at maxGradNorm/√(mixer layers): the layers' objectives are
//     independent, and when every layer's norm is the same this clips exactly when the global norm
//     would. Unclipped steps are the same as the resident step's (tests/mohawk/streamed-stage.test.ts).
//
// Nothing of the teacher is kept on the host: each window reads layer l's tensors from the
// teacher's files again (the next layer's read overlapping this layer's GPU work), and they sit in
// the slot in the checkpoint's precision. The embedding table goes to the GPU once, also in that
// precision (half of f32's size for a bf16 teacher).
import type { Gpu, Op, Step } from '../gpu/runtime';
import { adamwChunks, type AdamW } from '../kernels/adamw';
import { scale } from '../kernels/elementwise';
import { layerAttention, type ArchConfig } from '../io/config';
import { blockForward } from '../models/decoder';
import { Activations, AttentionMixer, Mlp, type Weights } from '../models/layers';
import { MambaMixer } from '../models/mamba-mixer';
import { mixerParamShapes } from '../models/mamba-mixer-shape';
import { ParamSet, type StudentSpec } from '../models/student';
import { gpuBytes, keepsCheckpointPrecision, uploadTensor, type TeacherSource, type WeightPrecision } from '../models/teacher';
import type { CanonicalTensor } from '../models/arch';
import { rawToF32, type RawTensor } from '../io/half';
import { embedding } from '../kernels/embedding';
import { chunkPieces, type FlatParams } from '../models/params';
import { inPieces, type FlatRegion, type FlatStore } from '../io/flat-file';
import { STREAM_WINDOW_BYTES, streamWindowSteps } from './plan';
import { LayerObjective, stepResult, trainedBy, type StageOptions, type StepResult } from './stages';

/** The student's state off the GPU: parameters and moments in `store`, packed in the full student layout. */
export interface HostStudent {
  layout: FlatParams;
  store: FlatStore;
}

/**
 * The student's state on the GPU, in its own chunks (ParamSet.buffers): the slot is filled from it and
 * copied back to it by the GPU, so the host holds nothing of the student and no transfer leaves the GPU.
 */
export interface GpuStudent {
  set: ParamSet;
  m: GPUBuffer[];
  v: GPUBuffer[];
}


/** The teacher as a streamed stage reads it: from its files, tensor by tensor. */
export interface HostTeacher {
  config: ArchConfig;
  source: TeacherSource;
  precision: WeightPrecision;
}

/** What a streamed stage step trains and how: the student's state lives on the host. */
export interface StreamedStageStepArgs {
  stage: 1 | 2;
  teacher: HostTeacher;
  spec: StudentSpec;
  /** Read at each layer's turn and written back, parameters and moments, when its window is done. */
  student: HostStudent | GpuStudent;
  options: StageOptions;
  /** Optimizer steps already taken in this stage (a resumed run), for AdamW's bias correction; default 0. */
  startAt?: number;
  /** GPU memory for the window's residual streams; the window is as many steps as fit (1 to 32). */
  windowBytes?: number;
}

export class StreamedStageStep {
  readonly stage: 1 | 2;
  private readonly teacher: HostTeacher;
  private readonly spec: StudentSpec;
  private readonly student: HostStudent | GpuStudent;
  private readonly o: StageOptions;
  private readonly c: ArchConfig;
  private readonly rows: number;
  private readonly mixerLayers: number[];
  /** The teacher's layer tensors, by name without the `layers.N.` prefix. */
  private readonly teacherSlot = new Map<string, GPUBuffer>();
  private readonly slot: ParamSet;
  /** The slot's AdamW moments, chunked like its parameters. */
  private readonly slotM: GPUBuffer[];
  private readonly slotV: GPUBuffer[];
  /** Where each mixer layer's slot lies in the student's flat layout (in floats). */
  private readonly base = new Map<number, number>();
  /** Steps per pass over the layers. */
  readonly window: number;
  /** The window's residual streams: step k, micro-batch i at (k·accumulate + i)·rows·d floats. */
  private readonly residuals: GPUBuffer;
  /** Per step of the window: each layer's loss, gradient norm, (stage 2) teacher attention-output norm and (stage 1) distances. */
  private readonly stepLoss: GPUBuffer;
  private readonly stepNorms: GPUBuffer;
  private readonly stepAttnNorm: GPUBuffer | null = null;
  private readonly stepDist: GPUBuffer | null;
  private readonly x: GPUBuffer;
  private readonly next: GPUBuffer;
  /**
   * The teacher block's and the objective's ops per kind of layer (gemma3's sliding and full layers
   * differ in window and RoPE), by the first layer of the kind; kindOf[l] is layer l's.
   */
  private readonly blockOps = new Map<number, Op[]>();
  private readonly objectiveOps = new Map<number, Op[]>();
  private readonly kindOf: number[] = [];
  private readonly objective: LayerObjective;
  private readonly opt: AdamW;
  /** Averaging the accumulated gradients, then AdamW. */
  private readonly update: Op[];
  private readonly lossSum: GPUBuffer;
  private readonly lossOne: GPUBuffer;
  private readonly layerLoss: GPUBuffer;
  private readonly attnNorm: GPUBuffer | null = null;
  /** Two staging buffers of one slot chunk each, alternating, that bring a layer's parameters and moments back. */
  private readonly staging: GPUBuffer[] = [];
  private readonly landing: (Promise<void> | null)[] = [null, null];
  /** The last window's copy-back of each layer: the next window writes that layer only after it landed. */
  private readonly landed = new Map<number, Promise<void>>();
  private queue: { ids: Uint32Array; lr: number; resolve: (r: StepResult) => void; reject: (e: unknown) => void }[] = [];
  private running: Promise<void> = Promise.resolve();
  private readonly owned: GPUBuffer[] = [];
  /** Every buffer made while the step was built (Gpu.collect). */
  private readonly held: ReturnType<Gpu['collect']>;
  /** The running window's own ops' buffers. */
  private windowOps: ReturnType<Gpu['collect']> | null = null;
  private ids: GPUBuffer;
  private embedTables: { table: GPUBuffer; pos: GPUBuffer | null } | null = null;
  private own(b: GPUBuffer): GPUBuffer {
    this.owned.push(b);
    return b;
  }
  private readonly acts: Activations;
  private readonly mixer: MambaMixer;
  private t: number;

  constructor(
    private readonly gpu: Gpu,
    a: StreamedStageStepArgs,
  ) {
    // Every buffer the step makes while it is built, its kernels' own scratch included (the SSD
    // kernels', the conv's partials, the ops' parameters), is freed by release(): the next stage must
    // not hold this one's (stage 2 on the H200 held 0.03-0.09 GiB of stage 1's SSD-matrix scratch).
    this.held = gpu.collect();
    try {
      const { stage, teacher, spec, student, options: o } = a;
      this.stage = stage;
      this.teacher = teacher;
      this.spec = spec;
      this.student = student;
      this.o = o;
      this.t = a.startAt ?? 0;
      const c = (this.c = teacher.config);
      const { batch, L, accumulate } = o;
      const rows = (this.rows = batch * L);
      const io = { batch, L };
      const d = c.dModel;
      this.mixerLayers = [...Array(c.layers).keys()].filter((l) => !spec.attentionLayers.includes(l));
      if (this.mixerLayers.length === 0) throw new Error(`stage ${stage} has nothing to train: every layer keeps its attention`);
      const own = (b: GPUBuffer) => this.own(b);

      // The teacher's slot: layer 0's tensors give the shapes and precisions every layer shares.
      for (const t of teacher.source.tensors) {
        const m = /^layers\.0\.(.+)$/.exec(t.name);
        if (!m) continue;
        const label = `streamed teacher ${m[1]}`;
        const count = t.shape.reduce((a, b) => a * b, 1);
        const packed = keepsCheckpointPrecision(t, teacher.precision);
        this.teacherSlot.set(m[1]!, own(packed ? gpu.packedBuffer(count, t.dtype === 'BF16' ? 'bf16' : 'f16', label) : gpu.buffer(gpuBytes(t, teacher.precision), label)));
      }
      this.ids = own(gpu.buffer(0, 'streamed ids'));

      // The student's slot, laid out like one layer's mixer inside the full layout (FlatParams aligns
      // every tensor the same way, so a layer's mixer is one contiguous range of the flat layout).
      const shapes = mixerParamShapes(spec.mixer);
      const names = [...shapes.keys()];
      this.slot = new ParamSet(gpu, shapes, undefined, 'streamed mixer');
      const layout = 'set' in student ? student.set.layout : student.layout;
      for (const l of this.mixerLayers) {
        const b = layout.get(`layers.${l}.mixer.${names[0]}`).offset;
        for (const n of names) {
          if (layout.get(`layers.${l}.mixer.${n}`).offset - b !== this.slot.layout.get(n).offset) throw new Error(`layer ${l}'s mixer is not laid out like the streaming slot`);
        }
        this.base.set(l, b);
      }
      this.slotM = this.slot.buffers('streamed adam m').map(own);
      this.slotV = this.slot.buffers('streamed adam v').map(own);
      const trained = trainedBy(stage, o.freezeMlp);
      this.slot.trainOnly((n) => trained(`layers.${this.mixerLayers[0]}.mixer.${n}`));
      const largest = Math.max(...this.slot.chunks.map((ch) => ch.size));
      for (let j = 0; j < ('set' in student ? 0 : 2); j++) {
        this.staging.push(own(gpu.createBuffer({ size: Math.max(16, largest * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'streamed copy-back' })));
      }

      const perStep = accumulate * rows * d * 4;
      this.window = streamWindowSteps(perStep, a.windowBytes ?? STREAM_WINDOW_BYTES);
      this.residuals = own(gpu.buffer(this.window * perStep, 'streamed residuals'));
      this.x = own(gpu.buffer(rows * d * 4, 'streamed block input'));
      this.next = own(gpu.buffer(rows * d * 4, 'streamed block output'));
      this.lossSum = own(gpu.zeros(1, 'stage loss sum'));
      this.lossOne = own(gpu.buffer(4, 'stage loss'));
      // The objective reports into layer 0's slot whichever layer runs (see below).
      this.layerLoss = own(gpu.zeros(64, 'stage loss of the layer in the slot'));
      this.stepLoss = own(gpu.zeros(this.window * c.layers * 64, 'streamed loss per step and layer'));
      this.stepNorms = own(gpu.zeros(this.window * c.layers * 64, 'streamed grad norm per step and layer'));
      if (stage === 2) {
        this.attnNorm = own(gpu.zeros(64, 'attention norm of the layer in the slot'));
        this.stepAttnNorm = own(gpu.zeros(this.window * c.layers * 64, 'streamed attention norm per step and layer'));
      }

      const acts = (this.acts = new Activations(gpu, false));
      const slot = this.slot;
      this.mixer = new MambaMixer(gpu, spec.mixer, io, { w: (n) => slot.get(n), g: (n) => slot.grad(n) });
      const sinks = { lossSum: this.lossSum, lossOne: this.lossOne, layerLoss: this.layerLoss, attnNorm: this.attnNorm ?? undefined };
      this.objective = new LayerObjective(gpu, { stage, c, spec, options: o, sinks, mixerLayers: this.mixerLayers.length });
      // Built once per kind of layer and run for every layer of the kind: the slot's buffers are the same
      // whichever layer is in it, layers share their activations (by name), and kernels that make
      // scratch buffers make them per op list. The objective reports into layer 0's loss slot and
      // distance region, which are copied out per layer and step.
      const firstOfKind = new Map<string, number>();
      for (let l = 0; l < c.layers; l++) {
        const key = JSON.stringify(layerAttention(c, l));
        if (!firstOfKind.has(key)) firstOfKind.set(key, l);
        this.kindOf.push(firstOfKind.get(key)!);
      }
      for (const k of firstOfKind.values()) {
        const w = this.teacherWeights(k);
        const attention = new AttentionMixer(gpu, { c, w, layer: k, io, acts, half: o.teacherHalf === true });
        const mlp = new Mlp(gpu, { c, w, layer: k, io, acts });
        const block = blockForward(gpu, { c, weights: w, layer: k, rows, acts, mixer: attention, mlp, x: this.x, next: this.next });
        this.blockOps.set(k, block.ops);
        this.objectiveOps.set(k, this.objective.ops(0, { attention, normed: block.u, mixed: block.a }, this.mixer, slot.get('D')));
      }
      this.stepDist = this.objective.dist ? own(gpu.buffer(this.window * c.layers * this.objective.distStride * 4, 'streamed distances per step')) : null;
      this.opt = adamwChunks(gpu, {
        chunks: slot.optimizerChunks(this.slotM, this.slotV),
        config: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm / Math.sqrt(this.mixerLayers.length) },
      });
      const average = accumulate > 1 ? slot.chunks.flatMap((ch, k) => scale(gpu, { y: slot.grads[k]!, n: ch.size, alpha: 1 / accumulate })) : [];
      this.update = [...average, ...this.opt.ops];
    } catch (e) {
      for (const b of new Set(this.owned)) b.destroy();
      this.held.free();
      throw e;
    }
    this.held.stop();
  }

  /** Layer l's canonical names, bound to the teacher's slot. */
  private teacherWeights(l: number): Weights {
    const prefix = `layers.${l}.`;
    const local = (n: string) => (n.startsWith(prefix) ? n.slice(prefix.length) : null);
    return {
      get: (n) => {
        const b = local(n) !== null ? this.teacherSlot.get(local(n)!) : undefined;
        if (!b) throw new Error(`layer streaming: ${n} is not a tensor of layer ${l}`);
        return b;
      },
      has: (n) => local(n) !== null && this.teacherSlot.has(local(n)!),
    };
  }

  /** The embedding table (and learned positions) on the GPU, uploaded by the first window. */
  private async tables(): Promise<{ table: GPUBuffer; pos: GPUBuffer | null }> {
    if (!this.embedTables) {
      const src = this.teacher.source;
      const find = (n: string) => src.tensors.find((t) => t.name === n)!;
      const table = this.own(await uploadTensor(this.gpu, find('embed'), this.teacher.precision));
      const pos = this.c.positions === 'learned' ? this.own(await uploadTensor(this.gpu, find('pos'), this.teacher.precision)) : null;
      this.embedTables = { table, pos };
    }
    return this.embedTables;
  }

  /** Layer l's teacher tensors as the files hold them (read while the GPU works on the layer before). */
  private readLayer(l: number): Promise<[CanonicalTensor, RawTensor][]> {
    const prefix = `layers.${l}.`;
    const mine = this.teacher.source.tensors.filter((t) => t.name.startsWith(prefix) && this.teacherSlot.has(t.name.slice(prefix.length)));
    return Promise.all(mine.map(async (t) => [t, await t.readRaw()] as [CanonicalTensor, RawTensor]));
  }

  /**
   * One optimizer step over `ids` (accumulate × batch × L tokens). Steps are gathered into windows:
   * the promise resolves when the window it falls in has run (`flush` runs a partial one), with every
   * layer's parameters and moments back where the student lives.
   */
  step(ids: Uint32Array, lr: number): Promise<StepResult> {
    const per = this.rows * this.o.accumulate;
    if (ids.length !== per) return Promise.reject(new Error(`a step takes ${per} token ids, got ${ids.length}`));
    const p = new Promise<StepResult>((resolve, reject) => this.queue.push({ ids, lr, resolve, reject }));
    if (this.queue.length >= this.window) this.flush();
    return p;
  }

  /** Runs the steps gathered so far (windows run one after another: they share the slot). */
  flush(): void {
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.running = this.running.then(() =>
      this.runWindow(batch).catch(async (e: unknown) => {
        throw await this.gpu.failure(e, 'a streamed window');
      }).then(
        (rs) => batch.forEach((b, k) => b.resolve(rs[k]!)),
        (e: unknown) => batch.forEach((b) => b.reject(e)),
      ),
    );
  }

  private async runWindow(steps: { ids: Uint32Array; lr: number }[]): Promise<StepResult[]> {
    const { accumulate } = this.o;
    const gpu = this.gpu;
    const c = this.c;
    const K = steps.length;
    const bytes = this.rows * c.dModel * 4;
    const chunks = this.slot.chunks;
    const onGpu = 'set' in this.student ? this.student : null;
    const host = 'set' in this.student ? null : this.student;
    const t0 = this.t;
    this.t += K;
    const ids = new Uint32Array(K * this.rows * accumulate);
    steps.forEach((st, k) => ids.set(st.ids, k * st.ids.length));
    if (this.ids.size < ids.byteLength) {
      this.ids.destroy();
      this.ids = this.own(gpu.buffer(this.window * this.rows * accumulate * 4, 'streamed ids'));
    }
    gpu.write(this.ids, ids);
    const { table, pos } = await this.tables();
    // The window's own ops (its ids' embedding) keep their parameters in GPU buffers: freed when the
    // window is done, or by release() after a window that failed.
    this.windowOps?.free();
    const made = (this.windowOps = gpu.collect());
    const embed = embedding(gpu, { ids: this.ids, table, out: this.residuals, tokens: ids.length, d: c.dModel, vocab: c.vocab, pos: pos ? { table: pos, L: this.o.L } : undefined });
    // As the decoder does: gemma3's √d scales the embedding (its own kernel, so the rounding is the same).
    if (c.embedScale !== 1) embed.push(...scale(gpu, { y: this.residuals, n: ids.length * c.dModel, alpha: c.embedScale }));
    made.stop();
    const distBytes = this.objective.distStride * 4;
    const backs: Promise<void>[] = [];
    let j = 0;
    let s: Step = gpu.begin(`stage ${this.stage} streamed`);
    s.run(embed);
    let reading = this.readLayer(0);
    for (let l = 0; l < c.layers; l++) {
      // Writes are queued in order with the submissions around them: this layer's weights land
      // after the previous layer's work, which read the slot, was submitted.
      const layer = await reading;
      if (l + 1 < c.layers) reading = this.readLayer(l + 1);
      for (const [t, raw] of layer) {
        const b = this.teacherSlot.get(t.name.slice(`layers.${l}.`.length))!;
        if (keepsCheckpointPrecision(t, this.teacher.precision) && raw.dtype !== 'F32') gpu.writePacked(b, raw.data);
        else gpu.write(b, rawToF32(raw));
      }
      const b0 = this.base.get(l);
      // Recorded before the layer's steps, in the same command stream: no wait, nothing on the host.
      if (b0 !== undefined && onGpu) this.copySlot(s, onGpu, b0, true);
      else if (b0 !== undefined && host) {
        await this.landed.get(l);
        // Piece by piece from the store: the host holds at most FLAT_PIECE floats of the layer.
        for (const [q, ch] of chunks.entries()) {
          for (const [region, buf] of [['params', this.slot.values[q]!], ['m', this.slotM[q]!], ['v', this.slotV[q]!]] as const) {
            await inPieces(ch.size, async (at, n) => gpu.write(buf, await host.store.read(region, b0 + ch.start + at, n), at * 4));
          }
        }
      }
      for (let k = 0; k < K; k++) {
        if (b0 !== undefined) {
          // AdamW's step and rate go in through a queue write: each step's update is its own submission.
          this.opt.setStep(t0 + k + 1, steps[k]!.lr);
          for (const g of this.slot.grads) s.clear(g);
          s.clear(this.layerLoss, 0, 256);
          if (this.attnNorm) s.clear(this.attnNorm, 0, 256);
        }
        for (let i = 0; i < accumulate; i++) {
          const at = (k * accumulate + i) * bytes;
          s.copy(this.residuals, at, this.x, 0, bytes);
          s.run(this.blockOps.get(this.kindOf[l]!)!);
          if (b0 !== undefined) s.run(this.objectiveOps.get(this.kindOf[l]!)!);
          s.copy(this.next, 0, this.residuals, at, bytes);
        }
        if (b0 === undefined) continue;
        s.run(this.update);
        const slotAt = (k * c.layers + l) * 256;
        s.copy(this.opt.gradNorm, 0, this.stepNorms, slotAt, 4).copy(this.layerLoss, 0, this.stepLoss, slotAt, 4);
        if (this.stepAttnNorm) s.copy(this.attnNorm!, 0, this.stepAttnNorm, slotAt, 4);
        if (this.stepDist) s.copy(this.objective.dist!, 0, this.stepDist, (k * c.layers + l) * distBytes, distBytes);
        s.submit();
        s = gpu.begin(`stage ${this.stage} streamed`);
      }
      if (b0 !== undefined && onGpu) this.copySlot(s, onGpu, b0, false);
      if (b0 === undefined || !host) {
        // The next layer's weights are queued next: this layer's work must be submitted first.
        s.submit();
        s = gpu.begin(`stage ${this.stage} streamed`);
        continue;
      }
      // Parameters, then each moment, chunk by chunk, through two staging buffers of one chunk each,
      // alternating: a buffer is reused once its last copy has landed on the host (the GPU meanwhile
      // goes on).
      const parts = chunks.flatMap((ch, q) =>
        ([[this.slot.values[q]!, 'params'], [this.slotM[q]!, 'm'], [this.slotV[q]!, 'v']] as const).map(([src, dst]: readonly [GPUBuffer, FlatRegion]) => ({ src, dst, at: b0 + ch.start, size: ch.size })),
      );
      const layerBacks: Promise<void>[] = [];
      for (const { src, dst, at, size } of parts) {
        const which = j++ % 2;
        await this.landing[which];
        const st = this.staging[which]!;
        s.copy(src, 0, st, 0, size * 4);
        s.submit();
        s = gpu.begin(`stage ${this.stage} streamed`);
        // Written to the store from the mapped range: the staging buffer is reused once the write is done.
        const back = st.mapAsync(GPUMapMode.READ).then(async () => {
          try {
            await host.store.write(dst, at, new Float32Array(st.getMappedRange(), 0, size));
          } finally {
            st.unmap();
          }
        });
        // Awaited later, or never when the window fails first: it must not count as unhandled.
        back.catch(() => {});
        this.landing[which] = back;
        layerBacks.push(back);
      }
      const all = Promise.all(layerBacks).then(() => {});
      all.catch(() => {});
      this.landed.set(l, all);
      backs.push(all);
    }
    const reads = [
      s.readback(this.stepLoss),
      s.readback(this.stepNorms),
      this.stepDist ? s.readback(this.stepDist) : Promise.resolve(null),
      this.stepAttnNorm ? s.readback(this.stepAttnNorm) : Promise.resolve(null),
    ] as const;
    s.submit();
    const [loss, norms, dist, attn] = await Promise.all(reads);
    await Promise.all(backs);
    made.free();
    this.windowOps = null;
    const per = 1 / this.mixerLayers.length;
    return steps.map((_, k) => {
      let sum = 0;
      let g2 = 0;
      for (const l of this.mixerLayers) {
        sum += loss[(k * c.layers + l) * 64]!;
        g2 += norms[(k * c.layers + l) * 64]! ** 2;
      }
      const d = dist ? dist.subarray(k * c.layers * this.objective.distStride, (k + 1) * c.layers * this.objective.distStride) : null;
      const perLayer = loss.subarray(k * c.layers * 64, (k + 1) * c.layers * 64);
      const attentionNorm = attn ? attn.subarray(k * c.layers * 64, (k + 1) * c.layers * 64) : null;
      return stepResult({ c, spec: this.spec, batch: this.o.batch, distStride: this.objective.distStride, loss: sum * per, gradNorm: Math.sqrt(g2), dist: d, perLayer, attentionNorm });
    });
  }

  /**
   * Records the copies between the slot and the GPU-held student's parameters and moments at float
   * `b0` (layer l's mixer), into the slot (`toSlot`) or back out of it.
   */
  private copySlot(s: Step, student: GpuStudent, b0: number, toSlot: boolean): void {
    this.slot.chunks.forEach((ch, q) => {
      const slotBufs = [this.slot.values[q]!, this.slotM[q]!, this.slotV[q]!];
      [student.set.values, student.m, student.v].forEach((bufs, i) => {
        for (const p of chunkPieces(student.set.chunks, b0 + ch.start, ch.size)) {
          if (toSlot) s.copy(bufs[p.chunk]!, p.offset, slotBufs[i]!, p.at, p.bytes);
          else s.copy(slotBufs[i]!, p.at, bufs[p.chunk]!, p.offset, p.bytes);
        }
      });
    });
  }

  release(): void {
    this.acts.release();
    this.objective.release();
    this.mixer.release();
    this.slot.release();
    for (const b of new Set(this.owned)) b.destroy();
    this.held.free();
    this.windowOps?.free();
  }
}
