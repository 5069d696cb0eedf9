import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CITUS_UP } from '../helpers/citus.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/** A cluster of its own: this file stops a worker, which the shared cluster's other files must never see. */
const base = Number(process.env.PGOPT_TEST_CITUS_PORT ?? 57400) + 50;
const dir = mkdtempSync(join(tmpdir(), 'pgopt-citus-down-'));
const url = `postgres://postgres@127.0.0.1:${base}/postgres`;
const PG_CTL = '/usr/lib/postgresql/15/bin/pg_ctl';
/** As the postgres OS user, as citus-up.sh runs the servers when invoked as root. */
const pgCtl = (args: string[]) =>
  process.getuid?.() === 0
    ? execFileSync('runuser', ['-u', 'postgres', '--', PG_CTL, ...args], { stdio: 'ignore' })
    : execFileSync(PG_CTL, args, { stdio: 'ignore' });

beforeAll(async () => {
  execFileSync(CITUS_UP!, ['start', String(base), dir], { stdio: 'ignore' });
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (const s of [
    `CREATE TABLE runs (id bigint NOT NULL, "workflowId" int NOT NULL, note text)`,
    `SELECT create_distributed_table('runs', 'workflowId')`,
    `INSERT INTO runs SELECT g, g % 100, md5(g::text) FROM generate_series(1, 5000) g`,
  ])
    await c.query(s);
  await c.end();
});
afterAll(() => {
  execFileSync(CITUS_UP!, ['destroy', dir], { stdio: 'ignore' });
});

describe('a worker that cannot be reached', () => {
  it('verify fails with exit 3 naming the table and the node, where the coordinator alone would say valid', async () => {
    const pack = writePack('down', `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_runs_note ON runs (note);\n`);
    expect((await runCli(['apply', pack, '--db', url])).code).toBe(0);
    expect((await runCli(['verify', pack, '--db', url])).code).toBe(0);
    pgCtl(['-D', join(dir, 'worker2'), 'stop', '-m', 'fast']);
    try {
      // The unsafe answer: the coordinator's catalog still says valid.
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      expect((await c.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_runs_note'::regclass`)).rows).toEqual([
        { indisvalid: true },
      ]);
      await c.end();
      const v = await runCli(['verify', pack, '--db', url]);
      expect(v.code).toBe(3);
      expect(v.stderr).toMatch(new RegExp(`cannot read the shards of public\\.runs: .*127\\.0\\.0\\.1:${base + 2}`));
    } finally {
      pgCtl(['-D', join(dir, 'worker2'), '-l', join(dir, 'worker2', 'postgres.log'), '-w', 'start']);
    }
    expect((await runCli(['verify', pack, '--db', url])).code).toBe(0);
  });
});
