import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startFromBinaries, type BinaryServer } from '../../src/embedded/binaries.js';
import { runCli } from '../helpers/cli.js';
import { QUALSTATS_BIN } from '../helpers/servers.js';

/**
 * capture's first source of values: the constants pg_qualstats saw production send. A server of
 * its own, with pg_stat_statements and pg_qualstats preloaded (every query sampled).
 */
if (!QUALSTATS_BIN) console.warn('pg_qualstats is not installed (Debian: postgresql-15-pg-qualstats): its capture test is skipped');

describe.runIf(QUALSTATS_BIN)('capture with pg_qualstats', () => {
  let server: BinaryServer;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-qualstats-'));
  const BY_REGION = 'SELECT count(*) FROM app.accounts WHERE region = $1 AND plan = $2';
  const RECENT = 'SELECT id FROM app.accounts WHERE region = $1 ORDER BY id DESC LIMIT $2';
  // Production asks about two regions of 50, and one plan: a sample of the table would give others.
  const SENT = ['r07', 'r41'];

  const sql = async (text: string, values: unknown[] = []) => {
    const c = new pg.Client({ connectionString: url, application_name: 'the-app' });
    await c.connect();
    try {
      return (await c.query(text, values)).rows;
    } finally {
      await c.end();
    }
  };
  const capture = async (out: string) => {
    const r = await runCli(['capture', '--db', url, '--out', join(dir, out), '--min-calls', '5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return { json: JSON.parse(r.stdout), text: readFileSync(join(dir, out), 'utf8') };
  };
  const paramsOf = (text: string, sqlText: string) => {
    const block = text.split('\n\n').find((b) => b.includes(sqlText))!;
    return /^-- params: (.*)$/m.exec(block)?.[1] ?? '';
  };

  beforeAll(async () => {
    server = await startFromBinaries(QUALSTATS_BIN!, {
      shared_preload_libraries: 'pg_stat_statements,pg_qualstats',
      'pg_qualstats.sample_rate': '1',
    });
    url = server.url;
    await sql(`CREATE EXTENSION pg_stat_statements; CREATE EXTENSION pg_qualstats;
      CREATE SCHEMA app;
      CREATE TABLE app.accounts (id int PRIMARY KEY, region text NOT NULL, plan text NOT NULL);
      INSERT INTO app.accounts SELECT g, 'r' || lpad((g % 50)::text, 2, '0'), (ARRAY['free', 'pro', 'gold'])[1 + g % 3] FROM generate_series(1, 20000) g;
      ANALYZE app.accounts`);
    const c = new pg.Client({ connectionString: url, application_name: 'the-app' });
    await c.connect();
    for (let i = 0; i < 30; i++) {
      await c.query(BY_REGION, [SENT[i % 2], 'gold']);
      await c.query(RECENT, [SENT[i % 2], 25]);
    }
    await c.end();
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('fills each $n with the constants production sent, commonest first, and says where they came from', async () => {
    const { json, text } = await capture('with.sql');
    const byRegion = paramsOf(text, 'plan = $2');
    expect(byRegion).toBe(`VALUES ('r07', 'gold'), ('r41', 'gold')`);
    expect(text).toContain('$1 from pg_qualstats (2 values); $2 from pg_qualstats (1 value)');
    // A LIMIT's $n is not a predicate: it keeps its assumed value, beside production's regions.
    expect(paramsOf(text, 'LIMIT $2')).toBe(`VALUES ('r07', '20'), ('r41', '20')`);
    expect(json.qualstats.constants).toBeGreaterThan(0);
    // The captured file is ordinary input: bench runs it with those values.
    const bench = await runCli(['bench', join(dir, 'with.sql'), '--db', url, '--runs', '2', '--json']);
    expect(bench.code, bench.stderr).toBe(0);

    // Control: without pg_qualstats the same statements get values sampled from the table, which
    // are not what production sent.
    await sql('DROP EXTENSION pg_qualstats');
    const without = await capture('without.sql');
    expect(paramsOf(without.text, 'plan = $2')).toMatch(/^SELECT .* TABLESAMPLE/);
    expect(without.text).not.toMatch(/\$\d+ from pg_qualstats/);
    expect(without.json.qualstats).toBeNull();
    await sql('CREATE EXTENSION pg_qualstats');
  });

  it('a pg_qualstats this role may not call is said, and the data gives the values', async () => {
    await sql(`CREATE ROLE reader LOGIN PASSWORD 'pw'; GRANT pg_read_all_stats TO reader; GRANT USAGE ON SCHEMA app TO reader;
      GRANT SELECT ON app.accounts TO reader; REVOKE EXECUTE ON FUNCTION pg_qualstats() FROM PUBLIC`);
    const reader = url.replace(/\/\/[^@]*@/, '//reader:pw@');
    const r = await runCli(['capture', '--db', reader, '--out', join(dir, 'reader.sql'), '--min-calls', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/pg_qualstats is created here but could not be read \(permission denied/);
    expect(paramsOf(readFileSync(join(dir, 'reader.sql'), 'utf8'), 'plan = $2')).toMatch(/TABLESAMPLE/);
  });
});
