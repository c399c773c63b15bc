// JSON documents from text that arrives in pieces: JSONL (one value per line) or, for a .json file
// whose first character is '[', one array whose elements are cut out as they complete, so that a
// large file is never parsed whole. A value is a document when it is a string, or an object whose
// text column is one.
import { cleanDocument, CorpusError } from './corpus';

/** One JSON value of the file and the line it starts on (1-based). */
export interface JsonRecord {
  text: string;
  line: number;
}

/** JSONL: each non-blank line is one record. */
export class JsonLines {
  private rest = '';
  private line = 1;

  push(text: string): JsonRecord[] {
    const t = this.rest + text;
    const out: JsonRecord[] = [];
    let start = 0;
    for (let nl = t.indexOf('\n', start); nl >= 0; nl = t.indexOf('\n', start)) {
      const s = t.slice(start, nl);
      if (s.trim()) out.push({ text: s, line: this.line });
      this.line++;
      start = nl + 1;
    }
    this.rest = t.slice(start);
    return out;
  }

  end(): JsonRecord[] {
    const s = this.rest;
    this.rest = '';
    return s.trim() ? [{ text: s, line: this.line }] : [];
  }
}

/**
 * The elements of one top-level JSON array, each cut where it ends at depth 1 (a ',' or the closing
 * ']' outside any string). The scan keeps its place, so each character is looked at once.
 */
export class JsonArrayElements {
  private buf = '';
  /** Where the scan goes on in buf, and where the current element starts. */
  private at = 0;
  private start = -1;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private line = 1;
  private startLine = 1;
  private begun = false;
  private closed = false;

  constructor(private readonly name: string) {}

  push(text: string): JsonRecord[] {
    this.buf += text;
    const out: JsonRecord[] = [];
    const b = this.buf;
    let i = this.at;
    for (; i < b.length; i++) {
      const c = b.charCodeAt(i);
      if (c === 10) this.line++;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92) this.escaped = true;
        else if (c === 34) this.inString = false;
        continue;
      }
      if (c === 32 || c === 9 || c === 10 || c === 13) continue;
      if (this.closed) throw new CorpusError(`${this.name}, line ${this.line}: text after the end of the JSON array`, 'bad-line', this.name, this.line);
      if (!this.begun) {
        if (c !== 91) throw new CorpusError(`${this.name}: a .json corpus is one array or JSON lines`, 'refused', this.name);
        this.begun = true;
        this.depth = 1;
        continue;
      }
      if (this.depth === 1 && (c === 44 || c === 93)) {
        if (this.start >= 0) out.push({ text: b.slice(this.start, i), line: this.startLine });
        else if (c === 44) throw new CorpusError(`${this.name}, line ${this.line}: an empty element in the array`, 'bad-line', this.name, this.line);
        this.start = -1;
        if (c === 93) {
          this.closed = true;
          this.depth = 0;
        }
        continue;
      }
      if (this.start < 0) {
        this.start = i;
        this.startLine = this.line;
      }
      if (c === 34) this.inString = true;
      else if (c === 91 || c === 123) this.depth++;
      else if (c === 93 || c === 125) this.depth--;
    }
    // Keep only the element in progress: what came before it is done.
    const keepFrom = this.start >= 0 ? this.start : i;
    this.buf = b.slice(keepFrom);
    this.at = i - keepFrom;
    if (this.start >= 0) this.start = 0;
    return out;
  }

  end(): JsonRecord[] {
    if (!this.begun) return [];
    if (!this.closed) throw new CorpusError(`${this.name}: the JSON array is not closed (the file ends inside it)`, 'refused', this.name);
    return [];
  }
}

/** A record's document, or why it has none (`fields`: the object's string fields, when the column is missing). */
export type RecordResult = { doc: string } | { bad: string; fields?: string[] };

/** The document a record holds, or why it holds none. */
export function recordDocument(r: JsonRecord, column: string): RecordResult {
  let v: unknown;
  try {
    v = JSON.parse(r.text);
  } catch (e) {
    return { bad: `not valid JSON (${(e as Error).message})` };
  }
  if (typeof v === 'string') return { doc: cleanDocument(v) };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { bad: `a JSON ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}, not an object with a "${column}" field` };
  const t = (v as Record<string, unknown>)[column];
  if (typeof t === 'string') return { doc: cleanDocument(t) };
  // null is how datasets write a missing text: an empty document, dropped like one.
  if (t === null) return { doc: '' };
  const keys = Object.keys(v);
  const fields = keys.filter((k) => typeof (v as Record<string, unknown>)[k] === 'string');
  if (t !== undefined) return { bad: `"${column}" is not a string` };
  return { bad: `no "${column}" field (it has ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'none'})`, fields };
}
