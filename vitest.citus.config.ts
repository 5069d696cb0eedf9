import { defineConfig } from 'vitest/config';

/**
 * The Citus tests: their own project and their own cluster (a coordinator and 2 workers on
 * PostgreSQL 15, test/helpers/citus-setup.ts), so the rest of the suite never waits on them.
 * `npm run test:citus`; .ci/run runs them where apt and PostgreSQL 15 can build Citus.
 */
export default defineConfig({
  test: {
    name: 'citus',
    include: ['test/citus/**/*.test.ts'],
    globalSetup: ['test/helpers/citus-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
