// Stages 1 and 2 with one layer of teacher and student on the GPU at a time (layer streaming), for
// teachers whose weights, activations and student optimizer state do not all fit.
//
// The stages are teacher-forced and their loss is a sum of per-layer terms, so a step can walk the
// layers in order: layer l's teacher weights and the student mixer's parameters and AdamW moments
// are written into one slot of buffers; every micro-batch's residual stream (kept on the GPU, a few
// MiB) goes through the teacher's block l while the mixer's loss and gradients are computed on the
// block's normed input; the mixer takes its AdamW step; its parameters and moments are copied back
// to the host. What lives on the GPU is one layer's weights, the slot, the residuals of the step's
// micro-batches and one layer's activations, whatever the depth.
//
// Differences from the resident step (stages.ts), both deliberate:
//   - gradient clipping is per layer, at maxGradNorm/√(mixer layers): the layers' objectives are
//     independent, and when every layer's norm is the same this clips exactly when the global norm
//     would. Unclipped steps are the same as the resident step's (tests/mohawk/streamed-stage.test.ts).
//   - the embedding is gathered on the host from the teacher's host copy, so the table (often the
//     largest tensor) never goes to the GPU.
import type { Gpu, Op, Step } from '../gpu/runtime';
import { adamw, type AdamW } from '../kernels/adamw';
import { scale } from '../kernels/elementwise';
import type { ArchConfig } from '../io/config';
import { blockForward } from '../models/decoder';
import { Activations, AttentionMixer, Mlp, type Weights } from '../models/layers';
import { MambaMixer } from '../models/mamba-mixer';
import { mixerParamShapes } from '../models/mamba-mixer-shape';
import { ParamSet, type StudentSpec } from '../models/student';
import { FlatParams } from './params';
import { LayerObjective, stepResult, trainedBy, type StageOptions, type StepResult } from './stages';

/** The student's state on the host, packed in the full student layout. */
export interface HostStudent {
  layout: FlatParams;
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** Host copies of the teacher's canonical tensors. */
export interface HostTeacher {
  config: ArchConfig;
  host: Map<string, Float32Array>;
}

export class StreamedStageStep {
  private readonly c: ArchConfig;
  private readonly rows: number;
  private readonly mixerLayers: number[];
  /** The teacher's layer tensors, by name without the `layers.N.` prefix. */
  private readonly teacherSlot = new Map<string, GPUBuffer>();
  private readonly slot: ParamSet;
  private readonly slotM: GPUBuffer;
  private readonly slotV: GPUBuffer;
  /** Where each mixer layer's slot lies in the host arrays (in floats). */
  private readonly base = new Map<number, number>();
  private readonly residuals: GPUBuffer;
  private readonly x: GPUBuffer;
  private readonly next: GPUBuffer;
  private readonly layerOps: Op[][] = [];
  private readonly objective: LayerObjective;
  private readonly opt: AdamW;
  private readonly lossSum: GPUBuffer;
  private readonly lossOne: GPUBuffer;
  private readonly layerLoss: GPUBuffer;
  /** Each layer's gradient norm, one 256-byte slot per layer. */
  private readonly gradNorms: GPUBuffer;
  /** Two staging buffers, alternating over layers, that bring a layer's parameters and moments back. */
  private readonly staging: GPUBuffer[] = [];
  private readonly landing: (Promise<void> | null)[] = [null, null];
  /** The last step's copy-back of each layer: the next step writes that layer only after it landed. */
  private readonly landed = new Map<number, Promise<void>>();
  private readonly owned: GPUBuffer[] = [];
  private readonly acts: Activations;
  private readonly mixer: MambaMixer;
  private t: number;

  constructor(
    private readonly gpu: Gpu,
    readonly stage: 1 | 2,
    private readonly teacher: HostTeacher,
    private readonly spec: StudentSpec,
    private readonly student: HostStudent,
    private readonly o: StageOptions,
    startAt = 0,
  ) {
    this.t = startAt;
    const c = (this.c = teacher.config);
    const { batch, L, accumulate } = o;
    const rows = (this.rows = batch * L);
    const io = { batch, L };
    const d = c.dModel;
    this.mixerLayers = [...Array(c.layers).keys()].filter((l) => !spec.attentionLayers.includes(l));
    if (this.mixerLayers.length === 0) throw new Error(`stage ${stage} has nothing to train: every layer keeps its attention`);
    const own = (b: GPUBuffer) => (this.owned.push(b), b);

    // The teacher's slot: layer 0's tensors give the shapes every layer shares.
    for (const [n, data] of teacher.host) {
      const m = /^layers\.0\.(.+)$/.exec(n);
      if (m) this.teacherSlot.set(m[1]!, own(gpu.buffer(data.byteLength, `streamed teacher ${m[1]}`)));
    }

    // The student's slot, laid out like one layer's mixer inside the full layout (FlatParams aligns
    // every tensor the same way, so a layer's mixer is one contiguous range of the host arrays).
    const shapes = mixerParamShapes(spec.mixer);
    const names = [...shapes.keys()];
    const fp = new FlatParams();
    for (const [n, sh] of shapes) fp.add(n, sh);
    this.slot = new ParamSet(gpu, shapes, new Float32Array(fp.size), 'streamed mixer');
    for (const l of this.mixerLayers) {
      const b = student.layout.get(`layers.${l}.mixer.${names[0]}`).offset;
      for (const n of names) {
        if (student.layout.get(`layers.${l}.mixer.${n}`).offset - b !== this.slot.layout.get(n).offset) throw new Error(`layer ${l}'s mixer is not laid out like the streaming slot`);
      }
      this.base.set(l, b);
    }
    const size = this.slot.layout.size;
    this.slotM = own(gpu.buffer(size * 4, 'streamed adam m'));
    this.slotV = own(gpu.buffer(size * 4, 'streamed adam v'));
    const trained = trainedBy(stage, o.freezeMlp);
    this.slot.trainOnly((n) => trained(`layers.${this.mixerLayers[0]}.mixer.${n}`));
    const mask = own(gpu.upload(this.slot.mask(), 'streamed mask'));
    for (let j = 0; j < 2; j++) {
      this.staging.push(own(gpu.createBuffer({ size: 3 * size * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'streamed copy-back' })));
    }

    this.residuals = own(gpu.buffer(accumulate * rows * d * 4, 'streamed residuals'));
    this.x = own(gpu.buffer(rows * d * 4, 'streamed block input'));
    this.next = own(gpu.buffer(rows * d * 4, 'streamed block output'));
    this.lossSum = own(gpu.zeros(1, 'stage loss sum'));
    this.lossOne = own(gpu.buffer(4, 'stage loss'));
    this.layerLoss = own(gpu.zeros(c.layers * 64, 'stage loss per layer'));
    this.gradNorms = own(gpu.zeros(c.layers * 64, 'stage grad norm per layer'));

    const acts = (this.acts = new Activations(gpu, false));
    const slot = this.slot;
    this.mixer = new MambaMixer(gpu, spec.mixer, io, { w: (n) => slot.get(n), g: (n) => slot.grad(n) });
    this.objective = new LayerObjective(gpu, stage, c, spec, o, { lossSum: this.lossSum, lossOne: this.lossOne, layerLoss: this.layerLoss }, this.mixerLayers.length);
    for (let l = 0; l < c.layers; l++) {
      const w = this.teacherWeights(l);
      const attention = new AttentionMixer(gpu, c, w, l, io, acts);
      const block = blockForward(gpu, c, w, l, rows, this.x, this.next, acts, attention, new Mlp(gpu, c, w, l, io, acts));
      const ops = [...block.ops];
      if (this.base.has(l)) ops.push(...this.objective.ops(l, { attention, normed: block.u, mixed: block.a }, this.mixer, slot.get('D')));
      this.layerOps.push(ops);
    }
    this.opt = adamw(gpu, {
      params: slot.values,
      grads: slot.grads,
      m: this.slotM,
      v: this.slotV,
      mask,
      count: size,
      config: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm / Math.sqrt(this.mixerLayers.length) },
    });
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

  /** The step's token embeddings (plus learned positions), gathered on the host. */
  private embed(ids: Uint32Array): Float32Array {
    const c = this.c;
    const d = c.dModel;
    const table = this.teacher.host.get('embed')!;
    const pos = c.positions === 'learned' ? this.teacher.host.get('pos')! : null;
    const out = new Float32Array(ids.length * d);
    for (let t = 0; t < ids.length; t++) {
      const id = Math.min(ids[t]!, c.vocab - 1);
      out.set(table.subarray(id * d, (id + 1) * d), t * d);
      if (pos) {
        const p = (t % this.o.L) * d;
        for (let j = 0; j < d; j++) out[t * d + j]! += pos[p + j]!;
      }
    }
    return out;
  }

  /**
   * One optimizer step over `ids` (accumulate × batch × L tokens). Resolves once its scalars are back
   * and every layer's parameters and moments are in the host arrays again.
   */
  async step(ids: Uint32Array, lr: number): Promise<StepResult> {
    // The scheduler asks for the next step before this one's results are back; its recording must
    // wait until this one's last layer is submitted, since both write the same slot.
    const before = this.recording;
    let recorded!: () => void;
    this.recording = new Promise((r) => (recorded = r));
    await before;
    try {
      return await this.record(ids, lr, recorded);
    } finally {
      recorded();
    }
  }

  private recording: Promise<void> = Promise.resolve();

  private async record(ids: Uint32Array, lr: number, recorded: () => void): Promise<StepResult> {
    const { accumulate } = this.o;
    const gpu = this.gpu;
    const per = this.rows;
    if (ids.length !== per * accumulate) throw new Error(`a step takes ${per * accumulate} token ids, got ${ids.length}`);
    this.opt.setStep(++this.t, lr);
    gpu.write(this.residuals, this.embed(ids));
    const bytes = this.rows * this.c.dModel * 4;
    const size = this.slot.layout.size;
    const host = this.student;
    const backs: Promise<void>[] = [];
    let s: Step = gpu.begin(`stage ${this.stage} streamed`);
    s.clear(this.lossSum).clear(this.layerLoss).clear(this.gradNorms);
    let j = 0;
    for (let l = 0; l < this.c.layers; l++) {
      // Writes are queued in order with the submissions around them: this layer's weights land
      // after the previous layer's work, which read the slot, was submitted.
      for (const [n, b] of this.teacherSlot) gpu.write(b, this.teacher.host.get(`layers.${l}.${n}`)!);
      const b0 = this.base.get(l);
      if (b0 !== undefined) {
        await this.landed.get(l);
        gpu.write(this.slot.values, host.params.subarray(b0, b0 + size));
        gpu.write(this.slotM, host.m.subarray(b0, b0 + size));
        gpu.write(this.slotV, host.v.subarray(b0, b0 + size));
        s.clear(this.slot.grads);
      }
      for (let k = 0; k < accumulate; k++) {
        s.copy(this.residuals, k * bytes, this.x, 0, bytes);
        s.run(this.layerOps[l]!);
        s.copy(this.next, 0, this.residuals, k * bytes, bytes);
      }
      if (b0 !== undefined) {
        if (accumulate > 1) s.run(scale(gpu, { y: this.slot.grads, n: size, alpha: 1 / accumulate }));
        s.run(this.opt.ops);
        s.copy(this.opt.gradNorm, 0, this.gradNorms, l * 256, 4);
        // A staging buffer is reused two mixer layers later, once its copy has landed on the host.
        const which = j++ % 2;
        await this.landing[which];
        const st = this.staging[which]!;
        s.copy(this.slot.values, 0, st, 0, size * 4).copy(this.slotM, 0, st, size * 4, size * 4).copy(this.slotV, 0, st, 2 * size * 4, size * 4);
      }
      const last = l === this.c.layers - 1;
      const reads = last ? [s.readback(this.lossSum, 1), s.readback(this.layerLoss), s.readback(this.gradNorms), this.objective.dist ? s.readback(this.objective.dist) : Promise.resolve(null)] : null;
      s.submit();
      if (b0 !== undefined) {
        const which = (j - 1) % 2;
        const st = this.staging[which]!;
        const back = st.mapAsync(GPUMapMode.READ).then(() => {
          const all = new Float32Array(st.getMappedRange());
          host.params.set(all.subarray(0, size), b0);
          host.m.set(all.subarray(size, 2 * size), b0);
          host.v.set(all.subarray(2 * size, 3 * size), b0);
          st.unmap();
        });
        this.landing[which] = back;
        this.landed.set(l, back);
        backs.push(back);
      }
      if (last) {
        recorded();
        const [loss, perLayer, norms, dist] = await Promise.all(reads!);
        await Promise.all(backs);
        let g2 = 0;
        for (const l2 of this.mixerLayers) g2 += norms![l2 * 64]! ** 2;
        return stepResult(this.c, this.spec, this.o.batch, this.objective.distStride, loss![0]!, Math.sqrt(g2), dist as Float32Array | null, perLayer as Float32Array);
      }
      s = gpu.begin(`stage ${this.stage} streamed`);
    }
    throw new Error('unreachable: a teacher has at least one layer');
  }

  release(): void {
    this.acts.release();
    this.objective.release();
    this.mixer.release();
    this.slot.release();
    for (const b of this.owned) b.destroy();
  }
}
