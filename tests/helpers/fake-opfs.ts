// An in-memory Origin Private File System with the handles' parts the stores use, for Node tests of
// the OPFS stores and the run library. `syncHandles: false` leaves file handles without
// createSyncAccessHandle (as on a page's main thread), so appends go through createWritable; an open
// sync access handle locks its file as Chromium does (a second one, or a writable, is refused).

type Node = FakeDir | FakeFile;

const notFound = (name: string) => new DOMException(`${name} was not found`, 'NotFoundError');
const typeMismatch = (name: string) => new DOMException(`${name} is of the other kind`, 'TypeMismatchError');
const locked = (name: string) => new DOMException(`${name} is locked by an open access handle`, 'NoModificationAllowedError');

class FakeFile {
  readonly kind = 'file' as const;
  bytes = new Uint8Array(0);
  locked = false;
  constructor(
    readonly name: string,
    private readonly o: { syncHandles: boolean },
  ) {}

  async getFile(): Promise<Blob> {
    return new Blob([this.bytes.slice()]);
  }

  async createWritable(opts: { keepExistingData?: boolean } = {}) {
    if (this.locked) throw locked(this.name);
    // Like Chromium: a swap copy that replaces the file when the stream closes.
    let swap = opts.keepExistingData ? this.bytes.slice() : new Uint8Array(0);
    let pos = 0;
    return {
      seek: async (p: number) => {
        pos = p;
      },
      write: async (data: Uint8Array) => {
        const end = pos + data.length;
        if (end > swap.length) {
          const grown = new Uint8Array(end);
          grown.set(swap);
          swap = grown;
        }
        swap.set(data, pos);
        pos = end;
      },
      close: async () => {
        this.bytes = swap;
      },
      abort: async () => {},
    };
  }

  get createSyncAccessHandle(): (() => Promise<unknown>) | undefined {
    if (!this.o.syncHandles) return undefined;
    return async () => {
      if (this.locked) throw locked(this.name);
      this.locked = true;
      const file = this;
      return {
        getSize: () => file.bytes.length,
        truncate: (n: number) => {
          // Like the real handle: a longer size adds zeros.
          const next = new Uint8Array(n);
          next.set(file.bytes.subarray(0, n));
          file.bytes = next;
        },
        read: (into: Uint8Array, o: { at?: number } = {}) => {
          const at = o.at ?? 0;
          const got = file.bytes.subarray(at, at + into.length);
          into.set(got);
          return got.length;
        },
        write: (data: Uint8Array, o: { at?: number } = {}) => {
          const at = o.at ?? 0;
          const end = at + data.length;
          if (end > file.bytes.length) {
            const grown = new Uint8Array(end);
            grown.set(file.bytes);
            file.bytes = grown;
          }
          file.bytes.set(data, at);
          return data.length;
        },
        flush: () => {},
        close: () => {
          file.locked = false;
        },
      };
    };
  }
}

class FakeDir {
  readonly kind = 'directory' as const;
  readonly children = new Map<string, Node>();
  constructor(
    readonly name: string,
    private readonly o: { syncHandles: boolean },
  ) {}

  async getDirectoryHandle(name: string, opts: { create?: boolean } = {}): Promise<FakeDir> {
    const c = this.children.get(name);
    if (c) {
      if (c.kind !== 'directory') throw typeMismatch(name);
      return c;
    }
    if (!opts.create) throw notFound(name);
    const d = new FakeDir(name, this.o);
    this.children.set(name, d);
    return d;
  }

  async getFileHandle(name: string, opts: { create?: boolean } = {}): Promise<FakeFile> {
    const c = this.children.get(name);
    if (c) {
      if (c.kind !== 'file') throw typeMismatch(name);
      return c;
    }
    if (!opts.create) throw notFound(name);
    const f = new FakeFile(name, this.o);
    this.children.set(name, f);
    return f;
  }

  async removeEntry(name: string, opts: { recursive?: boolean } = {}): Promise<void> {
    const c = this.children.get(name);
    if (!c) throw notFound(name);
    if (c.kind === 'file' && c.locked) throw locked(name);
    if (c.kind === 'directory' && c.children.size > 0 && !opts.recursive) throw new DOMException(`${name} is not empty`, 'InvalidModificationError');
    this.children.delete(name);
  }

  async *entries(): AsyncIterableIterator<[string, Node]> {
    for (const e of [...this.children]) yield e;
  }
}

/** A fresh fake OPFS: `root` is what opfsStore and opfsRunLibrary take; `dir` reaches into it. */
export function fakeOpfs(o: { syncHandles?: boolean } = {}) {
  const top = new FakeDir('', { syncHandles: o.syncHandles ?? true });
  return {
    root: async () => top,
    top,
    /** The folder at `path` (slash-separated), or undefined. */
    dir(path: string): FakeDir | undefined {
      let d: FakeDir | undefined = top;
      for (const p of path.split('/').filter(Boolean)) {
        const c: Node | undefined = d?.children.get(p);
        d = c?.kind === 'directory' ? c : undefined;
      }
      return d;
    },
  };
}
