// Plain-text corpora as lists of documents, and the deterministic held-out split evaluation uses.

export const DOC_SEPARATOR = '<|endoftext|>';

/**
 * Why a corpus was refused, for the page to act on: a JSON line that does not parse (`bad-line`: the
 * user may choose to skip such lines), a text column the file lacks (`column`: it names those it
 * has), a file that changed while read, an empty corpus, or anything else. The message names the file.
 */
export class CorpusError extends Error {
  override name = 'CorpusError';
  constructor(
    message: string,
    readonly kind: 'refused' | 'bad-line' | 'column' | 'changed' | 'empty' = 'refused',
    readonly file?: string,
    readonly line?: number,
    /** kind 'column': the string columns (or JSON fields) the file has, to choose from. */
    readonly columns?: string[],
  ) {
    super(message);
  }
}

const notText = (name: string, offset: number) =>
  new CorpusError(`${name} is not a text file (a NUL byte at offset ${offset}: it looks like binary data, e.g. weights or an archive); give plain text or JSONL`, 'refused', name);
const notUtf8 = (name: string) => new CorpusError(`${name} is not UTF-8 text; give plain text or JSONL in UTF-8`, 'refused', name);

/**
 * Decodes a corpus file slice by slice, refusing what is not text: a NUL byte (which no text
 * encoding of prose holds, and every weights or archive file does early on) or bytes that are not
 * UTF-8 (a sequence split between two slices is carried over, not refused).
 */
export class CorpusTextDecoder {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private offset = 0;

  constructor(readonly name: string) {}

  decode(bytes: Uint8Array, last = false): string {
    const nul = bytes.indexOf(0);
    if (nul >= 0) throw notText(this.name, this.offset + nul);
    this.offset += bytes.length;
    try {
      return this.decoder.decode(bytes, { stream: !last });
    } catch {
      throw notUtf8(this.name);
    }
  }
}

/** The text of a whole corpus file, refused as CorpusTextDecoder refuses it. */
export function corpusFileText(name: string, bytes: Uint8Array): string {
  return new CorpusTextDecoder(name).decode(bytes, true);
}

/** A document as every format gives it: line ends as \n, trimmed (an empty one is dropped). */
export function cleanDocument(text: string): string {
  return text.replace(/\r\n?/g, '\n').trim();
}

/**
 * Documents of a corpus: split on `<|endoftext|>` when the text has one, else on blank lines
 * (lines holding only whitespace count as blank). Each is trimmed; empty ones are dropped.
 */
export function splitDocuments(text: string): string[] {
  const t = text.replace(/\r\n?/g, '\n');
  const parts = t.includes(DOC_SEPARATOR) ? t.split(DOC_SEPARATOR) : t.split(/\n[ \t\f\v]*\n/);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/**
 * The last `fraction` of the documents (rounded, at least one when fraction > 0 and at least one
 * document is left for training) are held out; order is kept, so the split never changes.
 */
export function splitHeldOut<T>(docs: readonly T[], fraction: number): { train: T[]; heldOut: T[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`held-out fraction ${fraction} is not in [0, 1)`);
  const n = docs.length;
  let k = Math.round(n * fraction);
  if (fraction > 0 && n >= 2) k = Math.min(n - 1, Math.max(1, k));
  else if (n < 2) k = 0;
  return { train: docs.slice(0, n - k), heldOut: docs.slice(n - k) };
}

/** Tokenizes documents, each truncated to `maxTokens` (BOS, when added, included). */
export function encodeDocuments(
  tokenizer: { encode(text: string, opts?: { addBos?: boolean }): number[] },
  docs: readonly string[],
  opts: { addBos?: boolean; maxTokens?: number } = {},
): number[][] {
  const max = opts.maxTokens ?? Infinity;
  return docs.map((d) => tokenizer.encode(d, { addBos: opts.addBos }).slice(0, max));
}
