import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    // GPU suites share one Dawn device per worker; lavapipe is a CPU, so keep parallelism low.
    pool: 'forks',
    maxWorkers: 2,
    // Tests budget their work, not the clock (a GPU suite on lavapipe on a shared 2-core machine can
    // be 10x slower than on a quiet one): these bounds only turn a hang into a failure.
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
