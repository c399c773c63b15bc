// Checkpoints: a round trip through memory and a folder gives back exactly what was saved; state.json
// goes last; a save cut short, a truncated file or files of two saves are never taken for a checkpoint.
// The OPFS store runs in headless Chromium (the page, and workers with and without createWritable).
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  clearCheckpoint,
  folderStore,
  loadCheckpoint,
  memoryStore,
  openCheckpoint,
  peekCheckpoint,
  saveCheckpoint,
  StoreWriteError,
  teacherFingerprint,
  type Checkpoint,
  type CheckpointStore,
  type FlatReader,
} from '../../src/mohawk/checkpoint';
import { piecesOf, type Bytes } from '../../src/io/bytes';
import { FlatParams } from '../../src/models/params';
import { randn } from '../helpers/gpu';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sample(seed: number): Checkpoint {
  const layout = new FlatParams();
  layout.add('embed', [10, 8]);
  layout.add('layers.0.mixer.D', [3]);
  layout.add('layers.0.mixer.in_proj.weight', [5, 8]);
  layout.add('final_norm.weight', [8]);
  const values = new Map([...layout.slices].map(([n, s]) => [n, randn(s.count, seed + s.offset)]));
  const params = layout.pack(values);
  const m = randn(layout.size, seed + 1000, 1e-3);
  const v = randn(layout.size, seed + 2000, 1e-6).map(Math.abs);
  const state = { stage: 2, step: 37, tokens: 37 * 1024, elapsed: 12.5, rng: [1, 2, 3, 4], plan: { seqLen: 64, lr: { 1: 1e-3 } } };
  return { state, params, m, v, paramShapes: new Map([...layout.slices].map(([n, s]) => [n, { offset: s.offset, count: s.count, shape: s.shape }])) };
}

function expectSame(got: Checkpoint | null, want: Checkpoint): void {
  expect(got).not.toBeNull();
  expect(got!.state).toEqual(want.state);
  expect(got!.params).toEqual(want.params);
  expect(got!.m).toEqual(want.m);
  expect(got!.v).toEqual(want.v);
  expect([...got!.paramShapes]).toEqual([...want.paramShapes]);
}

/** A store that logs every call and can fail at the k-th write. */
function recording(inner: CheckpointStore, failAtWrite = Infinity) {
  const log: string[] = [];
  let writes = 0;
  const store: CheckpointStore = {
    write: async (n, b) => {
      if (++writes === failAtWrite) throw new Error(`disk full writing ${n}`);
      log.push(`write ${n}`);
      return inner.write(n, b);
    },
    read: (n) => inner.read(n),
    remove: async (n) => {
      log.push(`remove ${n}`);
      return inner.remove(n);
    },
    list: () => inner.list(),
  };
  return { store, log };
}

describe('checkpoints', () => {
  it('round trip through memory: state, parameters (alignment gaps included), moments, layout', async () => {
    const store = memoryStore();
    expect(await loadCheckpoint(store)).toBeNull();
    const ck = sample(1);
    await saveCheckpoint(store, ck);
    expect(await store.list()).toEqual(['optimizer.safetensors', 'state.json', 'student.safetensors']);
    expectSame(await loadCheckpoint(store), ck);
    const peek = await peekCheckpoint(store);
    expect(peek?.state).toEqual(ck.state);
    // A later save replaces the earlier one whole.
    const ck2 = sample(2);
    await saveCheckpoint(store, ck2);
    expectSame(await loadCheckpoint(store), ck2);
    await clearCheckpoint(store);
    expect(await store.list()).toEqual([]);
    expect(await loadCheckpoint(store)).toBeNull();
  });

  it('round trip through a folder, leaving no temporary files; leftovers of a crashed write are ignored', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mohawk-ck-'));
    dirs.push(dir);
    const store = folderStore(join(dir, 'teacher-abc'));
    expect(await store.list()).toEqual([]);
    expect(await loadCheckpoint(store)).toBeNull();
    const ck = sample(3);
    await saveCheckpoint(store, ck);
    expect(readdirSync(join(dir, 'teacher-abc')).sort()).toEqual(['optimizer.safetensors', 'state.json', 'student.safetensors']);
    writeFileSync(join(dir, 'teacher-abc', '.partial-student.safetensors-123'), new Uint8Array(10));
    expect(await store.list()).toEqual(['optimizer.safetensors', 'state.json', 'student.safetensors']);
    expectSame(await loadCheckpoint(folderStore(join(dir, 'teacher-abc'))), ck);
    await expect(store.write('../escape', new Uint8Array(1))).rejects.toThrow(/not a plain file name/);
  });

  it('reads FlatReaders a tensor (or a moment) at a time while it writes, giving the same files as arrays', async () => {
    const ck = sample(4);
    const reads: [string, number, number][] = [];
    // Each read is logged with how many bytes the store had been given by then.
    let written = 0;
    const reader = (name: string, f: Float32Array): FlatReader => ({
      length: f.length,
      read: async (from, count) => {
        reads.push([name, from, written]);
        return f.slice(from, from + count);
      },
    });
    const inner = memoryStore();
    const counting: CheckpointStore = {
      ...inner,
      write: async (name, bytes: Bytes) => {
        const parts: Uint8Array[] = [];
        for await (const p of piecesOf(bytes)) {
          written += p.length;
          parts.push(p.slice());
        }
        await inner.write(name, parts);
      },
    };
    await saveCheckpoint(counting, { ...ck, params: reader('params', ck.params), m: reader('m', ck.m), v: reader('v', ck.v) });
    expectSame(await loadCheckpoint(inner), ck);
    const arrays = memoryStore();
    await saveCheckpoint(arrays, ck);
    for (const f of ['student.safetensors', 'optimizer.safetensors']) {
      // The same bytes but for the checkpoint id in the header's metadata.
      expect(inner.files.get(f)!.length).toBe(arrays.files.get(f)!.length);
    }
    // One read per tensor, then m and v whole, each only once the bytes before it were written.
    expect(reads.map(([n, from]) => `${n}@${from}`)).toEqual([...[...ck.paramShapes.values()].map((s) => `params@${s.offset}`), 'm@0', 'v@0']);
    for (let i = 1; i < reads.length; i++) expect(reads[i]![2]).toBeGreaterThan(reads[i - 1]![2]);
  });

  it('opens a folder checkpoint without reading its tensors, then reads a parameter or a range of a moment alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mohawk-ck-'));
    dirs.push(dir);
    const store = folderStore(join(dir, 'run'));
    const ck = sample(5);
    await saveCheckpoint(store, ck);
    const opened = (await openCheckpoint(store))!;
    expect(opened.size).toBe(ck.params.length);
    expect(opened.state).toEqual(ck.state);
    const slot = ck.paramShapes.get('layers.0.mixer.in_proj.weight')!;
    expect(await opened.readParam('layers.0.mixer.in_proj.weight')).toEqual(ck.params.subarray(slot.offset, slot.offset + slot.count));
    expect(await opened.readMoment('v', 3, 7)).toEqual(ck.v.subarray(3, 10));
    await expect(opened.readMoment('m', ck.params.length - 2, 3)).rejects.toThrow(/outside tensor "m"/);
    // A file cut short is refused when it is opened, before any tensor is read.
    writeFileSync(join(dir, 'run', 'optimizer.safetensors'), new Uint8Array(64));
    await expect(openCheckpoint(store)).rejects.toThrow(/optimizer.safetensors holds 64 bytes/);
  });

  it('removes state.json first and writes it last', async () => {
    const { store, log } = recording(memoryStore());
    await saveCheckpoint(store, sample(4));
    expect(log).toEqual(['remove state.json', 'write student.safetensors', 'write optimizer.safetensors', 'write state.json']);
  });

  it('a save cut short leaves no checkpoint, never the old state with new weights', async () => {
    const inner = memoryStore();
    await saveCheckpoint(inner, sample(5));
    for (const k of [1, 2, 3]) {
      const mem = memoryStore();
      for (const [n, b] of inner.files) await mem.write(n, b);
      const { store } = recording(mem, k);
      await expect(saveCheckpoint(store, sample(6))).rejects.toThrow(/disk full/);
      expect(await loadCheckpoint(mem)).toBeNull();
    }
  });

  it('a folder save that fails before it replaced a file (a full disk) keeps the last checkpoint whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mohawk-ck-'));
    dirs.push(dir);
    const real = folderStore(join(dir, 'run'));
    await saveCheckpoint(real, sample(8));
    // The new optimizer file fails midway, after the new student file was written under its temporary name.
    const full: CheckpointStore = {
      ...real,
      writeAll: (files) => real.writeAll!(files.map(([n, b]): [string, Bytes] => [n, n === 'optimizer.safetensors' ? [new Uint8Array(8), {} as unknown as Uint8Array] : b])),
    };
    await expect(saveCheckpoint(full, sample(9))).rejects.toThrow(StoreWriteError);
    expectSame(await loadCheckpoint(real), sample(8));
    expect(readdirSync(join(dir, 'run')).sort()).toEqual(['optimizer.safetensors', 'state.json', 'student.safetensors']);
    // A failure after a file was replaced cannot be undone: no checkpoint, never the old state with new weights.
    const torn: CheckpointStore = { ...real, writeAll: async () => Promise.reject(new StoreWriteError(new Error('rename failed'), false)) };
    await expect(saveCheckpoint(torn, sample(10))).rejects.toThrow(/rename failed/);
    expect(await loadCheckpoint(real)).toBeNull();
  });

  it('refuses a truncated file, a missing file, files of two saves and a bad state.json, saying which', async () => {
    const base = memoryStore();
    await saveCheckpoint(base, sample(7));
    const variant = async (edit: (f: Map<string, Uint8Array>) => void | Promise<void>) => {
      const s = memoryStore();
      for (const [n, b] of base.files) s.files.set(n, b.slice());
      await edit(s.files);
      return loadCheckpoint(s);
    };
    const st = base.files.get('student.safetensors')!;
    await expect(variant((f) => void f.set('student.safetensors', st.subarray(0, st.length - 100)))).rejects.toThrow(
      new RegExp(`student.safetensors holds ${st.length - 100} bytes, state.json says ${st.length}`),
    );
    await expect(variant((f) => void f.delete('optimizer.safetensors'))).rejects.toThrow(/optimizer.safetensors is missing although state.json names it/);
    const other = memoryStore();
    await saveCheckpoint(other, sample(7));
    await expect(variant((f) => void f.set('optimizer.safetensors', other.files.get('optimizer.safetensors')!))).rejects.toThrow(
      /optimizer.safetensors belongs to another save/,
    );
    await expect(variant((f) => void f.set('state.json', new TextEncoder().encode('{"format":'))) ).rejects.toThrow(/state.json is not valid JSON/);
    const editState = (fn: (j: any) => void) => (f: Map<string, Uint8Array>) => {
      const j = JSON.parse(new TextDecoder().decode(f.get('state.json')!));
      fn(j);
      f.set('state.json', new TextEncoder().encode(JSON.stringify(j)));
    };
    await expect(variant(editState((j) => (j.version = 99)))).rejects.toThrow(/version 99 is not 1/);
    await expect(variant(editState((j) => (j.layout[1].offset = 10)))).rejects.toThrow(/parameters embed and layers.0.mixer.D overlap/);
    await expect(variant(editState((j) => (j.layout[2].shape = [8, 5])))).rejects.toThrow(/layers.0.mixer.in_proj.weight is F32 \[5,8\], expected F32 \[8,5\]/);
    await expect(variant(editState((j) => j.layout.pop()))).rejects.toThrow(/student.safetensors holds final_norm.weight, which state.json's layout does not list/);
  });

  it('saveCheckpoint refuses inconsistent buffers and layouts', async () => {
    const ck = sample(8);
    await expect(saveCheckpoint(memoryStore(), { ...ck, m: ck.m.subarray(1) })).rejects.toThrow(/params hold \d+ floats but m/);
    const bad = new Map(ck.paramShapes);
    bad.set('extra', { offset: ck.params.length - 2, count: 4, shape: [4] });
    await expect(saveCheckpoint(memoryStore(), { ...ck, paramShapes: bad })).rejects.toThrow(/parameter extra .* runs past/);
  });

  it('teacher fingerprints are stable and tell teachers apart', async () => {
    const a = await teacherFingerprint(['{"model_type":"llama"}', new Uint8Array([1, 2, 3])]);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(await teacherFingerprint(['{"model_type":"llama"}', new Uint8Array([1, 2, 3])])).toBe(a);
    expect(await teacherFingerprint(['{"model_type":"llama"}', new Uint8Array([1, 2, 4])])).not.toBe(a);
    expect(await teacherFingerprint(['ab', 'c'])).not.toBe(await teacherFingerprint(['a', 'bc']));
  });
});

// Runs in the browser (page or worker) with the bundle's CK global: two saves, a load through a new
// store, appends, then clearing. `hide` wraps the OPFS root so file handles lack createWritable (as in Safari),
// which sends writes through a sync access handle on a temporary file.
const ROUND_TRIP = `
async function roundTrip(hide, dirName) {
  const root = async () => {
    const r = await navigator.storage.getDirectory();
    if (!hide) return r;
    const wrap = (d) => ({
      getDirectoryHandle: async (n, o) => wrap(await d.getDirectoryHandle(n, o)),
      getFileHandle: async (n, o) => {
        const f = await d.getFileHandle(n, o);
        return { kind: 'file', name: f.name, getFile: () => f.getFile(), createSyncAccessHandle: () => f.createSyncAccessHandle(), move: f.move ? (x) => f.move(x) : undefined };
      },
      removeEntry: (n) => d.removeEntry(n),
      entries: () => d.entries(),
    });
    return wrap(r);
  };
  const store = CK.opfsStore(['runs', dirName], root);
  const params = new Float32Array(200).map((_, i) => (i < 80 || (i >= 128 && i < 150) ? Math.sin(i) : 0));
  const m = new Float32Array(200).map((_, i) => i * 1e-3), v = new Float32Array(200).map((_, i) => i * 1e-6);
  const paramShapes = new Map([['embed', { offset: 0, count: 80, shape: [10, 8] }], ['head.weight', { offset: 128, count: 22, shape: [2, 11] }]]);
  const before = await CK.loadCheckpoint(store);
  await CK.saveCheckpoint(store, { state: { step: 9 }, params, m, v, paramShapes });
  await CK.saveCheckpoint(store, { state: { step: 10 }, params, m, v, paramShapes });
  const again = CK.opfsStore(['runs', dirName], root);
  const got = await CK.loadCheckpoint(again);
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  // Appends (a run's history) go after what the file holds, through whichever handle the context has.
  const enc = new TextEncoder();
  await again.append('history-0000.jsonl', enc.encode('{"a":1}\\n'));
  await again.append('history-0000.jsonl', enc.encode('{"b":2}\\n'));
  const history = new TextDecoder().decode(await again.read('history-0000.jsonl'));
  const sizes = [await again.size('history-0000.jsonl'), await again.size('nothing.json')];
  const files = await again.list();
  await CK.clearCheckpoint(again);
  return { before, step: got.state.step, same: same(got.params, params) && same(got.m, m) && same(got.v, v), history, sizes, files, after: await again.list() };
}`;

describe('opfsStore in headless Chromium', () => {
  it('round trips in the page, in a worker (createWritable) and in a worker through a sync access handle', async () => {
    const bundle = await build({ entryPoints: [fileURLToPath(new URL('../../src/mohawk/checkpoint.ts', import.meta.url))], bundle: true, format: 'iife', globalName: 'CK', write: false, logLevel: 'silent' });
    const files: Record<string, string> = {
      '/': '<!doctype html><script src="ck.js"></script><script src="check.js"></script>',
      '/ck.js': bundle.outputFiles[0]!.text,
      '/check.js': ROUND_TRIP,
      '/worker.js': "importScripts('ck.js', 'check.js'); onmessage = async (e) => { try { postMessage(await roundTrip(e.data.hide, e.data.dir)); } catch (err) { postMessage({ error: String(err && err.stack || err) }); } };",
    };
    const server = createServer((req, res) => {
      const body = files[req.url ?? ''];
      if (body === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': req.url === '/' ? 'text/html' : 'text/javascript' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      const want = { before: null, step: 10, same: true, history: '{"a":1}\n{"b":2}\n', sizes: [16, null], files: ['history-0000.jsonl', 'optimizer.safetensors', 'state.json', 'student.safetensors'], after: [] };
      expect(await page.evaluate(() => (globalThis as any).roundTrip(false, 'teacher-page'))).toEqual(want);
      const inWorker = (hide: boolean, dir: string) =>
        page.evaluate(([hide, dir]) => new Promise((res) => {
          const w = new Worker('worker.js');
          w.onmessage = (e) => res(e.data);
          w.postMessage({ hide, dir });
        }), [hide, dir] as const);
      expect(await inWorker(false, 'teacher-worker')).toEqual(want);
      expect(await inWorker(true, 'teacher-sync')).toEqual(want);
    } finally {
      await browser.close();
      server.close();
    }
  }, 120_000);
});
