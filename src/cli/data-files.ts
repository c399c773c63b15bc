// What `--data` names, as corpus files: one or more paths, each a file (read by its suffix; any other
// name is plain text, as it always was), a folder (its corpus files, walked, in path order) or a glob
// (`*`, `?` and `**`, quoted so the command sees it; unquoted, the shell's expansion arrives as paths).
import { readdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { FlagSpec, Flags } from './args';
import { CorpusError } from '../io/corpus';
import type { CorpusFile } from '../io/corpus-bytes';
import { CORPUS_KINDS, corpusFormat, folderCorpus } from '../io/corpus-format';
import { DEFAULT_TEXT_COLUMN, type CorpusReadOptions } from '../io/corpus-read';
import { nodeCorpusFile } from '../io/corpus-sources';

/** The corpus flags every command that reads --data shares. */
export const CORPUS_FLAGS = {
  'text-column': { type: 'string', help: `the JSON field or parquet column documents are read from (default "${DEFAULT_TEXT_COLUMN}")` },
  'skip-bad-lines': { type: 'boolean', help: 'skip JSON lines that do not parse or hold no text, instead of stopping at the first' },
} as const satisfies Record<string, FlagSpec>;

export const DATA_HELP = `one or more files, folders or quoted globs: ${CORPUS_KINDS}; plain text splits on <|endoftext|> (else blank lines)`;

export function corpusReadOptions(f: Flags): CorpusReadOptions {
  return { textColumn: (f['text-column'] as string | undefined) ?? DEFAULT_TEXT_COLUMN, badLines: f['skip-bad-lines'] ? 'skip' : 'stop' };
}

const GLOB = /[*?[]/;

function globRegExp(segment: string): RegExp {
  let re = '';
  for (const ch of segment) re += ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : /[\\^$.|+(){}[\]]/.test(ch) ? `\\${ch}` : ch;
  // As shells do, a wildcard does not match a leading dot.
  return new RegExp(`^(?!\\.)${re}$`);
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

/** Files under `dir`, in path order (hidden entries skipped). */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The paths a glob matches; `**` matches any depth of folders. */
async function expandGlob(pattern: string): Promise<string[]> {
  const abs = resolve(pattern);
  const parts = abs.split(sep);
  const firstGlob = parts.findIndex((p) => GLOB.test(p) || p === '**');
  let bases = [parts.slice(0, firstGlob).join(sep) || sep];
  for (let i = firstGlob; i < parts.length; i++) {
    const seg = parts[i]!;
    const last = i === parts.length - 1;
    const next: string[] = [];
    for (const b of bases) {
      if (seg === '**') {
        next.push(b);
        const sub = async (d: string): Promise<void> => {
          for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
            if (e.isDirectory() && !e.name.startsWith('.')) {
              next.push(join(d, e.name));
              await sub(join(d, e.name));
            }
          }
        };
        await sub(b);
        continue;
      }
      if (!GLOB.test(seg)) {
        next.push(join(b, seg));
        continue;
      }
      const re = globRegExp(seg);
      for (const e of await readdir(b, { withFileTypes: true }).catch(() => [])) {
        if (re.test(e.name) && (last ? e.isFile() : e.isDirectory())) next.push(join(b, e.name));
      }
    }
    bases = next;
  }
  const files: string[] = [];
  for (const p of new Set(bases)) if (await stat(p).then((s) => s.isFile(), () => false)) files.push(p);
  return files.sort();
}

/**
 * The corpus files `--data` names, in the order given (a folder's and a glob's in path order); a
 * file named twice is read once. Each names itself in messages by the path as given or found.
 */
export async function corpusFilesFromFlag(values: readonly string[], flag = '--data'): Promise<{ files: CorpusFile[]; name: string }> {
  const paths: string[] = [];
  for (const v of values) {
    if (GLOB.test(v)) {
      const hit = await expandGlob(v);
      if (hit.length === 0) throw new CorpusError(`${flag} ${v} matches no file`);
      // Named as the pattern was written: relative to here when it was relative.
      paths.push(...(isAbsolute(v) ? hit : hit.map((p) => relative(process.cwd(), p) || p)));
    } else if (await isDir(v)) {
      const hit = folderCorpus(await walk(v), (p) => basename(p)).take;
      if (hit.length === 0) throw new CorpusError(`${flag} ${v} is a folder without corpus files (${CORPUS_KINDS})`);
      paths.push(...hit);
    } else {
      const s = await stat(v).catch((e: NodeJS.ErrnoException) => {
        throw new CorpusError(`cannot read ${flag} ${v}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
      });
      if (!s.isFile()) throw new CorpusError(`cannot read ${flag} ${v}: not a file`);
      paths.push(v);
    }
  }
  const seen = new Set<string>();
  const files: CorpusFile[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    if (seen.has(abs)) continue;
    seen.add(abs);
    files.push({ ...(await nodeCorpusFile(abs, p)), key: abs });
  }
  // The corpus's name in records and messages: the file or folder given, as before several were taken.
  const name =
    values.length === 1 && !GLOB.test(values[0]!)
      ? basename(values[0]!.replace(/[\\/]+$/, ''))
      : files.length === 1
        ? basename(files[0]!.name)
        : `${basename(files[0]!.name)} and ${files.length - 1} more file${files.length === 2 ? '' : 's'}`;
  return { files, name };
}

/** One line on what was read: the files, and the text column when a structured file used it. */
export function corpusLine(name: string, files: readonly CorpusFile[], textColumn: string, documents: number, skipped: string | null): string {
  const formats = new Map<string, number>();
  for (const f of files) {
    const fmt = corpusFormat(f.name);
    const k = fmt ? `${fmt.format}${fmt.gzip ? '.gz' : ''}` : 'text';
    formats.set(k, (formats.get(k) ?? 0) + 1);
  }
  const structured = files.some((f) => (corpusFormat(f.name)?.format ?? 'text') !== 'text');
  const kinds = [...formats].map(([k, n]) => (files.length === 1 ? k : `${n} ${k}`)).join(', ');
  return `corpus ${name}: ${files.length === 1 ? kinds : `${files.length} files (${kinds})`}, ${documents.toLocaleString('en-US')} documents${structured ? `, text column "${textColumn}"` : ''}${skipped ? `; ${skipped}` : ''}`;
}
