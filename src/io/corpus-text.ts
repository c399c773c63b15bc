// Plain-text documents from text that arrives in pieces, exactly as splitDocuments splits the whole:
// on <|endoftext|> when the file holds one anywhere (which a first pass over the bytes finds), else on
// blank lines. What follows the last boundary seen is kept until more text or the end arrives.
import { cleanDocument, DOC_SEPARATOR } from './corpus';

const BLANK_LINE = /\n[ \t\f\v]*\n/g;
const SEPARATOR_BYTES = new TextEncoder().encode(DOC_SEPARATOR);

/** Whether a stream of bytes holds <|endoftext|> (it may straddle two slices). */
export class SeparatorScan {
  private tail = new Uint8Array(0);
  found = false;

  push(bytes: Uint8Array): boolean {
    if (this.found) return true;
    const joined = new Uint8Array(this.tail.length + bytes.length);
    joined.set(this.tail);
    joined.set(bytes, this.tail.length);
    const first = SEPARATOR_BYTES[0]!;
    for (let i = joined.indexOf(first); i >= 0 && i <= joined.length - SEPARATOR_BYTES.length; i = joined.indexOf(first, i + 1)) {
      let k = 1;
      while (k < SEPARATOR_BYTES.length && joined[i + k] === SEPARATOR_BYTES[k]) k++;
      if (k === SEPARATOR_BYTES.length) return (this.found = true);
    }
    this.tail = joined.slice(Math.max(0, joined.length - SEPARATOR_BYTES.length + 1));
    return false;
  }
}

export class TextDocumentSplitter {
  private rest = '';

  constructor(private readonly bySeparator: boolean) {}

  /** The documents completed by `text`. */
  push(text: string): string[] {
    let t = this.rest + text;
    // A \r at the end may be half of a \r\n: it waits for the next piece.
    let held = '';
    if (t.endsWith('\r')) {
      held = '\r';
      t = t.slice(0, -1);
    }
    t = t.replace(/\r\n?/g, '\n');
    let cut = 0;
    let parts: string[];
    if (this.bySeparator) {
      parts = t.split(DOC_SEPARATOR);
      const last = parts.pop()!;
      cut = t.length - last.length;
    } else {
      parts = [];
      BLANK_LINE.lastIndex = 0;
      let start = 0;
      for (let m = BLANK_LINE.exec(t); m; m = BLANK_LINE.exec(t)) {
        parts.push(t.slice(start, m.index));
        start = cut = m.index + m[0].length;
      }
    }
    this.rest = t.slice(cut) + held;
    return keep(parts);
  }

  /** The last document, once the text has ended. */
  end(): string[] {
    const last = this.rest;
    this.rest = '';
    return keep([last]);
  }
}

function keep(parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) {
    const d = cleanDocument(p);
    if (d) out.push(d);
  }
  return out;
}
