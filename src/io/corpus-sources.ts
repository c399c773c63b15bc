// Corpus files from where they come: a browser File (dropped or picked) or a file on disk (Node).
import { changedError, type CorpusFile } from './corpus-bytes';
import { blobSource, nodeFileSource } from './files';

/** A dropped or picked file. A File that changes on disk after the drop fails its reads (fileSlices names it). */
export function browserCorpusFile(file: File, name = file.name): CorpusFile {
  return { name, size: file.size, modified: file.lastModified, source: blobSource(file, name) };
}

const NODE_FS = 'node:fs/promises';

/** A file on disk; its size and mtime are checked again once it has been read. */
export async function nodeCorpusFile(path: string, name: string): Promise<CorpusFile> {
  const fs = (await import(/* @vite-ignore */ NODE_FS)) as typeof import('node:fs/promises');
  const st = await fs.stat(path);
  return {
    name,
    size: st.size,
    modified: st.mtimeMs,
    source: await nodeFileSource(path, name),
    async checkUnchanged() {
      const now = await fs.stat(path).catch(() => null);
      if (!now) throw changedError(name, 'it is gone');
      if (now.size !== st.size || now.mtimeMs !== st.mtimeMs) {
        throw changedError(name, now.size !== st.size ? `${st.size} bytes when listed, ${now.size} now` : 'its modification time moved');
      }
    },
  };
}
