// MOHAWK stage 1, matrix orientation, for one teacher layer: the student's SSD mixing matrix
// L∘(C·Bᵀ) + D·I is fitted to the teacher's causal softmax attention matrix, head by head, on the
// teacher's own (normed) layer input. The student side is the part of the discrete Mamba-2 mixer
// that shapes the matrix: in_proj rows for B, C and A_log, the depthwise conv over B and C, and D.
import { Params, type Gpu, type Op } from '../gpu/runtime';
import { matmul } from '../kernels/matmul';
import { conv1d, conv1dBackward } from '../kernels/conv1d';
import { unary, unaryBackward } from '../kernels/activations';
import { ssdMatrixForward, ssdMatrixBackward } from '../kernels/ssd-matrix';
import { frobenius } from '../kernels/frobenius';
import { adamw, type AdamW } from '../kernels/adamw';
import { FlatParams, normal } from './params';
import { teacherAttentionOps, type TeacherLayerWeights, type TeacherShape } from './teacher-attention';

export interface OrientationOptions {
  batch: number;
  L: number;
  lr: number;
  weightDecay?: number;
  maxGradNorm?: number;
  seed?: number;
  /** Student state size N; default the teacher's head dim (the paper's choice). */
  stateSize?: number;
}

export interface OrientationStepResult {
  /** Mean over (batch, head) of ‖T_student − A_teacher‖_F. */
  loss: number;
  /** Per head, averaged over the batch. */
  perHead: Float32Array;
  gradNorm: number;
}

const CONV_K = 4;

/** The student parameters stage 1 trains, named as in the exported mixer. */
export function orientationParams(t: TeacherShape, N: number): FlatParams {
  const h = t.heads;
  const p = new FlatParams();
  p.add('in_proj.B', [h * N, t.dModel]);
  p.add('in_proj.C', [h * N, t.dModel]);
  p.add('in_proj.A_log', [h, t.dModel]);
  p.add('conv.B.weight', [h * N, CONV_K]);
  p.add('conv.B.bias', [h * N]);
  p.add('conv.C.weight', [h * N, CONV_K]);
  p.add('conv.C.bias', [h * N]);
  p.add('D', [h]);
  return p;
}

function initialValues(p: FlatParams, dModel: number, seed: number): Map<string, Float32Array> {
  const v = new Map<string, Float32Array>();
  const std = 1 / Math.sqrt(dModel);
  v.set('in_proj.B', normal(p.get('in_proj.B').count, std, seed + 1));
  v.set('in_proj.C', normal(p.get('in_proj.C').count, std, seed + 2));
  v.set('in_proj.A_log', normal(p.get('in_proj.A_log').count, std, seed + 3));
  for (const bc of ['B', 'C']) {
    // Identity conv: the last tap (the current token) is 1, so training starts from the plain projection.
    const w = new Float32Array(p.get(`conv.${bc}.weight`).count);
    for (let c = 0; c < w.length / CONV_K; c++) w[c * CONV_K + CONV_K - 1] = 1;
    v.set(`conv.${bc}.weight`, w);
    v.set(`conv.${bc}.bias`, new Float32Array(p.get(`conv.${bc}.bias`).count));
  }
  v.set('D', new Float32Array(p.get('D').count).fill(1));
  return v;
}

export class Orientation {
  readonly params: FlatParams;
  readonly paramBuf: GPUBuffer;
  readonly ids: GPUBuffer;
  private readonly ops: Op[];
  private readonly opt: AdamW;
  private readonly loss: GPUBuffer;
  private readonly dist: GPUBuffer;
  private readonly headMean: GPUBuffer;
  private readonly lr: number;
  private t = 0;
  readonly N: number;

  constructor(
    private readonly gpu: Gpu,
    readonly teacher: TeacherShape,
    weights: TeacherLayerWeights,
    readonly opts: OrientationOptions,
  ) {
    const { batch, L } = opts;
    const h = teacher.heads;
    const N = (this.N = opts.stateSize ?? teacher.headDim);
    const rows = batch * L;
    const d = teacher.dModel;
    this.lr = opts.lr;

    this.params = orientationParams(teacher, N);
    this.paramBuf = this.params.upload(gpu, initialValues(this.params, d, opts.seed ?? 1), 'student params');
    const grads = gpu.zeros(this.params.size, 'student grads');
    const m = gpu.zeros(this.params.size, 'adam m');
    const v = gpu.zeros(this.params.size, 'adam v');
    const P = (name: string) => this.params.view(this.paramBuf, name);
    const G = (name: string) => this.params.view(grads, name);

    this.ids = gpu.buffer(rows * 4, 'token ids');
    const teacherOut = teacherAttentionOps(gpu, teacher, weights, { ids: this.ids, batch, L });
    const u = teacherOut.normedInput; // (rows, d)
    const attn = teacherOut.attention; // (batch, h, L, L)

    const f32 = (n: number, label: string) => gpu.buffer(n * 4, label);
    const preB = f32(rows * h * N, 'B pre-conv');
    const preC = f32(rows * h * N, 'C pre-conv');
    const preA = f32(rows * h, 'A_log');
    const Bt = f32(rows * h * N, 'B');
    const Ct = f32(rows * h * N, 'C');
    const a = f32(rows * h, 'log-decay');
    const T = f32(batch * h * L * L, 'student matrix');
    const dT = f32(batch * h * L * L, 'dT');
    const dB = f32(rows * h * N, 'dB');
    const dC = f32(rows * h * N, 'dC');
    const da = f32(rows * h, 'da');
    const dPreB = f32(rows * h * N, 'dB pre-conv');
    const dPreC = f32(rows * h * N, 'dC pre-conv');
    const dPreA = f32(rows * h, 'dA_log');
    this.dist = f32(batch * h, 'distances');
    this.loss = f32(1, 'loss');
    this.headMean = f32(h, 'per-head distance');

    const shape = { batch, L, h, g: h, n: N };
    const fwd: Op[] = [
      ...matmul(gpu, { a: u, b: P('in_proj.B'), c: preB, M: rows, N: h * N, K: d, transB: true }),
      ...matmul(gpu, { a: u, b: P('in_proj.C'), c: preC, M: rows, N: h * N, K: d, transB: true }),
      ...matmul(gpu, { a: u, b: P('in_proj.A_log'), c: preA, M: rows, N: h, K: d, transB: true }),
      ...conv1d(gpu, { x: preB, w: P('conv.B.weight'), bias: P('conv.B.bias'), y: Bt, batch, L, channels: h * N, K: CONV_K }),
      ...conv1d(gpu, { x: preC, w: P('conv.C.weight'), bias: P('conv.C.bias'), y: Ct, batch, L, channels: h * N, K: CONV_K }),
      ...unary(gpu, { kind: 'negSoftplus', x: preA, y: a, n: rows * h }),
      ...ssdMatrixForward(gpu, shape, { B: Bt, C: Ct, a, D: P('D'), out: T }),
      ...frobenius(gpu, { p: T, t: attn, mats: batch * h, size: L * L, dist: this.dist, loss: this.loss, grad: dT }),
    ];
    const bwd: Op[] = [
      ...ssdMatrixBackward(gpu, shape, { B: Bt, C: Ct, a, dT, dB, dC, da, dD: G('D') }),
      ...unaryBackward(gpu, { kind: 'negSoftplus', x: preA, dy: da, dx: dPreA, n: rows * h }),
      ...conv1dBackward(gpu, { x: preB, w: P('conv.B.weight'), dy: dB, dx: dPreB, dw: G('conv.B.weight'), dbias: G('conv.B.bias'), batch, L, channels: h * N, K: CONV_K }),
      ...conv1dBackward(gpu, { x: preC, w: P('conv.C.weight'), dy: dC, dx: dPreC, dw: G('conv.C.weight'), dbias: G('conv.C.bias'), batch, L, channels: h * N, K: CONV_K }),
      // dW = dPreᵀ·u: (out × rows)·(rows × d).
      ...matmul(gpu, { a: dPreB, b: u, c: G('in_proj.B'), M: h * N, N: d, K: rows, transA: true }),
      ...matmul(gpu, { a: dPreC, b: u, c: G('in_proj.C'), M: h * N, N: d, K: rows, transA: true }),
      ...matmul(gpu, { a: dPreA, b: u, c: G('in_proj.A_log'), M: h, N: d, K: rows, transA: true }),
    ];
    this.opt = adamw(gpu, {
      params: this.paramBuf,
      grads,
      m,
      v,
      count: this.params.size,
      config: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: opts.weightDecay ?? 0, maxGradNorm: opts.maxGradNorm ?? 1 },
    });
    const perHead = gpu.op({
      shader: 'head_mean',
      reads: [this.dist],
      writes: [this.headMean],
      params: new Params().u32(batch).u32(h).build(),
      workgroups: [Math.ceil(h / 64)],
    });
    this.ops = [...teacherOut.ops, ...fwd, perHead, ...bwd, ...this.opt.ops];
  }

  /** Records and submits one optimizer step on `ids` (batch × L tokens); resolves when its scalars arrive. */
  step(ids: Uint32Array, lr = this.lr): Promise<OrientationStepResult> {
    const { batch, L } = this.opts;
    if (ids.length !== batch * L) throw new Error(`expected ${batch * L} token ids, got ${ids.length}`);
    this.gpu.write(this.ids, ids);
    this.opt.setStep(++this.t, lr);
    const s = this.gpu.begin('stage1 step');
    s.run(this.ops);
    const loss = s.readback(this.loss, 1);
    const heads = s.readback(this.headMean);
    const gn = s.readback(this.opt.gradNorm, 1);
    s.submit();
    return Promise.all([loss, heads, gn]).then(([l, hm, g]) => ({ loss: l[0], perHead: hm.slice(0, this.teacher.heads), gradNorm: g[0] }));
  }

  /** Trained values by name (waits for the queue). */
  async values(): Promise<Map<string, Float32Array>> {
    return this.params.unpack(await this.gpu.read(this.paramBuf));
  }
}
