// Bytes to write as a file, given whole, in parts, or made piece by piece as they are written: a
// checkpoint or an exported student can be larger than the host should hold at once (a 1B-class
// student's optimizer moments are gigabytes), so their pieces are read from the GPU or from the
// teacher's files while the file is written, one at a time.

/** A file's bytes made on demand: `pieces()` yields them in order, `byteLength` in all. */
export interface LazyBytes {
  readonly byteLength: number;
  pieces(): AsyncIterable<Uint8Array>;
}

export type Bytes = Uint8Array | readonly Uint8Array[] | LazyBytes;

const isLazy = (b: Bytes): b is LazyBytes => typeof (b as LazyBytes).pieces === 'function';

/** The bytes in order, each piece made only when the one before it has been taken. */
export async function* piecesOf(b: Bytes): AsyncIterable<Uint8Array> {
  if (isLazy(b)) yield* b.pieces();
  else if (b instanceof Uint8Array) yield b;
  else yield* b;
}

export function bytesLength(b: Bytes): number {
  if (isLazy(b)) return b.byteLength;
  if (b instanceof Uint8Array) return b.length;
  return b.reduce((a, p) => a + p.length, 0);
}

/** One array from several (they must add up to less than a typed array can hold, 4 GiB). */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every piece in one array (for what must be whole: a small file, a test). */
export async function collectBytes(b: Bytes): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of piecesOf(b)) parts.push(p);
  return joinBytes(parts);
}
