// A corpus read and tokenized at once: the reader's document batches are cut into jobs of about a
// MiB of text, handed to the tokenizing pool a few at a time per worker, and their ids appended to the
// token store in document order as they come back (readers of the filling store see them at once).
// What is in flight is all the text ever held.
import type { CorpusReader } from './corpus-read';
import { TokenFill } from './token-fill';
import type { TokenStore } from './token-store';
import type { Encoded, TokenizePool } from './tokenize-pool';

const JOB_CHARS = 1 << 20;
/** Jobs queued per worker: one working, one waiting, so no worker idles between jobs. */
const PER_WORKER = 2;

export interface TokenizeProgress {
  bytesDone: number;
  bytesTotal: number;
  documents: number;
  tokens: number;
  tokensPerS: number;
}

export function tokenizeCorpus(reader: CorpusReader, pool: TokenizePool, vocabSize: number, onProgress?: (p: TokenizeProgress) => void): Promise<TokenStore> {
  return fillStore(reader, pool, new TokenFill(vocabSize), onProgress);
}

/** Tokenizes into `fill`, which is finished at the end, or failed with the error this throws. */
export async function fillStore(
  reader: CorpusReader,
  pool: TokenizePool,
  fill: TokenFill,
  onProgress: (p: TokenizeProgress) => void = () => undefined,
  /** Ends the tokenizing (the fill fails with 'tokenizing was stopped'). */
  signal?: AbortSignal,
): Promise<TokenStore> {
  const queue: Promise<Encoded>[] = [];
  const t0 = performance.now();
  let lastReport = 0;
  const report = (force = false) => {
    const now = performance.now();
    if (!force && now - lastReport < 250) return;
    lastReport = now;
    const s = (now - t0) / 1000;
    onProgress({ bytesDone: reader.bytesDone, bytesTotal: reader.bytesTotal, documents: fill.documents, tokens: fill.tokens, tokensPerS: s > 0 ? fill.tokens / s : 0 });
  };
  const drainOne = async () => {
    const e = await queue.shift()!;
    fill.append(e.ids, e.lengths);
    report();
    // A turn of the event loop per job: tokenizing on this thread (the inline pool), or reading
    // ahead of fast workers, would otherwise hold off a run training on the store meanwhile.
    await new Promise((r) => setTimeout(r, 0));
  };
  try {
    for await (const batch of reader.batches()) {
      if (signal?.aborted) throw new Error('tokenizing was stopped');
      for (let i = 0; i < batch.length; ) {
        let chars = 0;
        let j = i;
        while (j < batch.length && (j === i || chars + batch[j]!.length <= JOB_CHARS)) chars += batch[j++]!.length;
        queue.push(pool.encode(batch.slice(i, j)));
        i = j;
        while (queue.length >= pool.size * PER_WORKER) await drainOne();
      }
    }
    while (queue.length) await drainOne();
  } catch (e) {
    // Jobs still in flight settle unheard: their failure is not this one's.
    for (const q of queue) q.catch(() => undefined);
    fill.fail(e);
    throw e;
  }
  report(true);
  return fill.finish();
}
