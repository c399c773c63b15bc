// Files from a drop (folders walked through webkitGetAsEntry) or from a file input.
import type { PickedFile } from './teacher-files';

// A dropped home folder must not be walked whole: model folders are shallow and small.
const MAX_DEPTH = 3;
const MAX_FILES = 5000;

function readAll(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const out: FileSystemEntry[] = [];
  // readEntries returns at most ~100 entries per call; an empty batch marks the end.
  return new Promise((resolve, reject) => {
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) return resolve(out);
        out.push(...batch);
        if (out.length >= MAX_FILES) return resolve(out);
        next();
      }, reject);
    next();
  });
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, depth: number, out: PickedFile[]): Promise<void> {
  if (out.length >= MAX_FILES) return;
  const path = entry.fullPath.replace(/^\/+/, '') || entry.name;
  if (entry.isFile) {
    out.push({ file: await entryFile(entry as FileSystemFileEntry), path });
  } else if (entry.isDirectory && depth < MAX_DEPTH) {
    for (const child of await readAll(entry as FileSystemDirectoryEntry)) {
      // .git, .cache and the like hold no model files, only many small objects.
      if (child.name.startsWith('.')) continue;
      await walk(child, depth + 1, out);
    }
  }
}

/** Must be called inside the drop handler: the DataTransfer's items are emptied once it returns. */
export function filesFromDrop(dt: DataTransfer): Promise<PickedFile[]> {
  const entries: FileSystemEntry[] = [];
  const loose: File[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) loose.push(f);
    }
  }
  if (entries.length === 0 && loose.length === 0) loose.push(...Array.from(dt.files));
  return (async () => {
    const out: PickedFile[] = loose.map((file) => ({ file, path: file.name }));
    for (const e of entries) await walk(e, 0, out);
    return out;
  })();
}

export function filesFromInput(list: FileList | null): PickedFile[] {
  return Array.from(list ?? []).map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}
