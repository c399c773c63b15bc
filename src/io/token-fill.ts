// A token store while it fills: what the tokenizing pipeline has appended so far can be read (whole
// documents, in order), and a reader can wait until enough is there. It ends complete (the finished
// TokenStore, the same chunks) or failed, and a failure is kept for every reader to find.
import { TokenStoreBuilder, type TokenArray, type TokenSource, type TokenStore } from './token-store';

/** How often a waiting reader looks at `stop` when nothing arrives. */
const POLL_MS = 200;

export interface WaitOptions {
  /** Polled while waiting: true gives up (until then resolves false). */
  stop?: () => boolean;
  /** Called as documents arrive while waiting. */
  onWait?: () => void;
}

export class TokenFill implements TokenSource {
  private builder: TokenStoreBuilder | null;
  private done: TokenStore | null = null;
  private error: Error | null = null;
  private wakers = new Set<() => void>();

  constructor(vocabSize: number) {
    this.builder = new TokenStoreBuilder(vocabSize);
  }

  /** A fill that is complete from the start (a store from the cache, or tokenized before). */
  static of(store: TokenStore): TokenFill {
    const f = new TokenFill(0);
    f.builder = null;
    f.done = store;
    return f;
  }

  private get source(): TokenSource {
    return this.done ?? this.builder!;
  }

  get tokens(): number {
    return this.source.tokens;
  }

  get documents(): number {
    return this.source.documents;
  }

  get wide(): boolean {
    return this.done ? this.done.wide : this.builder!.wide;
  }

  docStart(i: number): number {
    return this.source.docStart(i);
  }

  docEnd(i: number): number {
    return this.source.docEnd(i);
  }

  copy(start: number, length: number, out: Uint32Array, at = 0): void {
    this.source.copy(start, length, out, at);
  }

  /** Every document is in. */
  get complete(): boolean {
    return this.done !== null;
  }

  /** The finished store (null until complete). */
  get store(): TokenStore | null {
    return this.done;
  }

  /** Why filling stopped short (null while it goes on or once complete). */
  get failure(): Error | null {
    return this.error;
  }

  append(ids: TokenArray | ArrayLike<number>, lengths: ArrayLike<number>): void {
    if (!this.builder || this.done || this.error) throw new Error('the token store is no longer being filled');
    this.builder.append(ids, lengths);
    this.wake();
  }

  finish(): TokenStore {
    if (this.error) throw this.error;
    this.done ??= this.builder!.finish();
    this.builder = null;
    this.wake();
    return this.done;
  }

  fail(e: unknown): void {
    if (this.done || this.error) return;
    this.error = e instanceof Error ? e : new Error(String(e));
    this.wake();
  }

  private wake(): void {
    const w = [...this.wakers];
    this.wakers.clear();
    for (const f of w) f();
  }

  /** Until something is appended, the fill ends, or `ms` pass. */
  private changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  /**
   * Waits until `enough()` holds or the fill is complete (true), or `stop` says to give up (false);
   * throws the fill's failure, which comes first: a reader never goes on over a store cut short.
   */
  async until(enough: () => boolean, opts: WaitOptions = {}): Promise<boolean> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.done || enough()) return true;
      if (opts.stop?.()) return false;
      opts.onWait?.();
      await this.changed(POLL_MS);
    }
  }
}
