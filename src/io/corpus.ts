// Plain-text corpora as lists of documents, and the deterministic held-out split evaluation uses.

export const DOC_SEPARATOR = '<|endoftext|>';

/**
 * The text of a corpus file, refusing what is not text: a NUL byte (which no text encoding of
 * prose holds, and every weights or archive file does early on) or bytes that are not UTF-8.
 */
export function corpusFileText(name: string, bytes: Uint8Array): string {
  const nul = bytes.subarray(0, 1 << 20).indexOf(0);
  if (nul >= 0) throw new Error(`${name} is not a text file (a NUL byte at offset ${nul}: it looks like binary data, e.g. weights or an archive); give plain text or JSONL`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${name} is not UTF-8 text; give plain text or JSONL in UTF-8`);
  }
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
