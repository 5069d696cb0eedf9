import type { TestProject } from 'vitest/node';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CITUS_UP } from './citus.js';

/**
 * One real Citus cluster (coordinator + 2 workers, PostgreSQL 15) for the Citus tests, started
 * by the shared citus-up.sh (which builds Citus once, from the vendored source, if needed).
 */
export default async function setup(project: TestProject) {
  if (!CITUS_UP) throw new Error('the Citus tests need ../shared/citus/citus-up.sh (or PGOPT_CITUS_UP): not found');
  const base = Number(process.env.PGOPT_TEST_CITUS_PORT ?? 57400);
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-citus-'));
  execFileSync(CITUS_UP, ['start', String(base), dir], { stdio: 'inherit' });
  project.provide('citusBasePort', base);
  return async () => {
    execFileSync(CITUS_UP!, ['destroy', dir], { stdio: 'inherit' });
  };
}
