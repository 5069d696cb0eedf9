import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTimescaleDatabase, type TimescaleDatabase } from '../helpers/timescale.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/**
 * Continuous aggregates as pack objects (issue 29): TimescaleDB's materialized views, created
 * WITH NO DATA and filled by TimescaleDB outside a transaction, verified, refreshed through
 * TimescaleDB and rolled back without leaving their materialization behind.
 */
let db: TimescaleDatabase;
beforeAll(async () => {
  db = await createTimescaleDatabase('tscagg');
  // As on a production server: the throwaway server commits asynchronously, and a commit the WAL
  // writer has not flushed yet does not count as visible to all for VACUUM (apply's markAllVisible).
  await db.query(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = on', current_database()); END $$`);
  await db.query(`CREATE TABLE events (id bigint NOT NULL, device int NOT NULL, ts timestamptz NOT NULL, v float8)`);
  await db.query(`SELECT create_hypertable('events', by_range('ts', INTERVAL '1 day'))`);
  await db.query(
    `INSERT INTO events SELECT g, g % 50, '2026-01-01'::timestamptz + (g % (10 * 1440)) * INTERVAL '1 minute', g % 97 FROM generate_series(1, 100000) g`,
  );
});
afterAll(async () => db?.drop());

const QUERY = `SELECT device, time_bucket(INTERVAL '1 day', ts) AS day, count(*) AS n, avg(v) AS av FROM events GROUP BY device, day`;
const PACK = `CREATE MATERIALIZED VIEW ev_daily WITH (timescaledb.continuous) AS ${QUERY};\n`;

const aggregates = async (name: string) =>
  db.query(`SELECT mat_hypertable_id FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = $1`, [name]);

/** Pages marked all-visible, and pages, in the chunks of materialization hypertable `id`. */
const visibility = async (id: number) =>
  (
    await db.query(
      `SELECT coalesce(sum(relallvisible), 0)::int AS visible, coalesce(sum(relpages), 0)::int AS pages FROM pg_class WHERE relname LIKE $1 AND relkind = 'r'`,
      [`\\_hyper\\_${id}\\_%\\_chunk`],
    )
  )[0] as { visible: number; pages: number };

describe('continuous aggregates', () => {
  it('control: the statement as written (WITH DATA, the default) cannot run in a transaction block', async () => {
    const c = await db.connect();
    await c.query('BEGIN');
    await expect(c.query(PACK.replace('ev_daily', 'ev_probe'))).rejects.toThrow(/cannot run inside a transaction block/);
    await c.query('ROLLBACK');
  });

  it('apply creates it WITH NO DATA, then TimescaleDB fills it outside the transaction; verify holds', async () => {
    const pack = writePack('tscagg', PACK);
    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const rows = await db.query(`SELECT count(*)::int AS n, sum(n)::int AS total FROM ev_daily`);
    expect(rows[0]).toEqual({ n: 500, total: 100000 });
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).objects[0]).toMatchObject({ kind: 'matview', state: 'applied' });
    // A second apply changes nothing.
    const again = await runCli(['apply', pack, '--db', db.url, '--json']);
    expect(again.code, again.stderr).toBe(0);
  });

  it('a different query in the pack is a change verify names', async () => {
    const changed = writePack('tscagg', PACK.replace('avg(v)', 'max(v)'));
    const v = await runCli(['verify', changed, '--db', db.url, '--json']);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).objects[0].state).toBe('changed-since-applied');
  });

  it('pgopt refresh goes through TimescaleDB (REFRESH MATERIALIZED VIEW is refused there)', async () => {
    await expect(db.query('REFRESH MATERIALIZED VIEW ev_daily')).rejects.toThrow(/continuous aggregate/);
    await db.query(`INSERT INTO events VALUES (-1, 7, '2026-01-20 10:00', 1)`);
    const r = await runCli(['refresh', 'tscagg', '--db', db.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).views[0]).toMatchObject({ mode: 'timescaledb', outcome: 'refreshed' });
    expect(await db.query(`SELECT n::int FROM ev_daily WHERE device = 7 AND day = '2026-01-20'`)).toEqual([{ n: 1 }]);
  });

  it('rollback drops it with its materialization: nothing is left in _timescaledb_internal', async () => {
    const [{ mat_hypertable_id: id }] = await aggregates('ev_daily');
    const r = await runCli(['rollback', 'tscagg', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(await aggregates('ev_daily')).toEqual([]);
    expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE $1`, [`%_hypertable_${id}%`])).toEqual([]);
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname = 'ev_daily'`)).toEqual([]);
  });

  it('a first refresh that fails takes the view this run created with it: nothing is left, nothing claimed', async () => {
    const boom = `CREATE MATERIALIZED VIEW ev_boom WITH (timescaledb.continuous) AS SELECT device, time_bucket(INTERVAL '1 day', ts) AS day, sum(1 / (v::int - v::int)) AS s FROM events GROUP BY device, day`;
    // The control: created WITH NO DATA the view is fine; only filling it fails.
    await db.query(`${boom} WITH NO DATA`);
    await expect(db.query(`CALL refresh_continuous_aggregate('ev_boom', NULL, NULL)`)).rejects.toThrow(/division by zero/);
    await db.query('DROP MATERIALIZED VIEW ev_boom');
    const pack = writePack('tscagg-boom', `${boom};\n`);
    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/division by zero/);
    expect(await aggregates('ev_boom')).toEqual([]);
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname = 'ev_boom'`)).toEqual([]);
    expect(await db.query(`SELECT 1 FROM pgopt.objects WHERE pack = 'tscagg-boom'`)).toEqual([]);
  });

  it('a UNIQUE index on it is refused before anything runs, saying why it cannot work', async () => {
    const pack = writePack('tscagg-u', `${PACK}CREATE UNIQUE INDEX ev_daily_key ON ev_daily (device, day);\n`);
    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/continuous aggregate cannot have a UNIQUE index .*refresh_continuous_aggregate/);
    expect(r.stderr).toMatch(/:2\b/);
    expect(await aggregates('ev_daily')).toEqual([]);
  });

  it('a refresh policy in the pack: apply adds it, verify names it, a policy removed by hand fails verify and the next apply adds it again', async () => {
    const policy = `SELECT add_continuous_aggregate_policy('ev_daily', start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');\n`;
    const pack = writePack('tscagg-p', PACK + policy);
    const jobs = () =>
      db.query(`SELECT schedule_interval::text AS every FROM timescaledb_information.jobs
                 WHERE hypertable_name = 'ev_daily' AND proc_name = 'policy_refresh_continuous_aggregate'`);
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    expect(await jobs()).toEqual([{ every: '00:30:00' }]);
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).objects[0].reason).toContain('refresh policy every 00:30:00 (start_offset 3 days, end_offset 01:00:00)');
    // A rerun adds no second policy.
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    expect(await jobs()).toHaveLength(1);
    await db.query(`SELECT remove_continuous_aggregate_policy('ev_daily')`);
    const missing = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).objects[0].reason).toMatch(/refresh policy is missing/);
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    expect(await jobs()).toHaveLength(1);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
    expect((await runCli(['rollback', 'tscagg-p', '--db', db.url])).code).toBe(0);
    expect(await db.query(`SELECT 1 FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate'`)).toEqual(
      [],
    );
  });

  it('an index on it is built on its materialization hypertable chunk by chunk, verified per chunk, repaired, rolled back', async () => {
    const INDEX = `CREATE INDEX CONCURRENTLY ev_daily_device ON ev_daily (device, day) INCLUDE (n, av);\n`;
    // The control: the statement as written is refused by TimescaleDB on any hypertable.
    await db.query(`${PACK.replace('ev_daily', 'ev_probe').replace(';', ' WITH NO DATA;')}`);
    await expect(db.query(INDEX.replaceAll('ev_daily', 'ev_probe'))).rejects.toThrow(
      /hypertables do not support concurrent index creation/,
    );
    await db.query('DROP MATERIALIZED VIEW ev_probe');
    const pack = writePack('tscagg-i', PACK + INDEX);
    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const [{ mat_hypertable_id: id }] = await aggregates('ev_daily');
    const chunkIndexes = () =>
      db.query(
        `SELECT c.relname AS chunk FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
                 WHERE c.relname LIKE $1 AND x.relname LIKE '%ev_daily_device%' AND i.indisvalid ORDER BY 1`,
        [`_hyper_${id}_%`],
      );
    const chunks = await db.query(`SELECT relname FROM pg_class WHERE relname LIKE $1 AND relkind = 'r'`, [`_hyper_${id}_%_chunk`]);
    expect(chunks.length).toBeGreaterThan(0);
    expect(await chunkIndexes()).toHaveLength(chunks.length);
    expect(
      await db.query(`SELECT n.nspname AS schema, t.relname AS table FROM pg_class x JOIN pg_index i ON i.indexrelid = x.oid
                            JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = x.relnamespace WHERE x.relname = 'ev_daily_device'`),
    ).toEqual([{ schema: '_timescaledb_internal', table: `_materialized_hypertable_${id}` }]);
    // The first refresh's rows are all-visible (apply's VACUUM), so an index-only scan reads no heap.
    const v0 = await visibility(id);
    expect(v0.pages).toBeGreaterThan(0);
    expect(v0.visible).toBe(v0.pages);
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).objects[1]).toMatchObject({ kind: 'index', state: 'applied' });
    // A chunk index dropped by hand is a hole verify counts, and apply builds only it again.
    const [{ chunk }] = await chunkIndexes();
    const [{ name }] = await db.query(
      `SELECT x.relname AS name FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
                                        WHERE c.relname = $1 AND x.relname LIKE '%ev_daily_device%'`,
      [chunk],
    );
    await db.query(`DROP INDEX _timescaledb_internal.${name}`);
    const hole = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(hole.code).toBe(1);
    expect(JSON.parse(hole.stdout).objects[1].reason).toContain(`${chunks.length - 1}/${chunks.length} chunks valid, missing on ${chunk}`);
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    expect(await chunkIndexes()).toHaveLength(chunks.length);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
    expect((await runCli(['rollback', 'tscagg-i', '--db', db.url])).code).toBe(0);
    expect(
      await db.query(`SELECT relname FROM pg_class WHERE relname LIKE '%ev_daily_device%' OR relname LIKE $1`, [`%_hypertable_${id}%`]),
    ).toEqual([]);
  });

  it('an index on a continuous aggregate the pack does not create: built, verified, and rolled back alone', async () => {
    await db.query(`${PACK.replace(';', ' WITH NO DATA;')}`);
    await db.query(`CALL refresh_continuous_aggregate('ev_daily', NULL, NULL)`);
    // The control for apply's VACUUM: a refresh alone leaves no page all-visible.
    expect((await visibility((await aggregates('ev_daily'))[0].mat_hypertable_id)).visible).toBe(0);
    const pack = writePack('tscagg-e', `CREATE INDEX CONCURRENTLY ev_daily_av ON ev_daily (av);\n`);
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
    expect(
      await db.query(
        `SELECT n.nspname AS schema FROM pg_class x JOIN pg_namespace n ON n.oid = x.relnamespace WHERE x.relname = 'ev_daily_av'`,
      ),
    ).toEqual([{ schema: '_timescaledb_internal' }]);
    expect((await runCli(['rollback', 'tscagg-e', '--db', db.url])).code).toBe(0);
    expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE '%ev_daily_av%'`)).toEqual([]);
    expect(await aggregates('ev_daily')).toHaveLength(1);
    // UNIQUE on it is refused before anything runs (the pack does not create it: the catalog says what it is).
    const u = await runCli([
      'apply',
      writePack('tscagg-eu', `CREATE UNIQUE INDEX CONCURRENTLY ev_daily_k ON ev_daily (device, day);\n`),
      '--db',
      db.url,
    ]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/continuous aggregate cannot have a UNIQUE index/);
    await db.query('DROP MATERIALIZED VIEW ev_daily');
  });

  it('a refresh policy for a view the pack does not create is refused at load', async () => {
    const pack = writePack(
      'tscagg-x',
      `SELECT add_continuous_aggregate_policy('someone_elses', start_offset => NULL, end_offset => NULL, schedule_interval => INTERVAL '1 hour');\n`,
    );
    const r = await runCli(['plan', pack, '--db', db.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('a refresh policy in a pack must be for a continuous aggregate the pack creates');
  });
});
