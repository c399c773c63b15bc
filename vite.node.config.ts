// The command line (`npx mohawk`) as one ESM file for Node: the same engine the page runs, with the
// WGSL embedded by the kernels' own `?raw` imports, and nothing imported at run time but `webgpu`. The
// file is also what travels to the GPU machine for benchmarks (it needs no node_modules but `webgpu`).
import { defineConfig } from 'vite';

export default defineConfig({
  // The page's public/ (teacher, corpus) is not part of the command line's bundle.
  publicDir: false,
  build: {
    ssr: 'src/cli/entry.ts',
    outDir: 'dist-node',
    emptyOutDir: true,
    target: 'node20',
    sourcemap: false,
    minify: false,
    rollupOptions: { output: { entryFileNames: 'mohawk.mjs', codeSplitting: false } },
  },
  ssr: { noExternal: true, external: ['webgpu'] },
  logLevel: 'warn',
});
