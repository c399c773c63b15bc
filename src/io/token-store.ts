// A tokenized corpus, compactly: every document's ids back to back in u16 (vocabularies of at most
// 65,536 ids) or u32, held in fixed-size chunks so that it grows without ever being copied whole, and
// the document ends. Training samples windows from it; the held-out documents are views into it.

export type TokenArray = Uint16Array | Uint32Array;

/** Tokens per chunk: 4 Mi (8 MiB as u16). Windows straddling two chunks are copied from both. */
export const CHUNK_TOKENS = 1 << 22;

/** What reading a store takes: a finished store, or one still being filled (TokenStoreBuilder). */
export interface TokenSource {
  readonly tokens: number;
  readonly documents: number;
  docStart(i: number): number;
  docEnd(i: number): number;
  /** Tokens [start, start + length) into out at `at`. */
  copy(start: number, length: number, out: Uint32Array, at?: number): void;
}

function copyTokens(chunks: readonly TokenArray[], tokens: number, start: number, length: number, out: Uint32Array, at: number): void {
  if (start < 0 || start + length > tokens) throw new RangeError(`tokens ${start}..${start + length} are outside the store's ${tokens}`);
  let c = Math.floor(start / CHUNK_TOKENS);
  let off = start - c * CHUNK_TOKENS;
  let done = 0;
  while (done < length) {
    const chunk = chunks[c]!;
    const n = Math.min(length - done, chunk.length - off);
    out.set(chunk.subarray(off, off + n), at + done);
    done += n;
    c++;
    off = 0;
  }
}

export class TokenStore implements TokenSource {
  constructor(
    /** u32 ids (else u16). */
    readonly wide: boolean,
    private readonly chunks: readonly TokenArray[],
    /** End offset (exclusive) of each document in the token sequence. */
    private readonly ends: Float64Array,
    readonly tokens: number,
  ) {}

  get documents(): number {
    return this.ends.length;
  }

  /** Bytes the ids take. */
  get bytes(): number {
    return this.tokens * (this.wide ? 4 : 2);
  }

  docStart(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1]!;
  }

  docEnd(i: number): number {
    return this.ends[i]!;
  }

  /** Tokens [start, start + length) into out at `at`. */
  copy(start: number, length: number, out: Uint32Array, at = 0): void {
    copyTokens(this.chunks, this.tokens, start, length, out, at);
  }

  slice(start: number, end: number): Uint32Array {
    const out = new Uint32Array(end - start);
    this.copy(start, end - start, out);
    return out;
  }

  document(i: number): Uint32Array {
    return this.slice(this.docStart(i), this.docEnd(i));
  }

  /** The chunks as stored, in order (for writing the store out). */
  parts(): readonly TokenArray[] {
    return this.chunks;
  }

  docEnds(): Float64Array {
    return this.ends;
  }
}

/**
 * Appends tokenized documents to a store under construction; what it holds so far can be read
 * meanwhile (whole documents only: an append is one synchronous call).
 */
export class TokenStoreBuilder implements TokenSource {
  readonly wide: boolean;
  private readonly chunks: TokenArray[] = [];
  private ends = new Float64Array(1024);
  private docs = 0;
  tokens = 0;

  constructor(vocabSize: number) {
    this.wide = vocabSize > 65536;
  }

  get documents(): number {
    return this.docs;
  }

  /** Documents as one run of ids and each one's length. */
  append(ids: ArrayLike<number>, lengths: ArrayLike<number>): void {
    let at = 0;
    for (let d = 0; d < lengths.length; d++) {
      const n = lengths[d]!;
      this.push(ids, at, n);
      at += n;
      if (this.docs === this.ends.length) {
        const grown = new Float64Array(this.ends.length * 2);
        grown.set(this.ends);
        this.ends = grown;
      }
      this.ends[this.docs++] = this.tokens;
    }
  }

  docStart(i: number): number {
    if (i > this.docs) throw new RangeError(`document ${i} is not in the store yet (${this.docs} so far)`);
    return i === 0 ? 0 : this.ends[i - 1]!;
  }

  docEnd(i: number): number {
    if (i >= this.docs) throw new RangeError(`document ${i} is not in the store yet (${this.docs} so far)`);
    return this.ends[i]!;
  }

  copy(start: number, length: number, out: Uint32Array, at = 0): void {
    copyTokens(this.chunks, this.tokens, start, length, out, at);
  }

  appendDocument(ids: ArrayLike<number>): void {
    this.append(ids, [ids.length]);
  }

  private push(ids: ArrayLike<number>, from: number, n: number): void {
    let done = 0;
    while (done < n) {
      const used = this.tokens % CHUNK_TOKENS;
      if (used === 0) this.chunks.push(this.wide ? new Uint32Array(CHUNK_TOKENS) : new Uint16Array(CHUNK_TOKENS));
      const chunk = this.chunks[this.chunks.length - 1]!;
      const k = Math.min(n - done, CHUNK_TOKENS - used);
      if (ArrayBuffer.isView(ids)) chunk.set((ids as unknown as TokenArray).subarray(from + done, from + done + k), used);
      else for (let i = 0; i < k; i++) chunk[used + i] = ids[from + done + i]!;
      done += k;
      this.tokens += k;
    }
  }

  finish(): TokenStore {
    // The last chunk is cut to what it holds (a view: nothing is copied).
    const chunks = this.chunks.map((c, i) => (i === this.chunks.length - 1 ? c.subarray(0, this.tokens - i * CHUNK_TOKENS) : c));
    return new TokenStore(this.wide, chunks, this.ends.slice(0, this.docs), this.tokens);
  }
}

/** A store from its parts as written (TokenStore.parts, docEnds, little-endian as every platform here is): the ids re-chunked as they are read. */
export function storeFromParts(wide: boolean, ids: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, ends: Float64Array, tokens: number) {
  return (async () => {
    const width = wide ? 4 : 2;
    const chunks: TokenArray[] = [];
    let filled = 0;
    let carry = new Uint8Array(0);
    for await (const part of ids) {
      let bytes = part;
      if (carry.length) {
        bytes = new Uint8Array(carry.length + part.length);
        bytes.set(carry);
        bytes.set(part, carry.length);
      }
      const whole = bytes.length - (bytes.length % width);
      // Copied into aligned memory: a read's bytes may start at any offset.
      const aligned = bytes.slice(0, whole);
      const view = wide ? new Uint32Array(aligned.buffer) : new Uint16Array(aligned.buffer);
      for (let at = 0; at < view.length; ) {
        const used = filled % CHUNK_TOKENS;
        if (used === 0) chunks.push(wide ? new Uint32Array(CHUNK_TOKENS) : new Uint16Array(CHUNK_TOKENS));
        const k = Math.min(view.length - at, CHUNK_TOKENS - used);
        chunks[chunks.length - 1]!.set(view.subarray(at, at + k), used);
        at += k;
        filled += k;
      }
      carry = bytes.slice(whole);
    }
    if (filled !== tokens) throw new Error(`the token store holds ${filled} tokens, its record says ${tokens}`);
    const cut = chunks.map((c, i) => (i === chunks.length - 1 ? c.subarray(0, tokens - i * CHUNK_TOKENS) : c));
    return new TokenStore(wide, cut, ends, tokens);
  })();
}
