import type { TestProject } from 'vitest/node';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TSDB_UP } from './timescale.js';

/** One real TimescaleDB server for the TimescaleDB tests, started by the shared tsdb-up.sh (which builds it once). */
export default async function setup(project: TestProject) {
  if (!TSDB_UP) throw new Error('the TimescaleDB tests need ../shared/timescaledb/tsdb-up.sh (or PGOPT_TSDB_UP): not found');
  const port = Number(process.env.PGOPT_TEST_TSDB_PORT ?? 57500);
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-tsdb-'));
  execFileSync(TSDB_UP, ['start', String(port), dir], { stdio: 'inherit' });
  project.provide('tsdbPort', port);
  return async () => {
    execFileSync(TSDB_UP!, ['destroy', dir], { stdio: 'inherit' });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    tsdbPort: number;
  }
}
