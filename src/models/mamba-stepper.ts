// Recurrent generation with the discrete Mamba-2 mixer (src/models/mamba-mixer.ts), O(1) per token.
// The state of each sequence is what the chunked forward would carry from one token to the next:
//   window  (batch, 3, convCh)    the conv's last K−1 = 3 inputs [x | B | C] (pre-conv), oldest first
//   state   (batch, nV, p, N)     the SSD state S after the last token
// prefill runs the chunked forward over a prompt and leaves both behind (the scan's final state and
// the prompt's last conv inputs, zeros before its first token); step then takes one token per
// sequence: in_proj, conv1dStep, ssdStep, the gate and out_proj, all on (batch, ·) rows. A fresh
// stepper holds zeros, the state before a sequence's first token, so step alone also generates from
// nothing. The step ops are built once and rerun per token: they read uToken and advance in place.
import { slice, type Bindable, type Gpu, type Op } from '../gpu/runtime';
import { gatedSilu, unary } from '../kernels/activations';
import { copyColumns } from '../kernels/columns';
import { conv1dStep } from '../kernels/conv1d-step';
import { matmul } from '../kernels/matmul';
import { ssdStep } from '../kernels/ssd-step';
import { MIXER_CONV_K, mixerDims, type MixerDims, type MixerShape } from './mamba-mixer-shape';
import { MambaMixer, type MixerParamBinding } from './mamba-mixer';

const HIST = MIXER_CONV_K - 1;

export class MambaStepper {
  readonly dims: MixerDims;
  readonly window: GPUBuffer;
  readonly state: GPUBuffer;
  private readonly zin: GPUBuffer;
  private readonly xBC: GPUBuffer;
  private readonly x: GPUBuffer;
  private readonly B: GPUBuffer;
  private readonly C: GPUBuffer;
  private readonly a: GPUBuffer;
  private readonly y: GPUBuffer;
  private readonly gated: GPUBuffer;
  private readonly noHistory: GPUBuffer;
  /** The chunked forwards of prefill, kept with the ops that use their buffers. */
  private readonly prompts: MambaMixer[] = [];

  constructor(
    private readonly gpu: Gpu,
    readonly shape: MixerShape,
    private readonly params: Pick<MixerParamBinding, 'w'>,
    readonly batch: number,
  ) {
    const m = (this.dims = mixerDims(shape));
    if (!Number.isInteger(batch) || batch < 1) throw new Error(`MambaStepper (batch=${batch}): batch must be a positive integer`);
    const f32 = (n: number, label: string) => gpu.buffer(n * 4, `stepper ${label}`);
    this.window = gpu.zeros(batch * HIST * m.convCh, 'stepper conv window');
    this.state = gpu.zeros(batch * shape.nV * m.p * shape.N, 'stepper ssd state');
    this.zin = f32(batch * m.proj, 'in_proj output');
    this.xBC = f32(batch * m.convCh, 'conv output');
    this.x = f32(batch * shape.dInner, 'x');
    this.B = f32(batch * m.gN, 'B');
    this.C = f32(batch * m.gN, 'C');
    this.a = f32(batch * shape.nV, 'log-decay');
    this.y = f32(batch * shape.dInner, 'ssd output');
    this.gated = f32(batch * shape.dInner, 'gated output');
    this.noHistory = gpu.zeros(m.convCh, 'stepper zero row');
  }

  private need(fn: string, what: string, b: Bindable, floats: number): void {
    if (slice(b).size < floats * 4) throw new Error(`MambaStepper.${fn} (batch=${this.batch}, d=${this.shape.d}): ${what} holds ${slice(b).size} bytes, needs ${floats * 4}`);
  }

  /**
   * Runs the mixer over prompts u (batch·L, d), writing their outputs to out, and sets the state
   * to continue after token L − 1.
   */
  prefill(u: Bindable, out: Bindable, L: number): Op[] {
    const { gpu, batch, dims: m } = this;
    // Generation trains nothing: the prompt's forward gets no gradients.
    const mixer = new MambaMixer(gpu, this.shape, { batch, L }, { w: (n) => this.params.w(n), g: () => undefined });
    this.prompts.push(mixer);
    const ops = mixer.forward(u, out, { sFinal: this.state });
    // The prompt's last min(L, 3) conv inputs end the window; older slots are zero.
    const k = Math.min(L, HIST);
    if (k < HIST) {
      ops.push(...copyColumns(gpu, { src: this.noHistory, dst: this.window, batch, rows: HIST - k, cols: m.convCh, srcStride: 0, srcBatchStride: 0, dstBatchStride: HIST * m.convCh }));
    }
    ops.push(
      ...copyColumns(gpu, {
        src: mixer.zin,
        dst: this.window,
        batch,
        rows: k,
        cols: m.convCh,
        srcStride: m.proj,
        srcOffset: (L - k) * m.proj,
        srcBatchStride: L * m.proj,
        dstOffset: (HIST - k) * m.convCh,
        dstBatchStride: HIST * m.convCh,
      }),
    );
    return ops;
  }

  /** One token per sequence: uToken (batch, d) → out (batch, d), advancing the state in place. */
  step(uToken: Bindable, out: Bindable): Op[] {
    const { gpu, batch, shape: s, dims: m, params: P } = this;
    this.need('step', 'uToken', uToken, batch * s.d);
    this.need('step', 'out', out, batch * s.d);
    const gather = (offset: number, dst: Bindable, cols: number) => copyColumns(gpu, { src: this.xBC, dst, rows: batch, cols, srcStride: m.convCh, srcOffset: offset });
    return [
      ...matmul(gpu, { a: uToken, b: P.w('in_proj.weight'), c: this.zin, M: batch, N: m.proj, K: s.d, transB: true }),
      ...conv1dStep(gpu, { x: this.zin, xStride: m.proj, w: P.w('conv1d.weight'), bias: P.w('conv1d.bias'), window: this.window, y: this.xBC, batch, channels: m.convCh, K: MIXER_CONV_K }),
      ...gather(0, this.x, s.dInner),
      ...gather(m.bOff, this.B, m.gN),
      ...gather(m.cOff, this.C, m.gN),
      ...unary(gpu, { kind: 'negSoftplus', x: this.zin, xStride: m.proj, xOffset: m.aOff, y: this.a, n: batch * s.nV, cols: s.nV }),
      ...ssdStep(gpu, { batch, h: s.nV, p: m.p, g: s.nQK, n: s.N }, { state: this.state, x: this.x, a: this.a, B: this.B, C: this.C, D: P.w('D'), y: this.y }),
      ...gatedSilu(gpu, { y: this.y, z: this.zin, zStride: m.proj, zOffset: m.zOff, zBias: P.w('z_bias'), out: this.gated, rows: batch, channels: s.dInner }),
      ...matmul(gpu, { a: this.gated, b: P.w('out_proj.weight'), bias: s.outBias ? P.w('out_proj.bias') : undefined, c: out, M: batch, N: s.d, K: s.dInner, transB: true }),
    ];
  }
}
