import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCitusDatabase, type CitusDatabase } from '../helpers/citus.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/**
 * Issue 23, items 3 and 4, on the real cluster. The database owner controls how a worker reads
 * what pgopt sends: standard_conforming_strings off (Citus propagates the database's settings), a
 * partition named to end a quoted literal early, and functions and operators planted in public
 * that beat pg_catalog's on argument types. Each payload records, in a sequence no ROLLBACK
 * undoes, whether it ran as a superuser (99). 1 is "never ran".
 */
let db: CitusDatabase;
const HOSTILE = `a\\'||public.pay()]) AS r(shard) --`;

const PLANT = `
  SET citus.enable_ddl_propagation = off;
  CREATE SEQUENCE public.marker;
  CREATE FUNCTION public.pay() RETURNS int LANGUAGE plpgsql AS $$ BEGIN
    PERFORM pg_catalog.setval('public.marker', CASE WHEN (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN 99 ELSE 10 END);
    RETURN 0; END $$;
  CREATE FUNCTION public.eq_hijack(a oid, b regclass) RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN PERFORM public.pay(); RETURN a OPERATOR(pg_catalog.=) b::oid; END $$;
  CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.eq_hijack);
  CREATE FUNCTION public.make_interval(secs integer) RETURNS interval LANGUAGE plpgsql AS $$
    BEGIN PERFORM public.pay(); RETURN pg_catalog.make_interval(secs => secs::float8); END $$;
`;

const markers = async () =>
  Promise.all(db.workers.map(async (p) => Number((await db.onWorker(p, `SELECT last_value FROM public.marker`))[0].last_value)));
const resetMarkers = () => Promise.all(db.workers.map((p) => db.onWorker(p, `SELECT setval('public.marker', 1)`)));

/** How pgopt 0.1 quoted names into worker SQL, and the unqualified calls it made there. */
const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
const OLD_INDEXES_SQL = (relations: string[]) => `SELECT coalesce(pg_catalog.json_agg(ic.relname)::text, '[]')
    FROM pg_catalog.unnest(ARRAY[${relations.map(literal).join(', ')}]::text[]) AS r(shard)
    JOIN pg_catalog.pg_index i ON i.indrelid = pg_catalog.to_regclass(r.shard)
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid`;
const OLD_LONG_TX_SQL = `SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE now() - xact_start > make_interval(secs => 30)`;

async function runOnWorker1(sql: string): Promise<void> {
  await db.query(`SELECT * FROM master_run_on_worker(ARRAY['127.0.0.1'], ARRAY[$1::int], ARRAY[$2], true)`, [db.workers[0], sql]);
}

beforeAll(async () => {
  db = await createCitusDatabase('cworker');
  for (const p of db.workers) {
    await db.onWorker(p, PLANT);
    await db.onWorker(p, `SET citus.enable_ddl_propagation = off; ALTER DATABASE ${db.name} SET standard_conforming_strings = off`);
  }
  for (const s of [
    `CREATE TABLE ev (id bigint NOT NULL, w int NOT NULL, note text) PARTITION BY RANGE (id)`,
    `CREATE TABLE "${HOSTILE}" PARTITION OF ev FOR VALUES FROM (0) TO (1000000)`,
    `SELECT create_distributed_table('ev', 'w', shard_count := 4)`,
    `INSERT INTO ev SELECT g, g % 10, md5(g::text) FROM generate_series(1, 2000) g`,
  ])
    await db.query(s);
});
afterAll(async () => db?.drop());

describe('worker SQL under the database owner’s settings', () => {
  it('control: names quoted into worker SQL end the literal early, and the payload runs as superuser', async () => {
    await resetMarkers();
    const shards = await db.query(
      `SELECT pg_catalog.shard_name(s.logicalrelid, s.shardid, false) AS r FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
         JOIN pg_dist_node n ON n.groupid = p.groupid WHERE n.nodeport = $1`,
      [db.workers[0]],
    );
    await runOnWorker1(OLD_INDEXES_SQL(shards.map((s) => s.r)));
    expect((await markers())[0]).toBe(99);
  });

  it('control: unqualified calls and operators pick the planted ones', async () => {
    await resetMarkers();
    await runOnWorker1(OLD_LONG_TX_SQL);
    expect((await markers())[0]).toBe(99);
    await resetMarkers();
    await runOnWorker1(OLD_INDEXES_SQL([]).replace('ARRAY[]', `ARRAY['public.ev_1']`));
    await runOnWorker1(`SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = pg_catalog.to_regclass('pg_class')`);
    expect((await markers())[0]).toBe(99);
  });

  it('apply, verify, lint, status and rollback read every shard right and run none of it', async () => {
    await resetMarkers();
    const pack = writePack('ev', `CREATE INDEX CONCURRENTLY IF NOT EXISTS ev_note ON ev (note);\n`);
    const a = await runCli(['apply', pack, '--db', db.url]);
    expect(a.code, a.stderr).toBe(0);
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code, v.stderr).toBe(0);
    // The parent's 4 shard indexes and the hostile partition's 4: every name read back right.
    expect(JSON.parse(v.stdout).objects[0].reason).toBe('8/8 shards valid');
    expect((await runCli(['lint', pack, '--db', db.url])).code).toBe(0);
    expect((await runCli(['status', '--db', db.url])).code).toBe(0);
    expect((await runCli(['rollback', 'ev', '--db', db.url])).code).toBe(0);
    expect(await db.shardIndexes('ev_note')).toEqual([]);
    expect(await markers()).toEqual([1, 1]);
  });
});
