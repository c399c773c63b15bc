// What --data names: files by path, folders of shards, quoted globs, in a fixed order, each once.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { corpusFilesFromFlag } from '../../src/cli/data-files';
import { parseFlags } from '../../src/cli/args';

const dir = mkdtempSync(join(tmpdir(), 'mohawk-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
for (const p of ['ds/README.md', 'ds/data/train-1.parquet', 'ds/data/train-0.jsonl.gz', 'ds/data/.cache/x.jsonl', 'ds/notes.yaml', 'txt/b.txt', 'txt/a.md', 'corpus']) {
  mkdirSync(join(dir, p, '..'), { recursive: true });
  writeFileSync(join(dir, p), 'x');
}
const names = async (...v: string[]) => (await corpusFilesFromFlag(v)).files.map((f) => f.name.slice(dir.length + 1));

describe('--data', () => {
  it('takes a folder of shards (not its README), a folder of text, globs and any named file, each once', async () => {
    expect(await names(join(dir, 'ds'))).toEqual(['ds/data/train-0.jsonl.gz', 'ds/data/train-1.parquet']);
    expect(await names(join(dir, 'txt'))).toEqual(['txt/a.md', 'txt/b.txt']);
    expect(await names(join(dir, 'ds/**/*.parquet'), join(dir, 'corpus'), join(dir, 'ds/data/train-1.parquet'))).toEqual(['ds/data/train-1.parquet', 'corpus']);
    expect(await names(join(dir, '*/*.txt'))).toEqual(['txt/b.txt']);
    expect((await corpusFilesFromFlag([join(dir, 'ds')])).name).toBe('ds');
    expect((await corpusFilesFromFlag([join(dir, 'txt/*')])).name).toBe('a.md and 1 more file');
  });

  it('names what it cannot take', async () => {
    await expect(corpusFilesFromFlag([join(dir, 'nope.txt')])).rejects.toThrow(`cannot read --data ${join(dir, 'nope.txt')}: no such file`);
    await expect(corpusFilesFromFlag([join(dir, '*.parquet')])).rejects.toThrow(/matches no file/);
    mkdirSync(join(dir, 'empty'));
    await expect(corpusFilesFromFlag([join(dir, 'empty')])).rejects.toThrow(/is a folder without corpus files/);
  });

  it('takes several values after one flag, and the flag again', () => {
    const spec = { data: { type: 'list', help: '' }, json: { type: 'boolean', help: '' } } as const;
    expect(parseFlags(['--data', 'a', 'b', '--json', '--data=c'], spec, 't')).toEqual({ data: ['a', 'b', 'c'], json: true });
    expect(() => parseFlags(['--data', '--json'], spec, 't')).toThrow(/--data needs a value/);
  });
});
