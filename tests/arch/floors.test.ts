// The floors of src/ (src/DESIGN.md): io, gpu and util at the bottom, then kernels, models, mohawk,
// then worker, cli and bench, the page's ui on top. A module imports only from its own floor or
// below, and no modules import each other in a circle. (dependency-cruiser would do this, but it
// parses TypeScript through the compiler's JavaScript API, which TypeScript 7 no longer has.)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '../../src');

/** Each folder's floor. ref (the float64 references) may read kernel and model shapes; nothing in src imports it. */
const FLOOR: Record<string, number> = { util: 0, io: 0, gpu: 0, kernels: 1, models: 2, ref: 2.5, mohawk: 3, bench: 3, worker: 4, cli: 5, ui: 6, main: 6 };

/** Folders of one floor that must not import each other. */
const APART: [string, string][] = [
  ['io', 'gpu'],
  ['worker', 'cli'],
  ['mohawk', 'bench'],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, type-only and dynamic with a literal), resolved to files under src. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.[^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[1]!.replace(/\?.*$/, '');
    if (/\.(wgsl|css|json)$/.test(spec)) continue;
    const base = resolve(dirname(file), spec);
    const hit = [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((p) => FILES.has(p));
    if (hit) out.push(hit);
  }
  return out;
}

const FILES = new Set(sources(SRC));
const folder = (f: string) => {
  const r = relative(SRC, f).split('/');
  return r.length === 1 ? r[0]!.replace(/\.tsx?$/, '') : r[0]!;
};
const graph = new Map([...FILES].map((f) => [f, importsOf(f, readFileSync(f, 'utf8'))]));

describe('the floors of src/', () => {
  it('knows every folder', () => {
    const unknown = [...new Set([...FILES].map(folder))].filter((d) => !(d in FLOOR));
    expect(unknown, 'give each new folder a floor here and in src/DESIGN.md').toEqual([]);
  });

  it('has no import running up a floor, or across between folders kept apart', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      const a = folder(f);
      for (const d of deps) {
        const b = folder(d);
        const apart = APART.some(([x, y]) => (a === x && b === y) || (a === y && b === x));
        const intoRef = b === 'ref' && a !== 'ref';
        if (FLOOR[b]! > FLOOR[a]! || apart || intoRef) bad.push(`${relative(SRC, f)} -> ${relative(SRC, d)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no circles', () => {
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 'open') circles.push([...stack.slice(stack.indexOf(d)), d].map((x) => relative(SRC, x)).join(' -> '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) if (!state.has(f)) visit(f);
    expect(circles).toEqual([]);
  });

  it('reads the import forms the source uses (so that the checks above can fail)', () => {
    const f = join(SRC, 'mohawk/x.ts');
    const text = "import { a } from '../io/files';\nimport type { B } from '../models/teacher';\nexport { c } from './plan';\nconst m = await import('../ui/store');\nimport src from '../../shaders/norm.wgsl?raw';";
    expect(importsOf(f, text).map((p) => relative(SRC, p))).toEqual(['io/files.ts', 'models/teacher.ts', 'mohawk/plan.ts', 'ui/store.ts']);
  });
});
