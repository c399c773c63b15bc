// The forward pass of a decoder-only LM in any of the teacher architectures, on the GPU:
//   x_0 = embed(ids) (+ pos), times embedScale (gemma3's √d)
//   sequential (llama family, gpt2, neox without parallel residual):
//       h = x_l + mixer(norm1(x_l));            x_{l+1} = h + mlp(norm2(h))
//   sequential with post norms (gemma3):
//       h = x_l + mixer_out_norm(mixer(norm1(x_l)));   x_{l+1} = h + mlp_out_norm(mlp(norm2(h)))
//   parallel (gpt_neox):  x_{l+1} = x_l + mixer(norm1(x_l)) + mlp(norm2(x_l))
//   parallel, one norm (phi): u = norm1(x_l);   x_{l+1} = x_l + mixer(u) + mlp(u)
//   logits = head(final_norm(x_L)) (+ head bias)
// The mixer is the teacher's attention unless the caller supplies another (the student).
import type { Bindable, Gpu, Op } from '../gpu/runtime';
import type { ArchConfig } from '../io/config';
import { embedding, embeddingBackward } from '../kernels/embedding';
import { addColumnSums, matmul } from '../kernels/matmul';
import { add, scale } from '../kernels/elementwise';
import type { ResidualAdd } from '../kernels/norm';
import { Activations, AttentionMixer, Mlp, normBackward, normForward, type Io, type Weights } from './layers';

export interface Mixer {
  forward(u: Bindable, out: Bindable): Op[];
  /** dU overwritten (or added to with accumulate), trained parameters' gradients added to. */
  backward?(dOut: Bindable, dU: Bindable | undefined, opts?: { accumulate?: boolean }): Op[];
  /** Frees what the mixer made itself (not the decoder's activations); Decoder.release calls it. */
  release?(): void;
}

export interface DecoderOptions {
  /** Keep each layer's activations (stage inputs, training); otherwise layers share scratch buffers. */
  keepLayers?: boolean;
  /**
   * Training with the activations of one layer: layers share their buffers as without keepLayers,
   * only the residual stream is kept per layer, and backward re-runs each block's forward right
   * before that block's backward (about a third more work per step for a fraction of the memory).
   * Gradients are the same as with keepLayers. normed and mixed then hold the last layer's only.
   */
  recompute?: boolean;
  /** Compute logits (default true). */
  logits?: boolean;
  /** The mixer of layer l; default the attention the weights describe. */
  mixer?: (layer: number, acts: Activations, io: Io) => Mixer;
  /**
   * The default attention reads f16 copies of q, k, v (AttentionMixer's `half`; needs shader-f16):
   * for a frozen teacher's forward (DistillPlan.teacherAttention 'f16'). No backward.
   */
  halfAttention?: boolean;
}

/** Block `layer` of the model `c` with `weights`, on `rows` rows, its activations in `acts`. */
export interface BlockArgs {
  c: ArchConfig;
  weights: Weights;
  layer: number;
  rows: number;
  acts: Activations;
  mixer: Mixer;
  mlp: Mlp;
}

type BlockNorm = 'norm1' | 'norm2' | 'mixer_out_norm' | 'mlp_out_norm';

/**
 * Block `layer`'s forward, x → next, in the architecture's residual form (see the top of this file).
 * u is what the mixer read (the normed input), a the mixer's output (before any post norm); both are
 * kept in `acts`. Without `next` the last residual add is left out: a recomputation for the backward
 * needs the block's activations, not its output, which the residual stream already holds.
 */
export function blockForward(gpu: Gpu, b: BlockArgs & { x: Bindable; next?: Bindable }): { ops: Op[]; u: GPUBuffer; a: GPUBuffer } {
  const { c, weights: w, layer: l, rows, acts, mixer, mlp, x, next } = b;
  const d = c.dModel;
  const norm = (name: BlockNorm, input: Bindable, y: Bindable, residual?: ResidualAdd) =>
    normForward(gpu, { c, w, name: `layers.${l}.${name}`, x: input, y, rows, acts, layer: l, residual });
  const u = acts.layer('norm1.out', l, rows * d);
  const a = acts.layer('mixer.out', l, rows * d);
  const m = acts.layer('mlp.out', l, rows * d);
  const ops: Op[] = [...norm('norm1', x, u), ...mixer.forward(u, a)];
  // With post norms the residual adds the normed outputs; a and m stay as the mixer and MLP gave them.
  const postNormed = (name: 'mixer_out_norm' | 'mlp_out_norm', out: GPUBuffer): GPUBuffer => {
    if (!c.postNorms) return out;
    const y = acts.layer(`${name}.out`, l, rows * d);
    ops.push(...norm(name, out, y));
    return y;
  };
  if (c.postNorms && c.parallelResidual) throw new Error('post norms are only built for sequential blocks');
  if (c.parallelResidual) {
    let u2 = u;
    if (c.modelType !== 'phi') {
      u2 = acts.layer('norm2.out', l, rows * d);
      ops.push(...norm('norm2', x, u2));
    }
    ops.push(...mlp.forward(u2, m));
    if (next) ops.push(...add(gpu, { a: x, b: a, c: m, out: next, n: rows * d }));
  } else {
    const h = acts.layer('attn.residual', l, rows * d);
    const u2 = acts.layer('norm2.out', l, rows * d);
    // h = x + the mixer's output, added in norm2's own pass (written out, then normalised).
    const mixed = postNormed('mixer_out_norm', a);
    ops.push(...norm('norm2', x, u2, { add: mixed, sum: h }));
    ops.push(...mlp.forward(u2, m));
    const mOut = postNormed('mlp_out_norm', m);
    if (next) ops.push(...add(gpu, { a: h, b: mOut, out: next, n: rows * d }));
  }
  return { ops, u, a };
}

export class Decoder {
  readonly ops: Op[] = [];
  readonly acts: Activations;
  /** Residual stream entering each layer; residuals[layers] enters the final norm. */
  readonly residuals: GPUBuffer[] = [];
  /** Each layer's normed input (what its mixer reads). */
  readonly normed: GPUBuffer[] = [];
  /** Each layer's mixer output (after its output projection). */
  readonly mixed: GPUBuffer[] = [];
  readonly mixers: Mixer[] = [];
  readonly mlps: Mlp[] = [];
  /** Whether backward may run: keepLayers or recompute. */
  private readonly trains: boolean;
  private readonly recompute: boolean;
  private finalIn: GPUBuffer | null = null;
  readonly logits: GPUBuffer | null;
  readonly rows: number;

  constructor(
    readonly gpu: Gpu,
    readonly config: ArchConfig,
    readonly weights: Weights,
    readonly io: Io & { ids: Bindable },
    opts: DecoderOptions = {},
  ) {
    const c = config;
    const rows = (this.rows = io.batch * io.L);
    const d = c.dModel;
    const recompute = (this.recompute = opts.recompute ?? false);
    this.trains = recompute || (opts.keepLayers ?? false);
    const acts = (this.acts = new Activations(gpu, this.trains && !recompute));
    if (c.positions === 'learned' && io.L > c.maxPositions) {
      throw new Error(`sequence length ${io.L} is over the ${c.maxPositions} positions this model has`);
    }
    // Residuals are always per layer: they are the cheapest trace and the stages read them.
    for (let l = 0; l <= c.layers; l++) this.residuals.push(acts.kept('residual', l, rows * d));
    const pos = c.positions === 'learned' ? { table: weights.get('pos'), L: io.L } : undefined;
    this.ops.push(...embedding(gpu, { ids: io.ids, table: weights.get('embed'), out: this.residuals[0]!, tokens: rows, d, vocab: c.vocab, pos }));
    if (c.embedScale !== 1) this.ops.push(...scale(gpu, { y: this.residuals[0]!, n: rows * d, alpha: c.embedScale }));

    for (let l = 0; l < c.layers; l++) {
      const mixer = opts.mixer ? opts.mixer(l, acts, { batch: io.batch, L: io.L }) : new AttentionMixer(gpu, { c, w: weights, layer: l, io, acts, half: opts.halfAttention === true });
      const mlp = new Mlp(gpu, { c, w: weights, layer: l, io, acts });
      this.mixers.push(mixer);
      this.mlps.push(mlp);
      const b = this.block(l, this.residuals[l + 1]!);
      this.normed.push(b.u);
      this.mixed.push(b.a);
      this.ops.push(...b.ops);
    }

    if (opts.logits ?? true) {
      const xf = (this.finalIn = acts.scratch('final_norm.out', rows * d));
      this.ops.push(...normForward(gpu, { c, w: weights, name: 'final_norm', x: this.residuals[c.layers]!, y: xf, rows, acts, layer: null }));
      const logits = (this.logits = acts.scratch('logits', rows * c.vocab));
      const head = weights.has('head.weight') ? weights.get('head.weight') : weights.get('embed');
      const bias = weights.has('head.bias') ? weights.get('head.bias') : undefined;
      this.ops.push(...matmul(gpu, { a: xf, b: head, c: logits, bias, M: rows, N: c.vocab, K: d, transB: true }));
    } else this.logits = null;
  }

  /** Block l's forward from the kept residual stream, into `next` when given. */
  private block(l: number, next?: Bindable): ReturnType<typeof blockForward> {
    const { gpu, config: c, weights, acts, rows } = this;
    return blockForward(gpu, { c, weights, layer: l, rows, acts, mixer: this.mixers[l]!, mlp: this.mlps[l]!, x: this.residuals[l]!, next });
  }

  /**
   * The backward pass from dLogits (rows, vocab): gradients of every weight the Weights give a
   * gradient binding for, added to. Needs keepLayers or recompute, and logits.
   */
  backward(dLogits: Bindable): Op[] {
    const { gpu, config: c, weights: w, acts, rows } = this;
    if (!this.trains || !this.logits || !this.finalIn) throw new Error('Decoder.backward needs keepLayers or recompute, and logits');
    const d = c.dModel;
    const dx = acts.scratch('dResidual', rows * d);
    const dxf = acts.scratch('dFinalNorm', rows * d);
    const du1 = acts.scratch('dNorm1', rows * d);
    const du2 = acts.scratch('dNorm2', rows * d);
    const headName = w.has('head.weight') ? 'head.weight' : 'embed';
    const ops: Op[] = [...matmul(gpu, { a: dLogits, b: w.get(headName), c: dxf, M: rows, N: d, K: c.vocab })];
    const dHead = w.grad?.(headName);
    if (dHead) ops.push(...matmul(gpu, { a: dLogits, b: this.finalIn, c: dHead, M: c.vocab, N: d, K: rows, transA: true, accumulate: true }));
    const dHeadBias = w.has('head.bias') ? w.grad?.('head.bias') : undefined;
    if (dHeadBias) ops.push(...addColumnSums(gpu, { x: dLogits, out: dHeadBias, rows, cols: c.vocab }));
    ops.push(...normBackward(gpu, { c, w, name: 'final_norm', x: this.residuals[c.layers]!, dy: dxf, dx, rows, acts, layer: null, accumulate: false }));

    for (let l = c.layers - 1; l >= 0; l--) {
      const mixer = this.mixers[l]!;
      const mlp = this.mlps[l]!;
      if (!mixer.backward) throw new Error(`layer ${l}'s mixer has no backward`);
      // The shared activations hold the last block run: block l's again, from its kept input.
      if (this.recompute) ops.push(...this.block(l).ops);
      const x = this.residuals[l]!;
      const norm = (name: BlockNorm, input: Bindable, dy: Bindable) => normBackward(gpu, { c, w, name: `layers.${l}.${name}`, x: input, dy, dx, rows, acts, layer: l });
      // Through a post norm: the gradient of the module's output, from the residual stream's (dx).
      const throughPost = (name: 'mixer_out_norm' | 'mlp_out_norm', out: Bindable): Bindable => {
        if (!c.postNorms) return dx;
        const dOut = acts.scratch('dPostNorm', rows * d);
        ops.push(...normBackward(gpu, { c, w, name: `layers.${l}.${name}`, x: out, dy: dx, dx: dOut, rows, acts, layer: l, accumulate: false }));
        return dOut;
      };
      if (!c.parallelResidual) {
        const h = acts.layer('attn.residual', l, rows * d);
        const u2 = acts.layer('norm2.out', l, rows * d);
        ops.push(...mlp.backward(u2, throughPost('mlp_out_norm', acts.layer('mlp.out', l, rows * d)), du2));
        ops.push(...norm('norm2', h, du2));
        ops.push(...mixer.backward(throughPost('mixer_out_norm', this.mixed[l]!), du1));
        ops.push(...norm('norm1', x, du1));
      } else if (c.modelType === 'phi') {
        ops.push(...mixer.backward(dx, du1));
        ops.push(...mlp.backward(this.normed[l]!, dx, du1, { accumulate: true }));
        ops.push(...norm('norm1', x, du1));
      } else {
        const u2 = acts.layer('norm2.out', l, rows * d);
        ops.push(...mixer.backward(dx, du1));
        ops.push(...mlp.backward(u2, dx, du2));
        ops.push(...norm('norm1', x, du1));
        ops.push(...norm('norm2', x, du2));
      }
    }
    const dEmbed = w.grad?.('embed');
    const dPos = c.positions === 'learned' ? w.grad?.('pos') : undefined;
    // The gradient of the table's rows is embedScale times the first residual's (dx is not needed after).
    if (dEmbed && c.embedScale !== 1) ops.push(...scale(gpu, { y: dx, n: rows * d, alpha: c.embedScale }));
    if (dEmbed) {
      ops.push(...embeddingBackward(gpu, { ids: this.io.ids, dOut: dx, dTable: dEmbed, tokens: rows, d, vocab: c.vocab, accumulate: true, pos: dPos ? { dTable: dPos, L: this.io.L } : undefined }));
    }
    return ops;
  }

  /** Layer l's attention, when it has one (stage 1 reads its probabilities). */
  attention(l: number): AttentionMixer {
    const m = this.mixers[l];
    if (!(m instanceof AttentionMixer)) throw new Error(`layer ${l} has no attention`);
    return m;
  }

  release(): void {
    for (const m of this.mixers) m.release?.();
    this.acts.release();
  }
}
