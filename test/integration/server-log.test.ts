import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chownSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serverUser } from '../../src/embedded/binaries.js';
import { SUITE_BIN, startFromBinaries, type BinaryServer } from '../helpers/servers.js';
import { runCli } from '../helpers/cli.js';
import { loadWorkload } from '../../src/bench/workload.js';
import { readServerLog } from '../../src/production/server-log.js';

/**
 * capture --log: the bind values a server logged (log_min_duration_statement = 0) fill each $n,
 * read from logs this test's own server wrote, in all three formats at once.
 */
let server: BinaryServer;
let logs: string;
const SENT = [
  ['ALICE@EXAMPLE.COM', 3],
  ["o'brien@example.com", 7],
  ['carol@example.com', 11],
] as const;

beforeAll(async () => {
  logs = mkdtempSync(join(tmpdir(), 'pgopt-logs-'));
  const user = serverUser();
  if (user) chownSync(logs, user.uid, user.gid);
  server = await startFromBinaries(SUITE_BIN, {
    shared_preload_libraries: 'pg_stat_statements',
    logging_collector: 'on',
    log_destination: 'stderr,csvlog,jsonlog',
    log_directory: logs,
    log_filename: 'pg.log',
    log_min_duration_statement: '0',
  });
  const c = new pg.Client({ connectionString: server.url, application_name: 'the-app' });
  await c.connect();
  await c.query(`CREATE EXTENSION pg_stat_statements;
    CREATE TABLE users (id int PRIMARY KEY, email text, org_id int, status text);
    INSERT INTO users SELECT g, 'user' || g || '@example.com', g % 20, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'closed' END FROM generate_series(1, 2000) g;
    ANALYZE users;`);
  for (let i = 0; i < 4; i++)
    for (const [email, org] of SENT) {
      await c.query(`SELECT id FROM users WHERE lower(email) = lower($1) AND org_id = $2 AND status = 'open' LIMIT 10`, [email, org]);
      // No column explains $1 here: only the log can give it a value.
      await c.query('SELECT $1::int + id AS x FROM users WHERE id = $2', [org, org]);
      // A bind value that never changes is still a bind value: only the text's own constants go back.
      await c.query('SELECT count(*) AS n FROM users WHERE status = $1 AND org_id = 2', ['open']);
    }
  await c.end();
  await new Promise((r) => setTimeout(r, 1500)); // the collector writes its files a moment later
}, 120_000);
afterAll(() => server?.stop());

describe('capture --log', () => {
  for (const format of ['log', 'csv', 'json']) {
    it(`${format}: every logged set of bind values, and the statement's own constants, become params rows`, async () => {
      const file = join(logs, `pg.${format}`);
      expect(existsSync(file)).toBe(true);
      const out = join(logs, `w-${format}.sql`);
      const r = await runCli(['capture', '--log', file, '--out', out, '--db', server.url]);
      expect(r.code, r.stderr).toBe(0);
      const w = await loadWorkload(out);
      const lookup = w.queries.find((q) => q.forms[0].sql.includes('lower(email)'))!;
      // pg_stat_statements wrote $3 and $4 where the application wrote 'open' and 10: the log gives them back.
      expect(lookup.forms[0].sql).toContain(`org_id = $2 AND status = 'open' LIMIT 10`);
      expect(lookup.params).toBe(`VALUES ('ALICE@EXAMPLE.COM', '3'), ('o''brien@example.com', '7'), ('carol@example.com', '11')`);
      // The control: the same value bound in every execution stays a $n, the text's constant 2 comes back.
      const count = w.queries.find((q) => q.forms[0].sql.includes('count(*)'))!;
      expect(count.forms[0].sql).toContain('status = $1 AND org_id = 2');
      expect(count.params).toBe(`VALUES ('open')`);
      expect(readFileSync(out, 'utf8')).toContain('-- Text: as the application sends it');
      const sum = w.queries.find((q) => q.forms[0].sql.includes('$1::int + id'));
      expect(sum?.params).toBe(`VALUES ('3', '3'), ('7', '7'), ('11', '11')`);
      expect(readFileSync(out, 'utf8')).toContain('3 set(s) of bind values from the server log');
    });
  }

  it('the captured workload runs in bench, with the logged values', async () => {
    const r = await runCli(['bench', join(logs, 'w-json.sql'), '--runs', '2', '--warmup', '0', '--db', server.url]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('without the log, the statement no column explains is kept without values, for advise to judge by its generic plan', async () => {
    const r = await runCli(['capture', '--db', server.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/-- values-from: none\n-- mean-ms: [\d.e+-]+\nSELECT \$1::int \+ id/);
    expect(r.stdout).not.toContain('left out: statements with a $n no value could be found for');
  });

  it('a log without bind values: exit 2, and what to turn on', async () => {
    const r = await runCli(['capture', '--log', join(logs, 'nothing.log'), '--db', server.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('does not exist');
    expect(readServerLog('2026-12-02 10:00:00 UTC [1] LOG:  checkpoint starting: time\n')).toEqual([]);
  });
});
