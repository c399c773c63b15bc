// Training text as one token stream: documents tokenized (BOS where the tokenizer wants it) and
// concatenated, with the last documents held out so that evaluation never sees trained-on text.
import { splitDocuments } from '../io/corpus';
import type { DocumentTokenizer } from '../io/tokenizer';

export class TokenStream {
  private seed = 0x2545f491;

  private constructor(
    readonly train: Uint32Array,
    readonly heldOut: number[][],
    /** Documents used, training and held out. */
    readonly documents: number,
  ) {}

  static fromText(text: string, tok: DocumentTokenizer, opts: { maxDocs?: number; heldOutFraction?: number } = {}): TokenStream {
    return TokenStream.fromDocuments(splitDocuments(text), tok, opts);
  }

  static fromDocuments(all: readonly string[], tok: DocumentTokenizer, opts: { maxDocs?: number; heldOutFraction?: number } = {}): TokenStream {
    let docs = all;
    if (docs.length === 0) throw new Error('the corpus has no text');
    if (opts.maxDocs !== undefined) docs = docs.slice(0, opts.maxDocs);
    const nHeld = docs.length > 1 ? Math.max(1, Math.floor(docs.length * (opts.heldOutFraction ?? 0.1))) : 0;
    const trainDocs = docs.slice(0, docs.length - nHeld);
    const ids: number[] = [];
    for (const d of trainDocs) for (const id of tok.encodeDocument(d)) ids.push(id);
    return new TokenStream(Uint32Array.from(ids), docs.slice(docs.length - nHeld).map((d) => tok.encodeDocument(d)), docs.length);
  }

  /** The same tokens with the sampler back at its start (tokenizing again would give exactly these). */
  fresh(): TokenStream {
    return new TokenStream(this.train, this.heldOut, this.documents);
  }

  /**
   * Starts the sampler from `seed`: the initial xorshift state advanced by (seed − 1) golden-ratio
   * steps, so that seed 1, the plan's default, keeps the sequence every earlier run sampled.
   */
  seedSampler(seed: number): this {
    this.seed = (0x2545f491 + Math.imul(seed - 1, 0x9e3779b9)) >>> 0 || 0x2545f491;
    return this;
  }

  get trainTokens(): number {
    return this.train.length;
  }

  /** `batch` windows of `L` consecutive training tokens at pseudo-random offsets, back to back. */
  sample(batch: number, L: number): Uint32Array {
    const max = this.train.length - L;
    if (max < 0) throw new Error(`need ${L} tokens per sequence, the corpus has ${this.train.length}`);
    const out = new Uint32Array(batch * L);
    for (let b = 0; b < batch; b++) {
      this.seed ^= this.seed << 13;
      this.seed >>>= 0;
      this.seed ^= this.seed >>> 17;
      this.seed ^= this.seed << 5;
      this.seed >>>= 0;
      const start = this.seed % (max + 1);
      out.set(this.train.subarray(start, start + L), b * L);
    }
    return out;
  }
}
