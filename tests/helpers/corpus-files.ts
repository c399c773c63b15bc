// Corpus files made in memory for the reader's tests, and the committed parquet fixtures.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CorpusFile } from '../../src/io/corpus-bytes';
import { bytesSource } from '../../src/io/files';
import { CORPUS_FILE } from './data';
import { DOC_SEPARATOR, splitDocuments } from '../../src/io/corpus';

export const PARQUET_DIR = fileURLToPath(new URL('../fixtures/corpus/', import.meta.url));

export function memFile(name: string, content: Uint8Array | string, modified = 0): CorpusFile {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
  return { name, size: bytes.length, modified, source: bytesSource(name, bytes) };
}

export function fixtureFile(name: string): CorpusFile {
  return memFile(name, new Uint8Array(readFileSync(PARQUET_DIR + name)));
}

/** The 20 stories the parquet fixtures hold (scripts/fixtures/make_corpus_parquet.py). */
export const STORIES = splitDocuments(readFileSync(CORPUS_FILE, 'utf8')).slice(0, 20);
export const STORIES_TXT = STORIES.join(`\n${DOC_SEPARATOR}\n`);
export const STORIES_JSONL = STORIES.map((t, i) => JSON.stringify({ id: i, text: t })).join('\n') + '\n';
