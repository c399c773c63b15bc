// The page's own check of a dropped corpus before the engine reads it: what it takes and what is empty.

export type CorpusCheck = { ok: true; files: File[] } | { ok: false; message: string };

const TEXT = /\.(txt|text|md)$/i;
const JSONL = /\.(jsonl|ndjson|json)$/i;

/** Plain text (documents separated by blank lines) or JSONL (one {"text": …} per line). */
export function checkCorpusFiles(files: readonly File[]): CorpusCheck {
  if (files.length === 0) return { ok: false, message: 'no corpus file was selected' };
  const other = files.filter((f) => !TEXT.test(f.name) && !JSONL.test(f.name));
  if (other.length > 0) {
    return { ok: false, message: `a corpus is plain text (.txt) or JSONL (.jsonl); not ${other.map((f) => f.name).join(', ')}` };
  }
  const empty = files.filter((f) => f.size === 0);
  if (empty.length > 0) return { ok: false, message: `${empty.map((f) => f.name).join(', ')} ${empty.length === 1 ? 'is' : 'are'} empty` };
  return { ok: true, files: [...files] };
}
