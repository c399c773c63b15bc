// Checkpoints of a distillation run, so that a closed tab or a killed process resumes where it was.
// A checkpoint is three files in a CheckpointStore:
//   student.safetensors    the parameters by canonical name (a usable set of student weights alone)
//   optimizer.safetensors  AdamW's first and second moments, "m" and "v", flat as the parameter buffer
//   state.json             the run's state (stage, step, tokens, plan, elapsed, rng...), the flat
//                          layout of the parameters, each file's size and the checkpoint's id
// state.json is removed first and written last, and both safetensors files carry the id state.json
// names: a save cut short leaves either no state.json (no checkpoint) or files that do not match it
// (refused, saying which), never a mixture that passes for a complete checkpoint. Stores that can
// (writeAll: a folder, OPFS) write both safetensors files before replacing either, so that a save
// failing on a full disk puts the last state.json back and loses nothing.
import { blobSource, bytesSource, nodeFileSource, type ByteSource } from '../io/files';
import { bytesLength, collectBytes, joinBytes, piecesOf, type Bytes } from '../io/bytes';
import { SafetensorsFile, safetensorsLazy } from '../io/safetensors';
import { FLAT_PIECE } from '../io/flat-file';


export interface CheckpointStore {
  /** Parts, or pieces made on demand, are written one after another (a file larger than one typed array, or than the host should hold, can be written). */
  write(name: string, bytes: Bytes): Promise<void>;
  /** The file's bytes, or null when there is no such file. */
  read(name: string): Promise<Uint8Array | null>;
  /** The file for reads of ranges (a checkpoint restored piece by piece), or null when there is no such file. */
  source?(name: string): Promise<ByteSource | null>;
  /** Removes the file; nothing happens when there is none. */
  remove(name: string): Promise<void>;
  list(): Promise<string[]>;
  /** Bytes the store may still write (its disk's free space, or the browser's quota left), null when unknown. */
  free?(): Promise<number | null>;
  /**
   * Writes several files, replacing none until all are written: a failure before that (a full disk)
   * throws a StoreWriteError with `untouched`, every file as it was.
   */
  writeAll?(files: readonly (readonly [string, Bytes])[]): Promise<void>;
}

export class StoreWriteError extends Error {
  override name = 'StoreWriteError';
  constructor(
    override readonly cause: unknown,
    /** No file was replaced. */
    readonly untouched: boolean,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * A run's folder: its checkpoint, and beside it files that grow (the run's history) and a size on disk.
 * Every store below is one.
 */
export interface RunFiles extends CheckpointStore {
  /** Adds bytes at the end of the file, creating it; a crash mid-append can leave a torn tail, never lose what was there. */
  append(name: string, bytes: Uint8Array): Promise<void>;
  /** The file's size in bytes, or null when there is no such file. */
  size(name: string): Promise<number | null>;
}

export const STATE_FILE = 'state.json';
export const STUDENT_FILE = 'student.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
const FORMAT = 'mohawk-checkpoint';
const VERSION = 1;

export interface ParamSlot {
  offset: number;
  count: number;
  shape: number[];
}

/** Flat floats read a range at a time (the student on the GPU), so that a save holds one piece of them on the host. */
export interface FlatReader {
  readonly length: number;
  read(from: number, count: number): Promise<Float32Array>;
}


/** All of `f`'s floats in one array, read FLAT_PIECE at a time (tests, small students). */
export async function readFloats(f: Float32Array | FlatReader): Promise<Float32Array> {
  if (f instanceof Float32Array) return f.slice();
  const out = new Float32Array(f.length);
  for (let at = 0; at < f.length; at += FLAT_PIECE) out.set(await f.read(at, Math.min(FLAT_PIECE, f.length - at)), at);
  return out;
}

/** A checkpoint to save: its floats in arrays, or read piece by piece while the files are written. */
export type CheckpointToSave = Omit<Checkpoint, 'params' | 'm' | 'v'> & { params: Float32Array | FlatReader; m: Float32Array | FlatReader; v: Float32Array | FlatReader };

/** Floats [from, from + count) of `f` in pieces of at most FLAT_PIECE. */
function floatRange(f: Float32Array | FlatReader, from: number, count: number): () => AsyncIterable<Float32Array> {
  return async function* () {
    for (let at = 0; at < count; at += FLAT_PIECE) {
      const n = Math.min(FLAT_PIECE, count - at);
      yield f instanceof Float32Array ? f.subarray(from + at, from + at + n) : await f.read(from + at, n);
    }
  };
}

export interface Checkpoint {
  /** The run's own state; any JSON object. */
  state: Record<string, unknown>;
  /** The flat parameter buffer (alignment gaps 0). */
  params: Float32Array;
  /** AdamW moments, laid out like params. */
  m: Float32Array;
  v: Float32Array;
  /** Where each canonical parameter sits in the flat buffers (floats). */
  paramShapes: Map<string, ParamSlot>;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name === '.' || name === '..') throw new CheckpointError(`checkpoint file name ${JSON.stringify(name)} is not a plain file name`);
}

function checkLayout(size: number, slots: Map<string, ParamSlot>, fail: (m: string) => never): void {
  const spans: [number, number, string][] = [];
  for (const [name, s] of slots) {
    if (!Number.isSafeInteger(s.offset) || s.offset < 0 || !Number.isSafeInteger(s.count) || s.count < 0) fail(`parameter ${name}: offset ${s.offset}, count ${s.count} are not non-negative integers`);
    if (!Array.isArray(s.shape) || !s.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`parameter ${name}: shape ${JSON.stringify(s.shape)} is not a list of sizes`);
    if (s.shape.reduce((a, b) => a * b, 1) !== s.count) fail(`parameter ${name}: shape [${s.shape}] does not hold ${s.count} values`);
    if (s.offset + s.count > size) fail(`parameter ${name} (floats ${s.offset}..${s.offset + s.count}) runs past the ${size}-float buffer`);
    spans.push([s.offset, s.offset + s.count, name]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) fail(`parameters ${spans[i - 1]![2]} and ${spans[i]![2]} overlap`);
}

function newId(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * Writes a checkpoint: state.json removed, student and optimizer written, state.json written last. A
 * FlatReader's floats are read as the files are written, a piece at a time: its source must not change
 * until the promise settles.
 */
export async function saveCheckpoint(store: CheckpointStore, ck: CheckpointToSave): Promise<void> {
  const size = ck.params.length;
  const fail = (m: string): never => {
    throw new CheckpointError(`saveCheckpoint: ${m}`);
  };
  if (ck.m.length !== size || ck.v.length !== size) fail(`params hold ${size} floats but m ${ck.m.length} and v ${ck.v.length}`);
  checkLayout(size, ck.paramShapes, fail);
  if (typeof ck.state !== 'object' || ck.state === null || Array.isArray(ck.state)) fail('state is not a JSON object');
  const id = newId();
  const meta = { format: 'pt', producer: 'mohawk-studio', checkpoint: id };
  const student = safetensorsLazy(
    [...ck.paramShapes].map(([name, s]) => ({ name, shape: s.shape, data: floatRange(ck.params, s.offset, s.count) })),
    meta,
  );
  const optimizer = safetensorsLazy(
    [
      { name: 'm', shape: [size], data: floatRange(ck.m, 0, size) },
      { name: 'v', shape: [size], data: floatRange(ck.v, 0, size) },
    ],
    meta,
  );
  const state = {
    format: FORMAT,
    version: VERSION,
    id,
    savedAt: Date.now(),
    files: { [STUDENT_FILE]: bytesLength(student), [OPTIMIZER_FILE]: bytesLength(optimizer) },
    size,
    layout: [...ck.paramShapes].map(([name, s]) => ({ name, offset: s.offset, shape: s.shape })),
    state: ck.state,
  };
  const stateBytes = new TextEncoder().encode(JSON.stringify(state));
  // A save that fails before it replaced a file (a disk full at the new optimizer file) puts the last
  // checkpoint's state.json back: its files are still there, whole.
  const previous = store.writeAll ? await store.read(STATE_FILE) : null;
  await store.remove(STATE_FILE);
  if (store.writeAll) {
    try {
      await store.writeAll([
        [STUDENT_FILE, student],
        [OPTIMIZER_FILE, optimizer],
      ]);
    } catch (e) {
      if (previous && e instanceof StoreWriteError && e.untouched) await store.write(STATE_FILE, previous);
      throw e;
    }
  } else {
    await store.write(STUDENT_FILE, student);
    await store.write(OPTIMIZER_FILE, optimizer);
  }
  await store.write(STATE_FILE, stateBytes);
}

/**
 * A checkpoint checked and opened but not read: its tensors are read when asked, a range at a time
 * where the store gives ranged reads (source), so that restoring a large student never holds all of
 * it on the host.
 */
export interface OpenedCheckpoint {
  state: Record<string, unknown>;
  /** Floats in the flat buffers. */
  size: number;
  paramShapes: Map<string, ParamSlot>;
  readParam(name: string): Promise<Float32Array>;
  /** Values [from, from + count) of moment m or v. */
  readMoment(which: 'm' | 'v', from: number, count: number): Promise<Float32Array>;
}

/** The checkpoint in `store`, or null when it holds none (no state.json); throws saying what is wrong with a bad one. */
export async function loadCheckpoint(store: CheckpointStore): Promise<Checkpoint | null> {
  const ck = await openCheckpoint(store);
  if (!ck) return null;
  const params = new Float32Array(ck.size);
  for (const [name, slot] of ck.paramShapes) params.set(await ck.readParam(name), slot.offset);
  return { state: ck.state, params, m: await ck.readMoment('m', 0, ck.size), v: await ck.readMoment('v', 0, ck.size), paramShapes: ck.paramShapes };
}

/** As loadCheckpoint, every file checked (sizes, ids, layout, dtypes and shapes) but no tensor read yet. */
export async function openCheckpoint(store: CheckpointStore): Promise<OpenedCheckpoint | null> {
  const stateBytes = await store.read(STATE_FILE);
  if (!stateBytes) return null;
  const fail = (m: string): never => {
    throw new CheckpointError(`checkpoint: ${m}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(stateBytes));
  } catch (e) {
    fail(`${STATE_FILE} is not valid JSON (${(e as Error).message})`);
  }
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(json)) fail(`${STATE_FILE} is not a JSON object`);
  const s = json as Record<string, unknown>;
  if (s.format !== FORMAT) fail(`${STATE_FILE}: format ${JSON.stringify(s.format)} is not "${FORMAT}"`);
  if (s.version !== VERSION) fail(`${STATE_FILE}: version ${JSON.stringify(s.version)} is not ${VERSION} (written by another version of the studio)`);
  if (typeof s.id !== 'string' || !s.id) fail(`${STATE_FILE}: id is missing`);
  if (!Number.isSafeInteger(s.size) || (s.size as number) < 0) fail(`${STATE_FILE}: size ${JSON.stringify(s.size)} is not a float count`);
  if (!isObj(s.state)) fail(`${STATE_FILE}: state is missing or not an object`);
  if (!isObj(s.files)) fail(`${STATE_FILE}: files is missing`);
  if (!Array.isArray(s.layout)) fail(`${STATE_FILE}: layout is missing`);
  const size = s.size as number;
  const slots = new Map<string, ParamSlot>();
  for (const e of s.layout as unknown[]) {
    if (!isObj(e) || typeof e.name !== 'string' || !Array.isArray(e.shape)) fail(`${STATE_FILE}: layout entry ${JSON.stringify(e)} is not {name, offset, shape}`);
    const ent = e as { name: string; offset: number; shape: number[] };
    if (slots.has(ent.name)) fail(`${STATE_FILE}: parameter ${ent.name} is listed twice`);
    const count = ent.shape.reduce((a, b) => a * b, 1);
    slots.set(ent.name, { offset: ent.offset, count, shape: ent.shape });
  }
  checkLayout(size, slots, (m) => fail(`${STATE_FILE}: ${m}`));

  const open = async (file: string): Promise<SafetensorsFile> => {
    let src: ByteSource | null;
    if (store.source) src = await store.source(file);
    else {
      const bytes = await store.read(file);
      src = bytes && bytesSource(file, bytes);
    }
    if (!src) fail(`${file} is missing although ${STATE_FILE} names it (removed or renamed after the save)`);
    const want = (s.files as Record<string, unknown>)[file];
    if (src!.size !== want) fail(`${file} holds ${src!.size} bytes, ${STATE_FILE} says ${JSON.stringify(want)} (truncated or from another save)`);
    let st: SafetensorsFile;
    try {
      st = await SafetensorsFile.open(src!);
    } catch (e) {
      fail((e as Error).message);
    }
    if (st!.metadata.checkpoint !== s.id) fail(`${file} belongs to another save (id ${st!.metadata.checkpoint ?? 'none'}, ${STATE_FILE} says ${s.id})`);
    return st!;
  };
  const student = await open(STUDENT_FILE);
  const optimizer = await open(OPTIMIZER_FILE);

  for (const name of student.tensors.keys()) if (!slots.has(name)) fail(`${STUDENT_FILE} holds ${name}, which ${STATE_FILE}'s layout does not list`);
  for (const [name, slot] of slots) {
    const info = student.tensors.get(name);
    if (!info) fail(`${STUDENT_FILE} lacks parameter ${name}`);
    if (info!.dtype !== 'F32' || info!.shape.join() !== slot.shape.join()) fail(`${STUDENT_FILE}: ${name} is ${info!.dtype} [${info!.shape}], expected F32 [${slot.shape}]`);
  }
  for (const name of ['m', 'v']) {
    const info = optimizer.tensors.get(name);
    if (!info) fail(`${OPTIMIZER_FILE} lacks ${name}`);
    if (info!.dtype !== 'F32' || info!.shape.join() !== String(size)) fail(`${OPTIMIZER_FILE}: ${name} is ${info!.dtype} [${info!.shape}], expected F32 [${size}]`);
  }
  return {
    state: s.state as Record<string, unknown>,
    size,
    paramShapes: slots,
    readParam: (name) => student.readF32(name),
    readMoment: (which, from, count) => optimizer.readF32Range(which, from, count),
  };
}

/** When the checkpoint in `store` was saved and its run state, without reading the tensors; null without one. */
export async function peekCheckpoint(store: CheckpointStore): Promise<{ savedAt: number; state: Record<string, unknown> } | null> {
  const bytes = await store.read(STATE_FILE);
  if (!bytes) return null;
  try {
    const j = JSON.parse(new TextDecoder().decode(bytes));
    if (j?.format !== FORMAT || typeof j.state !== 'object' || j.state === null) return null;
    return { savedAt: Number(j.savedAt), state: j.state };
  } catch {
    return null;
  }
}

/** Removes every file of the checkpoint (state.json first, so nothing is taken for one meanwhile). */
export async function clearCheckpoint(store: CheckpointStore): Promise<void> {
  await store.remove(STATE_FILE);
  for (const f of await store.list()) await store.remove(f);
}

/** A short stable name for a teacher (its config.json and the header of its weights), for a checkpoint folder per teacher. */
export async function teacherFingerprint(parts: (string | Uint8Array)[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks = parts.map((p) => (typeof p === 'string' ? enc.encode(p) : p));
  const all = new Uint8Array(chunks.reduce((a, c) => a + c.length + 4, 0));
  let at = 0;
  for (const c of chunks) {
    // Length-prefixed, so ['ab', 'c'] and ['a', 'bc'] differ.
    new DataView(all.buffer).setUint32(at, c.length, true);
    all.set(c, at + 4);
    at += c.length + 4;
  }
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', all));
  return [...digest.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// ---- stores ----

export function memoryStore(): RunFiles & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    async write(name, bytes) {
      checkName(name);
      files.set(name, (await collectBytes(bytes)).slice());
    },
    async read(name) {
      const b = files.get(name);
      return b ? b.slice() : null;
    },
    async source(name) {
      const b = files.get(name);
      return b ? bytesSource(name, b.slice()) : null;
    },
    async remove(name) {
      files.delete(name);
    },
    async list() {
      return [...files.keys()].sort();
    },
    async append(name, bytes) {
      checkName(name);
      files.set(name, joinBytes([files.get(name) ?? new Uint8Array(0), bytes]).slice());
    },
    async size(name) {
      return files.get(name)?.length ?? null;
    },
  };
}

// Kept in a variable and imported with @vite-ignore so that the browser bundle never resolves node:fs.
const NODE_FS = 'node:fs/promises';
type NodeFs = typeof import('node:fs/promises');
const nodeFs = async (): Promise<NodeFs> => (await import(/* @vite-ignore */ NODE_FS)) as NodeFs;
const TMP = '.partial-';

/**
 * Files in a folder on disk (Node). Each write goes to a temporary name, is flushed, then renamed
 * over the file, so a crash never leaves a half-written file under the real name.
 */
export function folderStore(path: string): RunFiles {
  const at = (name: string) => `${path.replace(/[\\/]+$/, '')}/${name}`;
  /** Writes and flushes the bytes under a temporary name beside `name`, pushed to `tmps` before it is written. */
  const writeTemporary = async (fs: NodeFs, name: string, bytes: Bytes, tmps: string[]): Promise<void> => {
    checkName(name);
    const tmp = at(`${TMP}${name}-${newId()}`);
    tmps.push(tmp);
    const h = await fs.open(tmp, 'w');
    try {
      for await (const part of piecesOf(bytes)) await h.write(part);
      await h.sync();
    } finally {
      await h.close();
    }
  };
  return {
    async write(name, bytes) {
      const fs = await nodeFs();
      await fs.mkdir(path, { recursive: true });
      const tmps: string[] = [];
      await writeTemporary(fs, name, bytes, tmps);
      await fs.rename(tmps[0]!, at(name));
    },
    async writeAll(files) {
      const fs = await nodeFs();
      await fs.mkdir(path, { recursive: true });
      const tmps: string[] = [];
      try {
        for (const [name, bytes] of files) await writeTemporary(fs, name, bytes, tmps);
      } catch (e) {
        for (const tmp of tmps) await fs.rm(tmp, { force: true }).catch(() => {});
        throw new StoreWriteError(e, true);
      }
      try {
        for (const [k, [name]] of files.entries()) await fs.rename(tmps[k]!, at(name));
      } catch (e) {
        throw new StoreWriteError(e, false);
      }
    },
    async read(name) {
      checkName(name);
      const fs = await nodeFs();
      try {
        return new Uint8Array(await fs.readFile(at(name)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
    async source(name) {
      checkName(name);
      try {
        return await nodeFileSource(at(name), name);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
    async remove(name) {
      checkName(name);
      const fs = await nodeFs();
      await fs.rm(at(name), { force: true });
    },
    async list() {
      const fs = await nodeFs();
      try {
        const entries = await fs.readdir(path, { withFileTypes: true });
        return entries.filter((e) => e.isFile() && !e.name.startsWith(TMP)).map((e) => e.name).sort();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw e;
      }
    },
    async append(name, bytes) {
      checkName(name);
      const fs = await nodeFs();
      await fs.mkdir(path, { recursive: true });
      await fs.appendFile(at(name), bytes);
    },
    async free() {
      const fs = await nodeFs();
      // The folder may not exist yet: its nearest existing ancestor is on the same disk.
      for (let p = path; ; ) {
        try {
          const st = await fs.statfs(p);
          return st.bavail * st.bsize;
        } catch (e) {
          const up = p.replace(/[\\/]+[^\\/]*[\\/]*$/, '');
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !up || up === p) return null;
          p = up;
        }
      }
    },
    async size(name) {
      checkName(name);
      const fs = await nodeFs();
      try {
        return (await fs.stat(at(name))).size;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
  };
}

// The parts of the File System Access API the stores use (not all in TypeScript's DOM library yet).
interface OpfsWritable {
  write(data: Uint8Array): Promise<void>;
  seek(position: number): Promise<void>;
  close(): Promise<void>;
  abort?(): Promise<void>;
}
interface OpfsSyncHandle {
  truncate(size: number): void;
  getSize(): number;
  write(data: Uint8Array, opts?: { at?: number }): number;
  flush(): void;
  close(): void;
}
interface OpfsFile {
  kind: 'file';
  name: string;
  getFile(): Promise<Blob>;
  createWritable?(opts?: { keepExistingData?: boolean }): Promise<OpfsWritable>;
  createSyncAccessHandle?(): Promise<OpfsSyncHandle>;
  move?(name: string): Promise<void>;
}
export interface OpfsDir {
  getDirectoryHandle(name: string, opts?: { create?: boolean }): Promise<OpfsDir>;
  getFileHandle(name: string, opts?: { create?: boolean }): Promise<OpfsFile>;
  removeEntry(name: string, opts?: { recursive?: boolean }): Promise<void>;
  entries(): AsyncIterableIterator<[string, { kind: string }]>;
}
/** Gives the OPFS root directory (navigator.storage.getDirectory() unless a test hands in its own). */
export type OpfsRoot = () => Promise<unknown>;

export const OPFS_ROOT = 'mohawk-checkpoints';

export const isNotFound = (e: unknown) => (e as DOMException)?.name === 'NotFoundError';

/** mohawk-checkpoints/<path...> in the OPFS; with create false, a missing folder rejects with NotFoundError. */
export async function opfsDirectory(path: readonly string[], root?: OpfsRoot, create = true): Promise<OpfsDir> {
  for (const p of path) checkName(p);
  const getRoot = root ?? (() => (globalThis.navigator as Navigator | undefined)?.storage?.getDirectory?.() ?? Promise.reject(new CheckpointError('this browser has no Origin Private File System (navigator.storage.getDirectory)')));
  let d = await ((await getRoot()) as OpfsDir).getDirectoryHandle(OPFS_ROOT, { create: true });
  for (const p of path) d = await d.getDirectoryHandle(p, { create });
  return d;
}

/**
 * Files in the Origin Private File System, under mohawk-checkpoints/<path...> (a run's folder, or a
 * teacher's in the layout before runs were kept apart). Writes go through createWritable where the
 * browser has it (the file changes only when the stream closes) and otherwise, in a worker, through a
 * sync access handle on a temporary file moved over the real one. Appends prefer a sync access handle,
 * which writes in place: createWritable copies the whole file to append to it.
 */
export function opfsStore(path: string | readonly string[], root?: OpfsRoot): RunFiles {
  const segments = typeof path === 'string' ? [path] : [...path];
  for (const p of segments) checkName(p);
  let dir: Promise<OpfsDir> | null = null;
  const folder = (): Promise<OpfsDir> => {
    dir ??= opfsDirectory(segments, root);
    dir.catch(() => (dir = null));
    return dir;
  };
  const fileOf = async (name: string): Promise<OpfsFile | null> => {
    checkName(name);
    try {
      return await (await folder()).getFileHandle(name);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  };
  return {
    async writeAll(files) {
      const d = await folder();
      const handles: OpfsFile[] = [];
      for (const [name] of files) {
        checkName(name);
        handles.push(await d.getFileHandle(name, { create: true }));
      }
      if (!handles.every((h) => h.createWritable)) {
        // One file at a time, each replaced whole (write's fallback): the first failure leaves the
        // files before it replaced.
        for (const [k, [name, bytes]] of files.entries()) {
          try {
            await this.write(name, bytes);
          } catch (e) {
            throw new StoreWriteError(e, k === 0);
          }
        }
        return;
      }
      // A writable's file changes only when it closes: every file is written before any closes.
      const ws: OpfsWritable[] = [];
      try {
        for (const [k, [, bytes]] of files.entries()) {
          const w = await handles[k]!.createWritable!();
          ws.push(w);
          for await (const part of piecesOf(bytes)) await w.write(part);
        }
      } catch (e) {
        for (const w of ws) await w.abort?.().catch(() => {});
        throw new StoreWriteError(e, true);
      }
      try {
        for (const w of ws) await w.close();
      } catch (e) {
        throw new StoreWriteError(e, false);
      }
    },
    async free() {
      // The site's quota left; browsers grant a share of the disk's free space, so this is the bound.
      const est = await globalThis.navigator?.storage?.estimate?.().catch(() => null);
      return est && typeof est.quota === 'number' ? Math.max(0, est.quota - (est.usage ?? 0)) : null;
    },
    async write(name, bytes) {
      checkName(name);
      // Each part in full from `at`, which a sync handle may take in several writes.
      const putAll = async (h: OpfsSyncHandle) => {
        let at = 0;
        for await (const part of piecesOf(bytes)) {
          let done = 0;
          while (done < part.length) done += h.write(part.subarray(done), { at: at + done });
          at += part.length;
        }
      };
      const d = await folder();
      const probe = await d.getFileHandle(name, { create: true });
      if (probe.createWritable) {
        const w = await probe.createWritable();
        try {
          for await (const part of piecesOf(bytes)) await w.write(part);
        } catch (e) {
          await w.abort?.();
          throw e;
        }
        await w.close();
        return;
      }
      const tmpName = `${TMP}${name}`;
      const tmp = await d.getFileHandle(tmpName, { create: true });
      if (!tmp.createSyncAccessHandle) throw new CheckpointError('this browser can write OPFS files neither with createWritable nor, outside a worker, with createSyncAccessHandle');
      const h = await tmp.createSyncAccessHandle();
      try {
        h.truncate(0);
        await putAll(h);
        h.flush();
      } finally {
        h.close();
      }
      if (tmp.move) {
        await d.removeEntry(name).catch((e) => {
          if (!isNotFound(e)) throw e;
        });
        await tmp.move(name);
      } else {
        // Without move(), copy over in place; state.json last still guards the checkpoint as a whole.
        const h2 = await probe.createSyncAccessHandle!();
        try {
          h2.truncate(0);
          await putAll(h2);
          h2.flush();
        } finally {
          h2.close();
        }
        await d.removeEntry(tmpName);
      }
    },
    async read(name) {
      const f = await fileOf(name);
      if (!f) return null;
      try {
        return new Uint8Array(await (await f.getFile()).arrayBuffer());
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async source(name) {
      // A File is the file as it was opened: one changed since fails to read rather than mixing two saves.
      const f = await fileOf(name);
      if (!f) return null;
      try {
        return blobSource(await f.getFile(), name);
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async remove(name) {
      checkName(name);
      const d = await folder();
      await d.removeEntry(name).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
    },
    async list() {
      const d = await folder();
      const names: string[] = [];
      for await (const [name, h] of d.entries()) if (h.kind === 'file' && !name.startsWith(TMP)) names.push(name);
      return names.sort();
    },
    async append(name, bytes) {
      checkName(name);
      const f = await (await folder()).getFileHandle(name, { create: true });
      if (f.createSyncAccessHandle) {
        const h = await f.createSyncAccessHandle();
        try {
          let done = 0;
          const at = h.getSize();
          while (done < bytes.length) done += h.write(bytes.subarray(done), { at: at + done });
          h.flush();
        } finally {
          h.close();
        }
        return;
      }
      if (!f.createWritable) throw new CheckpointError('this browser can append to OPFS files neither with a sync access handle nor with createWritable');
      const size = (await f.getFile()).size;
      const w = await f.createWritable({ keepExistingData: true });
      try {
        await w.seek(size);
        await w.write(bytes);
      } catch (e) {
        await w.abort?.();
        throw e;
      }
      await w.close();
    },
    async size(name) {
      const f = await fileOf(name);
      if (!f) return null;
      try {
        return (await f.getFile()).size;
      } catch (e) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
  };
}
