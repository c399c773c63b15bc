// Every WGSL source in shaders/ is embedded at build time through Vite's glob import, so the
// browser bundle, Vitest and the bundled Node command line all read the very same text.
const sources = import.meta.glob('../../shaders/*.wgsl', {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

const byName = new Map<string, string>();
for (const [path, text] of Object.entries(sources)) {
  byName.set(path.slice(path.lastIndexOf('/') + 1, -'.wgsl'.length), text);
}

/** The WGSL text of shaders/<name>.wgsl. */
export function shaderSource(name: string): string {
  const text = byName.get(name);
  if (text === undefined) {
    throw new Error(`no shader named "${name}" in shaders/ (have: ${[...byName.keys()].sort().join(', ')})`);
  }
  return text;
}
