// The page's drop logic for corpora: which dropped files it takes, in what order, and what it refuses.
import { describe, expect, it } from 'vitest';
import { checkCorpusFiles } from '../../src/ui/corpus-files';
import type { PickedFile } from '../../src/ui/teacher-files';

const pick = (path: string, content = 'x'): PickedFile => ({ path, file: new File([content], path.split('/').pop()!) });
const taken = (picked: PickedFile[]) => {
  const r = checkCorpusFiles(picked);
  if (!r.ok) throw new Error(r.message);
  return { names: r.files.map((f) => f.name), ignored: r.ignored };
};
const refused = (picked: PickedFile[]) => {
  const r = checkCorpusFiles(picked);
  if (r.ok) throw new Error(`took ${r.files.map((f) => f.name).join(', ')}`);
  return r.message;
};

describe('corpus drop', () => {
  it('takes every format, several at once, in path order', () => {
    const names = ['b.jsonl.gz', 'a.txt', 'c.parquet', 'd.json.gz', 'e.jsonl', 'f.json', 'g.md', 'h.txt.gz'];
    expect(taken(names.map((n) => pick(n))).names).toEqual([...names].sort());
  });

  it('takes a folder of shards, leaving out its README and other files', () => {
    const picked = ['ds/data/train-00001.parquet', 'ds/data/train-00000.parquet', 'ds/README.md', 'ds/.gitattributes', 'ds/dataset_info.yaml'].map((p) => pick(p));
    expect(taken(picked)).toEqual({ names: ['ds/data/train-00000.parquet', 'ds/data/train-00001.parquet'], ignored: ['ds/.gitattributes', 'ds/dataset_info.yaml', 'ds/README.md'] });
    // A folder of text alone is read as text.
    expect(taken([pick('books/b.txt'), pick('books/a.md')]).names).toEqual(['books/a.md', 'books/b.txt']);
  });

  it('refuses loose files of other kinds, empty files, and a drop with nothing to read', () => {
    expect(refused([pick('a.txt'), pick('model.safetensors')])).toMatch(/^a corpus is plain text .*; not model\.safetensors$/);
    expect(refused([pick('stories.parquet.gz')])).toMatch(/not stories\.parquet\.gz$/);
    expect(refused([pick('a.jsonl', '')])).toBe('a.jsonl is empty');
    expect(refused([pick('ds/config.yaml')])).toMatch(/^the drop holds no corpus file/);
    expect(refused([])).toBe('no corpus file was selected');
  });
});
