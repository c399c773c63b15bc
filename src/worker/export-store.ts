// The student's export, written to disk piece by piece before the page gets it: a 1B-class student's
// model.safetensors is gigabytes as f32, more than a typed array holds (4 GiB) and more than a tab
// should. The files go to mohawk-checkpoints/exports/ in the OPFS (beside runs/, one export's worth,
// cleared when the next export starts) and the page gets disk-backed Files of them, which it
// downloads or streams into a folder without reading them into memory.
import { Zip, ZipPassThrough } from 'fflate';
import { bytesLength, piecesOf, type Bytes } from '../io/bytes';
import { isNotFound, opfsDirectory, type OpfsDir, type OpfsRoot } from '../mohawk/checkpoint';

export const EXPORTS_DIR = 'exports';

/** One exported file; `file` is backed by the OPFS where the browser has one. */
export interface ExportedBlob {
  name: string;
  file: Blob;
}

export interface ExportResult {
  files: ExportedBlob[];
  /** A .zip was asked for but would have reached 4 GiB, which a zip without ZIP64 cannot hold: the files come one by one. */
  zipTooLarge: boolean;
}

/** Largest size and offset a zip without ZIP64 records (its fields are 32-bit). */
export const ZIP32_MAX = 0xffff_ffff;

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/**
 * The bytes of a stored zip as fflate's streaming Zip writes it: per file a local header (30 + name),
 * the data, a data descriptor (16) and a central directory entry (46 + name); then the end record (22).
 */
export function storedZipLength(files: readonly { name: string; byteLength: number }[]): number {
  return files.reduce((a, f) => a + 30 + 16 + 46 + 2 * utf8Length(f.name) + f.byteLength, 22);
}

/** Whether the files fit one stored zip without ZIP64: every size and offset under 4 GiB. */
export function fitsZip(files: readonly { name: string; byteLength: number }[]): boolean {
  return files.every((f) => f.byteLength <= ZIP32_MAX) && storedZipLength(files) <= ZIP32_MAX;
}

interface Sink {
  write(piece: Uint8Array): Promise<void>;
  /** The file as written. */
  close(): Promise<Blob>;
  abort(): Promise<void>;
}
type OpenSink = (name: string) => Promise<Sink>;

/** FileSystemWritableFileStream refuses views of shared memory. */
const plain = (b: Uint8Array): Uint8Array<ArrayBuffer> => (b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b));

/** A file in `dir`, written through createWritable where the browser has it, else a sync access handle (workers). */
async function opfsSink(dir: OpfsDir, name: string): Promise<Sink> {
  const handle = await dir.getFileHandle(name, { create: true });
  const done = async () => handle.getFile();
  if (handle.createWritable) {
    const w = await handle.createWritable();
    return {
      write: (p) => w.write(plain(p)),
      close: async () => {
        await w.close();
        return done();
      },
      abort: async () => {
        await w.abort?.().catch(() => {});
      },
    };
  }
  if (!handle.createSyncAccessHandle) throw new Error('this browser can write OPFS files neither with createWritable nor with createSyncAccessHandle');
  const h = await handle.createSyncAccessHandle();
  h.truncate(0);
  let at = 0;
  return {
    write: async (p) => {
      for (let n = 0; n < p.length; ) n += h.write(p.subarray(n), { at: at + n });
      at += p.length;
    },
    close: async () => {
      h.flush();
      h.close();
      return done();
    },
    abort: async () => h.close(),
  };
}

/**
 * Without an OPFS, a Blob grown piece by piece: each piece goes to the browser's blob storage (which
 * may page it to disk) as it comes, so the worker still never holds the file whole.
 */
function blobSink(): Sink {
  let blob = new Blob([]);
  return {
    write: async (p) => {
      blob = new Blob([blob, plain(p)]);
    },
    close: async () => blob,
    abort: async () => {},
  };
}

async function writeFile(open: OpenSink, name: string, bytes: Bytes): Promise<ExportedBlob> {
  const sink = await open(name);
  try {
    for await (const p of piecesOf(bytes)) await sink.write(p);
  } catch (e) {
    await sink.abort();
    throw e;
  }
  return { name, file: await sink.close() };
}

/** A stored zip of the files, streamed: each piece is written before the next is made. */
async function writeZip(open: OpenSink, zipName: string, files: readonly { name: string; parts: Bytes }[]): Promise<ExportedBlob> {
  const sink = await open(zipName);
  const queue: Uint8Array[] = [];
  let failed: unknown = null;
  const zip = new Zip((err, chunk) => {
    if (err) failed = err;
    else queue.push(chunk);
  });
  // fflate's Zip calls back synchronously as entries are pushed; the chunks are written here, in order.
  const drain = async () => {
    while (queue.length) await sink.write(queue.shift()!);
    if (failed) throw failed;
  };
  try {
    for (const f of files) {
      const entry = new ZipPassThrough(f.name);
      zip.add(entry);
      for await (const p of piecesOf(f.parts)) {
        entry.push(p);
        await drain();
      }
      entry.push(new Uint8Array(0), true);
      await drain();
    }
    zip.end();
    await drain();
  } catch (e) {
    zip.terminate();
    await sink.abort();
    throw e;
  }
  return { name: zipName, file: await sink.close() };
}

/** mohawk-checkpoints/exports/, emptied: an export replaces the one before it. */
async function freshExportDir(root?: OpfsRoot): Promise<OpfsDir> {
  const base = await opfsDirectory([], root);
  await base.removeEntry(EXPORTS_DIR, { recursive: true }).catch((e) => {
    if (!isNotFound(e)) throw e;
  });
  return base.getDirectoryHandle(EXPORTS_DIR, { create: true });
}

export interface WriteExportOptions {
  /** 'zip': one stored .zip named `zipName` (unless it would reach 4 GiB); 'files': each as it is. */
  as: 'zip' | 'files';
  zipName: string;
  /** The OPFS root (navigator.storage.getDirectory() unless a test hands in its own); null: no OPFS, Blobs instead. */
  root?: OpfsRoot | null;
}

/** Writes the files (or their zip) to disk piece by piece and gives them back as Blobs of those files. */
export async function writeExport(files: readonly { name: string; parts: Bytes }[], o: WriteExportOptions): Promise<ExportResult> {
  let open: OpenSink = async () => blobSink();
  let clear = async () => {};
  const root = o.root;
  if (root !== null) {
    const dir = await freshExportDir(root);
    open = (name) => opfsSink(dir, name);
    // A failed export's pieces (gigabytes, perhaps) are not kept until the next one.
    clear = async () => {
      const base = await opfsDirectory([], root);
      await base.removeEntry(EXPORTS_DIR, { recursive: true }).catch(() => {});
    };
  }
  const zipTooLarge = o.as === 'zip' && !fitsZip(files.map((f) => ({ name: f.name, byteLength: bytesLength(f.parts) })));
  try {
    if (o.as === 'zip' && !zipTooLarge) return { files: [await writeZip(open, o.zipName, files)], zipTooLarge };
    const out: ExportedBlob[] = [];
    for (const f of files) out.push(await writeFile(open, f.name, f.parts));
    return { files: out, zipTooLarge };
  } catch (e) {
    await clear();
    throw e;
  }
}
