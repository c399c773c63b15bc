// A corpus as a token store, from the cache when the same files were tokenized by the same tokenizer
// before, else read and tokenized in the background and then kept for the next run. The store can be
// read while it fills (openCorpusStore), or awaited whole (corpusStore).
import type { CorpusFile } from './corpus-bytes';
import { CorpusReader, type CorpusReadOptions } from './corpus-read';
import { fillStore, type TokenizeProgress } from './corpus-tokens';
import { tokenStoreKey, type TokenCache } from './token-cache';
import { TokenFill } from './token-fill';
import type { TokenStore } from './token-store';
import type { TeacherTokenizer } from './tokenizer';
import type { TokenizePool } from './tokenize-pool';

export interface CorpusStoreSetup {
  files: readonly CorpusFile[];
  read: CorpusReadOptions;
  tokenizer: TeacherTokenizer;
  /** Made only when the corpus must be tokenized; closed after. */
  pool: () => TokenizePool;
  cache: TokenCache | null;
  onProgress?: (p: TokenizeProgress) => void;
  /** A cache that cannot be read or written is not an error: the corpus is tokenized without it. */
  onNotice?: (text: string) => void;
}

export interface CorpusStore {
  store: TokenStore;
  /** Found in the cache rather than tokenized now. */
  reused: boolean;
  /** What reading skipped or found empty. */
  notes: string[];
  /** Seconds spent reading and tokenizing (0 when reused). */
  seconds: number;
  /** Worker threads that tokenized (0: the calling thread did). */
  workers: number;
}

export interface OpenedCorpusStore {
  /** The store as it fills: complete at once when found in the cache, else growing as tokenizing goes on. */
  fill: TokenFill;
  reused: boolean;
  /**
   * The whole store once tokenized and kept in the cache; rejects as `fill` fails (bad input, a file
   * that changed while read). The caller handles it, also when it reads only `fill`.
   */
  done: Promise<CorpusStore>;
  /** Gives up tokenizing (a corpus no longer wanted): `fill` fails, `done` rejects. */
  stop(): void;
}

/** The files' total size in bytes: known before anything is read. */
export function corpusBytes(files: readonly CorpusFile[]): number {
  return files.reduce((a, f) => a + f.size, 0);
}

/** The cache's store when it has one, else tokenizing started (it goes on after this returns). */
export async function openCorpusStore(s: CorpusStoreSetup): Promise<OpenedCorpusStore> {
  const key = s.cache ? await tokenStoreKey(await s.tokenizer.fingerprint(), s.files, s.read) : null;
  if (s.cache && key) {
    const hit = await s.cache.load(key).catch((e: unknown) => {
      s.onNotice?.(`the token cache in ${s.cache!.where} could not be read (${(e as Error).message}); tokenizing anew`);
      return null;
    });
    if (hit) return { fill: TokenFill.of(hit.store), reused: true, done: Promise.resolve({ store: hit.store, reused: true, notes: hit.info.notes, seconds: 0, workers: 0 }), stop: () => undefined };
  }
  const t0 = performance.now();
  const reader = new CorpusReader(s.files, s.read);
  const fill = new TokenFill(s.tokenizer.vocabSize);
  const pool = s.pool();
  const abort = new AbortController();
  const done = (async (): Promise<CorpusStore> => {
    let store: TokenStore;
    try {
      store = await fillStore(reader, pool, fill, s.onProgress, abort.signal);
    } finally {
      pool.close();
    }
    const notes = [reader.skippedSummary(), reader.emptyFiles.length ? `no documents in ${reader.emptyFiles.join(', ')}` : null].filter((x): x is string => x !== null);
    if (s.cache && key) {
      await s.cache.save(key, store, { notes }).catch((e: unknown) => s.onNotice?.(`the tokens could not be kept in ${s.cache!.where} (${(e as Error).message}); the next run tokenizes again`));
    }
    return { store, reused: false, notes, seconds: (performance.now() - t0) / 1000, workers: pool.workers };
  })();
  return {
    fill,
    reused: false,
    done,
    stop: () => {
      abort.abort();
      // Jobs in flight fail at once; the reading stops at its next batch.
      pool.close();
    },
  };
}

export async function corpusStore(s: CorpusStoreSetup): Promise<CorpusStore> {
  return (await openCorpusStore(s)).done;
}
