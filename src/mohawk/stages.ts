// The three MOHAWK stages as GPU training steps over one student. Each stage is teacher-forced:
//   1. matrix orientation: every mixer layer at once, its SSD matrix L∘(C·Bᵀ) + D against the teacher's
//      causal softmax attention of that layer, on the teacher's normed layer input; loss = mean over
//      layers of the mean over (batch, head) of the unsquared Frobenius distance. Trains in_proj, conv, D.
//   2. hidden-state alignment: every mixer layer, fed the teacher's normed input, against the teacher's
//      attention output (after its output projection); loss = mean over layers of the mean over tokens
//      of the L2 distance. Trains the mixers.
//   3. knowledge distillation: the whole student against the teacher's logits (soft cross-entropy at
//      temperature τ). Trains everything (MLPs optionally frozen).
// A step is `accumulate` micro-batches (gradients summed, then averaged) and one AdamW update.
import type { Gpu, Op } from '../gpu/runtime';
import { adamw, type AdamW } from '../kernels/adamw';
import { scale } from '../kernels/elementwise';
import { frobenius } from '../kernels/frobenius';
import { l2Distance, softCrossEntropy } from '../kernels/losses';
import { ssdMatrixBackward, ssdMatrixForward } from '../kernels/ssd-matrix';
import { axpy } from '../kernels/elementwise';
import type { ArchConfig } from '../io/config';
import { Decoder } from '../models/decoder';
import type { Weights } from '../models/layers';
import { MambaMixer } from '../models/mamba-mixer';
import { studentMixers, type ParamSet, type StudentSpec } from '../models/student';
import type { Stage } from '../worker/api';

export interface StageOptions {
  batch: number;
  L: number;
  accumulate: number;
  weightDecay: number;
  maxGradNorm: number;
  temperature: number;
  freezeMlp: boolean;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  /** Stage 1: distance per (layer, head), mean over the batch; NaN for attention layers. */
  distances?: Float32Array;
  /** Stages 1 and 2: each layer's loss (NaN for attention layers). */
  layerLosses?: number[];
}

const isMixer = (n: string) => /^layers\.\d+\.mixer\./.test(n);
const shapesMatrix = (n: string) => /^layers\.\d+\.mixer\.(in_proj\.weight|conv1d\.(weight|bias)|D)$/.test(n);

/** What each stage trains. */
export function trainedBy(stage: Stage, freezeMlp: boolean): (name: string) => boolean {
  if (stage === 1) return shapesMatrix;
  if (stage === 2) return isMixer;
  return freezeMlp ? (n) => !/\.mlp\./.test(n) : () => true;
}

/** One stage's step, built once for fixed shapes. */
export class StageStep {
  readonly ids: GPUBuffer;
  private readonly micro: Op[];
  private readonly finish: Op[];
  private readonly opt: AdamW;
  private readonly lossSum: GPUBuffer;
  private readonly lossOne: GPUBuffer;
  /** Stages 1 and 2: each layer's loss, one 256-byte slot per layer, so a bad loss can be traced to its layer. */
  private readonly layerLoss: GPUBuffer;
  private readonly dist: GPUBuffer | null = null;
  private distStride = 0;
  private readonly released: (() => void)[] = [];
  private t = 0;

  constructor(
    private readonly gpu: Gpu,
    readonly stage: Stage,
    private readonly teacher: { config: ArchConfig; weights: Weights },
    private readonly spec: StudentSpec,
    private readonly student: ParamSet,
    private readonly m: GPUBuffer,
    private readonly v: GPUBuffer,
    private readonly o: StageOptions,
    /** Optimizer steps already taken in this stage (a resumed run), for AdamW's bias correction. */
    startAt = 0,
  ) {
    this.t = startAt;
    const c = teacher.config;
    const { batch, L } = o;
    const rows = batch * L;
    const io = { batch, L };
    this.ids = gpu.buffer(rows * 4, 'stage ids');
    this.lossSum = gpu.zeros(1, 'stage loss sum');
    this.lossOne = gpu.buffer(4, 'stage loss');
    this.layerLoss = gpu.zeros(c.layers * 64, 'stage loss per layer');
    const slot = (l: number) => ({ buffer: this.layerLoss, offset: l * 256, size: 4 });
    student.trainOnly(trainedBy(stage, o.freezeMlp));
    const mask = gpu.upload(student.mask(), 'stage mask');
    this.released.push(() => mask.destroy());
    const micro: Op[] = [];
    const mixerLayers = [...Array(c.layers).keys()].filter((l) => !spec.attentionLayers.includes(l));
    if (mixerLayers.length === 0 && stage !== 3) throw new Error(`stage ${stage} has nothing to train: every layer keeps its attention`);
    const per = 1 / Math.max(1, mixerLayers.length);

    if (stage === 1 || stage === 2) {
      const teach = new Decoder(gpu, c, teacher.weights, { ...io, ids: this.ids }, { keepLayers: true, logits: false });
      this.released.push(() => teach.release());
      micro.push(...teach.ops);
      const h = c.heads;
      if (stage === 1) {
        // One 256-byte-aligned region per layer: bindings at an offset must be aligned so.
        const distStride = (this.distStride = Math.ceil((batch * h) / 64) * 64);
        this.dist = gpu.buffer(c.layers * distStride * 4, 'stage-1 distances');
        const A = gpu.buffer(batch * h * L * L * 4, 'teacher attention');
        const T = gpu.buffer(batch * h * L * L * 4, 'student matrix');
        const dT = gpu.buffer(batch * h * L * L * 4, 'dT');
        const dD = gpu.buffer(Math.max(spec.mixer.nV, 4) * 4, 'dD');
        // Gradient scratch shared by the layers: each layer's backward is recorded after its forward.
        const dB = gpu.buffer(rows * spec.mixer.nQK * spec.mixer.N * 4, 'dB');
        const dC = gpu.buffer(rows * spec.mixer.nQK * spec.mixer.N * 4, 'dC');
        const da = gpu.buffer(rows * spec.mixer.nV * 4, 'da');
        for (const l of mixerLayers) {
          const mixer = this.mixer(l, io);
          const mi = mixer.matrixInputs();
          const s = { batch, L, h: spec.mixer.nV, g: spec.mixer.nQK, n: spec.mixer.N };
          if (spec.mixer.nV !== h) throw new Error(`stage 1 needs as many mixer heads as attention heads (${spec.mixer.nV} vs ${h})`);
          const dist = { buffer: this.dist, offset: l * distStride * 4, size: batch * h * 4 };
          micro.push(
            ...teach.attention(l).probabilities(A),
            ...mixer.matrixForward(teach.normed[l]!),
            ...ssdMatrixForward(gpu, s, { ...mi, D: student.get(`layers.${l}.mixer.D`), out: T }),
            ...frobenius(gpu, { p: T, t: A, mats: batch * h, size: L * L, dist, loss: this.lossOne, grad: dT }),
            ...axpy(gpu, { x: this.lossOne, y: this.lossSum, n: 1, alpha: per / o.accumulate }),
            ...axpy(gpu, { x: this.lossOne, y: slot(l), n: 1, alpha: 1 / o.accumulate }),
            // The layer's share of the mean over layers.
            ...scale(gpu, { y: dT, n: batch * h * L * L, alpha: per }),
            ...ssdMatrixBackward(gpu, s, { ...mi, dT, dB, dC, da, dD }),
            ...mixer.matrixBackward({ dB, dC, da, dD }),
          );
        }
      } else {
        const out = gpu.buffer(rows * c.dModel * 4, 'student mixer output');
        const dOut = gpu.buffer(rows * c.dModel * 4, 'd student mixer output');
        const rowLoss = gpu.buffer(rows * 4, 'stage-2 row loss');
        for (const l of mixerLayers) {
          const mixer = this.mixer(l, io);
          micro.push(
            ...mixer.forward(teach.normed[l]!, out),
            ...l2Distance(gpu, { s: out, t: teach.mixed[l]!, rows, d: c.dModel, rowLoss, loss: this.lossOne, dS: dOut }),
            ...axpy(gpu, { x: this.lossOne, y: this.lossSum, n: 1, alpha: per / o.accumulate }),
            ...axpy(gpu, { x: this.lossOne, y: slot(l), n: 1, alpha: 1 / o.accumulate }),
            ...scale(gpu, { y: dOut, n: rows * c.dModel, alpha: per }),
            ...mixer.backward(dOut, undefined),
          );
        }
      }
    } else {
      const teach = new Decoder(gpu, c, teacher.weights, { ...io, ids: this.ids }, { logits: true });
      const stud = new Decoder(gpu, c, student, { ...io, ids: this.ids }, { keepLayers: true, mixer: studentMixers(gpu, spec, student) });
      this.released.push(() => teach.release(), () => stud.release());
      const rowLoss = gpu.buffer(rows * 4, 'stage-3 row loss');
      const dLogits = gpu.buffer(rows * c.vocab * 4, 'd student logits');
      micro.push(
        ...teach.ops,
        ...stud.ops,
        ...softCrossEntropy(gpu, { student: stud.logits!, teacher: teach.logits!, rows, vocab: c.vocab, temperature: o.temperature, kind: 'ce', rowLoss, loss: this.lossOne, dStudent: dLogits }),
        ...axpy(gpu, { x: this.lossOne, y: this.lossSum, n: 1, alpha: 1 / o.accumulate }),
        ...stud.backward(dLogits),
      );
    }
    this.micro = micro;
    this.opt = adamw(gpu, {
      params: student.values,
      grads: student.grads,
      m,
      v,
      mask,
      count: student.layout.size,
      config: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm },
    });
    this.finish = [...(o.accumulate > 1 ? scale(gpu, { y: student.grads, n: student.layout.size, alpha: 1 / o.accumulate }) : []), ...this.opt.ops];
  }

  private mixer(l: number, io: { batch: number; L: number }): MambaMixer {
    const p = `layers.${l}.mixer.`;
    const st = this.student;
    return new MambaMixer(this.gpu, this.spec.mixer, io, { w: (n) => st.get(p + n), g: (n) => st.grad(p + n) });
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
    s.clear(this.student.grads);
    const loss = s.readback(this.lossSum, 1);
    const perLayer = this.stage === 3 ? null : s.readback(this.layerLoss);
    const gn = s.readback(this.opt.gradNorm, 1);
    const dist = this.dist ? s.readback(this.dist) : null;
    s.submit();
    const c = this.teacher.config;
    return Promise.all([loss, gn, dist, perLayer]).then(([l, g, d, pl]) => {
      const r: StepResult = { loss: l[0]!, gradNorm: g[0]! };
      if (pl) r.layerLosses = Array.from({ length: c.layers }, (_, k) => (this.spec.attentionLayers.includes(k) ? NaN : pl[k * 64]!));
      if (d) {
        const { batch } = this.o;
        const h = c.heads;
        const out = new Float32Array(c.layers * h).fill(NaN);
        for (let l = 0; l < c.layers; l++) {
          if (this.spec.attentionLayers.includes(l)) continue;
          for (let j = 0; j < h; j++) {
            let sum = 0;
            for (let b = 0; b < batch; b++) sum += d[l * this.distStride + b * h + j]!;
            out[l * h + j] = sum / batch;
          }
        }
        r.distances = out;
      }
      return r;
    });
  }

  release(): void {
    for (const f of this.released) f();
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
