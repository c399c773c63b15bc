// The page's own check of a dropped or picked corpus before the engine reads it: which files it
// takes (several, or a folder of shards), in what order, and what it refuses outright.
import { CORPUS_KINDS, corpusFormat, folderCorpus } from '../io/corpus-format';
import type { PickedFile } from './teacher-files';

export interface CorpusPick {
  file: File;
  /** The path within the drop: how messages and the token store's key name the file. */
  name: string;
}

export type CorpusCheck = { ok: true; files: CorpusPick[]; ignored: string[] } | { ok: false; message: string };

/**
 * Files picked loose must each be a corpus file; from folders, what is not one is ignored, and so is
 * plain text beside JSON or parquet shards (a dataset's README.md is no document). Files are read in
 * path order, so the same drop always gives the same documents.
 */
export function checkCorpusFiles(picked: readonly PickedFile[]): CorpusCheck {
  if (picked.length === 0) return { ok: false, message: 'no corpus file was selected' };
  const inFolder = (p: PickedFile) => p.path.includes('/');
  const unknown = picked.filter((p) => !corpusFormat(p.file.name));
  const looseUnknown = unknown.filter((p) => !inFolder(p));
  if (looseUnknown.length > 0) {
    return { ok: false, message: `a corpus is ${CORPUS_KINDS}; not ${looseUnknown.map((p) => p.path).join(', ')}` };
  }
  // Loose files are taken as picked; from folders, as folderCorpus takes a folder's.
  const folder = folderCorpus(picked.filter(inFolder), (p) => p.file.name);
  const take = [...picked.filter((p) => !inFolder(p)), ...folder.take];
  const ignored = folder.ignored.map((p) => p.path);
  if (take.length === 0) return { ok: false, message: `the drop holds no corpus file (${CORPUS_KINDS})` };
  const empty = take.filter((p) => p.file.size === 0);
  if (empty.length > 0) return { ok: false, message: `${empty.map((p) => p.path).join(', ')} ${empty.length === 1 ? 'is' : 'are'} empty` };
  const files = take.map((p) => ({ file: p.file, name: p.path })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ok: true, files, ignored };
}
