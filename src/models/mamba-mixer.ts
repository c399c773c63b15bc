// The discrete Mamba-2 mixer of Phi-Mamba (goombalab/phi-mamba DiscreteMamba2), the student's
// replacement for attention, on the GPU: forward, backward and the pieces MOHAWK stage 1 trains (the
// recurrent stepper for generation is src/models/mamba-stepper.ts). Per token, u the (normed) input:
//   zin = u·in_projᵀ = [x | B | C | z | A_log]        (src/models/mamba-mixer-shape.ts has the widths)
//   [x | B | C] ← causal depthwise conv1d (kernel 4, bias, no activation)
//   a = −softplus(A_log);   y = SSD(x, a, B, C) + D·x;   out = (y ⊙ silu(z + z_bias))·out_projᵀ (+ bias)
// The float64 reference is src/ref/mamba-mixer.ts.
//
// Layouts: u, out, dOut, dU (batch·L, d) row-major; in_proj's output zin (batch·L, proj), one row
// [x | B | C | z | A_log]. The scan wants x, B, C and a contiguous, so they are gathered out of the
// fused rows with copyColumns (offsets in floats: a binding at a column offset would have to start
// on a 256-byte boundary); the conv, the activation and the gate read their column slices in place.
//
// Saved by forward: a copy of u (in_proj's weight gradient needs it and the caller's buffer may hold
// the next layer's input by then), zin, the conv'd x, B, C, the log-decay a, the SSD output y and the
// gated y. The backward recomputes the scan's chunk states. These and the backward's scratch are the
// mixer's own buffers, or a decoder's (MixerStore): there every layer's mixer shares one backward
// scratch, and the saved state is per layer or shared as the decoder keeps its layers.
// Gradients follow src/models/DESIGN.md: dU overwritten or added to (`accumulate`); parameter
// gradients always added to; a frozen parameter (g(name) undefined) gets no ops.
import { slice, type Bindable, type Gpu, type Op, type ScratchSource } from '../gpu/runtime';
import { gatedSilu, gatedSiluBackward, unary, unaryBackward } from '../kernels/activations';
import { copyColumns } from '../kernels/columns';
import { conv1d, conv1dBackward } from '../kernels/conv1d';
import { axpy } from '../kernels/elementwise';
import { addColumnSums, matmul } from '../kernels/matmul';
import { ssdScan, ssdScanBackward, type SsdShape } from '../kernels/ssd-scan';
import { MIXER_CONV_K, mixerChunk, mixerDims, mixerParamShapes, type MixerDims, type MixerIo, type MixerShape } from './mamba-mixer-shape';

export type { MixerIo, MixerShape };

/** Where the mixer finds its parameters, by local name ('in_proj.weight', 'conv1d.weight', …). */
export interface MixerParamBinding {
  w(name: string): Bindable;
  /** The gradient (added to), or undefined when the parameter is frozen. */
  g(name: string): Bindable | undefined;
}

/** What shapes the SSD mixing matrix, after a forward: B, C (batch·L, nQK·N) and a (batch·L, nV). */
export interface MixerMatrixInputs {
  B: Bindable;
  C: Bindable;
  a: Bindable;
}

/** Gradients of the matrix inputs (laid out like them) and of D (nV), e.g. from ssdMatrixBackward. */
export interface MixerMatrixGrads {
  dB: Bindable;
  dC: Bindable;
  da: Bindable;
  dD: Bindable;
}

/**
 * Where a mixer in a decoder takes its buffers (by local name, e.g. 'zin'): `state` what its forward
 * saves for its backward (the decoder's per-layer activations), `scratch` what its backward only
 * uses while it runs (shared by every layer: a layer's backward is done before the next begins).
 */
export interface MixerStore {
  state(name: string, floats: number): GPUBuffer;
  scratch(name: string, floats: number): GPUBuffer;
}

/** Views of stage 1's rows and channels (MambaMixer.narrowViews). */
interface NarrowViews {
  wBC: Bindable;
  wA: Bindable;
  convW: Bindable;
  convB: Bindable;
  dConvW: Bindable;
  dConvB: Bindable;
  zBC: Bindable;
  zA: Bindable;
  xBC: Bindable;
  /** in_proj's gradient rows; undefined when in_proj is frozen. */
  gBC?: Bindable;
  gA?: Bindable;
  convFrozen: boolean;
}

interface BackwardScratch {
  dg: GPUBuffer;
  dy: GPUBuffer;
  dx: GPUBuffer;
  dB: GPUBuffer;
  dC: GPUBuffer;
  da: GPUBuffer;
  dD: GPUBuffer;
  dxBC: GPUBuffer;
  dZin: GPUBuffer;
}

export class MambaMixer {
  readonly dims: MixerDims;
  readonly rows: number;
  /** The SSD chunk used for this L. */
  readonly chunk: number;
  /** in_proj's output [x | B | C | z | A_log] of the last forward, (batch·L, proj). */
  readonly zin: GPUBuffer;
  private readonly u: GPUBuffer;
  private readonly xBC: GPUBuffer;
  private readonly x: GPUBuffer;
  private readonly B: GPUBuffer;
  private readonly C: GPUBuffer;
  private readonly a: GPUBuffer;
  private readonly y: GPUBuffer;
  private readonly gated: GPUBuffer;
  private scratch?: BackwardScratch;
  private matrixScratch?: { dxBC: GPUBuffer; dZin: GPUBuffer };
  private narrowScratch?: { dBC: GPUBuffer; dZbc: GPUBuffer; dZa: GPUBuffer };
  /** Whether the last matrixForward took the B, C, A_log rows only (its backward must match). */
  private narrowed = false;

  /** Whether the last matrixForward computed stage 1's rows only (`only`, with aligned views). */
  get matrixNarrowed(): boolean {
    return this.narrowed;
  }
  private convScratch?: { dw: GPUBuffer; dbias: GPUBuffer };

  constructor(
    private readonly gpu: Gpu,
    readonly shape: MixerShape,
    readonly io: MixerIo,
    private readonly params: MixerParamBinding,
    /** The decoder's buffers; without it the mixer makes (and release() frees) its own. */
    private readonly store?: MixerStore,
  ) {
    const m = (this.dims = mixerDims(shape));
    for (const v of [io.batch, io.L]) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`MambaMixer (batch=${io.batch}, L=${io.L}): sizes must be positive integers`);
    }
    this.rows = io.batch * io.L;
    this.chunk = mixerChunk(shape, io.L);
    for (const [name, dims] of mixerParamShapes(shape)) {
      const floats = dims.reduce((p, q) => p * q, 1);
      for (const [what, b] of [['', params.w(name)], [' gradient', params.g(name)]] as const) {
        if (b && slice(b).size < floats * 4) throw new Error(`MambaMixer: ${name}${what} holds ${slice(b).size} bytes, shape [${dims}] needs ${floats * 4}`);
      }
    }
    const f32 = (n: number, label: string, name: string) => (store ? store.state(name, n) : this.own(gpu.buffer(n * 4, `mixer ${label}`)));
    const r = this.rows;
    this.u = f32(r * shape.d, 'saved input', 'u');
    this.zin = f32(r * m.proj, 'in_proj output', 'zin');
    this.xBC = f32(r * m.convCh, 'conv output', 'xBC');
    this.x = f32(r * shape.dInner, 'x', 'x');
    this.B = f32(r * m.gN, 'B', 'B');
    this.C = f32(r * m.gN, 'C', 'C');
    this.a = f32(r * shape.nV, 'log-decay', 'a');
    this.y = f32(r * shape.dInner, 'ssd output', 'y');
    this.gated = f32(r * shape.dInner, 'gated output', 'gated');
  }

  private readonly mine: GPUBuffer[] = [];
  private own(b: GPUBuffer): GPUBuffer {
    this.mine.push(b);
    return b;
  }

  /** Frees the buffers this mixer made (a store's stay the store's); its ops must not run afterwards. */
  release(): void {
    for (const b of this.mine.splice(0)) b.destroy();
  }

  /** The kernels' own scratch (the SSD scan's tiles and states): the store's, shared by every layer, or each call's. */
  private get kernelScratch(): ScratchSource | undefined {
    const st = this.store;
    return st ? (name, bytes) => st.scratch(`kernel ${name}`, Math.ceil(bytes / 4)) : undefined;
  }

  private get ssd(): SsdShape {
    const s = this.shape;
    return { batch: this.io.batch, L: this.io.L, h: s.nV, p: this.dims.p, g: s.nQK, n: s.N, chunk: this.chunk };
  }

  private checkRows(fn: string, what: string, b: Bindable, width: number): void {
    const need = this.rows * width * 4;
    if (slice(b).size < need) {
      throw new Error(`MambaMixer.${fn} (batch=${this.io.batch}, L=${this.io.L}, width ${width}): ${what} holds ${slice(b).size} bytes, needs ${need}`);
    }
  }

  /** Columns [offset, offset + cols) of every (stride)-wide row of src into a contiguous dst, or back (scatter). */
  private gather(src: Bindable, stride: number, offset: number, dst: Bindable, cols: number): Op[] {
    return copyColumns(this.gpu, { src, dst, rows: this.rows, cols, srcStride: stride, srcOffset: offset });
  }

  private scatter(src: Bindable, dst: Bindable, stride: number, offset: number, cols: number): Op[] {
    return copyColumns(this.gpu, { src, dst, rows: this.rows, cols, dstStride: stride, dstOffset: offset });
  }

  /**
   * A view of `floats` floats of b from float `at` on, or null when it would not start on a storage
   * binding boundary (minStorageBufferOffsetAlignment).
   */
  private view(b: Bindable, at: number, floats: number): Bindable | null {
    const s = slice(b);
    const offset = s.offset + at * 4;
    return offset % this.gpu.info.limits.minStorageBufferOffsetAlignment === 0 ? { buffer: s.buffer, offset, size: floats * 4 } : null;
  }

  /**
   * Stage 1's rows of in_proj and channels of the conv, as views of the parameters and of their
   * gradients (where trained): the B and C rows (contiguous, like the conv's B and C channels) and
   * the A_log rows. Null when any view would not be aligned: the full path runs then.
   */
  private narrowViews(): NarrowViews | null {
    const { shape: s, dims: m, params: P, rows } = this;
    const bc = 2 * m.gN;
    const inProj = (b: Bindable | undefined) => (b ? { bc: this.view(b, s.dInner * s.d, bc * s.d), a: this.view(b, m.aOff * s.d, s.nV * s.d) } : undefined);
    const conv = this.convGrads();
    const w = inProj(P.w('in_proj.weight'))!;
    const g = inProj(P.g('in_proj.weight'));
    const v = {
      wBC: w.bc,
      wA: w.a,
      convW: this.view(P.w('conv1d.weight'), s.dInner * MIXER_CONV_K, bc * MIXER_CONV_K),
      convB: this.view(P.w('conv1d.bias'), s.dInner, bc),
      dConvW: this.view(conv.dw, s.dInner * MIXER_CONV_K, bc * MIXER_CONV_K),
      dConvB: this.view(conv.dbias, s.dInner, bc),
      // In the full path's buffers, which are larger: nothing else reads them in stage 1.
      zBC: this.view(this.zin, 0, rows * bc),
      zA: this.view(this.zin, rows * bc, rows * s.nV),
      xBC: this.view(this.xBC, 0, rows * bc),
    };
    if (Object.values(v).some((x) => x === null) || (g && (!g.bc || !g.a))) return null;
    return { ...(v as { [K in keyof typeof v]: Bindable }), gBC: g?.bc ?? undefined, gA: g?.a ?? undefined, convFrozen: conv.frozen };
  }

  /**
   * The part of the forward that stage 1 needs: in_proj, the conv, B, C and the log-decay a
   * (matrixInputs()). forward() runs it too. With `only` (stage 1, which reads nothing else) just the
   * B, C and A_log rows of in_proj and the B and C channels of the conv are computed (about half of
   * in_proj's work), where their views align; matrixBackward then differentiates the same rows.
   */
  matrixForward(u: Bindable, opts: { only?: boolean } = {}): Op[] {
    this.checkRows('matrixForward', 'u', u, this.shape.d);
    const { gpu, shape: s, dims: m, io, params: P } = this;
    const narrow = opts.only ? this.narrowViews() : null;
    this.narrowed = narrow !== null;
    if (narrow) {
      const bc = 2 * m.gN;
      return [
        ...copyColumns(gpu, { src: u, dst: this.u, rows: this.rows, cols: s.d }),
        ...matmul(gpu, { a: this.u, b: narrow.wBC, c: narrow.zBC, M: this.rows, N: bc, K: s.d, transB: true }),
        ...matmul(gpu, { a: this.u, b: narrow.wA, c: narrow.zA, M: this.rows, N: s.nV, K: s.d, transB: true }),
        ...conv1d(gpu, { x: narrow.zBC, inStride: bc, w: narrow.convW, bias: narrow.convB, y: narrow.xBC, batch: io.batch, L: io.L, channels: bc, K: MIXER_CONV_K }),
        ...this.gather(narrow.xBC, bc, 0, this.B, m.gN),
        ...this.gather(narrow.xBC, bc, m.gN, this.C, m.gN),
        ...unary(gpu, { kind: 'negSoftplus', x: narrow.zA, xStride: s.nV, xOffset: 0, y: this.a, n: this.rows * s.nV, cols: s.nV }),
      ];
    }
    return [
      ...copyColumns(gpu, { src: u, dst: this.u, rows: this.rows, cols: s.d }),
      ...matmul(gpu, { a: this.u, b: P.w('in_proj.weight'), c: this.zin, M: this.rows, N: m.proj, K: s.d, transB: true }),
      ...conv1d(gpu, { x: this.zin, inStride: m.proj, w: P.w('conv1d.weight'), bias: P.w('conv1d.bias'), y: this.xBC, batch: io.batch, L: io.L, channels: m.convCh, K: MIXER_CONV_K }),
      ...this.gather(this.xBC, m.convCh, m.bOff, this.B, m.gN),
      ...this.gather(this.xBC, m.convCh, m.cOff, this.C, m.gN),
      ...unary(gpu, { kind: 'negSoftplus', x: this.zin, xStride: m.proj, xOffset: m.aOff, y: this.a, n: this.rows * s.nV, cols: s.nV }),
    ];
  }

  /** out = mixer(u); with sFinal, also the SSD state after the last token (batch, nV, p, N). */
  forward(u: Bindable, out: Bindable, opts: { sFinal?: Bindable } = {}): Op[] {
    this.checkRows('forward', 'out', out, this.shape.d);
    const { gpu, shape: s, dims: m, params: P } = this;
    return [
      ...this.matrixForward(u),
      ...this.gather(this.xBC, m.convCh, 0, this.x, s.dInner),
      ...ssdScan(gpu, this.ssd, { x: this.x, a: this.a, B: this.B, C: this.C, D: P.w('D'), y: this.y, sFinal: opts.sFinal, scratch: this.kernelScratch }),
      ...gatedSilu(gpu, { y: this.y, z: this.zin, zStride: m.proj, zOffset: m.zOff, zBias: P.w('z_bias'), out: this.gated, rows: this.rows, channels: s.dInner }),
      ...matmul(gpu, {
        a: this.gated,
        b: P.w('out_proj.weight'),
        bias: s.outBias ? P.w('out_proj.bias') : undefined,
        c: out,
        M: this.rows,
        N: s.d,
        K: s.dInner,
        transB: true,
      }),
    ];
  }

  /** After forward (or matrixForward): the conv'd B and C and the log-decay a. */
  matrixInputs(): MixerMatrixInputs {
    return { B: this.B, C: this.C, a: this.a };
  }

  private convGrads(): { dw: Bindable; dbias: Bindable; frozen: boolean } {
    const dw = this.params.g('conv1d.weight');
    const dbias = this.params.g('conv1d.bias');
    if (dw && dbias) return { dw, dbias, frozen: false };
    // conv1dBackward always sums dw and dbias; a frozen one lands in scratch.
    this.convScratch ??= { dw: this.own(this.gpu.buffer(this.dims.convCh * MIXER_CONV_K * 4, 'mixer frozen conv dw')), dbias: this.own(this.gpu.buffer(this.dims.convCh * 4, 'mixer frozen conv dbias')) };
    return { dw: dw ?? this.convScratch.dw, dbias: dbias ?? this.convScratch.dbias, frozen: !dw && !dbias };
  }

  /** Gradients of Σ dOut∘out. Run after forward's ops; dU undefined when u needs no gradient. */
  backward(dOut: Bindable, dU: Bindable | undefined, opts: { accumulate?: boolean } = {}): Op[] {
    this.checkRows('backward', 'dOut', dOut, this.shape.d);
    if (dU) this.checkRows('backward', 'dU', dU, this.shape.d);
    const { gpu, shape: s, dims: m, io, params: P, rows } = this;
    const store = this.store;
    const f32 = (n: number, label: string, name: string) => (store ? store.scratch(name, n) : this.own(gpu.buffer(n * 4, `mixer ${label}`)));
    // Every buffer here is overwritten before it is read, so layers may share them (MixerStore).
    const sc = (this.scratch ??= {
      dg: f32(rows * s.dInner, 'd gated', 'dg'),
      dy: f32(rows * s.dInner, 'dy', 'dy'),
      dx: f32(rows * s.dInner, 'dx', 'dx'),
      dB: f32(rows * m.gN, 'dB', 'dB'),
      dC: f32(rows * m.gN, 'dC', 'dC'),
      da: f32(rows * s.nV, 'da', 'da'),
      dD: f32(s.nV, 'dD', 'dD'),
      dxBC: f32(rows * m.convCh, 'd conv output', 'dxBC'),
      dZin: f32(rows * m.proj, 'd in_proj output', 'dZin'),
    });
    const ops: Op[] = [];

    const gOutB = s.outBias ? P.g('out_proj.bias') : undefined;
    if (gOutB) {
      ops.push(...addColumnSums(gpu, { x: dOut, out: gOutB, rows, cols: s.d }));
    }
    const gOutW = P.g('out_proj.weight');
    if (gOutW) ops.push(...matmul(gpu, { a: dOut, b: this.gated, c: gOutW, M: s.d, N: s.dInner, K: rows, transA: true, accumulate: true }));
    const gInW = P.g('in_proj.weight');
    const conv = this.convGrads();
    // Everything below the gate only feeds in_proj, the conv, u, D and z_bias.
    const needZin = !!dU || !!gInW;
    const needSsd = needZin || !conv.frozen || !!P.g('D');
    if (!needSsd && !P.g('z_bias')) return ops;

    ops.push(
      ...matmul(gpu, { a: dOut, b: P.w('out_proj.weight'), c: sc.dg, M: rows, N: s.dInner, K: s.d }),
      ...gatedSiluBackward(gpu, {
        y: this.y,
        z: this.zin,
        zStride: m.proj,
        zOffset: m.zOff,
        zBias: P.w('z_bias'),
        dOut: sc.dg,
        dy: sc.dy,
        dz: sc.dZin,
        dzStride: m.proj,
        dzOffset: m.zOff,
        dzBias: P.g('z_bias'),
        accumulateParams: true,
        rows,
        channels: s.dInner,
      }),
    );
    if (!needSsd) return ops;

    const gD = P.g('D');
    ops.push(
      ...ssdScanBackward(gpu, this.ssd, {
        x: this.x, a: this.a, B: this.B, C: this.C, D: P.w('D'), dy: sc.dy,
        dx: sc.dx, da: sc.da, dB: sc.dB, dC: sc.dC, dD: gD ? sc.dD : undefined, scratch: this.kernelScratch,
      }),
    );
    if (gD) ops.push(...axpy(gpu, { x: sc.dD, y: gD, n: s.nV }));
    if (!needZin && conv.frozen) return ops;

    ops.push(
      ...this.scatter(sc.dx, sc.dxBC, m.convCh, 0, s.dInner),
      ...this.scatter(sc.dB, sc.dxBC, m.convCh, m.bOff, m.gN),
      ...this.scatter(sc.dC, sc.dxBC, m.convCh, m.cOff, m.gN),
      ...conv1dBackward(gpu, {
        x: this.zin, inStride: m.proj, w: P.w('conv1d.weight'), dy: sc.dxBC, dx: sc.dZin, dxStride: m.proj, dxOffset: 0,
        dw: conv.dw, dbias: conv.dbias, accumulateParams: !conv.frozen, scratch: this.kernelScratch,
        batch: io.batch, L: io.L, channels: m.convCh, K: MIXER_CONV_K,
      }),
    );
    if (!needZin) return ops;
    ops.push(...unaryBackward(gpu, { kind: 'negSoftplus', x: this.zin, xStride: m.proj, xOffset: m.aOff, dy: sc.da, dx: sc.dZin, dxStride: m.proj, dxOffset: m.aOff, n: rows * s.nV, cols: s.nV }));
    if (gInW) ops.push(...matmul(gpu, { a: sc.dZin, b: this.u, c: gInW, M: m.proj, N: s.d, K: rows, transA: true, accumulate: true }));
    if (dU) ops.push(...matmul(gpu, { a: sc.dZin, b: P.w('in_proj.weight'), c: dU, M: rows, N: s.d, K: m.proj, accumulate: opts.accumulate }));
    return ops;
  }

  /**
   * MOHAWK stage 1: sends dB, dC, da (gradients of matrixInputs()) and dD to the conv, to in_proj
   * and to D, adding to their gradients. The x and z rows of in_proj and the x channels of the conv
   * receive exact zeros: the gradient buffers are full-width, all rows go through one GEMM.
   */
  matrixBackward(g: MixerMatrixGrads): Op[] {
    const { gpu, shape: s, dims: m, io, params: P, rows } = this;
    this.checkRows('matrixBackward', 'dB', g.dB, m.gN);
    this.checkRows('matrixBackward', 'dC', g.dC, m.gN);
    this.checkRows('matrixBackward', 'da', g.da, s.nV);
    if (slice(g.dD).size < s.nV * 4) throw new Error(`MambaMixer.matrixBackward (nV=${s.nV}): dD holds ${slice(g.dD).size} bytes, needs ${s.nV * 4}`);
    const ops: Op[] = [];
    const gD = P.g('D');
    if (gD) ops.push(...axpy(gpu, { x: g.dD, y: gD, n: s.nV }));
    const gInW = P.g('in_proj.weight');
    const conv = this.convGrads();
    if (!gInW && conv.frozen) return ops;
    if (this.narrowed) return [...ops, ...this.narrowBackward(g)];
    // Zero-filled once; nothing ever writes their x (and z) columns, so those stay zero.
    const sc = (this.matrixScratch ??= { dxBC: this.own(gpu.zeros(rows * m.convCh, 'mixer stage-1 d conv output')), dZin: this.own(gpu.zeros(rows * m.proj, 'mixer stage-1 d in_proj output')) });
    ops.push(
      ...this.scatter(g.dB, sc.dxBC, m.convCh, m.bOff, m.gN),
      ...this.scatter(g.dC, sc.dxBC, m.convCh, m.cOff, m.gN),
      ...conv1dBackward(gpu, {
        x: this.zin, inStride: m.proj, w: P.w('conv1d.weight'), dy: sc.dxBC, dx: sc.dZin, dxStride: m.proj, dxOffset: 0,
        dw: conv.dw, dbias: conv.dbias, accumulateParams: !conv.frozen,
        batch: io.batch, L: io.L, channels: m.convCh, K: MIXER_CONV_K,
      }),
    );
    if (!gInW) return ops;
    ops.push(
      ...unaryBackward(gpu, { kind: 'negSoftplus', x: this.zin, xStride: m.proj, xOffset: m.aOff, dy: g.da, dx: sc.dZin, dxStride: m.proj, dxOffset: m.aOff, n: rows * s.nV, cols: s.nV }),
      ...matmul(gpu, { a: sc.dZin, b: this.u, c: gInW, M: m.proj, N: s.d, K: rows, transA: true, accumulate: true }),
    );
    return ops;
  }

  /** matrixBackward after a narrow matrixForward: the B, C and A_log rows' gradients only (the rest are zero). */
  private narrowBackward(g: MixerMatrixGrads): Op[] {
    const { gpu, shape: s, dims: m, io, rows } = this;
    const bc = 2 * m.gN;
    const narrow = this.narrowViews();
    if (!narrow) throw new Error('MambaMixer.matrixBackward: the narrow forward\'s views no longer align');
    const sc = (this.narrowScratch ??= {
      dBC: this.own(gpu.buffer(rows * bc * 4, 'mixer stage-1 d conv output (B, C)')),
      dZbc: this.own(gpu.buffer(rows * bc * 4, 'mixer stage-1 d in_proj output (B, C)')),
      dZa: this.own(gpu.buffer(Math.max(rows * s.nV, 4) * 4, 'mixer stage-1 d in_proj output (A_log)')),
    });
    const ops: Op[] = [
      ...this.scatter(g.dB, sc.dBC, bc, 0, m.gN),
      ...this.scatter(g.dC, sc.dBC, bc, m.gN, m.gN),
      ...conv1dBackward(gpu, {
        x: narrow.zBC, inStride: bc, w: narrow.convW, dy: sc.dBC, dx: sc.dZbc, dxStride: bc, dxOffset: 0,
        dw: narrow.dConvW, dbias: narrow.dConvB, accumulateParams: !narrow.convFrozen,
        batch: io.batch, L: io.L, channels: bc, K: MIXER_CONV_K,
      }),
    ];
    if (!narrow.gBC || !narrow.gA) return ops;
    ops.push(
      ...matmul(gpu, { a: sc.dZbc, b: this.u, c: narrow.gBC, M: bc, N: s.d, K: rows, transA: true, accumulate: true }),
      ...unaryBackward(gpu, { kind: 'negSoftplus', x: narrow.zA, xStride: s.nV, xOffset: 0, dy: g.da, dx: sc.dZa, dxStride: s.nV, dxOffset: 0, n: rows * s.nV, cols: s.nV }),
      ...matmul(gpu, { a: sc.dZa, b: this.u, c: narrow.gA, M: s.nV, N: s.d, K: rows, transA: true, accumulate: true }),
    );
    return ops;
  }
}
