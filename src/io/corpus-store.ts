// A corpus as a token store, from the cache when the same files were tokenized by the same tokenizer
// before, else read and tokenized in the background and then kept for the next run.
import type { CorpusFile } from './corpus-bytes';
import { CorpusReader, type CorpusReadOptions } from './corpus-read';
import { tokenizeCorpus, type TokenizeProgress } from './corpus-tokens';
import { tokenStoreKey, type TokenCache } from './token-cache';
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

export async function corpusStore(s: CorpusStoreSetup): Promise<CorpusStore> {
  const key = s.cache ? await tokenStoreKey(await s.tokenizer.fingerprint(), s.files, s.read) : null;
  if (s.cache && key) {
    const hit = await s.cache.load(key).catch((e: unknown) => {
      s.onNotice?.(`the token cache in ${s.cache!.where} could not be read (${(e as Error).message}); tokenizing anew`);
      return null;
    });
    if (hit) return { store: hit.store, reused: true, notes: hit.info.notes, seconds: 0, workers: 0 };
  }
  const t0 = performance.now();
  const reader = new CorpusReader(s.files, s.read);
  const pool = s.pool();
  let store: TokenStore;
  try {
    store = await tokenizeCorpus(reader, pool, s.tokenizer.vocabSize, s.onProgress);
  } finally {
    pool.close();
  }
  const notes = [reader.skippedSummary(), reader.emptyFiles.length ? `no documents in ${reader.emptyFiles.join(', ')}` : null].filter((x): x is string => x !== null);
  if (s.cache && key) {
    await s.cache.save(key, store, { notes }).catch((e: unknown) => s.onNotice?.(`the tokens could not be kept in ${s.cache!.where} (${(e as Error).message}); the next run tokenizes again`));
  }
  return { store, reused: false, notes, seconds: (performance.now() - t0) / 1000, workers: pool.workers };
}
