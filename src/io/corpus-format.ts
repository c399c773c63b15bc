// Which reader a corpus file goes to, by its name: the names Hugging Face datasets ship under.

/** The JSON field or parquet column documents are read from unless another is chosen (Hugging Face datasets' usual). */
export const DEFAULT_TEXT_COLUMN = 'text';

export type CorpusFormat = 'text' | 'jsonl' | 'json' | 'parquet';

export interface FileFormat {
  format: CorpusFormat;
  /** gzip-compressed (a .gz suffix); parquet compresses inside instead. */
  gzip: boolean;
}

const BY_SUFFIX: [RegExp, CorpusFormat][] = [
  [/\.(txt|text|md)$/i, 'text'],
  [/\.(jsonl|ndjson)$/i, 'jsonl'],
  [/\.json$/i, 'json'],
  [/\.parquet$/i, 'parquet'],
];

/** What the page and a --data folder take, for messages and the file picker. */
export const CORPUS_KINDS = 'plain text (.txt, .md), JSONL (.jsonl), JSON (.json: an array or JSONL), each also gzipped (.gz), or Parquet (.parquet)';
export const CORPUS_ACCEPT = '.txt,.text,.md,.jsonl,.ndjson,.json,.gz,.parquet';

/**
 * The files of a folder that are its corpus: those a reader claims, less plain text beside JSON or
 * parquet shards (a dataset's README.md is no document). `ignored` lists the rest.
 */
export function folderCorpus<T>(items: readonly T[], name: (t: T) => string): { take: T[]; ignored: T[] } {
  const take = items.filter((t) => corpusFormat(name(t)));
  const ignored = items.filter((t) => !corpusFormat(name(t)));
  if (take.some((t) => corpusFormat(name(t))!.format !== 'text')) {
    ignored.push(...take.filter((t) => corpusFormat(name(t))!.format === 'text'));
    return { take: take.filter((t) => corpusFormat(name(t))!.format !== 'text'), ignored };
  }
  return { take, ignored };
}

/** The format a file name says, or null for a name no reader claims. */
export function corpusFormat(name: string): FileFormat | null {
  const gzip = /\.gz$/i.test(name);
  const base = gzip ? name.slice(0, -3) : name;
  for (const [re, format] of BY_SUFFIX) {
    if (!re.test(base)) continue;
    // Parquet pages are compressed inside the file: a gzipped parquet file is no format anyone ships.
    if (format === 'parquet' && gzip) return null;
    return { format, gzip };
  }
  return null;
}
