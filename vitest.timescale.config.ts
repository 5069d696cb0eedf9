import { defineConfig } from 'vitest/config';

/**
 * The TimescaleDB tests: their own project and server (TimescaleDB 2.28.3 on PostgreSQL 15, built
 * once from the vendored source by ../shared/timescaledb/tsdb-up.sh; test/helpers/timescale-setup.ts).
 * `npm run test:timescale`; .ci/run runs them where PostgreSQL 15 is present.
 */
export default defineConfig({
  test: {
    name: 'timescale',
    include: ['test/timescale/**/*.test.ts'],
    globalSetup: ['test/helpers/timescale-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
