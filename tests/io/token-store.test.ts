// The token store: u16 or u32 by vocabulary, windows across its chunks, kept on disk and found again
// only for the same tokenizer and the same files; and the tokenizing pipeline's order and pool.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { CorpusReader } from '../../src/io/corpus-read';
import { tokenizeCorpus } from '../../src/io/corpus-tokens';
import { corpusStore } from '../../src/io/corpus-store';
import { nodeTokenCache, tokenStoreKey } from '../../src/io/token-cache';
import { CHUNK_TOKENS, TokenStoreBuilder } from '../../src/io/token-store';
import { encodeAll, inlinePool, serveTokenizer, workerPool, type Encoded, type TokenizePool } from '../../src/io/tokenize-pool';
import { TeacherTokenizer } from '../../src/io/tokenizer';
import { memFile, STORIES, STORIES_JSONL, STORIES_TXT } from '../helpers/corpus-files';
import { TEACHER_DIR } from '../helpers/data';

const dir = mkdtempSync(join(tmpdir(), 'mohawk-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const teacherTok = () =>
  TeacherTokenizer.fromJson(JSON.parse(readFileSync(join(TEACHER_DIR, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(TEACHER_DIR, 'tokenizer_config.json'), 'utf8')));

describe('TokenStore', () => {
  it('is u16 up to 65,536 ids and u32 above, and copies windows across chunks', () => {
    const n = CHUNK_TOKENS + 1000;
    const ids = new Uint32Array(n).map((_, i) => (i * 7) % 65536);
    for (const vocab of [65536, 65537]) {
      const b = new TokenStoreBuilder(vocab);
      b.append(ids.subarray(0, 10), [4, 6]);
      b.append(ids.subarray(10), [n - 10]);
      const s = b.finish();
      expect(s.wide).toBe(vocab > 65536);
      expect([s.documents, s.tokens, s.docStart(1), s.docEnd(1), s.docEnd(2)]).toEqual([3, n, 4, 10, n]);
      expect(s.bytes).toBe(n * (vocab > 65536 ? 4 : 2));
      const at = CHUNK_TOKENS - 3;
      expect(Array.from(s.slice(at, at + 6))).toEqual(Array.from(ids.subarray(at, at + 6)));
      expect(Array.from(s.document(1))).toEqual([4, 5, 6, 7, 8, 9].map((i) => i * 7));
    }
  });

  it('is kept on disk and read back whole, under a key of the tokenizer and the files', async () => {
    const cache = nodeTokenCache(join(dir, 'cache'));
    const b = new TokenStoreBuilder(512);
    b.append(Uint32Array.from([1, 2, 3, 4, 5]), [2, 3]);
    const store = b.finish();
    const files = [memFile('a.txt', 'x', 1000)];
    const key = await tokenStoreKey('tok1', files, { textColumn: 'text' });
    expect(await cache.load(key)).toBeNull();
    await cache.save(key, store, { notes: ['n'] });
    const got = (await cache.load(key))!;
    expect(got.info.notes).toEqual(['n']);
    expect([got.store.wide, got.store.documents, Array.from(got.store.slice(0, 5))]).toEqual([false, 2, [1, 2, 3, 4, 5]]);
    const other = [
      await tokenStoreKey('tok2', files, { textColumn: 'text' }),
      await tokenStoreKey('tok1', [memFile('a.txt', 'x', 1001)], { textColumn: 'text' }),
      await tokenStoreKey('tok1', [memFile('a.txt', 'xy', 1000)], { textColumn: 'text' }),
      await tokenStoreKey('tok1', [memFile('b.txt', 'x', 1000)], { textColumn: 'text' }),
      await tokenStoreKey('tok1', files, { textColumn: 'content' }),
      await tokenStoreKey('tok1', files, { textColumn: 'text', maxDocs: 5 }),
    ];
    expect(new Set([key, ...other]).size).toBe(7);
  });
});

describe('tokenizing a corpus', () => {
  it('gives the same store from every format, through worker ports, as tokenizing here does', async () => {
    const tok = teacherTok();
    const expected = encodeAll(tok, STORIES);
    // Workers as Node message ports: the same messages, cloned and transferred, as real workers get.
    const ports = () => {
      const ch = new MessageChannel();
      ch.port2.on('message', serveTokenizer((reply, transfer) => ch.port2.postMessage(reply, transfer as never)));
      return {
        post: (m: unknown, t?: Transferable[]) => ch.port1.postMessage(m, t as never),
        onMessage: (cb: (d: unknown) => void) => ch.port1.on('message', cb),
        onError: () => undefined,
        terminate: () => {
          ch.port1.close();
          ch.port2.close();
        },
      };
    };
    for (const [name, text] of [['a.txt', STORIES_TXT], ['a.jsonl', STORIES_JSONL]]) {
      const pool = workerPool(ports, 3, tok.source);
      const store = await tokenizeCorpus(new CorpusReader([memFile(name!, text!)]), pool, tok.vocabSize);
      pool.close();
      expect(store.documents).toBe(20);
      expect(Array.from(store.slice(0, store.tokens))).toEqual(Array.from(expected.ids));
      expect(store.docEnd(0)).toBe(expected.lengths[0]);
    }
  });

  it('keeps document order when jobs finish out of order, and reports progress', async () => {
    const tok = { encodeDocument: (t: string) => [...t].map((c) => c.charCodeAt(0)) };
    let k = 0;
    // Each job finishes after a delay that shrinks, so later jobs come back first.
    const pool: TokenizePool = {
      size: 4,
      workers: 4,
      encode: (docs) => new Promise<Encoded>((r) => setTimeout(() => r(encodeAll(tok, docs)), 40 - 5 * (k++ % 8))),
      close: () => undefined,
    };
    const docs = Array.from({ length: 30 }, (_, i) => `${i}:${'x'.repeat(400_000)}`);
    const progress: number[] = [];
    const store = await tokenizeCorpus(new CorpusReader([memFile('d.jsonl', docs.map((text) => JSON.stringify({ text })).join('\n'))]), pool, 128, (p) => progress.push(p.documents));
    expect(store.documents).toBe(30);
    for (let i = 0; i < 30; i++) expect(String.fromCharCode(...store.slice(store.docStart(i), store.docStart(i) + 3))).toMatch(new RegExp(`^${i}:`));
    expect(progress.at(-1)).toBe(30);
  });

  it('is reused from the cache the second time, and a refused corpus leaves nothing there', async () => {
    const tok = teacherTok();
    const cache = nodeTokenCache(join(dir, 'reuse'));
    let pools = 0;
    const setup = (files = [memFile('s.txt', STORIES_TXT, 5)]) => ({ files, read: {}, tokenizer: tok, cache, pool: () => (pools++, inlinePool(tok)) });
    const first = await corpusStore(setup());
    const second = await corpusStore(setup());
    expect([first.reused, second.reused, pools]).toEqual([false, true, 1]);
    expect(Array.from(second.store.slice(0, second.store.tokens))).toEqual(Array.from(first.store.slice(0, first.store.tokens)));
    await expect(corpusStore(setup([memFile('s.txt', STORIES_TXT, 5), memFile('bad.jsonl', '{"text": 1')]))).rejects.toThrow(/bad\.jsonl, line 1/);
    expect(readdirSync(join(dir, 'reuse'))).toHaveLength(1);
  });
});
