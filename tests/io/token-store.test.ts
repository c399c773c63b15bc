// The token store: u16 or u32 by vocabulary, windows across its chunks, kept on disk and found again
// only for the same tokenizer and the same files; and the tokenizing pipeline's order and pool.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { CorpusReader } from '../../src/io/corpus-read';
import { tokenizeCorpus } from '../../src/io/corpus-tokens';
import { corpusStore, openCorpusStore } from '../../src/io/corpus-store';
import { TokenFill } from '../../src/io/token-fill';
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

describe('a token store while it fills', () => {
  it('reads the documents appended so far, across chunks, wakes a waiting reader, and ends complete or failed', async () => {
    const fill = new TokenFill(512);
    const ids = new Uint32Array(CHUNK_TOKENS + 10).map((_, i) => i % 500);
    fill.append(ids.subarray(0, CHUNK_TOKENS - 2), [5, CHUNK_TOKENS - 7]);
    expect([fill.documents, fill.tokens, fill.docStart(1), fill.complete]).toEqual([2, CHUNK_TOKENS - 2, 5, false]);
    expect(() => fill.docEnd(2)).toThrow(/not in the store yet/);
    let woken = 0;
    const waiting = fill.until(() => fill.documents >= 3, { onWait: () => woken++ });
    await new Promise((r) => setTimeout(r, 10));
    // A document across the chunk boundary: read back whole while the store still fills.
    fill.append(ids.subarray(CHUNK_TOKENS - 2), [12]);
    expect(await waiting).toBe(true);
    expect(woken).toBeGreaterThan(0);
    const out = new Uint32Array(12);
    fill.copy(fill.docStart(2), 12, out);
    expect(Array.from(out)).toEqual(Array.from(ids.subarray(CHUNK_TOKENS - 2)));
    expect(await fill.until(() => false, { stop: () => true })).toBe(false);
    const store = fill.finish();
    expect([fill.complete, fill.store, store.documents, await fill.until(() => false)]).toEqual([true, store, 3, true]);

    const failing = new TokenFill(512);
    const stuck = failing.until(() => false);
    failing.fail(new Error('a.jsonl, line 3: not JSON'));
    await expect(stuck).rejects.toThrow(/line 3/);
    expect(() => failing.append([1], [1])).toThrow(/no longer being filled/);
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

  it('can be read while it is tokenized, and is kept once whole; a bad file fails the filling store by name', async () => {
    const tok = teacherTok();
    const cache = nodeTokenCache(join(dir, 'open'));
    const inline = inlinePool(tok);
    // Jobs that take a while, as a busy worker's do: one per file here.
    const slow: TokenizePool = { ...inline, encode: (docs) => new Promise((r) => setTimeout(() => r(inline.encode(docs)), 30)) };
    const files = [0, 1, 2, 3, 4].map((k) => memFile(`s${k}.txt`, STORIES.slice(4 * k, 4 * k + 4).join(`\n${'<|endoftext|>'}\n`), 5));
    const opened = await openCorpusStore({ files, read: {}, tokenizer: tok, cache, pool: () => slow });
    expect(opened.reused).toBe(false);
    const seen: number[] = [];
    while (!opened.fill.complete) {
      seen.push(opened.fill.documents);
      await new Promise((r) => setTimeout(r, 5));
    }
    const done = await opened.done;
    expect(seen.some((n) => n > 0 && n < 20), `documents seen while filling: ${[...new Set(seen)].join(', ')}`).toBe(true);
    expect(done.store).toBe(opened.fill.store);
    expect(Array.from(done.store.slice(0, done.store.tokens))).toEqual(Array.from(encodeAll(tok, STORIES).ids));
    const again = await openCorpusStore({ files, read: {}, tokenizer: tok, cache, pool: () => slow });
    expect([again.reused, again.fill.complete, again.fill.tokens]).toEqual([true, true, done.store.tokens]);

    const bad = await openCorpusStore({ files: [...files, memFile('bad.jsonl', '{"text": "a"}\n{"text": 1')], read: {}, tokenizer: tok, cache: null, pool: () => slow });
    await expect(bad.done).rejects.toThrow(/bad\.jsonl, line 2/);
    expect(bad.fill.failure?.message).toMatch(/bad\.jsonl, line 2/);
    // What came before the bad line may be in, never the whole corpus: readers find the failure instead.
    expect([bad.fill.complete, bad.fill.documents <= 20]).toEqual([false, true]);
    await expect(bad.fill.until(() => true)).rejects.toThrow(/bad\.jsonl, line 2/);
  });
});
