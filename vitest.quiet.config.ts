import { defineConfig } from 'vitest/config';

/**
 * Timing-sensitive tests (a "same state → unchanged" verdict) run alone, one file at a time,
 * after the main suite: another test file's CPU load would be real noise, not pgopt's.
 */
export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    include: ['test/quiet/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
