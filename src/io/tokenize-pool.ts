// Documents to ids off the thread that reads them: a pool of workers (the page's Web Workers, the
// command line's worker_threads), each holding its own copy of the teacher's tokenizer, or, where no
// worker can be had (tests from source), the tokenizer itself on this thread behind the same calls.
import { TeacherTokenizer, type DocumentTokenizer, type TokenizerSource } from './tokenizer';

/** Ids of documents back to back (u16 when the vocabulary allows, as the store keeps them), and each document's length. */
export interface Encoded {
  ids: Uint16Array | Uint32Array;
  lengths: Uint32Array;
}

export interface TokenizePool {
  /** Jobs worked on at once (1 for the inline pool). */
  readonly size: number;
  /** Worker threads (0: this thread tokenizes). */
  readonly workers: number;
  encode(docs: string[]): Promise<Encoded>;
  close(): void;
}

export function encodeAll(tok: DocumentTokenizer, docs: readonly string[]): Encoded {
  const per = docs.map((d) => tok.encodeDocument(d));
  const lengths = Uint32Array.from(per, (p) => p.length);
  const ids = new Uint32Array(lengths.reduce((a, n) => a + n, 0));
  let at = 0;
  for (const p of per) {
    ids.set(p, at);
    at += p.length;
  }
  return { ids, lengths };
}

/** The tokenizer on this thread, as a pool of one. */
export function inlinePool(tok: DocumentTokenizer): TokenizePool {
  return { size: 1, workers: 0, encode: async (docs) => encodeAll(tok, docs), close: () => undefined };
}

/** What a pool needs of a worker, the page's and Node's alike. */
export interface WorkerPort {
  post(message: unknown, transfer?: Transferable[]): void;
  onMessage(cb: (data: unknown) => void): void;
  onError(cb: (message: string) => void): void;
  terminate(): void;
}

type Request = { type: 'init'; source: TokenizerSource } | { type: 'encode'; id: number; docs: string[] };
type Reply = { id: number; ids: Uint16Array | Uint32Array; lengths: Uint32Array } | { id: number; error: string };

/** `size` workers from `spawn`, each sent the tokenizer's source once; a job goes to the least busy. */
export function workerPool(spawn: () => WorkerPort, size: number, source: TokenizerSource): TokenizePool {
  const pending = new Map<number, { resolve: (e: Encoded) => void; reject: (e: Error) => void; worker: number }>();
  const busy = new Array<number>(size).fill(0);
  let next = 0;
  let failed: Error | null = null;
  const fail = (e: Error) => {
    failed ??= e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  const workers = Array.from({ length: size }, (_, w) => {
    const port = spawn();
    port.onMessage((data) => {
      const r = data as Reply;
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      busy[w]!--;
      if ('error' in r) p.reject(new Error(`tokenizing: ${r.error}`));
      else p.resolve({ ids: r.ids, lengths: r.lengths });
    });
    port.onError((m) => fail(new Error(`a tokenizing worker failed: ${m}`)));
    port.post({ type: 'init', source } satisfies Request);
    return port;
  });
  return {
    size,
    workers: size,
    encode(docs) {
      if (failed) return Promise.reject(failed);
      let w = 0;
      for (let i = 1; i < size; i++) if (busy[i]! < busy[w]!) w = i;
      const id = next++;
      busy[w]!++;
      return new Promise<Encoded>((resolve, reject) => {
        pending.set(id, { resolve, reject, worker: w });
        workers[w]!.post({ type: 'encode', id, docs } satisfies Request);
      });
    },
    close() {
      for (const p of workers) p.terminate();
      fail(new Error('the tokenizing workers were closed'));
    },
  };
}

/** The worker's side: builds the tokenizer from the first message and answers each job. */
export function serveTokenizer(post: (reply: unknown, transfer: Transferable[]) => void): (data: unknown) => void {
  let tok: TeacherTokenizer | null = null;
  return (data) => {
    const m = data as Request;
    if (m.type === 'init') {
      tok = TeacherTokenizer.fromJson(m.source.tokenizerJson, m.source.tokenizerConfig, m.source.fallback);
      return;
    }
    try {
      if (!tok) throw new Error('no tokenizer was sent');
      const e = encodeAll(tok, m.docs);
      // Half the bytes to send (and for the reading thread to collect) when ids fit in 16 bits.
      const ids = tok.vocabSize <= 65536 ? Uint16Array.from(e.ids) : e.ids;
      post({ id: m.id, ids, lengths: e.lengths } satisfies Reply, [ids.buffer, e.lengths.buffer]);
    } catch (err) {
      post({ id: m.id, error: (err as Error).message } satisfies Reply, []);
    }
  };
}
