import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
    // SwiftShader is CPU-bound, so files run one at a time, and all in one process sharing one Dawn
    // device (tests/helpers/gpu.ts): its compiled pipelines then serve every file after the first
    // that uses them, where a process per file compiled each anew (a stage's first step is ~10× its
    // next on SwiftShader; 41 s → 22 s for tests/mohawk/hybrid-run.test.ts after run.test.ts).
    pool: 'forks',
    fileParallelism: false,
    isolate: false,
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
