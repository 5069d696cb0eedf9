import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, dropRoles, urlAs, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';
import { startStandby, STANDBY_BIN, startFromBinaries, type BinaryServer, type Standby } from '../helpers/servers.js';

/**
 * hygiene on a real server: every kind of finding planted, with controls that must be left alone,
 * and the drop pack applied and rolled back byte for byte.
 */
let db: TestDatabase;
let dir = '';

const SCHEMA = `
CREATE SCHEMA app;
CREATE TABLE app.parent (id int PRIMARY KEY, name text);
CREATE TABLE app.t (id bigint PRIMARY KEY, a int, b int, c text, d int, e int, email text, parent_id int REFERENCES app.parent (id));
INSERT INTO app.parent SELECT g, 'p' || g FROM generate_series(1, 500) g;
INSERT INTO app.t SELECT g, g % 1000, g % 997, md5(g::text), g % 5000, g % 3000, 'u' || g || '@x.org', 1 + g % 500 FROM generate_series(1, 60000) g;
-- planted: unused, a duplicate pair, a redundant prefix
CREATE INDEX t_c ON app.t (c);
CREATE INDEX t_d ON app.t (d);
CREATE INDEX t_d_copy ON app.t (d);
CREATE INDEX t_e ON app.t (e) WITH (fillfactor = 70);
COMMENT ON INDEX app.t_e IS 'the e lookup';
CREATE INDEX t_e_a ON app.t (e, a);
-- controls: a unique constraint, a unique index, one only a rare workload query reads
ALTER TABLE app.t ADD CONSTRAINT t_email_key UNIQUE (email);
CREATE INDEX t_b ON app.t (b);
-- controls: replica identity and CLUSTER
CREATE TABLE app.r (k int NOT NULL, v int);
INSERT INTO app.r SELECT g, g FROM generate_series(1, 1000) g;
CREATE UNIQUE INDEX r_k ON app.r (k);
ALTER TABLE app.r REPLICA IDENTITY USING INDEX r_k;
CREATE INDEX r_v ON app.r (v);
CLUSTER app.r USING r_v;
ANALYZE;
`;

const WORKLOAD = `-- name: by_d
-- params: SELECT 42
SELECT * FROM app.t WHERE d = $1;

-- name: by_e
-- params: SELECT 7
SELECT id FROM app.t WHERE e = $1;

-- name: by_e_a
-- params: SELECT 7, 8
SELECT id FROM app.t WHERE e = $1 AND a = $2;

-- name: rare_by_b
-- params: SELECT 5
SELECT * FROM app.t WHERE b = $1;
`;

/** Application reads that give the used indexes their scans (not t_b: only the rare query reads it, and it has not run). */
async function traffic(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('SET enable_seqscan = off');
  for (let i = 0; i < 20; i++) {
    await c.query('SELECT * FROM app.t WHERE d = $1', [i]);
    await c.query('SELECT id FROM app.t WHERE e = $1 AND a = $2', [i, i]);
    await c.query('SELECT id FROM app.t WHERE e = $1', [i]);
  }
  await c.query('SELECT k FROM app.r WHERE v = 3');
  if ((await c.query(`SELECT current_setting('server_version_num')::int >= 150000 AS f`)).rows[0].f)
    await c.query('SELECT pg_stat_force_next_flush()');
  await c.end();
}

const indexState = async () =>
  db.query(
    `SELECT c.relname AS name, pg_get_indexdef(c.oid) AS def, obj_description(c.oid, 'pg_class') AS comment, c.reloptions::text AS options
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'app' AND c.relkind = 'i' ORDER BY 1`,
  );

const hygiene = async (...args: string[]) => {
  const r = await runCli(['hygiene', '--json', '--db', db.url, ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  db = await createTestDatabase('hyg');
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await db.query(SCHEMA);
  // An INVALID leftover: a unique concurrent build that failed on duplicates.
  await db.query('CREATE UNIQUE INDEX CONCURRENTLY t_bad ON app.t (a)').catch(() => {});
  await traffic(db.url);
  dir = join(writePack('hyg-dir', 'SELECT 1;\n'), '..');
  writeFileSync(join(dir, 'w.sql'), WORKLOAD);
}, 120_000);
afterAll(async () => {
  await db?.drop();
});

describe('pgopt hygiene', () => {
  it('finds each planted kind, proposes only the waste, and leaves every control alone', async () => {
    const r = await hygiene('--min-age', '0s', '--workload', join(dir, 'w.sql'));
    const kinds = (k: string) => r.findings.filter((f: { kind: string }) => f.kind === k).map((f: { subject: string }) => f.subject);
    expect(kinds('unused')).toContain('app.t_c');
    expect(kinds('duplicate')).toEqual([expect.stringMatching(/^app\.t_d(_copy)?$/)]);
    expect(kinds('redundant')).toContain('app.t_e');
    expect(kinds('invalid')).toEqual(['app.t_bad']);
    expect(kinds('unindexed-foreign-key')).toEqual(['t_parent_id_fkey']);
    const drops: string[] = r.drops.map((d: { index: string }) => d.index).sort();
    expect(drops.filter((d) => !d.startsWith('app.t_d'))).toEqual(['app.t_bad', 'app.t_c', 'app.t_e']);
    expect(drops.filter((d) => d.startsWith('app.t_d'))).toHaveLength(1);
    for (const control of ['app.t_pkey', 'app.t_email_key', 'app.r_k', 'app.r_v', 'app.t_b', 'app.t_e_a', 'app.parent_pkey'])
      expect(drops).not.toContain(control);
    // The rare query's index: no scan in the counters, kept because the workload's plan reads it.
    expect(r.kept.map((k: { index: string }) => k.index)).toEqual(['app.t_b']);
    expect(r.kept[0].neededBy[0].query).toBe('rare_by_b');
  });

  it('the rare query is what keeps t_b: without the workload it is proposed (the control)', async () => {
    const r = await hygiene('--min-age', '0s');
    expect(r.drops.map((d: { index: string }) => d.index)).toContain('app.t_b');
    expect(r.drops.every((d: { evidence: string }) => d.evidence === 'unproven')).toBe(true);
  });

  it('refuses to call anything unused on counters younger than --min-age (default 7 days)', async () => {
    const r = await hygiene();
    const unused = r.findings.filter((f: { kind: string }) => f.kind === 'unused');
    expect(unused.length).toBeGreaterThan(0);
    for (const f of unused) expect(f.keptBecause).toContain('less than --min-age');
    expect(r.drops.map((d: { index: string }) => d.index)).not.toContain('app.t_c');
  });

  it("another role's statement (-- run-as) is never planned with pgopt's rights: the drops on its table stay", async () => {
    const role = `hyg_app_${db.name.slice(-6)}`;
    // Constant-folded at plan time: planning the statement as anyone but its role would run it.
    await db.query(`CREATE ROLE ${role};
      CREATE FUNCTION app.only_mine(int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN IF current_user <> '${role}' THEN RAISE EXCEPTION 'ran as %', current_user; END IF; RETURN 'x'; END $$;
      ALTER FUNCTION app.only_mine(int) OWNER TO ${role}`);
    try {
      writeFileSync(
        join(dir, 'other.sql'),
        `${WORKLOAD}\n-- name: theirs\n-- run-as: ${role}\nSELECT id FROM app.t WHERE c = app.only_mine(1);\n`,
      );
      const r = await hygiene('--min-age', '0s', '--workload', join(dir, 'other.sql'));
      const kept = r.kept.find((k: { index: string }) => k.index === 'app.t_c');
      expect(kept.otherRoles).toEqual(['theirs']);
      expect(r.drops.map((d: { index: string }) => d.index)).not.toContain('app.t_c');
      // The unsafe way: the same statement planned with this role's rights runs the other role's function.
      await expect(db.query('EXPLAIN SELECT id FROM app.t WHERE c = app.only_mine(1)')).rejects.toThrow(/ran as/);
    } finally {
      await db.query(`DROP FUNCTION app.only_mine(int)`);
      await dropRoles(db.url, [role]);
    }
  });

  it('with HypoPG 1.4 each drop is hidden from the planner: a query that needs it keeps it, one served as well by a twin lets it go', async () => {
    const r = await hygiene('--min-age', '0s', '--workload', join(dir, 'w.sql'), '--install-hypopg');
    if (r.hypopg === 'not-installed') {
      console.warn('this server has no HypoPG 1.4 (.ci/run builds it for PostgreSQL 15): only the plans-as-they-stand path ran');
      expect(r.prediction).toBe('plans');
      return;
    }
    expect(['installed', 'used']).toContain(r.hypopg);
    expect(r.prediction).toBe('hidden');
    // Needed: the rare query's plan costs far more with t_b hidden.
    const tb = r.kept.find((k: { index: string }) => k.index === 'app.t_b');
    expect(tb.neededBy[0].costAfter).toBeGreaterThan(tb.neededBy[0].costBefore * 1.1);
    // Let go: every drop a plan read was replaced at no more than the bar (a duplicate's twin, a redundant index's wider one).
    const switched = r.drops.flatMap((d: { switched: { costBefore: number; costAfter: number }[] }) => d.switched);
    for (const s of switched) expect(s.costAfter).toBeLessThanOrEqual(s.costBefore * 1.1);
    expect(r.drops.map((d: { evidence: string }) => d.evidence)).toEqual(r.drops.map(() => 'predicted'));
    await db.query('DROP EXTENSION hypopg');
  });

  it('applies the drop pack, and rollback builds every index again exactly (definition, options, comment)', async () => {
    const before = await indexState();
    const pack = join(dir, 'drops.sql');
    await hygiene('--min-age', '0s', '--workload', join(dir, 'w.sql'), '--out', pack, '--force');
    const plan = await runCli(['plan', pack, '--db', db.url]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout, plan.stdout).toContain('index(es) to drop');
    const apply = await runCli(['apply', pack, '--db', db.url]);
    expect(apply.code, apply.stderr).toBe(0);
    const gone = (await indexState()).map((x: { name: string }) => x.name);
    for (const n of ['t_bad', 't_c', 't_e']) expect(gone).not.toContain(n);
    expect(gone).toContain('t_b');
    const v = await runCli(['verify', pack, '--db', db.url]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const recorded = await db.query(`SELECT index_name, state, definition FROM pgopt.dropped ORDER BY 1`);
    expect(recorded.every((x: { state: string }) => x.state === 'dropped')).toBe(true);
    // impact on the drop pack names what it dropped (apply took its snapshots: pg_stat_statements is created here).
    const impact = await runCli(['impact', 'drops', '--format', 'json', '--db', db.url]);
    expect(impact.code, impact.stderr).toBe(0);
    const objects = JSON.parse(impact.stdout).objects;
    expect(objects.filter((o: { dropped?: boolean }) => o.dropped).map((o: { object: string }) => o.object)).toContain('app.t_c');
    // A second apply has nothing left to do.
    const again = await runCli(['apply', pack, '--db', db.url, '--json']);
    expect(JSON.parse(again.stdout).changed).toBe(false);
    const back = await runCli(['rollback', pack.replace(/.*\//, '').replace(/\.sql$/, ''), '--db', db.url]);
    expect(back.code, back.stderr).toBe(0);
    // Every index comes back as it was; the INVALID leftover is not rebuilt (it never served a query).
    const after = await indexState();
    expect(after).toEqual(before.filter((x: { name: string }) => x.name !== 't_bad'));
    expect(back.stdout).toMatch(/t_bad[\s\S]*left-out/);
    // And once more: a verify of the drop pack now says the indexes are back.
    const v2 = await runCli(['verify', pack, '--db', db.url]);
    expect(v2.code).toBe(1);
  });

  it('--measure benches the workload with the drops really gone, then rolls the drops back: every index is still there', async () => {
    const before = await indexState();
    const r = await hygiene('--min-age', '0s', '--workload', join(dir, 'w.sql'), '--measure', '--runs', '6');
    expect(r.drops.length).toBeGreaterThan(0);
    for (const d of r.drops) expect(d.evidence).toBe('measured');
    expect(r.kept.map((k: { index: string }) => k.index)).toContain('app.t_b');
    expect(r.measured.unattributed).toEqual([]);
    expect(await indexState()).toEqual(before);
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'`)).toEqual([
      { n: 0 },
    ]);
  });

  it('bloat: an index left mostly empty by a mass delete is found (estimated, and measured where pgstattuple is), a fresh one is not', async () => {
    await db.query(`CREATE TABLE app.b (id int, v int); INSERT INTO app.b SELECT g, g FROM generate_series(1, 600000) g;
                    CREATE INDEX b_v ON app.b (v); CREATE INDEX b_fresh ON app.b (id)`);
    await db.query('DELETE FROM app.b WHERE id % 10 <> 0');
    await db.query('VACUUM ANALYZE app.b');
    // b_fresh is built again on what is left: the control, the same rows, no empty space.
    await db.query('DROP INDEX app.b_fresh; CREATE INDEX b_fresh ON app.b (id)');
    const bloated = async () => (await hygiene('--min-age', '0s')).findings.filter((f: { kind: string }) => f.kind === 'bloated');
    const est = await bloated();
    expect(est.map((f: { subject: string }) => f.subject)).toEqual(['app.b_v']);
    expect(est[0].evidence).toContain('an estimate');
    expect(est[0].fix).toBe('REINDEX INDEX CONCURRENTLY "app"."b_v"');
    const stattuple = (await db.query(`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'pgstattuple'`))[0].n > 0;
    if (!stattuple) return console.warn('no pgstattuple here: only the estimate was checked');
    await db.query('CREATE EXTENSION pgstattuple');
    const measured = await bloated();
    expect(measured.map((f: { subject: string }) => f.subject)).toEqual(['app.b_v']);
    expect(measured[0].evidence).toContain('measured by pgstattuple');
    await db.query('DROP EXTENSION pgstattuple; DROP TABLE app.b');
  });

  it('a role that does not own the table is refused before anything changes; its own DROP INDEX fails only when it gets there', async () => {
    const role = `hyg_other_${db.name.slice(-6)}`;
    // No registry: the role could not read this one (pgopt creates it for its own role only), which stops it first.
    await db.query('DROP SCHEMA IF EXISTS pgopt CASCADE');
    await db.query(
      `CREATE ROLE ${role} LOGIN PASSWORD 'Role-Pa55'; GRANT USAGE, CREATE ON SCHEMA app TO ${role}; GRANT CREATE ON DATABASE ${db.name} TO ${role}`,
    );
    try {
      const pack = writePack('not-mine', 'DROP INDEX CONCURRENTLY IF EXISTS app.t_d;\nDROP INDEX CONCURRENTLY IF EXISTS app.t_d_copy;\n');
      const before = await indexState();
      const r = await runCli(['apply', pack, '--db', urlAs(db.url, role, 'Role-Pa55')]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('belongs to');
      expect(await indexState()).toEqual(before);
      // The unsafe way: the server refuses each drop only as it comes to it.
      const direct = new pg.Client({ connectionString: urlAs(db.url, role, 'Role-Pa55') });
      await direct.connect();
      await expect(direct.query('DROP INDEX app.t_d')).rejects.toThrow(/must be owner/);
      await direct.end();
    } finally {
      await db.query(`REVOKE ALL ON SCHEMA app FROM ${role}; REVOKE ALL ON DATABASE ${db.name} FROM ${role}`);
      await dropRoles(db.url, [role]);
    }
  });

  it('a drop that fails (its lock never came) leaves the index and no record claiming it was dropped', async () => {
    const holder = await db.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE app.t IN ACCESS SHARE MODE');
    try {
      const pack = writePack('blocked', 'DROP INDEX IF EXISTS app.t_c;\n');
      const r = await runCli(['apply', pack, '--no-concurrently', '--lock-timeout', '100ms', '--lock-retries', '0', '--db', db.url]);
      expect(r.code, r.stderr).not.toBe(0);
      expect((await indexState()).map((x: { name: string }) => x.name)).toContain('t_c');
      expect(await db.query(`SELECT count(*)::int AS n FROM pgopt.dropped WHERE pack = 'blocked'`)).toEqual([{ n: 0 }]);
    } finally {
      await holder.query('ROLLBACK');
    }
  });

  it('a drop pack naming a constraint, replica identity or clustered index stops before anything changes; the server itself would drop the clustered one', async () => {
    for (const [name, what] of [
      ['app.t_pkey', 'primary key'],
      ['app.t_email_key', 'unique constraint'],
      ['app.r_v', 'CLUSTER'],
    ]) {
      const pack = writePack(`bad-${name.replace('.', '-')}`, `DROP INDEX CONCURRENTLY IF EXISTS ${name};\n`);
      const r = await runCli(['apply', pack, '--db', db.url]);
      expect(r.code, name).toBe(1);
      expect(r.stderr).toContain(what);
      expect((await indexState()).map((x: { name: string }) => x.name)).toContain(name.replace('app.', ''));
    }
    // The unsafe way: the server itself lets a clustered or replica-identity index go.
    const c = await db.connect();
    await c.query('BEGIN');
    await c.query('DROP INDEX app.r_v');
    await c.query('ROLLBACK');
  });
});

if (!STANDBY_BIN) console.warn('no pg_basebackup here (Debian: postgresql-15): the hygiene standby test is skipped');

describe.runIf(STANDBY_BIN)('hygiene with a standby (--replica)', () => {
  let primary: BinaryServer;
  let standby: Standby;
  beforeAll(async () => {
    primary = await startFromBinaries(STANDBY_BIN!);
    const c = new pg.Client({ connectionString: primary.url });
    await c.connect();
    await c.query(`CREATE TABLE rep (id int PRIMARY KEY, k int); INSERT INTO rep SELECT g, g % 500 FROM generate_series(1, 20000) g;
                   CREATE INDEX rep_k ON rep (k); ANALYZE rep`);
    await c.end();
    standby = await startStandby(STANDBY_BIN!, primary);
    const s = new pg.Client({ connectionString: standby.url });
    await s.connect();
    for (let i = 0; i < 200; i++) {
      if ((await s.query(`SELECT to_regclass('rep_k') IS NOT NULL AS ok`)).rows[0].ok) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    await s.query('SET enable_seqscan = off');
    for (let i = 0; i < 10; i++) await s.query('SELECT id FROM rep WHERE k = $1', [i]);
    if ((await s.query(`SELECT current_setting('server_version_num')::int >= 150000 AS f`)).rows[0].f)
      await s.query('SELECT pg_stat_force_next_flush()');
    await s.end();
  }, 120_000);
  afterAll(async () => {
    standby?.stop();
    await primary?.stop();
  });

  it('an index read only on the standby is not unused; asked of the primary alone it would be (the control)', async () => {
    const run = async (...extra: string[]) => {
      const r = await runCli(['hygiene', '--json', '--min-age', '0s', '--db', primary.url, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).drops.map((d: { index: string }) => d.index);
    };
    expect(await run()).toContain('public.rep_k');
    expect(await run('--replica', standby.url)).not.toContain('public.rep_k');
  });
});
