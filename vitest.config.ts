import { defineConfig } from 'vitest/config';

// Two projects: `fast` is the default `npm test` (no GPU needed, under 5 minutes on 2 cores);
// `slow` holds suites named *.slow.test.ts (large fuzz runs, full-size GPU runs) for `npm run test:slow`.
export default defineConfig({
  test: {
    env: { EGL_PLATFORM: 'surfaceless' },
    projects: [
      {
        extends: true,
        test: { name: 'fast', include: ['test/**/*.test.ts'], exclude: ['test/**/*.slow.test.ts'], testTimeout: 180_000, hookTimeout: 180_000 },
      },
      {
        extends: true,
        test: { name: 'slow', include: ['test/**/*.slow.test.ts'], testTimeout: 600_000 },
      },
    ],
  },
});
