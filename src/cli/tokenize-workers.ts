// The command line's tokenizing workers: worker_threads running this same bundle (entry.ts sends a
// thread started with TOKENIZE_ROLE to serveTokenizer instead of a command), and where the token
// stores are kept between runs.
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { inlinePool, workerPool, type TokenizePool } from '../io/tokenize-pool';
import { nodeTokenCache, type TokenCache } from '../io/token-cache';
import type { TeacherTokenizer } from '../io/tokenizer';

export const TOKENIZE_ROLE = 'mohawk-tokenize';

/**
 * Workers when this runs as the bundle (a worker thread needs a JavaScript file to start), else the
 * tokenizer on this thread (tests that import the sources). One core is left to the reading thread,
 * unless `workers` says how many.
 */
export function tokenizePool(tok: TeacherTokenizer, workers?: number): TokenizePool {
  const self = new URL(import.meta.url);
  if (!self.pathname.endsWith('.mjs')) return inlinePool(tok);
  const size = workers ?? Math.max(1, Math.min(8, availableParallelism() - 1));
  return workerPool(
    () => {
      const w = new Worker(self, { workerData: { role: TOKENIZE_ROLE } });
      // A pool's idle workers must not keep the process alive once the command is done.
      w.unref();
      return {
        post: (m, transfer) => w.postMessage(m, transfer as never),
        onMessage: (cb) => w.on('message', cb),
        onError: (cb) => {
          w.on('error', (e: Error) => cb(e.message));
          w.on('exit', (code) => code !== 0 && code !== 1 && cb(`exited with ${code}`));
        },
        terminate: () => void w.terminate(),
      };
    },
    size,
    tok.source,
  );
}

export const TOKEN_CACHE_FLAG = {
  'token-cache': {
    type: 'string',
    help: 'folder where tokenized corpora are kept and reused (keyed by the tokenizer and the files\' names, sizes and times; default ~/.cache/mohawk/tokens, or under $XDG_CACHE_HOME); "off" keeps none',
  },
} as const;

export function tokenCache(flag: string | undefined): TokenCache | null {
  if (flag === 'off') return null;
  const dir = flag ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mohawk', 'tokens');
  return nodeTokenCache(dir);
}
