import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';
import { REGISTRY_VERSION } from '../../src/engine/registry.js';

/** The registry carries its version: an older one is upgraded in place, a newer one refused. */
let db: TestDatabase;
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);
const version = async () => (await db.query(`SELECT value FROM pgopt.meta WHERE key = 'registry_version'`))[0]?.value as string | undefined;
const PACK = `CREATE INDEX IF NOT EXISTS t_a_idx ON t (a);\n`;

beforeAll(async () => {
  db = await createTestDatabase('regver');
  await db.query(`CREATE TABLE t (id int PRIMARY KEY, a int); INSERT INTO t SELECT g, g % 50 FROM generate_series(1, 2000) g`);
});
afterAll(async () => db?.drop());

describe('registry version', () => {
  it('a new registry is created at the current version', async () => {
    const r = await cli('apply', writePack('ver', PACK));
    expect(r.code, r.stderr).toBe(0);
    expect(await version()).toBe(String(REGISTRY_VERSION));
  });

  it('a registry of pgopt before versions (no meta table, no table_oid) is upgraded in place by apply; its rows are kept', async () => {
    await db.query(
      `DROP TABLE pgopt.meta; ALTER TABLE pgopt.objects DROP COLUMN table_oid;
       DROP TABLE pgopt.snapshot_statements, pgopt.snapshot_indexes, pgopt.snapshots`,
    );
    // A read-only command reads the old registry without changing it.
    const status = await cli('status', '--json');
    expect(status.code, status.stderr).toBe(0);
    const impact = await cli('impact', '--at', 'x');
    expect(impact.code).toBe(2);
    expect(impact.stderr).toContain('no snapshot in this database yet: the registry predates them');
    expect((await db.query(`SELECT to_regclass('pgopt.meta') IS NULL AS gone`))[0].gone).toBe(true);
    const r = await cli('apply', writePack('ver', PACK));
    expect(r.code, r.stderr).toBe(0);
    expect(await version()).toBe(String(REGISTRY_VERSION));
    const cols = await db.query(
      `SELECT 1 FROM pg_attribute WHERE attrelid = 'pgopt.objects'::regclass AND attname = 'table_oid' AND NOT attisdropped`,
    );
    expect(cols).toHaveLength(1);
    expect((await db.query(`SELECT to_regclass('pgopt.snapshots') IS NOT NULL AS made`))[0].made).toBe(true);
    expect(await db.query(`SELECT object_name FROM pgopt.objects WHERE pack = 'ver'`)).toEqual([{ object_name: 't_a_idx' }]);
    expect((await cli('verify', writePack('ver', PACK))).code).toBe(0);
  });

  it('a registry written by a newer pgopt is refused by every command (exit 2), and nothing changes', async () => {
    await db.query(`UPDATE pgopt.meta SET value = '99' WHERE key = 'registry_version'`);
    const before = await db.query(`SELECT count(*)::int AS n FROM pgopt.events`);
    for (const args of [
      ['apply', writePack('ver', PACK + `CREATE INDEX IF NOT EXISTS t_id_a_idx ON t (id, a);\n`)],
      ['verify', writePack('ver', PACK)],
      ['status'],
      ['rollback', 'ver'],
    ]) {
      const r = await cli(...args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(
        /registry in this database \(schema pgopt\) is version 99, written by a newer pgopt; this pgopt \([^)]+\) knows versions up to \d+/,
      );
    }
    expect(await db.query(`SELECT count(*)::int AS n FROM pgopt.events`)).toEqual(before);
    expect(
      (await db.query(`SELECT to_regclass('public.t_id_a_idx') IS NULL AS absent, to_regclass('public.t_a_idx') IS NOT NULL AS kept`))[0],
    ).toEqual({ absent: true, kept: true });
    expect(await version()).toBe('99');
    // Control: the same apply against the version this pgopt knows runs; the refusal was the version.
    await db.query(`UPDATE pgopt.meta SET value = $1 WHERE key = 'registry_version'`, [String(REGISTRY_VERSION)]);
    expect((await cli('apply', writePack('ver', PACK + `CREATE INDEX IF NOT EXISTS t_id_a_idx ON t (id, a);\n`))).code).toBe(0);
  });
});
