// A corpus file's bytes as slices, so that no file is ever held whole: read from its ByteSource in
// fixed slices, and un-gzipped by the platform's DecompressionStream (the page's and Node's alike).
import { CorpusError } from './corpus';
import type { ByteSource } from './files';

/** 1 MiB: large enough that a read's cost is the bytes, small enough that the garbage reads leave stays small. */
export const SLICE_BYTES = 1 << 20;

/** A corpus file: its bytes, and what says whether it changed since it was listed. */
export interface CorpusFile {
  /** As messages name it (a path as given or found, or the path within a drop). */
  name: string;
  /** What the token store's key names it by, when not `name` (the command line: the absolute path). */
  key?: string;
  size: number;
  /** Last modification, ms since the epoch: with name and size, the file's identity. */
  modified: number;
  source: ByteSource;
  /** Throws a CorpusError ('changed') when the file is no longer as it was listed (Node: size and mtime). */
  checkUnchanged?(): Promise<void>;
}

export function changedError(name: string, how: string): CorpusError {
  return new CorpusError(`${name} changed while it was read (${how}); nothing was loaded: read it again once it is complete`, 'changed', name);
}

/**
 * The file's bytes in slices, `onBytes` told each slice's length as it is read. A read that fails
 * (the page: the file was modified or removed after it was dropped) or comes back short names the file.
 */
export async function* fileSlices(file: CorpusFile, onBytes: (n: number) => void, sliceBytes = SLICE_BYTES): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < file.size; at += sliceBytes) {
    const want = Math.min(sliceBytes, file.size - at);
    let bytes: Uint8Array;
    try {
      bytes = await file.source.read(at, want);
    } catch (e) {
      if (e instanceof CorpusError) throw e;
      throw changedError(file.name, `it could no longer be read: ${(e as Error).message}`);
    }
    if (bytes.length !== want) throw changedError(file.name, `it ended at ${at + bytes.length} bytes, not ${file.size}`);
    onBytes(bytes.length);
    yield bytes;
  }
  await file.checkUnchanged?.();
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** The un-gzipped bytes of `slices` (a .gz file's), refusing what is not gzip data by the file's name. */
export async function* gunzipSlices(name: string, slices: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = slices[Symbol.asyncIterator]();
  let first = true;
  const input = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const r = await it.next();
      if (r.done) return ctl.close();
      if (first && r.value.length >= 2 && (r.value[0] !== GZIP_MAGIC[0] || r.value[1] !== GZIP_MAGIC[1])) {
        return ctl.error(new CorpusError(`${name} is not gzip data (it does not start with the gzip signature 1f 8b): give the file without .gz, or gzip it`, 'refused', name));
      }
      first = false;
      ctl.enqueue(r.value);
    },
    async cancel() {
      await it.return?.();
    },
  });
  // A slice type both DOM and Node accept: DecompressionStream's writable side is typed for BufferSource.
  const reader = input.pipeThrough(new DecompressionStream('gzip') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>).getReader();
  let done = false;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        if (e instanceof CorpusError) throw e;
        throw new CorpusError(`${name} is not valid gzip data (${(e as Error).message})`, 'refused', name);
      }
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // A reader that stopped early (enough documents) lets the file go.
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
