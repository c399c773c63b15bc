// Training text as one token stream: the token store's training documents (BOS where the tokenizer
// wants it) back to back, the held-out ones set apart so that evaluation never sees trained-on text
// (corpus-split.ts: the last documents, or for a streaming corpus documents spread over it).
// Sampling reads windows of it at pseudo-random offsets from the plan's seed.
//
// A streaming corpus is trained on while it is still being tokenized. What a step trains on must not
// depend on how fast tokenizing went, so each stage samples from a prefix fixed by the plan: the first
// min(all, STREAM_PREFIX_FACTOR × the tokens the plan trains through that stage) training tokens, and
// waits at its start until the store holds them (enterStage). Evaluations read the first held-out
// documents, waited for alike (awaitHeldOut).
import { splitDocuments } from '../io/corpus';
import { TokenFill, type WaitOptions } from '../io/token-fill';
import { TokenStoreBuilder, type TokenStore } from '../io/token-store';
import type { DocumentTokenizer } from '../io/tokenizer';
import { SpreadSplit, WholeSplit, type CorpusMode, type CorpusSplit } from './corpus-split';
import { PlanError, stepsPerStage, tokensPerStep, type DistillPlan, type PerStage, type Stage } from './plan';

export type { CorpusMode };

/**
 * Corpora whose files are larger than this together (bytes, known before anything is read) stream:
 * training starts once the first stage's prefix is tokenized. Smaller ones are tokenized whole first
 * and split as they always were, so their runs and checkpoints stay as they were.
 */
export const STREAM_BYTES = 64 * 2 ** 20;

/** A streaming stage samples from this many times the training tokens the plan trains through it. */
export const STREAM_PREFIX_FACTOR = 4;

export function corpusModeFor(bytes: number, threshold = STREAM_BYTES): CorpusMode {
  return bytes > threshold ? 'streaming' : 'whole';
}

/** Streaming: the training tokens each of the plan's stages samples from (before capping at the corpus's). */
export function stagePrefixes(plan: DistillPlan): PerStage<number> {
  const steps = stepsPerStage(plan);
  const perStep = tokensPerStep(plan);
  const out: PerStage<number> = { 1: 0, 2: 0, 3: 0 };
  let through = 0;
  for (const s of plan.stages) {
    through += steps[s] * perStep;
    out[s] = STREAM_PREFIX_FACTOR * through;
  }
  return out;
}

export interface StreamOptions {
  /** Use only the first documents. */
  maxDocs?: number;
  /** The fraction of the documents (at least one) held out (default 0.1). */
  heldOutFraction?: number;
}

export interface StageWaitOptions {
  stop?: () => boolean;
  /** While waiting: training tokens so far, and how many the stage needs (once more with have = need when the wait is over). */
  onWait?: (have: number, need: number) => void;
}

export class TokenStream {
  private seed = 0x2545f491;
  /**
   * Packing within documents: for each training document long enough, the count of window starts it
   * offers, summed (a start is drawn uniformly over all of them); null packs across documents.
   */
  private within: { L: number; docs: Uint32Array; cum: Float64Array } | null = null;
  /** The sequence length packed within documents (null: across). */
  private withinL: number | null = null;
  /** Streaming: the training tokens the current stage samples from (null before a stage is entered). */
  private limit: number | null = null;
  /** Streaming: the plan's sequence length and per-stage prefixes (forPlan). */
  private planned: { L: number; prefixes: PerStage<number> } | null = null;
  /** Streaming, for measuring a plan's cost only: a stage samples from whatever is there. */
  private anyPrefix = false;

  private constructor(
    private readonly split: CorpusSplit,
    private readonly fill: TokenFill,
  ) {
    if (split.mode === 'whole') this.limit = split.trainTokens;
  }

  /** A complete store, its last documents held out: every run before streaming, and every small corpus. */
  static fromStore(store: TokenStore, opts: StreamOptions = {}): TokenStream {
    const n = Math.min(store.documents, opts.maxDocs ?? Infinity);
    if (n === 0) throw new Error('the corpus has no text');
    const nHeld = n > 1 ? Math.max(1, Math.floor(n * (opts.heldOutFraction ?? 0.1))) : 0;
    return new TokenStream(new WholeSplit(store, n, nHeld), TokenFill.of(store));
  }

  /** A store that may still be filling, its held-out documents spread over it (a streaming corpus). */
  static streaming(fill: TokenFill, opts: Pick<StreamOptions, 'heldOutFraction'> = {}): TokenStream {
    return new TokenStream(new SpreadSplit(fill, opts.heldOutFraction ?? 0.1), fill);
  }

  /** Documents tokenized here, on this thread (small corpora and tests). */
  static fromDocuments(docs: readonly string[], tok: DocumentTokenizer, opts: StreamOptions & { vocabSize?: number } = {}): TokenStream {
    if (docs.length === 0) throw new Error('the corpus has no text');
    const use = opts.maxDocs === undefined ? docs : docs.slice(0, opts.maxDocs);
    const b = new TokenStoreBuilder(opts.vocabSize ?? 2 ** 32);
    for (const d of use) b.appendDocument(tok.encodeDocument(d));
    return TokenStream.fromStore(b.finish(), opts);
  }

  static fromText(text: string, tok: DocumentTokenizer, opts: StreamOptions = {}): TokenStream {
    return TokenStream.fromDocuments(splitDocuments(text), tok, opts);
  }

  /** The same tokens with the sampler back at its start (tokenizing again would give exactly these). */
  fresh(): TokenStream {
    return new TokenStream(this.split, this.fill);
  }

  get mode(): CorpusMode {
    return this.split.mode;
  }

  /** Every document is tokenized (always so for a whole corpus). */
  get complete(): boolean {
    return this.fill.complete;
  }

  /** Why tokenizing stopped short of the whole corpus (null while it goes on, or once complete). */
  get failure(): Error | null {
    return this.fill.failure;
  }

  /** Documents used, training and held out (so far, while a streaming corpus fills). */
  get documents(): number {
    return this.split.documents;
  }

  /**
   * Starts the sampler from `seed`: the initial xorshift state advanced by (seed − 1) golden-ratio
   * steps, so that seed 1, the plan's default, keeps the sequence every earlier run sampled.
   */
  seedSampler(seed: number): this {
    this.seed = (0x2545f491 + Math.imul(seed - 1, 0x9e3779b9)) >>> 0 || 0x2545f491;
    return this;
  }

  /** The sampler as `plan` draws: its seed, its packing, and (streaming) each stage's prefix. */
  forPlan(plan: DistillPlan): this {
    this.planned = { L: plan.seqLen, prefixes: stagePrefixes(plan) };
    return this.seedSampler(plan.seed).packWithin(plan.packing === 'within' ? plan.seqLen : null);
  }

  /**
   * For measuring a plan's cost, not training: each stage of a streaming corpus samples from the
   * training tokens there are when it starts (at least a sequence), without waiting for its prefix.
   */
  measuring(): this {
    this.anyPrefix = true;
    return this;
  }

  /**
   * Sequences of `L` inside one training document each (null: anywhere across documents, the default).
   * The same seed draws the same numbers; only where they land differs. A streaming corpus finds its
   * documents at each stage's start, among those of the stage's prefix.
   */
  packWithin(L: number | null): this {
    this.withinL = L;
    this.within = null;
    if (L !== null && this.mode === 'whole') this.within = this.withinTable(L, this.limit!, null);
    return this;
  }

  private withinTable(L: number, limit: number, stage: Stage | null): { L: number; docs: Uint32Array; cum: Float64Array } {
    const docs: number[] = [];
    const cum: number[] = [];
    let total = 0;
    for (const d of this.split.trainDocs(limit)) {
      const n = this.fill.docEnd(d) - this.fill.docStart(d);
      if (n < L) continue;
      total += n - L + 1;
      docs.push(d);
      cum.push(total);
    }
    if (total === 0) {
      const where = stage === null ? 'training document' : `training document of stage ${stage}'s first ${limit} training tokens`;
      throw new Error(`no ${where} has ${L} tokens (the longest has ${this.longestIn(limit)}): no sequence fits within one`);
    }
    return { L, docs: Uint32Array.from(docs), cum: Float64Array.from(cum) };
  }

  private longestIn(limit: number): number {
    let m = 0;
    for (const d of this.split.trainDocs(limit)) m = Math.max(m, this.fill.docEnd(d) - this.fill.docStart(d));
    return m;
  }

  /** The longest training document (so far, while a streaming corpus fills). */
  get longestTrainDoc(): number {
    return this.longestIn(Infinity);
  }

  /**
   * Before a stage's first step: a streaming corpus waits until the store holds the stage's prefix
   * (or is complete) and samples from it from now on; false when `stop` ended the wait. Throws the
   * tokenizing's failure, and a PlanError when the prefix holds no whole sequence.
   */
  async enterStage(stage: Stage, opts: StageWaitOptions = {}): Promise<boolean> {
    if (this.mode === 'whole') return true;
    if (!this.planned) throw new Error('the sampler has no plan (forPlan) to take the stages\' prefixes from');
    const { L, prefixes } = this.planned;
    const need = this.anyPrefix ? L + 1 : prefixes[stage];
    let waited = false;
    const onWait = () => {
      waited = true;
      opts.onWait?.(this.split.trainTokens, need);
    };
    const ready = await this.fill.until(() => this.split.trainTokens >= need, { stop: opts.stop, onWait });
    if (!ready) return false;
    if (waited) opts.onWait?.(need, need);
    const have = this.split.trainTokens;
    // Complete or not, the same prefix: the stage's, or the whole corpus when that is shorter.
    const limit = this.anyPrefix ? have : Math.min(need, have);
    if (L + 1 > limit) throw new PlanError('corpus', `plan: the corpus has ${limit} training tokens, fewer than one sequence of ${L}`);
    this.limit = limit;
    if (this.withinL !== null) this.within = this.withinTable(this.withinL, limit, stage);
    return true;
  }

  /**
   * Before an evaluation: a streaming corpus waits until `k` held-out documents are in (or the store
   * is complete); false when `stop` ended the wait.
   */
  async awaitHeldOut(k: number, opts: WaitOptions = {}): Promise<boolean> {
    if (this.mode === 'whole') return true;
    const ready = await this.fill.until(() => this.split.heldOutCount >= k, opts);
    if (ready && this.heldOutCount === 0) throw new Error(`no document is held out: the corpus has ${this.documents} documents, and one in ${Math.round(1 / ((this.split as SpreadSplit).fraction))} is held out`);
    return ready;
  }

  /** The token where the window drawn as `r` starts, packing within documents. */
  private withinStart(r: number): number {
    const { docs, cum } = this.within!;
    const x = r % cum[cum.length - 1]!;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return this.fill.docStart(docs[lo]!) + x - (lo > 0 ? cum[lo - 1]! : 0);
  }

  /** Training tokens (so far, while a streaming corpus fills). */
  get trainTokens(): number {
    return this.split.trainTokens;
  }

  get heldOutCount(): number {
    return this.split.heldOutCount;
  }

  get heldOutTokens(): number {
    return this.split.heldOutTokens;
  }

  /** Held-out document i (0 is the first held out). */
  heldOutDoc(i: number): number[] {
    const d = this.split.heldOutDoc(i);
    const out = new Uint32Array(this.fill.docEnd(d) - this.fill.docStart(d));
    this.fill.copy(this.fill.docStart(d), out.length, out);
    return Array.from(out);
  }

  heldOutLength(i: number): number {
    const d = this.split.heldOutDoc(i);
    return this.fill.docEnd(d) - this.fill.docStart(d);
  }

  /** The first `max` held-out documents (of those in, while a streaming corpus fills: see awaitHeldOut). */
  heldOutDocs(max = Infinity): number[][] {
    return Array.from({ length: Math.min(max, this.heldOutCount) }, (_, i) => this.heldOutDoc(i));
  }

  /** Training tokens [start, start + length): what sample() reads its windows from. */
  trainSlice(start: number, length: number): Uint32Array {
    const out = new Uint32Array(length);
    this.split.copyTrain(start, length, out, 0);
    return out;
  }

  private next(): number {
    this.seed ^= this.seed << 13;
    this.seed >>>= 0;
    this.seed ^= this.seed >>> 17;
    this.seed ^= this.seed << 5;
    this.seed >>>= 0;
    return this.seed;
  }

  /** Moves the sampler on by `sequences` windows without reading them (a resumed run catching up). */
  skip(sequences: number): this {
    for (let i = 0; i < sequences; i++) this.next();
    return this;
  }

  /** `batch` windows of `L` consecutive training tokens at pseudo-random offsets, back to back. */
  sample(batch: number, L: number): Uint32Array {
    if (this.fill.failure) throw this.fill.failure;
    if (this.limit === null) throw new Error('a streaming corpus is sampled only within a stage (enterStage)');
    const max = this.limit - L;
    if (max < 0) throw new Error(`need ${L} tokens per sequence, the corpus has ${this.limit}`);
    const out = new Uint32Array(batch * L);
    for (let b = 0; b < batch; b++) {
      const r = this.next();
      if (this.within && this.within.L !== L) throw new Error(`the sampler packs ${this.within.L}-token sequences within documents, not ${L}`);
      if (this.within) this.fill.copy(this.withinStart(r), L, out, b * L);
      else this.split.copyTrain(r % (max + 1), L, out, b * L);
    }
    return out;
  }
}
