// Token stores kept between runs: on disk for the command line, in the page's private file system
// (OPFS) for the page. A store is found by a key made of the tokenizer's fingerprint and the files'
// identity (name, size, modification time) and how they were read, so a changed file or another
// tokenizer is never served old tokens. Its record (meta.json) is written last: a store cut short
// by a crash has none and is not found.
import { storeFromParts, type TokenStore } from './token-store';
import type { CorpusFile } from './corpus-bytes';
import type { CorpusReadOptions } from './corpus-read';

const VERSION = 1;
const READ_BYTES = 16 << 20;

/** What a reused store still tells: the notes its reading left. */
export interface StoreInfo {
  notes: string[];
}

export interface TokenCache {
  /** Where the stores live, for messages. */
  readonly where: string;
  load(key: string): Promise<{ store: TokenStore; info: StoreInfo } | null>;
  save(key: string, store: TokenStore, info: StoreInfo): Promise<void>;
}

interface Meta {
  version: number;
  wide: boolean;
  tokens: number;
  documents: number;
  info: StoreInfo;
  savedAt: number;
}

export async function tokenStoreKey(tokenizerFingerprint: string, files: readonly CorpusFile[], read: CorpusReadOptions): Promise<string> {
  const text = JSON.stringify({
    v: VERSION,
    tokenizer: tokenizerFingerprint,
    files: files.map((f) => [f.key ?? f.name, f.size, f.modified]),
    column: read.textColumn ?? null,
    badLines: read.badLines ?? 'stop',
    maxDocs: read.maxDocs ?? null,
  });
  const d = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return [...d.subarray(0, 12)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function checkMeta(m: unknown): Meta | null {
  const x = m as Partial<Meta> | null;
  return x && x.version === VERSION && typeof x.wide === 'boolean' && Number.isSafeInteger(x.tokens) && Number.isSafeInteger(x.documents) ? (x as Meta) : null;
}

const NODE_FS = 'node:fs/promises';

/** Stores as folders under `dir` (made when first needed). */
export function nodeTokenCache(dir: string): TokenCache {
  const fsp = () => import(/* @vite-ignore */ NODE_FS) as Promise<typeof import('node:fs/promises')>;
  const at = (key: string, file = '') => `${dir}/${key}${file ? `/${file}` : ''}`;
  return {
    where: dir,
    async load(key) {
      const fs = await fsp();
      const meta = checkMeta(await fs.readFile(at(key, 'meta.json'), 'utf8').then(JSON.parse, () => null));
      if (!meta) return null;
      const endsBytes = await fs.readFile(at(key, 'ends.bin'));
      if (endsBytes.length !== meta.documents * 8) return null;
      const ends = new Float64Array(endsBytes.buffer.slice(endsBytes.byteOffset, endsBytes.byteOffset + endsBytes.length));
      const h = await fs.open(at(key, 'ids.bin'), 'r');
      try {
        const size = (await h.stat()).size;
        if (size !== meta.tokens * (meta.wide ? 4 : 2)) return null;
        async function* parts() {
          for (let off = 0; off < size; off += READ_BYTES) {
            const b = new Uint8Array(Math.min(READ_BYTES, size - off));
            const { bytesRead } = await h.read(b, 0, b.length, off);
            yield b.subarray(0, bytesRead);
          }
        }
        return { store: await storeFromParts(meta.wide, parts(), ends, meta.tokens), info: meta.info };
      } finally {
        await h.close();
      }
    },
    async save(key, store, info) {
      const fs = await fsp();
      const tmp = at(`${key}.part-${Date.now()}`);
      await fs.mkdir(tmp, { recursive: true });
      try {
        const h = await fs.open(`${tmp}/ids.bin`, 'w');
        try {
          for (const p of store.parts()) await h.write(bytesOf(p));
        } finally {
          await h.close();
        }
        await fs.writeFile(`${tmp}/ends.bin`, bytesOf(store.docEnds()));
        const meta: Meta = { version: VERSION, wide: store.wide, tokens: store.tokens, documents: store.documents, info, savedAt: Date.now() };
        await fs.writeFile(`${tmp}/meta.json`, JSON.stringify(meta));
        await fs.rm(at(key), { recursive: true, force: true });
        await fs.rename(tmp, at(key));
      } catch (e) {
        await fs.rm(tmp, { recursive: true, force: true });
        throw e;
      }
    },
  };
}

// The part of the OPFS API used here (lib.dom lacks some of it in older TypeScript).
interface Dir {
  getDirectoryHandle(name: string, o?: { create?: boolean }): Promise<Dir>;
  getFileHandle(name: string, o?: { create?: boolean }): Promise<{ getFile(): Promise<File>; createWritable(): Promise<{ write(b: BufferSource): Promise<void>; close(): Promise<void> }> }>;
  removeEntry(name: string, o?: { recursive?: boolean }): Promise<void>;
  keys?(): AsyncIterable<string>;
}

/** How many stores the page keeps: a browser's storage is the user's, and a store is as large as its corpus's ids. */
const OPFS_KEEP = 3;

export function opfsTokenCache(root: () => Promise<unknown> = () => navigator.storage.getDirectory()): TokenCache {
  const base = async () => (await (root() as Promise<Dir>)).getDirectoryHandle('mohawk-tokens', { create: true });
  const file = async (d: Dir, name: string) => (await d.getFileHandle(name)).getFile();
  return {
    where: 'the browser\'s private file system',
    async load(key) {
      try {
        const d = await (await base()).getDirectoryHandle(key);
        const meta = checkMeta(JSON.parse(await (await file(d, 'meta.json')).text()));
        if (!meta) return null;
        const ends = new Float64Array(await (await file(d, 'ends.bin')).arrayBuffer());
        const ids = await file(d, 'ids.bin');
        if (ends.length !== meta.documents || ids.size !== meta.tokens * (meta.wide ? 4 : 2)) return null;
        async function* parts() {
          for (let off = 0; off < ids.size; off += READ_BYTES) yield new Uint8Array(await ids.slice(off, off + READ_BYTES).arrayBuffer());
        }
        return { store: await storeFromParts(meta.wide, parts(), ends, meta.tokens), info: meta.info };
      } catch {
        return null;
      }
    },
    async save(key, store, info) {
      const b = await base();
      await b.removeEntry(key, { recursive: true }).catch(() => undefined);
      const d = await b.getDirectoryHandle(key, { create: true });
      const write = async (name: string, parts: readonly ArrayBufferView[]) => {
        const w = await (await d.getFileHandle(name, { create: true })).createWritable();
        for (const p of parts) await w.write(bytesOf(p) as Uint8Array<ArrayBuffer>);
        await w.close();
      };
      await write('ids.bin', store.parts());
      await write('ends.bin', [store.docEnds()]);
      const meta: Meta = { version: VERSION, wide: store.wide, tokens: store.tokens, documents: store.documents, info, savedAt: Date.now() };
      await write('meta.json', [new TextEncoder().encode(JSON.stringify(meta))]);
      // The oldest stores beyond OPFS_KEEP go.
      if (!b.keys) return;
      const all: { name: string; at: number }[] = [];
      for await (const name of b.keys()) {
        const at = await b
          .getDirectoryHandle(name)
          .then((x) => file(x, 'meta.json'))
          .then((f) => f.text())
          .then((t) => (JSON.parse(t) as Meta).savedAt, () => 0);
        all.push({ name, at });
      }
      all.sort((x, y) => y.at - x.at);
      for (const old of all.slice(OPFS_KEEP)) await b.removeEntry(old.name, { recursive: true }).catch(() => undefined);
    },
  };
}
