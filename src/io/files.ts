// "A set of named files" over the three places teacher files come from: files dropped on the page
// (browser File objects), a directory on disk (Node), and files served next to the page (fetch).
// Loaders only ever ask for a file by its base name, so they run unchanged in all three.

/** Anything that can hand out byte ranges: a browser File, a Node file, an in-memory buffer. */
export interface ByteSource {
  name: string;
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export class FileSetError extends Error {
  override name = 'FileSetError';
}

export interface FileSet {
  /** Base names of the files in the set, e.g. 'config.json', 'model-00001-of-00002.safetensors'. */
  readonly names: readonly string[];
  has(name: string): boolean;
  source(name: string): Promise<ByteSource>;
}

export async function readText(files: FileSet, name: string): Promise<string> {
  const src = await files.source(name);
  const bytes = await src.read(0, src.size);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FileSetError(`${name}: not valid UTF-8 text`);
  }
}

export async function readJson(files: FileSet, name: string): Promise<unknown> {
  const text = await readText(files, name);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileSetError(`${name}: not valid JSON (${(e as Error).message})`);
  }
}

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new FileSetError(`${name}: read of ${length} bytes at ${offset} is outside the file (${size} bytes)`);
  }
}

export function bytesSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A browser File (or any Blob): each read is a File.slice, so only that range is loaded. */
export function blobSource(blob: Blob, name: string): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(name, blob.size, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

// Kept in a variable and imported with @vite-ignore so that the browser bundle never tries to
// resolve node:fs.
const NODE_FS = 'node:fs/promises';
type NodeFs = typeof import('node:fs/promises');
async function nodeFs(): Promise<NodeFs> {
  return (await import(/* @vite-ignore */ NODE_FS)) as NodeFs;
}

/** A file on disk (Node only). Each read opens the file, so no handle outlives a load. */
export async function nodeFileSource(path: string, name = baseName(path)): Promise<ByteSource> {
  const fs = await nodeFs();
  const size = (await fs.stat(path)).size;
  return {
    name,
    size,
    async read(offset, length) {
      checkRange(name, size, offset, length);
      const out = new Uint8Array(length);
      const handle = await fs.open(path, 'r');
      try {
        let got = 0;
        while (got < length) {
          const { bytesRead } = await handle.read(out, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === length ? out : out.subarray(0, got);
      } finally {
        await handle.close();
      }
    },
  };
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

function missing(name: string, names: readonly string[]): never {
  throw new FileSetError(`missing file ${name} (have: ${names.join(', ') || 'none'})`);
}

/** Files dropped on the page. Folders dropped whole give paths; only base names count. */
export function browserFileSet(files: readonly File[]): FileSet {
  const byName = new Map<string, File>();
  for (const f of files) {
    const name = baseName(f.name);
    if (byName.has(name)) throw new FileSetError(`two files named ${name}`);
    byName.set(name, f);
  }
  const names = [...byName.keys()].sort();
  return {
    names,
    has: (name) => byName.has(name),
    async source(name) {
      const f = byName.get(name);
      if (!f) missing(name, names);
      return blobSource(f!, name);
    },
  };
}

/** The regular files directly inside a directory (Node only). */
export async function nodeDirFileSet(dir: string): Promise<FileSet> {
  const fs = await nodeFs();
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isFile()).map((e) => e.name).sort();
  const set = new Set(names);
  const sep = dir.endsWith('/') || dir.endsWith('\\') ? '' : '/';
  return {
    names,
    has: (name) => set.has(name),
    async source(name) {
      // Names come from files such as a shard index, so anything not listed here (e.g. "../x") is refused.
      if (!set.has(name)) missing(name, names);
      return nodeFileSource(dir + sep + name, name);
    },
  };
}

/**
 * Files served under `baseUrl` (e.g. the page's public/teacher/stories260K/). Each file is fetched
 * whole on first use: static servers do not all honour Range requests.
 */
export function fetchFileSet(baseUrl: string, names: readonly string[], fetchFn: typeof fetch = fetch): FileSet {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  const cache = new Map<string, Promise<ByteSource>>();
  const list = [...names].sort();
  return {
    names: list,
    has: (name) => list.includes(name),
    source(name) {
      if (!list.includes(name)) return Promise.reject(new FileSetError(`missing file ${name} (have: ${list.join(', ')})`));
      let p = cache.get(name);
      if (!p) {
        p = (async () => {
          const res = await fetchFn(base + name);
          if (!res.ok) throw new FileSetError(`${base + name}: HTTP ${res.status}`);
          return bytesSource(name, new Uint8Array(await res.arrayBuffer()));
        })();
        // A failed fetch is not remembered, so a retry fetches again.
        p.catch(() => cache.delete(name));
        cache.set(name, p);
      }
      return p;
    },
  };
}

/** A set of in-memory files (tests, exports). */
export function memoryFileSet(files: Record<string, Uint8Array | string>): FileSet {
  const enc = new TextEncoder();
  const byName = new Map(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? enc.encode(v) : v]));
  const names = [...byName.keys()].sort();
  return {
    names,
    has: (name) => byName.has(name),
    async source(name) {
      const b = byName.get(name);
      if (!b) missing(name, names);
      return bytesSource(name, b!);
    },
  };
}
