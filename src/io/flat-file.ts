// A flat store of f32 regions read and written by range: where a streamed run of stages 1–2 alone
// keeps the student's parameters and AdamW moments (12 bytes per held parameter, 32 GB for a 7B
// teacher), so that the host holds one piece of them at a time. In memory (tests, tiny models), in a
// scratch file on disk (Node), or in an OPFS file through a sync access handle (a dedicated worker).
// A file holds the regions one after another (params, m, v), f32 little-endian; it is deleted at close.

/** Floats read or written at once by the student's pieces (an export, a save, a restore): 64 MiB. */
export const FLAT_PIECE = 2 ** 24;

/** Calls `f` for each piece [at, at + n) of `count` floats, FLAT_PIECE at most, in order. */
export async function inPieces(count: number, f: (at: number, n: number) => Promise<void>): Promise<void> {
  for (let at = 0; at < count; at += FLAT_PIECE) await f(at, Math.min(FLAT_PIECE, count - at));
}

export type FlatRegion = 'params' | 'm' | 'v';
export const FLAT_REGIONS: readonly FlatRegion[] = ['params', 'm', 'v'];

export interface FlatStore {
  /** Floats in each region. */
  readonly length: number;
  /** Where the floats are, in words (messages). */
  readonly where: string;
  /** A copy of floats [from, from + count) of `region`. */
  read(region: FlatRegion, from: number, count: number): Promise<Float32Array>;
  write(region: FlatRegion, from: number, values: Float32Array): Promise<void>;
  /** Sets a whole region to 0, FLAT_PIECE floats at a time. */
  zero(region: FlatRegion): Promise<void>;
  /** Lets the floats go (a file is deleted); the store is not used after. */
  close(): Promise<void>;
}

/** Makes a store of three regions of `floats` each (zeros). */
export type FlatStoreFactory = (floats: number) => Promise<FlatStore>;

export class FlatRangeError extends Error {
  override name = 'FlatRangeError';
}

function regionIndex(region: FlatRegion): number {
  const k = FLAT_REGIONS.indexOf(region);
  if (k < 0) throw new FlatRangeError(`a flat store has no region ${JSON.stringify(region)} (params, m, v)`);
  return k;
}

function checkRange(where: string, length: number, region: FlatRegion, from: number, count: number): void {
  regionIndex(region);
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(count) || from < 0 || count < 0) throw new FlatRangeError(`${where}: floats ${from} + ${count} of ${region} are not a range`);
  if (from + count > length) throw new FlatRangeError(`${where}: floats ${from}..${from + count} of ${region} run past its ${length} floats`);
}

/**
 * A store over byte I/O at offsets (a file): ranges checked, regions laid out one after another,
 * floats as little-endian bytes (the platform's order, which every WebGPU host has).
 */
abstract class ByteFlatStore implements FlatStore {
  private closed = false;
  constructor(
    readonly length: number,
    readonly where: string,
  ) {
    if (new Uint8Array(new Float32Array([1]).buffer)[3] !== 0x3f) throw new Error('flat store: this host is big-endian; the scratch file is f32 little-endian');
  }
  protected abstract readAt(bytes: Uint8Array, at: number): Promise<void>;
  protected abstract writeAt(bytes: Uint8Array, at: number): Promise<void>;
  protected abstract dispose(): Promise<void>;

  private at(region: FlatRegion, from: number): number {
    return (regionIndex(region) * this.length + from) * 4;
  }
  private open(): void {
    if (this.closed) throw new Error(`${this.where}: the store is closed`);
  }

  async read(region: FlatRegion, from: number, count: number): Promise<Float32Array> {
    this.open();
    checkRange(this.where, this.length, region, from, count);
    const out = new Float32Array(count);
    if (count > 0) await this.readAt(new Uint8Array(out.buffer), this.at(region, from));
    return out;
  }

  async write(region: FlatRegion, from: number, values: Float32Array): Promise<void> {
    this.open();
    checkRange(this.where, this.length, region, from, values.length);
    if (values.length > 0) await this.writeAt(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), this.at(region, from));
  }

  async zero(region: FlatRegion): Promise<void> {
    const zeros = new Float32Array(Math.min(FLAT_PIECE, this.length));
    await inPieces(this.length, (at, n) => this.write(region, at, zeros.subarray(0, n)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dispose();
  }
}

class MemoryFlatStore implements FlatStore {
  readonly where = 'memory';
  private regions: Float32Array[] | null;
  constructor(readonly length: number) {
    this.regions = FLAT_REGIONS.map(() => new Float32Array(length));
  }
  private region(region: FlatRegion, from: number, count: number): Float32Array {
    if (!this.regions) throw new Error('memory flat store: the store is closed');
    checkRange(this.where, this.length, region, from, count);
    return this.regions[regionIndex(region)]!;
  }
  async read(region: FlatRegion, from: number, count: number): Promise<Float32Array> {
    return this.region(region, from, count).slice(from, from + count);
  }
  async write(region: FlatRegion, from: number, values: Float32Array): Promise<void> {
    this.region(region, from, values.length).set(values, from);
  }
  async zero(region: FlatRegion): Promise<void> {
    this.region(region, 0, 0).fill(0);
  }
  async close(): Promise<void> {
    this.regions = null;
  }
}

/** Three regions of `floats` in host memory (12 bytes per float of `floats`). */
export const memoryFlatStore: FlatStoreFactory = async (floats) => new MemoryFlatStore(floats);

// Kept in variables and imported with @vite-ignore so that the browser bundle never resolves them.
const NODE_FS = 'node:fs/promises';
const NODE_FS_SYNC = 'node:fs';
const NODE_OS = 'node:os';
const NODE_PATH = 'node:path';

/** The default scratch file's name: one per process and store, so runs sharing a folder do not meet. */
let scratchCount = 0;
const scratchName = () => `mohawk-scratch-${globalThis.process?.pid ?? 0}-${Date.now().toString(36)}-${scratchCount++}.f32`;

/**
 * A scratch file in `dir` (default os.tmpdir()), named `name` (default a name of its own), of three
 * regions of `floats`: made sparse (zeros), deleted at close and, should the process exit first, at its exit.
 */
export function nodeFlatFile(o: { dir?: string; name?: string } = {}): FlatStoreFactory {
  // A store is made while another is still open (the hybrid advisor re-lays a parked student out
  // into a new store, then closes the old): a second file of the same name would truncate the first.
  const inUse = new Set<string>();
  const freeName = (name: string) => {
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    let pick = name;
    for (let k = 2; inUse.has(pick); k++) pick = `${stem}-${k}${ext}`;
    return pick;
  };
  return async (floats) => {
    // Taken before anything is awaited, so that two stores made at once never share a file.
    const name = o.name ? freeName(o.name) : scratchName();
    inUse.add(name);
    const fs = (await import(/* @vite-ignore */ NODE_FS)) as typeof import('node:fs/promises');
    const fsSync = (await import(/* @vite-ignore */ NODE_FS_SYNC)) as typeof import('node:fs');
    const os = (await import(/* @vite-ignore */ NODE_OS)) as typeof import('node:os');
    const path = (await import(/* @vite-ignore */ NODE_PATH)) as typeof import('node:path');
    const dir = o.dir ?? os.tmpdir();
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, name);
    // 'w+' truncates a file of that name a crashed run left behind.
    const handle = await fs.open(file, 'w+');
    const atExit = () => {
      try {
        fsSync.rmSync(file, { force: true });
      } catch {
        // The process is ending: nothing is left to tell.
      }
    };
    try {
      await handle.truncate(3 * floats * 4);
    } catch (e) {
      await handle.close().catch(() => {});
      await fs.rm(file, { force: true }).catch(() => {});
      inUse.delete(name);
      throw new Error(`the scratch file ${file} for the student's ${3 * floats * 4} bytes could not be made: ${e instanceof Error ? e.message : String(e)}`);
    }
    process.on('exit', atExit);
    return new (class extends ByteFlatStore {
      protected async readAt(bytes: Uint8Array, at: number): Promise<void> {
        for (let got = 0; got < bytes.length; ) {
          const { bytesRead } = await handle.read(bytes, got, bytes.length - got, at + got);
          if (bytesRead === 0) throw new Error(`${file}: the scratch file ends at byte ${at + got}, before ${at + bytes.length}`);
          got += bytesRead;
        }
      }
      protected async writeAt(bytes: Uint8Array, at: number): Promise<void> {
        for (let put = 0; put < bytes.length; ) put += (await handle.write(bytes, put, bytes.length - put, at + put)).bytesWritten;
      }
      protected async dispose(): Promise<void> {
        process.off('exit', atExit);
        try {
          await handle.close();
        } finally {
          await fs.rm(file, { force: true });
          inUse.delete(name);
        }
      }
    })(floats, `scratch file ${file}`);
  };
}

// The parts of the OPFS a scratch file uses (not all in TypeScript's DOM library yet).
interface SyncHandle {
  read(into: Uint8Array, o: { at: number }): number;
  write(from: Uint8Array, o: { at: number }): number;
  truncate(size: number): void | Promise<void>;
  close(): void | Promise<void>;
}
interface ScratchDir {
  getDirectoryHandle(name: string, o?: { create?: boolean }): Promise<ScratchDir>;
  getFileHandle(name: string, o?: { create?: boolean }): Promise<{ createSyncAccessHandle?(): Promise<SyncHandle> }>;
  removeEntry(name: string): Promise<void>;
  entries(): AsyncIterableIterator<[string, unknown]>;
}

/** The OPFS folder of scratch files. */
export const OPFS_SCRATCH = 'mohawk-scratch';

/**
 * Deletes the scratch files a crashed tab left in the OPFS folder mohawk-scratch (a run's start); a
 * file another tab's run has open is locked and stays. Returns how many were deleted.
 */
export async function clearOpfsScratch(root: () => Promise<unknown>): Promise<number> {
  const dir = await ((await root()) as ScratchDir).getDirectoryHandle(OPFS_SCRATCH, { create: true });
  const names: string[] = [];
  for await (const [n] of dir.entries()) names.push(n);
  let gone = 0;
  for (const n of names) {
    await dir.removeEntry(n).then(
      () => gone++,
      () => {},
    );
  }
  return gone;
}

/**
 * Scratch files in the OPFS folder mohawk-scratch, through a sync access handle (dedicated workers
 * have it). Where the handle is missing (a page's main thread, an old browser), the store is kept in
 * memory and `onFallback` says why.
 */
export function opfsFlatFile(root: () => Promise<unknown>, onFallback: (reason: string) => void): FlatStoreFactory {
  return async (floats) => {
    const dir = await ((await root()) as ScratchDir).getDirectoryHandle(OPFS_SCRATCH, { create: true });
    const name = scratchName();
    const fh = await dir.getFileHandle(name, { create: true });
    if (typeof fh.createSyncAccessHandle !== 'function') {
      await dir.removeEntry(name).catch(() => {});
      onFallback(`this browser gives no sync access handle to OPFS files here, so the student's parameters and moments (${((3 * floats * 4) / 1e9).toFixed(2)} GB) are kept in memory`);
      return memoryFlatStore(floats);
    }
    const h = await fh.createSyncAccessHandle();
    try {
      await h.truncate(3 * floats * 4);
    } catch (e) {
      await h.close();
      await dir.removeEntry(name).catch(() => {});
      throw new Error(`the OPFS scratch file for the student's ${((3 * floats * 4) / 1e9).toFixed(2)} GB could not be made (${e instanceof Error ? e.message : String(e)}): free this site's storage`);
    }
    return new (class extends ByteFlatStore {
      protected async readAt(bytes: Uint8Array, at: number): Promise<void> {
        const got = h.read(bytes, { at });
        if (got !== bytes.length) throw new Error(`${this.where}: read ${got} of ${bytes.length} bytes at ${at}`);
      }
      protected async writeAt(bytes: Uint8Array, at: number): Promise<void> {
        const put = h.write(bytes, { at });
        if (put !== bytes.length) throw new Error(`${this.where}: wrote ${put} of ${bytes.length} bytes at ${at} (is this site's storage full?)`);
      }
      protected async dispose(): Promise<void> {
        try {
          await h.close();
        } finally {
          await dir.removeEntry(name);
        }
      }
    })(floats, `OPFS scratch file ${OPFS_SCRATCH}/${name}`);
  };
}
