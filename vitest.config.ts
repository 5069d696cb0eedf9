import { defineConfig } from 'vitest/config';

/**
 * Three projects. `unit` needs no server and runs in seconds (npm run test:unit); `integration`
 * starts one real PostgreSQL for its files (test/helpers/global-setup.ts). The timing-sensitive
 * tests run alone afterwards (vitest.quiet.config.ts).
 */
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/cli/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
