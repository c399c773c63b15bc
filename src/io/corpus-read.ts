// A corpus of one or many files as a stream of document batches: each file read in slices by the
// reader its name calls for (text, JSONL, JSON, each maybe gzipped, or parquet), the bytes, documents
// and refusals counted as it goes. Nothing is kept but the slice in hand and the document it ends in.
import { CorpusError, CorpusTextDecoder } from './corpus';
import { fileSlices, gunzipSlices, type CorpusFile } from './corpus-bytes';
import { corpusFormat, DEFAULT_TEXT_COLUMN, type FileFormat } from './corpus-format';

export { DEFAULT_TEXT_COLUMN };
import { JsonArrayElements, JsonLines, recordDocument, type JsonRecord } from './corpus-json';
import { parquetDocuments } from './corpus-parquet';
import { SeparatorScan, TextDocumentSplitter } from './corpus-text';

export interface CorpusReadOptions {
  /** The JSON field or parquet column documents are read from (default "text"). */
  textColumn?: string;
  /** A JSON line that does not parse or holds no text: stop with its name and line (default) or skip it. */
  badLines?: 'stop' | 'skip';
  /** Stop after this many documents. */
  maxDocs?: number;
  /** How messages name the corpus as a whole (default: its one file's name, or "the corpus (a, b)"). */
  label?: string;
}

export interface CorpusProgress {
  bytesDone: number;
  bytesTotal: number;
  documents: number;
}

export interface SkippedLine {
  file: string;
  line: number;
  why: string;
}

/**
 * Text is decoded and split 64 KiB at a time, whatever the size of a read: strings this small live
 * and die in the young generation, where larger ones would go straight to the old one and pile up
 * as garbage until a full collection (seen as peak memory growing with the corpus).
 */
const TEXT_PIECE = 64 << 10;

function* pieces(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += TEXT_PIECE) yield bytes.subarray(at, at + TEXT_PIECE);
}

/** How many skipped lines a summary names one by one. */
const NAMED_SKIPS = 5;

/** A file's format by name; a name no reader claims is read as plain text (a path given on purpose). */
export function formatOf(name: string): FileFormat {
  return corpusFormat(name) ?? { format: 'text', gzip: false };
}

export class CorpusReader {
  documents = 0;
  bytesDone = 0;
  readonly bytesTotal: number;
  /** The first few lines skipped (badLines 'skip'); skippedLines counts them all. */
  readonly skipped: SkippedLine[] = [];
  skippedLines = 0;
  /** Files that gave no document. */
  readonly emptyFiles: string[] = [];
  readonly textColumn: string;
  private readonly maxDocs: number;

  constructor(
    readonly files: readonly CorpusFile[],
    private readonly opts: CorpusReadOptions = {},
    private readonly onProgress: (p: CorpusProgress) => void = () => undefined,
  ) {
    if (files.length === 0) throw new CorpusError('no corpus file was given');
    this.bytesTotal = files.reduce((a, f) => a + f.size, 0);
    this.textColumn = opts.textColumn ?? DEFAULT_TEXT_COLUMN;
    this.maxDocs = opts.maxDocs ?? Infinity;
  }

  /** Whether the documents were cut short by maxDocs. */
  get full(): boolean {
    return this.documents >= this.maxDocs;
  }

  private progress(): void {
    this.onProgress({ bytesDone: this.bytesDone, bytesTotal: this.bytesTotal, documents: this.documents });
  }

  /** Batches of documents, in file order; throws a CorpusError naming the file on bad input, and when no document is found at all. */
  async *batches(): AsyncGenerator<string[]> {
    for (const file of this.files) {
      if (this.full) break;
      const before = this.documents;
      for await (const docs of this.fileDocuments(file)) {
        const take = docs.length > this.maxDocs - this.documents ? docs.slice(0, this.maxDocs - this.documents) : docs;
        this.documents += take.length;
        this.progress();
        if (take.length) yield take;
        if (this.full) break;
      }
      if (this.documents === before) this.emptyFiles.push(file.name);
    }
    if (this.documents === 0) {
      const label = this.opts.label ?? (this.files.length === 1 ? this.files[0]!.name : `the corpus (${this.files.map((f) => f.name).join(', ')})`);
      const structured = this.files.some((f) => formatOf(f.name).format !== 'text');
      const column = structured ? `, or holds no text in "${this.textColumn}"` : '';
      const skipped = this.skippedLines ? `; ${this.skippedLines} bad line${this.skippedLines === 1 ? ' was' : 's were'} skipped` : '';
      throw new CorpusError(`${label} holds no documents (it is empty or only white space${column})${skipped}`, 'empty');
    }
  }

  private async *fileDocuments(file: CorpusFile): AsyncGenerator<string[]> {
    const fmt = formatOf(file.name);
    if (fmt.format === 'parquet') {
      const start = this.bytesDone;
      yield* parquetDocuments(file, this.textColumn, (fraction) => {
        this.bytesDone = start + Math.round(fraction * file.size);
      });
      this.bytesDone = start + file.size;
      return;
    }
    const bytes = (count: boolean) => {
      const raw = fileSlices(file, (n) => {
        if (count) this.bytesDone += n;
      });
      return fmt.gzip ? gunzipSlices(file.name, raw) : raw;
    };
    if (fmt.format === 'text') {
      // <|endoftext|> anywhere in the file decides how all of it splits (as splitDocuments decides),
      // so a first pass looks for it; it stops at the first one.
      const scan = new SeparatorScan();
      for await (const b of bytes(false)) if (scan.push(b)) break;
      const split = new TextDocumentSplitter(scan.found);
      const dec = new CorpusTextDecoder(file.name);
      for await (const b of bytes(true)) {
        const docs: string[] = [];
        for (const p of pieces(b)) for (const d of split.push(dec.decode(p))) docs.push(d);
        yield docs;
      }
      yield [...split.push(dec.decode(new Uint8Array(0), true)), ...split.end()];
      return;
    }
    const dec = new CorpusTextDecoder(file.name);
    let records: JsonLines | JsonArrayElements | null = null;
    for await (const b of bytes(true)) {
      const docs: string[] = [];
      for (const p of pieces(b)) {
        const text = dec.decode(p);
        if (!records) {
          const first = text.trimStart();
          if (!first) continue;
          records = fmt.format === 'json' && first[0] === '[' ? new JsonArrayElements(file.name) : new JsonLines();
        }
        for (const d of this.documentsOf(file.name, records.push(text))) docs.push(d);
      }
      yield docs;
    }
    const tail = dec.decode(new Uint8Array(0), true);
    if (records) yield this.documentsOf(file.name, [...records.push(tail), ...records.end()]);
  }

  /** Files with at least one record that held the text column: a file whose first record lacks it names its fields instead. */
  private readonly columnSeen = new Set<string>();

  private documentsOf(name: string, records: JsonRecord[]): string[] {
    const out: string[] = [];
    for (const r of records) {
      const got = recordDocument(r, this.textColumn);
      if ('doc' in got) {
        this.columnSeen.add(name);
        if (got.doc) out.push(got.doc);
        continue;
      }
      if (got.fields && !this.columnSeen.has(name)) {
        const has = got.fields.length ? `its string fields: ${got.fields.join(', ')} (choose one as the text column)` : 'it has no string field';
        throw new CorpusError(`${name}, line ${r.line}: no "${this.textColumn}" field; ${has}`, 'column', name, r.line, got.fields);
      }
      if (this.opts.badLines !== 'skip') {
        throw new CorpusError(`${name}, line ${r.line}: ${got.bad}; nothing was loaded (skip such lines, or mend the file)`, 'bad-line', name, r.line);
      }
      this.skippedLines++;
      if (this.skipped.length < NAMED_SKIPS) this.skipped.push({ file: name, line: r.line, why: got.bad });
    }
    return out;
  }

  /** The lines skipped, for a notice: "3 bad lines skipped (a.jsonl line 7: not valid JSON, …)". */
  skippedSummary(): string | null {
    if (this.skippedLines === 0) return null;
    const named = this.skipped.map((s) => `${s.file} line ${s.line}: ${s.why}`).join('; ');
    return `${this.skippedLines} bad line${this.skippedLines === 1 ? '' : 's'} skipped (${named}${this.skippedLines > this.skipped.length ? '; …' : ''})`;
  }
}

/** All documents of a corpus at once (evaluation, small corpora and tests). */
export async function readAllDocuments(files: readonly CorpusFile[], opts: CorpusReadOptions = {}): Promise<{ docs: string[]; reader: CorpusReader }> {
  const reader = new CorpusReader(files, opts);
  const docs: string[] = [];
  for await (const b of reader.batches()) for (const d of b) docs.push(d);
  return { docs, reader };
}
