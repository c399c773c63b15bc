// Training text as one token stream: the token store's documents (BOS where the tokenizer wants it)
// back to back, with the last documents held out so that evaluation never sees trained-on text.
// Sampling reads windows of it at pseudo-random offsets from the plan's seed.
import { splitDocuments } from '../io/corpus';
import { TokenStoreBuilder, type TokenStore } from '../io/token-store';
import type { DocumentTokenizer } from '../io/tokenizer';

export interface StreamOptions {
  /** Use only the first documents. */
  maxDocs?: number;
  /** The last fraction of the documents (at least one) is held out (default 0.1). */
  heldOutFraction?: number;
}

export class TokenStream {
  private seed = 0x2545f491;
  /**
   * Packing within documents: for each training document long enough, the count of window starts it
   * offers, summed (a start is drawn uniformly over all of them); null packs across documents.
   */
  private within: { L: number; docs: Uint32Array; cum: Float64Array } | null = null;

  private constructor(
    readonly store: TokenStore,
    /** Documents trained on: the first ones; the rest, up to `documents`, are held out. */
    readonly trainDocs: number,
    /** Documents used, training and held out. */
    readonly documents: number,
  ) {}

  static fromStore(store: TokenStore, opts: StreamOptions = {}): TokenStream {
    const n = Math.min(store.documents, opts.maxDocs ?? Infinity);
    if (n === 0) throw new Error('the corpus has no text');
    const nHeld = n > 1 ? Math.max(1, Math.floor(n * (opts.heldOutFraction ?? 0.1))) : 0;
    return new TokenStream(store, n - nHeld, n);
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
    return new TokenStream(this.store, this.trainDocs, this.documents);
  }


  /**
   * Starts the sampler from `seed`: the initial xorshift state advanced by (seed − 1) golden-ratio
   * steps, so that seed 1, the plan's default, keeps the sequence every earlier run sampled.
   */
  seedSampler(seed: number): this {
    this.seed = (0x2545f491 + Math.imul(seed - 1, 0x9e3779b9)) >>> 0 || 0x2545f491;
    return this;
  }

  /**
   * Sequences of `L` inside one training document each (null: anywhere across documents, the default).
   * The same seed draws the same numbers; only where they land differs.
   */
  packWithin(L: number | null): this {
    if (L === null) {
      this.within = null;
      return this;
    }
    const docs: number[] = [];
    const cum: number[] = [];
    let total = 0;
    for (let d = 0; d < this.trainDocs; d++) {
      const n = this.store.docEnd(d) - this.store.docStart(d);
      if (n < L) continue;
      total += n - L + 1;
      docs.push(d);
      cum.push(total);
    }
    if (total === 0) throw new Error(`no training document has ${L} tokens (the longest has ${this.longestTrainDoc}): no sequence fits within one`);
    this.within = { L, docs: Uint32Array.from(docs), cum: Float64Array.from(cum) };
    return this;
  }

  get longestTrainDoc(): number {
    let m = 0;
    for (let d = 0; d < this.trainDocs; d++) m = Math.max(m, this.store.docEnd(d) - this.store.docStart(d));
    return m;
  }

  /** The token where the window drawn as `r` starts, packing within documents. */
  private withinStart(r: number): number {
    const { L, docs, cum } = this.within!;
    const x = r % cum[cum.length - 1]!;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return this.store.docStart(docs[lo]!) + x - (lo > 0 ? cum[lo - 1]! : 0);
  }

  get trainTokens(): number {
    return this.store.docStart(this.trainDocs);
  }

  get heldOutCount(): number {
    return this.documents - this.trainDocs;
  }

  get heldOutTokens(): number {
    return this.store.docStart(this.documents) - this.trainTokens;
  }

  /** Held-out document i (0 is the first held out). */
  heldOutDoc(i: number): number[] {
    return Array.from(this.store.document(this.trainDocs + i));
  }

  heldOutLength(i: number): number {
    const d = this.trainDocs + i;
    return this.store.docEnd(d) - this.store.docStart(d);
  }

  /** The first `max` held-out documents. */
  heldOutDocs(max = Infinity): number[][] {
    return Array.from({ length: Math.min(max, this.heldOutCount) }, (_, i) => this.heldOutDoc(i));
  }

  /** Training tokens [start, start + length): what sample() reads its windows from. */
  trainSlice(start: number, length: number): Uint32Array {
    if (start + length > this.trainTokens) throw new RangeError(`training tokens end at ${this.trainTokens}`);
    return this.store.slice(start, start + length);
  }

  /** `batch` windows of `L` consecutive training tokens at pseudo-random offsets, back to back. */
  sample(batch: number, L: number): Uint32Array {
    const max = this.trainTokens - L;
    if (max < 0) throw new Error(`need ${L} tokens per sequence, the corpus has ${this.trainTokens}`);
    const out = new Uint32Array(batch * L);
    for (let b = 0; b < batch; b++) {
      this.seed ^= this.seed << 13;
      this.seed >>>= 0;
      this.seed ^= this.seed >>> 17;
      this.seed ^= this.seed << 5;
      this.seed >>>= 0;
      if (this.within && this.within.L !== L) throw new Error(`the sampler packs ${this.within.L}-token sequences within documents, not ${L}`);
      const start = this.within ? this.withinStart(this.seed) : this.seed % (max + 1);
      this.store.copy(start, L, out, b * L);
    }
    return out;
  }
}
