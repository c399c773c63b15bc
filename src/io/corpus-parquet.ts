// Parquet corpora through hyparquet (with hyparquet-compressors for the codecs datasets use): one
// string column, read a row group at a time, so that a shard is never decoded whole.
import { parquetMetadataAsync, parquetScan, type AsyncBuffer, type FileMetaData, type SchemaElement } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { cleanDocument, CorpusError } from './corpus';
import { changedError, type CorpusFile } from './corpus-bytes';

/** A top-level column as messages list it: its name and type. */
export interface ParquetColumn {
  name: string;
  type: string;
  isString: boolean;
}

function asyncBuffer(file: CorpusFile): AsyncBuffer {
  return {
    byteLength: file.size,
    async slice(start, end = file.size) {
      let b: Uint8Array;
      try {
        b = await file.source.read(start, end - start);
      } catch (e) {
        throw changedError(file.name, `it could no longer be read: ${(e as Error).message}`);
      }
      if (b.length !== end - start) throw changedError(file.name, `it ended before ${end} bytes`);
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer);
    },
  };
}

function describe(e: SchemaElement): { type: string; isString: boolean } {
  if (e.num_children) return { type: e.logical_type?.type ?? e.converted_type ?? 'group', isString: false };
  const isString = e.type === 'BYTE_ARRAY' && (e.converted_type === 'UTF8' || e.logical_type?.type === 'STRING');
  return { type: isString ? 'string' : (e.logical_type?.type ?? e.converted_type ?? e.type ?? '?').toLowerCase(), isString };
}

/** The top-level columns of a parquet file's schema (the first element is the root). */
export function parquetColumns(meta: FileMetaData): ParquetColumn[] {
  const out: ParquetColumn[] = [];
  const schema = meta.schema;
  // Walk the flattened schema tree, keeping depth-1 elements and skipping their children.
  const skip = (i: number): number => {
    let next = i + 1;
    for (let c = 0; c < (schema[i]!.num_children ?? 0); c++) next = skip(next);
    return next;
  };
  for (let i = 1; i < schema.length; i = skip(i)) out.push({ name: schema[i]!.name, ...describe(schema[i]!) });
  return out;
}

const list = (cols: ParquetColumn[]) => cols.map((c) => `${c.name} (${c.type})`).join(', ');

/** The column to read: `column` when it is a string column, else an error listing what the file has. */
export function pickColumn(name: string, cols: ParquetColumn[], column: string): string {
  const strings = cols.filter((c) => c.isString);
  if (strings.length === 0) throw new CorpusError(`${name} has no string column to read documents from (its columns: ${list(cols) || 'none'})`, 'refused', name);
  const c = cols.find((x) => x.name === column);
  const names = strings.map((s) => s.name);
  if (!c) throw new CorpusError(`${name} has no column "${column}"; its string columns: ${names.join(', ')} (choose one as the text column)`, 'column', name, undefined, names);
  if (!c.isString) throw new CorpusError(`${name}: column "${column}" holds ${c.type}, not text; its string columns: ${names.join(', ')}`, 'column', name, undefined, names);
  return column;
}

/**
 * The documents of `column`, one row group at a time; `onRows(fraction)` says how far through the
 * file's rows the reader is.
 */
export async function* parquetDocuments(file: CorpusFile, column: string, onRows: (fraction: number) => void): AsyncGenerator<string[]> {
  const buf = asyncBuffer(file);
  let meta: FileMetaData;
  try {
    meta = await parquetMetadataAsync(buf);
  } catch (e) {
    if (e instanceof CorpusError) throw e;
    throw new CorpusError(`${file.name} is not a parquet file (${(e as Error).message})`, 'refused', file.name);
  }
  pickColumn(file.name, parquetColumns(meta), column);
  const total = Number(meta.num_rows);
  const scan = await parquetScan({ file: buf, metadata: meta, columns: [column], compressors });
  let done = 0;
  for (const r of scan.ranges) {
    let values: ArrayLike<unknown>;
    try {
      values = await scan.readColumn({ column, rowStart: r.rowStart, rowEnd: r.rowEnd });
    } catch (e) {
      if (e instanceof CorpusError) throw e;
      throw new CorpusError(`${file.name}: rows ${r.rowStart}–${r.rowEnd - 1} could not be read (${(e as Error).message})`, 'refused', file.name);
    }
    const docs: string[] = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'string') continue;
      const d = cleanDocument(v);
      if (d) docs.push(d);
    }
    done += r.rowEnd - r.rowStart;
    onRows(total > 0 ? done / total : 1);
    yield docs;
  }
  await file.checkUnchanged?.();
}
