import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, dropRoles, urlAs, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/**
 * Issue 23, items 1 and 2: a role that only owns a table plants code the table evaluates (an index
 * expression, a trigger on a partition), and a superuser runs pgopt. The payload tries RESET ROLE
 * (which escapes SET LOCAL ROLE), then records in a sequence, which no ROLLBACK undoes, whose
 * rights it ran with: 99 a superuser's, 10 the owner's, 50 anyone else's. 1 is "did not run".
 */
let db: TestDatabase;
const tag = randomBytes(3).toString('hex');
const mallory = `mallory_${tag}`;
const bob = `bob_${tag}`;
const password = randomBytes(12).toString('hex');
const as = (role: string) => urlAs(db.url, role, password);
const marker = async () => Number((await db.query(`SELECT last_value FROM m.marker`))[0].last_value);
const resetMarker = () => db.query(`SELECT setval('m.marker', 1)`);
/** What status and verify need of the registry, where an earlier run made one (SECURITY.md). */
const letReadRegistry = (role: string) =>
  db.query(`DO $$ BEGIN IF to_regnamespace('pgopt') IS NOT NULL THEN
              GRANT USAGE ON SCHEMA pgopt TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA pgopt TO ${role}; END IF; END $$`);

const PLANT = (owner: string) => `
  CREATE SEQUENCE m.marker;
  GRANT USAGE, UPDATE, SELECT ON SEQUENCE m.marker TO PUBLIC;
  CREATE FUNCTION m.payload() RETURNS int VOLATILE LANGUAGE plpgsql AS $$
  BEGIN
    BEGIN EXECUTE 'RESET ROLE'; EXCEPTION WHEN others THEN NULL; END;
    PERFORM pg_catalog.setval('m.marker', CASE
      WHEN (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN 99
      WHEN current_user = '${owner}' THEN 10 ELSE 50 END);
    RETURN 0;
  END $$;
  CREATE FUNCTION m.evil(v int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN PERFORM m.payload(); RETURN v; END $$;
  CREATE TABLE m.probe_t (id int PRIMARY KEY, a int, b int);
  INSERT INTO m.probe_t SELECT g, g, g % 10 FROM generate_series(1, 1000) g;
  CREATE INDEX probe_evil ON m.probe_t (m.evil(a));
  CREATE TABLE m.parted (id int, b int) PARTITION BY RANGE (id);
  CREATE TABLE m.parted_1 PARTITION OF m.parted FOR VALUES FROM (0) TO (100000);
  INSERT INTO m.parted SELECT g, g % 10 FROM generate_series(1, 1000) g;
  CREATE FUNCTION m.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM m.payload(); RETURN NEW; END $$;
  CREATE TRIGGER on_partition BEFORE INSERT OR UPDATE ON m.parted_1 FOR EACH ROW EXECUTE FUNCTION m.trg();
  CREATE FUNCTION m.looks_stable() RETURNS int STABLE LANGUAGE plpgsql AS $$ BEGIN PERFORM m.payload(); RETURN 1; END $$;
  CREATE VIEW m.innocent AS SELECT m.looks_stable() AS x;
  GRANT USAGE ON SCHEMA m TO PUBLIC;
  GRANT SELECT ON m.innocent TO PUBLIC;
  GRANT SELECT, INSERT, UPDATE, DELETE ON m.probe_t TO PUBLIC;
`;

beforeAll(async () => {
  db = await createTestDatabase('owner');
  await db.query(`CREATE ROLE ${mallory} LOGIN PASSWORD '${password}'`);
  await db.query(`CREATE ROLE ${bob} LOGIN PASSWORD '${password}'`);
  await db.query(`CREATE SCHEMA m AUTHORIZATION ${mallory}`);
  const m = new pg.Client({ connectionString: as(mallory) });
  await m.connect();
  await m.query(PLANT(mallory));
  await m.end();
});
afterAll(async () => {
  await db?.drop();
  await dropRoles(db.url, [mallory, bob]);
});

const workload = writePack('wl', `-- name: by_b\nSELECT id FROM m.probe_t WHERE b = 3;\n`);
const pack = writePack('p', `CREATE INDEX CONCURRENTLY IF NOT EXISTS probe_b ON m.probe_t (b);\n`);

describe('the attack is real', () => {
  it('control: the probe run as the caller, a superuser, runs the owner’s code as superuser', async () => {
    await resetMarker();
    const c = await db.connect();
    await c.query('BEGIN');
    await c.query('UPDATE m.probe_t SET a = a + 1 WHERE id = 1');
    await c.query('ROLLBACK');
    expect(await marker()).toBe(99);
  });

  it('control: SET LOCAL ROLE to the owner is not enough, RESET ROLE takes the superuser back', async () => {
    await resetMarker();
    const c = await db.connect();
    await c.query('BEGIN');
    await c.query(`SET LOCAL ROLE ${mallory}`);
    await c.query('UPDATE m.probe_t SET a = a + 1 WHERE id = 1');
    await c.query('ROLLBACK');
    expect(await marker()).toBe(99);
  });
});

describe('write probes run as the table owner (item 1)', () => {
  it('bench --writes by a superuser: the owner’s code runs, as the owner, and says which tables were written', async () => {
    await resetMarker();
    const r = await runCli(['bench', workload, '--writes', '--pack', pack, '--runs', '2', '--warmup', '0', '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).run.queries.map((q: any) => q.name)).toEqual(['by_b', 'insert:m.probe_t', 'update:m.probe_t']);
    expect(await marker()).toBe(10);
    expect(r.stderr).toContain(`probes write m.probe_t (as its owner ${mallory}), each rolled back`);
  });

  it('advise (a read-only workload) by a superuser: probes run as the owner, and the output names the table', async () => {
    await resetMarker();
    const out = writePack('advice', '').replace(/advice\.sql$/, 'advice-out.sql');
    const r = await runCli(['advise', workload, '--out', out, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(await marker()).toBe(10);
    expect(r.stdout).toContain(`write probes ran (rolled back) on m.probe_t (as its owner ${mallory})`);
  });

  it('a caller that cannot act as the owner gets no probe, with a note, and runs none of its code', async () => {
    await resetMarker();
    await letReadRegistry(bob);
    const r = await runCli(['bench', workload, '--writes', '--pack', pack, '--runs', '2', '--warmup', '0', '--json', '--db', as(bob)]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).run.queries.map((q: any) => q.name)).toEqual(['by_b']);
    expect(r.stderr).toContain(`no insert probe on m.probe_t: the probes run as its owner ${mallory}, and pgopt cannot act as that role`);
    expect(await marker()).toBe(1);
    // Control: bob's own write would have run the owner's code with bob's rights.
    const c = new pg.Client({ connectionString: as(bob) });
    await c.connect();
    await c.query('BEGIN; UPDATE m.probe_t SET a = a + 1 WHERE id = 1; ROLLBACK');
    await c.end();
    expect(await marker()).toBe(50);
  });

  it('a trigger on a partition keeps the partitioned table from being probed (the parent itself has none)', async () => {
    await resetMarker();
    const parted = writePack('pp', `CREATE INDEX IF NOT EXISTS parted_b ON m.parted (b);\n`);
    const r = await runCli(['bench', workload, '--writes', '--pack', parted, '--runs', '2', '--warmup', '0', '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('no insert probe on m.parted: it or one of its partitions has triggers');
    expect(await marker()).toBe(1);
    // Control: what the old guard read, the parent's own triggers, is empty.
    expect((await db.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'm.parted'::regclass`))[0].n).toBe(0);
  });
});

describe('lint’s duplicate probe reads the table as its owner, read-only (item 2)', () => {
  const unique = writePack('u', `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS probe_u ON m.probe_t (m.evil(a));\n`);

  it('control: the duplicate query run as the caller, a superuser, runs the owner’s code as superuser', async () => {
    await resetMarker();
    await db.query(`SELECT (m.evil(a))::text, count(*) FROM m.probe_t GROUP BY 1 HAVING count(*) > 1 LIMIT 1`);
    expect(await marker()).toBe(99);
  });

  it('plan by a superuser never runs it as superuser; nothing can be written from it', async () => {
    await resetMarker();
    const r = await runCli(['plan', unique, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    // Read-only as the owner: the payload's setval is refused, so the marker does not move at all.
    expect(await marker()).toBe(1);
  });

  it('still finds real duplicates in the owner’s table', async () => {
    const dup = writePack('d', `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS probe_bu ON m.probe_t (b);\n`);
    const r = await runCli(['lint', dup, '--json', '--db', db.url]);
    const findings = JSON.parse(r.stdout).findings;
    expect(findings.map((f: any) => f.rule)).toContain('unique-duplicates');
    expect(findings.find((f: any) => f.rule === 'unique-duplicates').message).toMatch(/b="0" appears 100 times/);
  });

  it('a caller that cannot act as the owner gets a warning instead of a check', async () => {
    await resetMarker();
    await letReadRegistry(bob);
    const r = await runCli(['lint', unique, '--json', '--db', as(bob)]);
    const f = JSON.parse(r.stdout).findings.find((x: any) => x.rule === 'unique-duplicates');
    expect(f.severity).toBe('warning');
    expect(f.message).toContain(`not checked for duplicate keys: the check reads the table as its owner ${mallory}`);
    expect(await marker()).toBe(1);
  });
});

describe('a materialized view that calls another role’s function (item 8)', () => {
  it('control: the function is labelled STABLE, so the volatility check alone lets it through, and it runs as the caller', async () => {
    await resetMarker();
    expect((await db.query(`SELECT provolatile FROM pg_proc WHERE oid = 'm.looks_stable()'::regprocedure`))[0].provolatile).toBe('s');
    await db.query(`SELECT m.looks_stable()`);
    expect(await marker()).toBe(99);
  });

  for (const [how, query] of [
    ['directly', 'SELECT m.looks_stable() AS x'],
    ['through a view it reads', 'SELECT x FROM m.innocent'],
  ] as const) {
    it(`apply by a superuser refuses it (exit 2), names the function and its owner, and runs none of it: ${how}`, async () => {
      await resetMarker();
      const pack = writePack('mv', `CREATE MATERIALIZED VIEW IF NOT EXISTS public.mv_calls AS ${query};\n`);
      const r = await runCli(['apply', pack, '--db', db.url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`m.looks_stable() (owned by ${mallory})`);
      expect(await marker()).toBe(1);
      expect((await db.query(`SELECT to_regclass('public.mv_calls') IS NULL AS gone`))[0].gone).toBe(true);
    });
  }

  it('the function’s owner applying the same view is not refused', async () => {
    await letReadRegistry(mallory);
    const pack = writePack('mvm', `CREATE MATERIALIZED VIEW IF NOT EXISTS m.mv_own AS SELECT m.looks_stable() AS x WITH NO DATA;\n`);
    const r = await runCli(['plan', pack, '--db', as(mallory)]);
    expect(r.code, r.stderr).toBe(0);
  });
});
