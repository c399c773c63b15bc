// Which documents of a token store are trained on and which are held out, and the training documents
// as one token sequence. Two rules, chosen per run from the corpus's size (corpusModeFor):
// - whole: the last fraction of the documents is held out (every run before streaming existed, and
//   every corpus up to STREAM_BYTES still); the store must be complete.
// - streaming: the held-out documents are spread over the corpus (document i when
//   floor((i+1)·f) > floor(i·f): one in every 1/f), so that the first ones are in early, and the split
//   of every document is known as soon as it arrives, whatever comes after it.
import type { TokenSource, TokenStore } from '../io/token-store';

export type CorpusMode = 'whole' | 'streaming';

export interface CorpusSplit {
  readonly mode: CorpusMode;
  /** Documents in the store (so far, while it fills). */
  readonly documents: number;
  /** Training tokens so far: the training documents back to back. */
  readonly trainTokens: number;
  readonly heldOutCount: number;
  readonly heldOutTokens: number;
  /** The store's index of held-out document i (0: the first held out). */
  heldOutDoc(i: number): number;
  /** The training documents, in order, while their last token is within the first `limit` training tokens. */
  trainDocs(limit: number): Iterable<number>;
  /** Training tokens [start, start + length) into out at `at`. */
  copyTrain(start: number, length: number, out: Uint32Array, at: number): void;
}

/** The first documents trained on, the last `held` held out (as every run before streaming). */
export class WholeSplit implements CorpusSplit {
  readonly mode = 'whole';
  private readonly trainDocCount: number;

  constructor(
    private readonly store: TokenStore,
    readonly documents: number,
    held: number,
  ) {
    this.trainDocCount = documents - held;
  }

  get trainTokens(): number {
    return this.store.docStart(this.trainDocCount);
  }

  get heldOutCount(): number {
    return this.documents - this.trainDocCount;
  }

  get heldOutTokens(): number {
    return this.store.docStart(this.documents) - this.trainTokens;
  }

  heldOutDoc(i: number): number {
    return this.trainDocCount + i;
  }

  *trainDocs(limit: number): Iterable<number> {
    for (let d = 0; d < this.trainDocCount && this.store.docEnd(d) <= limit; d++) yield d;
  }

  copyTrain(start: number, length: number, out: Uint32Array, at: number): void {
    if (start + length > this.trainTokens) throw new RangeError(`training tokens end at ${this.trainTokens}`);
    this.store.copy(start, length, out, at);
  }
}

/**
 * Document i is held out when floor((i+1)·f) > floor(i·f), so floor(n·f) of the first n documents are
 * (the floors step by 0 or 1 for f < 1, and rounding is monotone, so the count is exact in floating
 * point too). Only the held-out documents are indexed (their store indices and their tokens summed):
 * a training document's place in the training sequence is its store offset less the held-out tokens
 * before it.
 */
export class SpreadSplit implements CorpusSplit {
  readonly mode = 'streaming';
  private readonly heldIds: number[] = [];
  /** heldCum[h]: tokens of the first h held-out documents. */
  private readonly heldCum: number[] = [0];
  private indexed = 0;

  constructor(
    private readonly src: TokenSource,
    /** The fraction f held out. */
    readonly fraction: number,
  ) {
    const f = fraction;
    // Near 1 the floors could step by 2 between neighbours, and the count above would no longer hold.
    if (!(f > 0 && f <= 0.5)) throw new RangeError(`a held-out fraction spread over the corpus must be in (0, 0.5], not ${f}`);
  }

  /** Held-out documents among the first i. */
  private heldBefore(i: number): number {
    return Math.floor(i * this.fraction);
  }

  isHeld(i: number): boolean {
    return this.heldBefore(i + 1) > this.heldBefore(i);
  }

  /** Indexes the documents that arrived since the last look. */
  private sync(): void {
    const n = this.src.documents;
    for (let i = this.indexed; i < n; i++) {
      if (!this.isHeld(i)) continue;
      this.heldIds.push(i);
      this.heldCum.push(this.heldCum[this.heldCum.length - 1]! + this.src.docEnd(i) - this.src.docStart(i));
    }
    this.indexed = n;
  }

  /** Where document i (i ≤ documents indexed) starts in the training sequence. */
  private trainStart(i: number): number {
    return this.src.docStart(i) - this.heldCum[this.heldBefore(i)]!;
  }

  get documents(): number {
    this.sync();
    return this.indexed;
  }

  get trainTokens(): number {
    this.sync();
    return this.trainStart(this.indexed);
  }

  get heldOutCount(): number {
    this.sync();
    return this.heldIds.length;
  }

  get heldOutTokens(): number {
    this.sync();
    return this.heldCum[this.heldIds.length]!;
  }

  heldOutDoc(i: number): number {
    this.sync();
    if (!(i >= 0 && i < this.heldIds.length)) throw new RangeError(`held-out document ${i} is not in the store (${this.heldIds.length} so far)`);
    return this.heldIds[i]!;
  }

  *trainDocs(limit: number): Iterable<number> {
    const n = this.documents;
    for (let i = 0; i < n; i++) {
      if (this.isHeld(i)) continue;
      if (this.src.docEnd(i) - this.src.docStart(i) + this.trainStart(i) > limit) return;
      yield i;
    }
  }

  copyTrain(start: number, length: number, out: Uint32Array, at: number): void {
    const n = this.documents;
    if (start < 0 || start + length > this.trainStart(n)) throw new RangeError(`training tokens end at ${this.trainStart(n)}`);
    // The last document starting at or before `start` in the training sequence: a training document
    // that holds it (a held-out or empty one adds nothing, so the next one starts at the same place).
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.trainStart(mid) <= start) lo = mid;
      else hi = mid - 1;
    }
    let off = start - this.trainStart(lo);
    let done = 0;
    for (let i = lo; done < length; i++) {
      if (this.isHeld(i)) continue;
      const begin = this.src.docStart(i);
      const k = Math.min(length - done, this.src.docEnd(i) - begin - off);
      if (k > 0) this.src.copy(begin + off, k, out, at + done);
      done += Math.max(0, k);
      off = 0;
    }
  }
}
