// Saving the exported student: into a folder through the File System Access API where the browser
// has it, otherwise as ordinary downloads (one per file). The student's files come as disk-backed
// Files (the engine writes them to the OPFS), which both paths read from disk as they go: a Blob
// handed to a writable or to an object URL is streamed, never read into memory whole.

export interface ExportedFile {
  name: string;
  /** Small files made on the page come as bytes; the student's as Files of the OPFS. */
  data: Uint8Array | Blob;
  /** The file's media type (default: plain bytes). */
  type?: string;
}

interface DirectoryPicker {
  showDirectoryPicker(options?: { mode?: 'read' | 'readwrite'; id?: string }): Promise<FileSystemDirectoryHandle>;
}

export function canPickFolder(): boolean {
  return typeof (globalThis as unknown as Partial<DirectoryPicker>).showDirectoryPicker === 'function';
}

/** Asks the user for a folder; null when they cancel. Must run within the click's user activation. */
export async function pickFolder(): Promise<FileSystemDirectoryHandle | null> {
  try {
    return await (globalThis as unknown as DirectoryPicker).showDirectoryPicker({ mode: 'readwrite', id: 'mohawk-student' });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') return null;
    throw e;
  }
}

/** An ArrayBuffer-backed copy when needed: Blob and FileSystemWritableFileStream refuse shared memory. */
function plain(data: Uint8Array | Blob): Uint8Array<ArrayBuffer> | Blob {
  if (data instanceof Blob) return data;
  return data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : new Uint8Array(data);
}

export async function saveToFolder(dir: FileSystemDirectoryHandle, files: readonly ExportedFile[]): Promise<void> {
  for (const f of files) {
    const handle = await dir.getFileHandle(f.name, { create: true });
    const w = await handle.createWritable();
    try {
      await w.write(plain(f.data));
    } finally {
      await w.close();
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * One download per file. Browsers drop clicks that come too close together, so they are spaced; the
 * object URLs are revoked only after the browser has had time to start reading them.
 */
export async function downloadFiles(files: readonly ExportedFile[], spacingMs = 250): Promise<void> {
  const urls: string[] = [];
  for (const [i, f] of files.entries()) {
    if (i > 0) await sleep(spacingMs);
    const blob = f.data instanceof Blob && !f.type ? f.data : new Blob([plain(f.data)], { type: f.type ?? 'application/octet-stream' });
    const url = URL.createObjectURL(blob);
    urls.push(url);
    const a = document.createElement('a');
    a.href = url;
    a.download = f.name;
    a.style.display = 'none';
    document.body.append(a);
    a.click();
    a.remove();
  }
  setTimeout(() => urls.forEach((u) => URL.revokeObjectURL(u)), 60_000);
}
