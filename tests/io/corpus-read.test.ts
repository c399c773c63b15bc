// The corpus reader: every format gives the same documents as the plain text, slice boundaries
// change nothing, and each kind of bad input is refused by name with nothing half-read.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CorpusError, DOC_SEPARATOR, splitDocuments } from '../../src/io/corpus';
import { CorpusReader, readAllDocuments } from '../../src/io/corpus-read';
import { fileSlices } from '../../src/io/corpus-bytes';
import { JsonArrayElements } from '../../src/io/corpus-json';
import { TextDocumentSplitter } from '../../src/io/corpus-text';
import { fixtureFile, memFile, STORIES, STORIES_JSONL, STORIES_TXT } from '../helpers/corpus-files';

const docsOf = async (...files: Parameters<typeof memFile>[]) => (await readAllDocuments(files.map((f) => memFile(...f)))).docs;
const refusal = async (p: Promise<unknown>): Promise<CorpusError> => {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(CorpusError);
  return e as CorpusError;
};

describe('formats give the same documents', () => {
  it('.txt, .jsonl, .jsonl.gz, .json (array), .json.gz (JSONL inside) and .parquet', async () => {
    expect(STORIES).toHaveLength(20);
    expect(await docsOf(['a.txt', STORIES_TXT])).toEqual(STORIES);
    expect(await docsOf(['a.jsonl', STORIES_JSONL])).toEqual(STORIES);
    expect(await docsOf(['a.jsonl.gz', gzipSync(STORIES_JSONL)])).toEqual(STORIES);
    expect(await docsOf(['a.json', JSON.stringify(STORIES.map((text) => ({ text })), null, 2)])).toEqual(STORIES);
    expect(await docsOf(['a.json', JSON.stringify(STORIES)])).toEqual(STORIES);
    expect(await docsOf(['a.json.gz', gzipSync(STORIES_JSONL)])).toEqual(STORIES);
    expect((await readAllDocuments([fixtureFile('stories.parquet')])).docs).toEqual(STORIES);
    expect((await readAllDocuments([fixtureFile('stories-zstd.parquet')], { textColumn: 'content' })).docs).toEqual(STORIES);
  });

  it('several files are read in order, and maxDocs stops early', async () => {
    const files = [memFile('b.jsonl', STORIES_JSONL), memFile('a.txt', STORIES_TXT)];
    expect((await readAllDocuments(files)).docs).toEqual([...STORIES, ...STORIES]);
    const r = await readAllDocuments(files, { maxDocs: 23 });
    expect(r.docs).toEqual([...STORIES, ...STORIES.slice(0, 3)]);
  });

  it('a text file splits as splitDocuments splits it, whatever the slices', async () => {
    const texts = [
      'para one\r\nline two\r\n\r\npara two\n \t \npara three\n\n\n\npara four\r',
      '  a b \n<|endoftext|>\n\nc\n\nd<|endoftext|> \n<|endoftext|>e',
    ];
    for (const t of texts) {
      for (const slice of [1, 2, 3, 5, 7, 64]) {
        const f = memFile('t.txt', t);
        // Slices as small as one byte: the splitter and the decoder carry what straddles them.
        const got: string[] = [];
        const split = new TextDocumentSplitter(t.includes(DOC_SEPARATOR));
        const dec = new TextDecoder();
        for await (const b of fileSlices(f, () => undefined, slice)) got.push(...split.push(dec.decode(b, { stream: true })));
        got.push(...split.end());
        expect(got, `slice ${slice}`).toEqual(splitDocuments(t));
      }
    }
  });

  it('a JSON array is cut into its elements across any slices', () => {
    const text = '[ {"text": "a, [b]"}, "c\\"]", {"text": "d", "x": [1, {"y": 2}]} ]';
    for (const n of [1, 2, 5, 100]) {
      const arr = new JsonArrayElements('x.json');
      const recs = [];
      for (let i = 0; i < text.length; i += n) recs.push(...arr.push(text.slice(i, i + n)));
      recs.push(...arr.end());
      expect(recs.map((r) => JSON.parse(r.text))).toEqual(JSON.parse(text));
    }
  });
});

describe('bad input is named and nothing is half-read', () => {
  it('binary data, even renamed .txt, and text that is not UTF-8', async () => {
    const bin = Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 1, 2]);
    expect((await refusal(docsOf(['model.txt', bin]))).message).toMatch(/^model\.txt is not a text file \(a NUL byte at offset 4/);
    expect((await refusal(docsOf(['ok.txt', 'fine'], ['later.jsonl.gz', gzipSync(bin)]))).message).toMatch(/^later\.jsonl\.gz is not a text file/);
    expect((await refusal(docsOf(['latin1.jsonl', Uint8Array.from([0x22, 0x63, 0x61, 0x66, 0xe9, 0x22])]))).message).toMatch(/^latin1\.jsonl is not UTF-8 text/);
    expect((await refusal(docsOf(['plain.jsonl.gz', STORIES_JSONL]))).message).toMatch(/^plain\.jsonl\.gz is not gzip data/);
    expect((await refusal(docsOf(['x.parquet', STORIES_TXT]))).message).toMatch(/^x\.parquet is not a parquet file/);
  });

  it('a parquet file without a string column lists its columns; a missing column lists the string ones', async () => {
    expect((await refusal(readAllDocuments([fixtureFile('numbers.parquet')]))).message).toBe(
      'numbers.parquet has no string column to read documents from (its columns: id (int64), score (double))',
    );
    const missing = await refusal(readAllDocuments([fixtureFile('stories-zstd.parquet')]));
    expect(missing.message).toMatch(/stories-zstd\.parquet has no column "text"; its string columns: content/);
    expect(missing.columns).toEqual(['content']);
    expect((await refusal(readAllDocuments([fixtureFile('stories.parquet')], { textColumn: 'id' }))).message).toMatch(/column "id" holds int64, not text/);
  });

  it('a JSON line that does not parse stops the read by file and line, or is skipped when asked', async () => {
    const lines = ['{"text": "one"}', '{"text": "two"', '', '{"body": "three"}', '"four"'].join('\n');
    const e = await refusal(docsOf(['a.jsonl', lines]));
    expect(e.kind).toBe('bad-line');
    expect([e.file, e.line]).toEqual(['a.jsonl', 2]);
    expect(e.message).toMatch(/^a\.jsonl, line 2: not valid JSON/);
    const r = await readAllDocuments([memFile('a.jsonl', lines)], { badLines: 'skip' });
    expect(r.docs).toEqual(['one', 'four']);
    expect(r.reader.skippedLines).toBe(2);
    expect(r.reader.skippedSummary()).toMatch(/^2 bad lines skipped \(a\.jsonl line 2: not valid JSON .*; a\.jsonl line 4: no "text" field \(it has "body"\)\)$/);
  });

  it('a JSON file whose first record lacks the text column names its string fields to choose from', async () => {
    const e = await refusal(docsOf(['c.jsonl', '{"id": 1, "content": "a", "url": "u"}\n']));
    expect([e.kind, e.columns]).toEqual(['column', ['content', 'url']]);
    expect(e.message).toBe('c.jsonl, line 1: no "text" field; its string fields: content, url (choose one as the text column)');
    expect((await readAllDocuments([memFile('c.jsonl', '{"id": 1, "content": "a", "url": "u"}\n')], { textColumn: 'content' })).docs).toEqual(['a']);
  });

  it('a corpus empty after filtering is refused', async () => {
    const e = await refusal(readAllDocuments([memFile('a.jsonl', '{"text": "  "}\nnot json\n'), memFile('b.txt', '\n\n \n')], { badLines: 'skip' }));
    expect(e.kind).toBe('empty');
    expect(e.message).toBe('the corpus (a.jsonl, b.txt) holds no documents (it is empty or only white space, or holds no text in "text"); 1 bad line was skipped');
  });

  it('a file that changes while it is read', async () => {
    const f = memFile('a.txt', STORIES_TXT);
    const grown = { ...f, checkUnchanged: async () => Promise.reject(new CorpusError('a.txt changed while it was read', 'changed', 'a.txt')) };
    expect((await refusal(readAllDocuments([grown]))).kind).toBe('changed');
    // The page: a File modified on disk after the drop fails its reads.
    const gone = { ...f, source: { ...f.source, read: async () => Promise.reject(new Error('NotReadableError')) } };
    const e = await refusal(readAllDocuments([gone]));
    expect(e.message).toMatch(/^a\.txt changed while it was read \(it could no longer be read: NotReadableError\); nothing was loaded/);
    const short = { ...f, source: { ...f.source, read: async (o: number, n: number) => f.source.read(o, n - 1) } };
    expect((await refusal(readAllDocuments([short]))).kind).toBe('changed');
  });
});
