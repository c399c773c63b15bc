// A corpus read and tokenized at once: the reader's document batches are cut into jobs of about a
// MiB of text, handed to the tokenizing pool a few at a time per worker, and their ids appended to the
// token store in document order as they come back. What is in flight is all the text ever held.
import type { CorpusReader } from './corpus-read';
import { TokenStoreBuilder, type TokenStore } from './token-store';
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

export async function tokenizeCorpus(
  reader: CorpusReader,
  pool: TokenizePool,
  vocabSize: number,
  onProgress: (p: TokenizeProgress) => void = () => undefined,
): Promise<TokenStore> {
  const builder = new TokenStoreBuilder(vocabSize);
  const queue: Promise<Encoded>[] = [];
  const t0 = performance.now();
  let lastReport = 0;
  const report = (force = false) => {
    const now = performance.now();
    if (!force && now - lastReport < 250) return;
    lastReport = now;
    const s = (now - t0) / 1000;
    onProgress({ bytesDone: reader.bytesDone, bytesTotal: reader.bytesTotal, documents: builder.documents, tokens: builder.tokens, tokensPerS: s > 0 ? builder.tokens / s : 0 });
  };
  const drainOne = async () => {
    const e = await queue.shift()!;
    builder.append(e.ids, e.lengths);
    report();
  };
  try {
    for await (const batch of reader.batches()) {
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
    throw e;
  }
  report(true);
  return builder.finish();
}
