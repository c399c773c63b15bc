// WGSL has no imports: a kernel that shares helpers (shaders/lib/*.wgsl) with others is handed to
// the device as one text, the snippets it needs followed by its own file. Module-scope declarations
// may come in any order in WGSL, so a snippet can use names (a binding, a constant) that the kernel
// file declares, and say so in its header.

/** The snippets and the kernel's own source joined into one module, in the order given. */
export function wgsl(...parts: string[]): string {
  parts.forEach((p, i) => {
    if (!p.trim()) throw new Error(`wgsl(): part ${i} is empty (a missing ?raw import?)`);
  });
  return parts.map((p) => p.trim()).join('\n\n') + '\n';
}

/**
 * The binding declarations of one entry point, numbered in the order the runtime binds an op's
 * buffers: reads, then writes, then the uniform block. Items are `name: type`.
 */
export function bindings(reads: string[], writes: string[], uniform?: string): string {
  const decls = [
    ...reads.map((r) => `var<storage, read> ${r};`),
    ...writes.map((w) => `var<storage, read_write> ${w};`),
    ...(uniform ? [`var<uniform> ${uniform};`] : []),
  ];
  return decls.map((d, i) => `@group(0) @binding(${i}) ${d}`).join('\n');
}

/** What a wrapper spreads into gpu.op: the shader's id and its module, composed by wgsl(). */
export function shader(id: string, ...parts: string[]): { shader: string; code: string } {
  return { shader: id, code: wgsl(...parts) };
}
