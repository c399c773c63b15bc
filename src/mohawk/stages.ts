// The three MOHAWK stages as GPU training steps over one student. Each stage is teacher-forced:
//   1. matrix orientation: every mixer layer at once, its SSD matrix L∘(C·Bᵀ) + D against the teacher's
//      causal softmax attention of that layer, on the teacher's normed layer input; loss = mean over
//      layers of the mean over (batch, head) of the unsquared Frobenius distance. Trains in_proj, conv, D.
//   2. hidden-state alignment: every mixer layer, fed the teacher's normed input, against the teacher's
//      attention output (after its output projection); loss = mean over layers of the mean over tokens
//      of the L2 distance. Trains the mixers. Each layer's mean norm per token of that attention output
//      is measured beside it (the hybrid advisor's yardstick for the layer's residual).
//   3. knowledge distillation: the whole student against the teacher's logits (soft cross-entropy at
//      temperature τ). Trains everything (MLPs optionally frozen).
// A step is `accumulate` micro-batches (gradients summed, then averaged) and one AdamW update.
import type { Bindable, Gpu, Op } from '../gpu/runtime';
import { adamwChunks, type AdamW } from '../kernels/adamw';
import { scale } from '../kernels/elementwise';
import { frobenius } from '../kernels/frobenius';
import { l2Distance, softCrossEntropy } from '../kernels/losses';
import { reduce } from '../kernels/reduce';
import { ssdMatrixBackward, ssdMatrixForward } from '../kernels/ssd-matrix';
import { axpy } from '../kernels/elementwise';
import type { ArchConfig } from '../io/config';
import { Decoder } from '../models/decoder';
import type { AttentionMixer, Weights } from '../models/layers';
import { MambaMixer } from '../models/mamba-mixer';
import { studentMixers, type ParamSet, type StudentSpec } from '../models/student';
import type { Stage } from './plan';

export interface StageOptions {
  batch: number;
  L: number;
  accumulate: number;
  weightDecay: number;
  maxGradNorm: number;
  temperature: number;
  freezeMlp: boolean;
  /** Stage 3: recompute each block's activations in the backward instead of keeping every layer's (DecoderOptions.recompute). */
  recompute?: boolean;
  /** The teacher's attention reads f16 copies of q, k, v (DistillPlan.teacherAttention 'f16'; DecoderOptions.halfAttention). */
  teacherHalf?: boolean;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  /** Stage 1: distance per (layer, head), mean over the batch; NaN for attention layers. */
  distances?: Float32Array;
  /** Stages 1 and 2: each layer's loss (NaN for attention layers). */
  layerLosses?: number[];
  /** Stage 2: each layer's mean L2 norm per token of the teacher's attention output, what its loss measures against (NaN for attention layers). */
  attentionNorms?: number[];
}

const isMixer = (n: string) => /^layers\.\d+\.mixer\./.test(n);
const shapesMatrix = (n: string) => /^layers\.\d+\.mixer\.(in_proj\.weight|conv1d\.(weight|bias)|D)$/.test(n);

/** What each stage trains. */
export function trainedBy(stage: Stage, freezeMlp: boolean): (name: string) => boolean {
  if (stage === 1) return shapesMatrix;
  if (stage === 2) return isMixer;
  return freezeMlp ? (n) => !/\.mlp\./.test(n) : () => true;
}

/** What a resident stage step trains and how: the student and its AdamW moments, all on the GPU. */
export interface StageStepArgs {
  stage: Stage;
  teacher: { config: ArchConfig; weights: Weights };
  spec: StudentSpec;
  student: ParamSet;
  /** AdamW's first and second moments, chunked like the student's parameters (ParamSet.buffers). */
  m: GPUBuffer[];
  v: GPUBuffer[];
  options: StageOptions;
  /** Optimizer steps already taken in this stage (a resumed run), for AdamW's bias correction; default 0. */
  startAt?: number;
}

/** One stage's step, built once for fixed shapes. */
export class StageStep {
  readonly stage: Stage;
  private readonly teacher: { config: ArchConfig; weights: Weights };
  private readonly spec: StudentSpec;
  private readonly student: ParamSet;
  private readonly o: StageOptions;
  readonly ids: GPUBuffer;
  private readonly micro: Op[];
  private readonly finish: Op[];
  private readonly opt: AdamW;
  private readonly lossSum: GPUBuffer;
  private readonly lossOne: GPUBuffer;
  /** Stages 1 and 2: each layer's loss, one 256-byte slot per layer, so a bad loss can be traced to its layer. */
  private readonly layerLoss: GPUBuffer;
  /** Stage 2: each layer's mean norm per token of the teacher's attention output, slotted like layerLoss. */
  private readonly attnNorm: GPUBuffer | null = null;
  private readonly dist: GPUBuffer | null = null;
  private distStride = 0;
  private readonly released: (() => void)[] = [];
  /** Every buffer the step's construction took, its kernels' own scratch included: freed by release(). */
  private readonly held: ReturnType<Gpu['collect']>;
  private t = 0;

  constructor(
    private readonly gpu: Gpu,
    a: StageStepArgs,
  ) {
    const { stage, teacher, spec, student, m, v, options: o } = a;
    this.held = gpu.collect();
    try {
      this.stage = stage;
      this.teacher = teacher;
      this.spec = spec;
      this.student = student;
      this.o = o;
      this.t = a.startAt ?? 0;
      const c = teacher.config;
      const { batch, L } = o;
      const rows = batch * L;
      const io = { batch, L };
      this.ids = gpu.buffer(rows * 4, 'stage ids');
      this.lossSum = gpu.zeros(1, 'stage loss sum');
      this.lossOne = gpu.buffer(4, 'stage loss');
      this.layerLoss = gpu.zeros(c.layers * 64, 'stage loss per layer');
      this.released.push(() => [this.ids, this.lossSum, this.lossOne, this.layerLoss].forEach((b) => b.destroy()));
      if (stage === 2) {
        const n = (this.attnNorm = gpu.zeros(c.layers * 64, 'stage-2 attention norm per layer'));
        this.released.push(() => n.destroy());
      }
      student.trainOnly(trainedBy(stage, o.freezeMlp));
      const micro: Op[] = [];
      const mixerLayers = [...Array(c.layers).keys()].filter((l) => !spec.attentionLayers.includes(l));
      if (mixerLayers.length === 0 && stage !== 3) throw new Error(`stage ${stage} has nothing to train: every layer keeps its attention`);

      if (stage === 1 || stage === 2) {
        const teach = new Decoder(gpu, c, teacher.weights, { ...io, ids: this.ids }, { keepLayers: true, logits: false, halfAttention: o.teacherHalf === true });
        this.released.push(() => teach.release());
        micro.push(...teach.ops);
        const sinks = { lossSum: this.lossSum, lossOne: this.lossOne, layerLoss: this.layerLoss, attnNorm: this.attnNorm ?? undefined };
        const objective = new LayerObjective(gpu, { stage, c, spec, options: o, sinks, mixerLayers: mixerLayers.length });
        this.released.push(() => objective.release());
        this.dist = objective.dist;
        this.distStride = objective.distStride;
        for (const l of mixerLayers) {
          const mixer = this.mixer(l, io);
          micro.push(...objective.ops(l, { attention: teach.attention(l), normed: teach.normed[l]!, mixed: teach.mixed[l]! }, mixer, student.get(`layers.${l}.mixer.D`)));
        }
      } else {
        const teach = new Decoder(gpu, c, teacher.weights, { ...io, ids: this.ids }, { logits: true, halfAttention: o.teacherHalf === true });
        const mixer = studentMixers(gpu, spec, student);
        const stud = new Decoder(gpu, c, student, { ...io, ids: this.ids }, o.recompute ? { recompute: true, mixer } : { keepLayers: true, mixer });
        this.released.push(() => teach.release(), () => stud.release());
        const rowLoss = gpu.buffer(rows * 4, 'stage-3 row loss');
        const dLogits = gpu.buffer(rows * c.vocab * 4, 'd student logits');
        this.released.push(() => [rowLoss, dLogits].forEach((b) => b.destroy()));
        micro.push(
          ...teach.ops,
          ...stud.ops,
          ...softCrossEntropy(gpu, { student: stud.logits!, teacher: teach.logits!, rows, vocab: c.vocab, temperature: o.temperature, kind: 'ce', rowLoss, loss: this.lossOne, dStudent: dLogits }),
          ...axpy(gpu, { x: this.lossOne, y: this.lossSum, n: 1, alpha: 1 / o.accumulate }),
          ...stud.backward(dLogits),
        );
      }
      this.micro = micro;
      this.opt = adamwChunks(gpu, {
        chunks: student.optimizerChunks(m, v),
        config: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm },
      });
      const average = o.accumulate > 1 ? student.chunks.flatMap((ch, k) => scale(gpu, { y: student.grads[k]!, n: ch.size, alpha: 1 / o.accumulate })) : [];
      this.finish = [...average, ...this.opt.ops];
    } catch (e) {
      for (const f of this.released) f();
      this.held.free();
      throw e;
    }
    this.held.stop();
  }

  private mixer(l: number, io: { batch: number; L: number }): MambaMixer {
    const p = `layers.${l}.mixer.`;
    const st = this.student;
    const mixer = new MambaMixer(this.gpu, this.spec.mixer, io, { w: (n) => st.get(p + n), g: (n) => st.grad(p + n) });
    this.released.push(() => mixer.release());
    return mixer;
  }

  /**
   * One optimizer step over `ids` (accumulate × batch × L tokens): submitted at once, resolved when its
   * scalars are back, so the caller can record the next step meanwhile.
   */
  step(ids: Uint32Array, lr: number): Promise<StepResult> {
    const { batch, L, accumulate } = this.o;
    const per = batch * L;
    if (ids.length !== per * accumulate) throw new Error(`a step takes ${per * accumulate} token ids, got ${ids.length}`);
    this.opt.setStep(++this.t, lr);
    let s = this.gpu.begin(`stage ${this.stage} step`);
    s.clear(this.lossSum);
    s.clear(this.layerLoss);
    if (this.attnNorm) s.clear(this.attnNorm);
    for (let k = 0; k < accumulate; k++) {
      // A queue write lands before the next submission: each micro-batch is its own submission so
      // that it reads its own ids.
      if (k > 0) {
        s.submit();
        s = this.gpu.begin(`stage ${this.stage} step`);
      }
      this.gpu.write(this.ids, ids.subarray(k * per, (k + 1) * per));
      s.run(this.micro);
    }
    return this.close(s);
  }

  private close(s: ReturnType<Gpu['begin']>): Promise<StepResult> {
    s.run(this.finish);
    for (const g of this.student.grads) s.clear(g);
    const loss = s.readback(this.lossSum, 1);
    const perLayer = this.stage === 3 ? null : s.readback(this.layerLoss);
    const gn = s.readback(this.opt.gradNorm, 1);
    const dist = this.dist ? s.readback(this.dist) : null;
    const norms = this.attnNorm ? s.readback(this.attnNorm) : null;
    s.submit();
    return Promise.all([loss, gn, dist, perLayer, norms]).then(([l, g, d, pl, n]) =>
      stepResult({ c: this.teacher.config, spec: this.spec, batch: this.o.batch, distStride: this.distStride, loss: l[0]!, gradNorm: g[0]!, dist: d, perLayer: pl, attentionNorm: n }),
    );
  }

  /** Frees what the step made: a later stage does not hold it (the pool keeps what went back to it, for trim). */
  release(): void {
    for (const f of this.released) f();
    this.held.free();
  }
}

/** What came back from a step's buffers. */
export interface StepReadback {
  c: ArchConfig;
  spec: StudentSpec;
  batch: number;
  loss: number;
  gradNorm: number;
  /** Stage 1: distances per (layer, batch, head), `distStride` floats per layer; null otherwise. */
  dist: Float32Array | null;
  distStride: number;
  /** Stages 1 and 2: one value per 256-byte slot, a slot per layer; null for stage 3. */
  perLayer: Float32Array | null;
  /** Stage 2: the teacher's attention-output norms, slotted like perLayer; null (or absent) otherwise. */
  attentionNorm?: Float32Array | null;
}

/** A step's scalars as the scheduler sees them, from what came back. */
export function stepResult(b: StepReadback): StepResult {
  const { c, spec, batch, distStride, loss, gradNorm, dist, perLayer, attentionNorm } = b;
  const r: StepResult = { loss, gradNorm };
  const kept = (l: number) => spec.attentionLayers.includes(l);
  const slots = (x: Float32Array) => Array.from({ length: c.layers }, (_, k) => (kept(k) ? NaN : x[k * 64]!));
  if (perLayer) r.layerLosses = slots(perLayer);
  if (attentionNorm) r.attentionNorms = slots(attentionNorm);
  if (dist) {
    const h = c.heads;
    const out = new Float32Array(c.layers * h).fill(NaN);
    for (let l = 0; l < c.layers; l++) {
      if (kept(l)) continue;
      for (let j = 0; j < h; j++) {
        let sum = 0;
        for (let b = 0; b < batch; b++) sum += dist[l * distStride + b * h + j]!;
        out[l * h + j] = sum / batch;
      }
    }
    r.distances = out;
  }
  return r;
}

/** Where a stage-1/2 step's losses go: their sum over layers, one layer's loss, each layer's slot. */
export interface LossSinks {
  lossSum: GPUBuffer;
  lossOne: GPUBuffer;
  /** One 256-byte slot per layer. */
  layerLoss: GPUBuffer;
  /** Stage 2, optional: the teacher's attention output's mean norm per token, slotted like layerLoss (averaged over micro-batches like it). */
  attnNorm?: GPUBuffer;
}

/** What the teacher gives a stage-1/2 layer objective: its attention, normed input and attention output. */
export interface TeacherLayer {
  attention: AttentionMixer;
  normed: Bindable;
  mixed: Bindable;
}

export interface LayerObjectiveArgs {
  stage: 1 | 2;
  c: ArchConfig;
  spec: StudentSpec;
  options: StageOptions;
  sinks: LossSinks;
  /** How many layers are mixers: each layer's loss is its share of the mean over them. */
  mixerLayers: number;
}

/**
 * The per-layer loss of stages 1 and 2 with its backward into the mixer's parameter gradients, and
 * the scratch they share across layers (each layer's backward is recorded after its forward). The
 * resident step and the streamed one (streamed-stage.ts) both build their layers from it.
 */
export class LayerObjective {
  /** Stage 1: distances per (layer, batch, head), one 256-byte-aligned region of `distStride` floats per layer. */
  readonly dist: GPUBuffer | null = null;
  readonly distStride: number = 0;
  private readonly scratch: GPUBuffer[] = [];
  private readonly per: number;
  private readonly c: ArchConfig;
  private readonly spec: StudentSpec;
  private readonly o: StageOptions;
  private readonly sinks: LossSinks;

  constructor(
    private readonly gpu: Gpu,
    a: LayerObjectiveArgs,
  ) {
    const { stage, c, spec, options: o, sinks, mixerLayers } = a;
    this.c = c;
    this.spec = spec;
    this.o = o;
    this.sinks = sinks;
    const { batch, L } = o;
    const rows = batch * L;
    const h = c.heads;
    const f32 = (n: number, label: string) => {
      const b = gpu.buffer(n * 4, label);
      this.scratch.push(b);
      return b;
    };
    // The layer's share of the mean over layers.
    this.per = 1 / Math.max(1, mixerLayers);
    if (stage === 1) {
      if (spec.mixer.nV !== h) throw new Error(`stage 1 needs as many mixer heads as attention heads (${spec.mixer.nV} vs ${h})`);
      // Bindings at an offset must be 256-byte aligned.
      this.distStride = Math.ceil((batch * h) / 64) * 64;
      this.dist = f32(c.layers * this.distStride, 'stage-1 distances');
      const mats = batch * h * L * L;
      const gN = rows * spec.mixer.nQK * spec.mixer.N;
      this.s1 = { A: f32(mats, 'teacher attention'), T: f32(mats, 'student matrix'), dT: f32(mats, 'dT'), dD: f32(Math.max(spec.mixer.nV, 4), 'dD'), dB: f32(gN, 'dB'), dC: f32(gN, 'dC'), da: f32(rows * spec.mixer.nV, 'da') };
    } else {
      this.s2 = { out: f32(rows * c.dModel, 'student mixer output'), dOut: f32(rows * c.dModel, 'd student mixer output'), rowLoss: f32(rows, 'stage-2 row loss'), normOne: f32(1, 'stage-2 attention norm') };
    }
  }

  private readonly s1?: { A: GPUBuffer; T: GPUBuffer; dT: GPUBuffer; dD: GPUBuffer; dB: GPUBuffer; dC: GPUBuffer; da: GPUBuffer };
  private readonly s2?: { out: GPUBuffer; dOut: GPUBuffer; rowLoss: GPUBuffer; normOne: GPUBuffer };

  /** Layer l's loss, into the sinks, and its gradients, added to the mixer's parameter gradients (D's included). */
  ops(l: number, t: TeacherLayer, mixer: MambaMixer, D: Bindable): Op[] {
    const { gpu, c, spec, o, sinks, per } = this;
    const { batch, L } = o;
    const rows = batch * L;
    const slot = { buffer: sinks.layerLoss, offset: l * 256, size: 4 };
    const record = [
      ...axpy(gpu, { x: sinks.lossOne, y: sinks.lossSum, n: 1, alpha: per / o.accumulate }),
      ...axpy(gpu, { x: sinks.lossOne, y: slot, n: 1, alpha: 1 / o.accumulate }),
    ];
    if (this.s1) {
      const { A, T, dT, dD, dB, dC, da } = this.s1;
      const h = c.heads;
      const mi = mixer.matrixInputs();
      const s = { batch, L, h: spec.mixer.nV, g: spec.mixer.nQK, n: spec.mixer.N };
      const dist = { buffer: this.dist!, offset: l * this.distStride * 4, size: batch * h * 4 };
      return [
        ...t.attention.probabilities(A),
        ...mixer.matrixForward(t.normed, { only: true }),
        ...ssdMatrixForward(gpu, s, { ...mi, D, out: T }),
        ...frobenius(gpu, { p: T, t: A, mats: batch * h, size: L * L, dist, loss: sinks.lossOne, grad: dT }),
        ...record,
        ...scale(gpu, { y: dT, n: batch * h * L * L, alpha: per }),
        ...ssdMatrixBackward(gpu, s, { ...mi, dT, dB, dC, da, dD }),
        ...mixer.matrixBackward({ dB, dC, da, dD }),
      ];
    }
    const { out, dOut, rowLoss, normOne } = this.s2!;
    // The target's size, the yardstick of the layer's residual: its row norms go through rowLoss before
    // the loss overwrites it (nothing reads them there), their mean into the layer's slot.
    const norm = sinks.attnNorm
      ? [
          ...reduce(gpu, { x: t.mixed, n: c.dModel, rows, out: rowLoss, kind: 'norm' }),
          ...reduce(gpu, { x: rowLoss, n: rows, out: normOne, kind: 'mean' }),
          ...axpy(gpu, { x: normOne, y: { buffer: sinks.attnNorm, offset: l * 256, size: 4 }, n: 1, alpha: 1 / o.accumulate }),
        ]
      : [];
    return [
      ...norm,
      ...mixer.forward(t.normed, out),
      ...l2Distance(gpu, { s: out, t: t.mixed, rows, d: c.dModel, rowLoss, loss: sinks.lossOne, dS: dOut }),
      ...record,
      ...scale(gpu, { y: dOut, n: rows * c.dModel, alpha: per }),
      ...mixer.backward(dOut, undefined),
    ];
  }

  release(): void {
    for (const b of this.scratch) b.destroy();
  }
}

/** Warmup-stable-decay: linear warmup, flat, then linear decay to 10% over the last `decay` fraction. */
export function wsd(step: number, total: number, warmup: number, decay: number): number {
  const w = Math.max(1, Math.round(total * warmup));
  const dStart = Math.floor(total * (1 - decay));
  if (step <= w) return step / w;
  if (step <= dStart || total <= dStart) return 1;
  return 1 - 0.9 * ((step - dStart) / Math.max(1, total - dStart));
}
