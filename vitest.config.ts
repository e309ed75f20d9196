import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Two projects: `fast` is the default `npm test` (no GPU needed; 4–6 minutes on 2 cores with a warm shader cache);
// `slow` holds suites named *.slow.test.ts (large fuzz runs, full-size GPU runs) for `npm run test:slow`.
//
// Workers: at least 2. Vitest's default (one less than the cores) is 1 on the 2-core machines, and llvmpipe
// compiles each kernel on one thread at its first dispatch, so a single worker leaves a core idle through a cold
// shader cache. On 2026-11-30, 2 cores, warm cache: 342 s of tests with 2 workers against 511 s with 1.
// Timeouts: 600 s. With an empty Mesa shader cache a GPU test compiles every kernel it runs; one test took 178 s
// that way on one worker (`fcnc infer` over a folder), against a 180 s limit.
export default defineConfig({
  test: {
    env: { EGL_PLATFORM: 'surfaceless' },
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.slow.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      {
        extends: true,
        test: { name: 'slow', include: ['test/**/*.slow.test.ts'], testTimeout: 600_000 },
      },
    ],
  },
});
