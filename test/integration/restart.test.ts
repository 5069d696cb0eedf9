import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startFromBinaries, EMBEDDED_BIN, type BinaryServer } from '../../src/embedded/binaries.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/** Its own server: this test restarts it in the middle of apply. */
let server: BinaryServer;
let url: string;
const query = async (sql: string) => {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end().catch(() => {});
  }
};

beforeAll(async () => {
  server = await startFromBinaries(process.env.PGOPT_TEST_PG_BIN ?? EMBEDDED_BIN);
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE restart');
  await admin.end();
  url = server.url.replace(/\/postgres$/, '/restart');
  await query(`CREATE TABLE t (id bigserial PRIMARY KEY, a int, b int, c text);
               INSERT INTO t (a, b, c) SELECT g % 1000, g % 77, md5(g::text) FROM generate_series(1, 400000) g`);
  await query('VACUUM ANALYZE t');
});
afterAll(async () => server?.stop());

const PACK = `CREATE INDEX idx_r1 ON t (a, b);
CREATE INDEX idx_r2 ON t (c);
CREATE MATERIALIZED VIEW t_counts AS SELECT a, count(*) AS n FROM t GROUP BY a;
CREATE UNIQUE INDEX t_counts_key ON t_counts (a);
CREATE INDEX idx_r3 ON t (b, a);
`;

async function waitFor(cond: () => Promise<boolean>, ms = 30_000) {
  const end = Date.now() + ms;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('server restart in the middle of apply', () => {
  for (const mode of ['fast', 'immediate'] as const) {
    it(`${mode} shutdown: apply fails with exit 3, the next apply converges and verify passes`, async () => {
      const pack = writePack('restart', PACK);
      const run = runCli(['apply', pack, '--jobs', '1', '--db', url]);
      await waitFor(async () => (await query(`SELECT count(*)::int AS n FROM pgopt.objects WHERE state = 'applied'`))[0].n >= 1);
      await server.restart(mode);
      const failed = await run;
      expect(failed.code, failed.stderr).toBe(3);
      const again = await runCli(['apply', pack, '--wait', '30s', '--db', url]);
      expect(again.code, again.stderr).toBe(0);
      expect((await runCli(['verify', pack, '--db', url])).code).toBe(0);
      expect(await query(`SELECT indexrelid::regclass::text AS i FROM pg_index WHERE NOT indisvalid`)).toEqual([]);
      expect(await query(`SELECT object_name FROM pgopt.objects GROUP BY 1 HAVING count(*) > 1`)).toEqual([]);
      expect((await runCli(['rollback', pack, '--db', url])).code).toBe(0);
    });
  }
});
