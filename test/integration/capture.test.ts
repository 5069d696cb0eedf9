import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, dropRoles, urlAs, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';
import { loadWorkload } from '../../src/bench/workload.js';

/**
 * capture reads pg_stat_statements (the suite's server preloads it, as production servers do):
 * application traffic from plain clients in, a workload bench runs out.
 */
let db: TestDatabase;
const tag = randomBytes(3).toString('hex');
const alice = `alice_${tag}`;
const bob = `bob_${tag}`;
const password = randomBytes(12).toString('hex');
const as = (role: string) => urlAs(db.url, role, password);

/** Statements as an application sends them: bind parameters, several values. */
async function traffic(url: string, sql: string, values: (i: number) => unknown[], times: number): Promise<void> {
  const c = new pg.Client({ connectionString: url, application_name: 'the-app' });
  await c.connect();
  for (let i = 0; i < times; i++) await c.query(sql, values(i));
  await c.end();
}

/** The rate capture wrote for a query. */
const readCallsPerHour = (name: string) => {
  const text = readFileSync(capturedFile, 'utf8');
  return Number(new RegExp(`-- name: ${name}\\n-- calls-per-hour: ([\\d.e+]+)`).exec(text)![1]);
};
let capturedFile = '';

const EMAIL_LOOKUP = 'SELECT id, email FROM app.users WHERE lower(email) = lower($1)';
const OPEN_ORDERS = `SELECT id, total FROM app.orders WHERE user_id = $1 AND status = 'open' ORDER BY created_at DESC LIMIT 10`;

beforeAll(async () => {
  db = await createTestDatabase('capture');
  await db.query(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
  await db.query(`CREATE ROLE ${alice} LOGIN PASSWORD '${password}'`);
  await db.query(`CREATE ROLE ${bob} LOGIN PASSWORD '${password}'`);
  await db.query(`
    CREATE SCHEMA app;
    CREATE TABLE app.users (id int PRIMARY KEY, email text NOT NULL, org_id int);
    CREATE TABLE app.orders (id int PRIMARY KEY, user_id int NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL, total numeric);
    INSERT INTO app.users SELECT g, 'User' || g || '@example.com', g % 50 FROM generate_series(1, 5000) g;
    INSERT INTO app.orders SELECT g, 1 + g % 5000, (ARRAY['open', 'paid', 'shipped'])[1 + g % 3], now() - g * interval '1 minute', g % 97
      FROM generate_series(1, 30000) g;
    ANALYZE app.users; ANALYZE app.orders;
    GRANT USAGE, CREATE ON SCHEMA app TO ${alice};
    GRANT SELECT ON app.users TO ${alice};
`);
  // alice's own function: run by anyone else (a superuser's bench, say) it fails, naming whose rights it had.
  const a = new pg.Client({ connectionString: as(alice) });
  await a.connect();
  await a.query(`CREATE FUNCTION app.tagged(v int) RETURNS int STABLE LANGUAGE plpgsql AS $$
    BEGIN
      IF current_user <> '${alice}' THEN
        RAISE EXCEPTION 'payload ran as % (superuser: %)', current_user, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
      END IF;
      RETURN v;
    END $$`);
  await a.end();
  await db.query(`SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)`);
  await traffic(db.url, EMAIL_LOOKUP, (i) => [`USER${1 + ((i * 37) % 5000)}@EXAMPLE.COM`], 60);
  await traffic(db.url, OPEN_ORDERS, (i) => [1 + ((i * 101) % 5000)], 40);
  await traffic(db.url, 'SELECT count(*) FROM pg_class WHERE relname = $1', () => ['pg_type'], 10);
  await traffic(db.url, 'UPDATE app.orders SET total = total WHERE id = $1', (i) => [i + 1], 5);
  await traffic(db.url, 'SELECT $1::int + id FROM app.users WHERE id = 1', (i) => [i], 5);
  await traffic(as(alice), 'SELECT app.tagged(id) FROM app.users WHERE id = $1', (i) => [i + 1], 8);
  await traffic(as(alice), 'SELECT $1::int * id FROM app.users WHERE id = 3', (i) => [i], 5);
}, 120_000);

afterAll(async () => {
  await db?.drop();
  await dropRoles(db.url, [alice, bob]);
});

describe('pgopt capture', () => {
  let file: string;
  it('writes the heaviest statements as named queries with calls per hour, and says what it left out and why', async () => {
    file = writePack('captured', '').replace(/captured\.sql$/, `captured-${tag}.sql`);
    capturedFile = file;
    const r = await runCli(['capture', '--out', file, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(file, 'utf8');
    const w = await loadWorkload(file);
    const names = w.queries.map((q) => q.name);
    expect(names.some((n) => /^select_users_[0-9a-f]{6}$/.test(n))).toBe(true);
    expect(names.some((n) => /^select_orders_[0-9a-f]{6}$/.test(n))).toBe(true);
    expect(w.queries.every((q) => (q.callsPerHour ?? 0) > 0)).toBe(true);
    expect(text).toContain('left out: INSERT, UPDATE, DELETE and MERGE (add --include-writes)');
    expect(text).toContain('left out: statements on the system catalogs only');
    // A $n no source explains: this role's statement is kept for advise's generic plan, bench skips it;
    // alice's (another role's) is left out, since planning it as this role could run her code with these rights.
    expect(text).toMatch(/-- values-from: none\n-- mean-ms: [\d.e+-]+\nSELECT \$1::int \+ id FROM app\.users WHERE id = \$2;/);
    expect(w.queries.find((q) => q.forms[0].sql.includes('$1::int + id'))?.planOnly).toBe(true);
    expect(text).not.toContain('$1::int * id');
    expect(text).toContain('left out: statements with a $n no value could be found for');
    expect(text).not.toMatch(/^UPDATE/m);
    expect(r.stdout).toMatch(/select_orders_[0-9a-f]{6}\s*│\s*40\s/);
  });

  it('fills each $n with values that exist in the column it is compared with', async () => {
    const w = await loadWorkload(file);
    const orders = w.queries.find((q) => q.name.startsWith('select_orders_'))!;
    expect(orders.forms[0].sql).toContain('status = $2');
    // The test's own reads stay out of pg_stat_statements, as pgopt's do: a later capture compares.
    const quiet = new pg.Client({ connectionString: db.url, options: '-c pg_stat_statements.track=none' });
    await quiet.connect();
    try {
      const sets = (await quiet.query(orders.params!)).rows;
      expect(sets.length).toBeGreaterThan(5);
      for (const s of sets.slice(0, 10)) {
        const [user, status, limit] = [s.p1, s.p2, s.p3];
        expect(limit).toBe(20);
        expect((await quiet.query(`SELECT 1 FROM app.orders WHERE user_id = $1 AND status = $2`, [user, status])).rows).not.toHaveLength(0);
      }
      // The same values before and after: the sample is seeded.
      expect((await quiet.query(orders.params!)).rows).toEqual(sets);
    } finally {
      await quiet.end();
    }
  });

  it('the captured file is ordinary input: bench runs it, and says which query it cannot run', async () => {
    const r = await runCli(['bench', file, '--runs', '3', '--warmup', '0', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/select_orders_/);
    const planOnly = (await loadWorkload(file)).queries.find((q) => q.planOnly)!;
    expect(r.stderr).toContain(`not run: ${planOnly.name} (-- values-from: none`);
    expect(r.stdout).not.toContain(planOnly.name);
  });

  it('bench weighs what a change saves by the captured calls per hour: compare says how much production time it saves', async () => {
    const dir = dirname(file);
    const before = join(dir, 'before.json');
    const after = join(dir, 'after.json');
    expect((await runCli(['bench', file, '--runs', '15', '--warmup', '2', '--save', before, '--db', db.url])).code).toBe(0);
    const pack = writePack('orders_idx', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_user_status ON app.orders (user_id, status);\n');
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    expect((await runCli(['bench', file, '--runs', '15', '--warmup', '2', '--save', after, '--db', db.url])).code).toBe(0);
    const cmp = await runCli(['compare', before, after, '--format', 'json']);
    const doc = JSON.parse(cmp.stdout).comparison;
    const orders = doc.queries.find((q: { name: string }) => q.name.startsWith('select_orders_'));
    expect(orders.verdict, JSON.stringify(orders)).toBe('faster');
    expect(orders.savedMsPerHour).toBeCloseTo((orders.before.median - orders.after.median) * readCallsPerHour(orders.name), 6);
    expect(doc.savedMsPerHour).toBeGreaterThan(0);
    expect((await runCli(['compare', before, after])).stdout).toMatch(/production time saved: [\d.]+ (ms|s) per hour/);
    expect((await runCli(['rollback', 'orders_idx', '--db', db.url])).code).toBe(0);
  });

  it("another role's statement runs as that role in bench (-- run-as), never with the caller's rights; the caller's way would", async () => {
    const w = await loadWorkload(file);
    const theirs = w.queries.find((q) => q.forms[0].sql.includes('app.tagged'))!;
    expect(theirs.runAs).toBe(alice);
    const one = writePack(
      'theirs',
      readFileSync(file, 'utf8')
        .split('\n\n')
        .find((b) => b.includes('app.tagged'))! + '\n',
    );
    const r = await runCli(['bench', one, '--runs', '2', '--warmup', '0', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('payload ran as');
    // The control: the same statement benched as the caller (no run-as) runs alice's code as the superuser.
    const unsafe = writePack('unsafe', readFileSync(one, 'utf8').replace(/^-- run-as: .*$/m, ''));
    const u = await runCli(['bench', unsafe, '--runs', '2', '--warmup', '0', '--db', db.url]);
    expect(u.code).not.toBe(0);
    expect(u.stderr).toContain('payload ran as postgres (superuser: t)');
  });

  it("pgopt's own statements stay out of pg_stat_statements: a second capture after bench finds the same statements", async () => {
    const again = await runCli(['capture', '--db', db.url]);
    expect(again.code, again.stderr).toBe(0);
    const before = (await loadWorkload(file)).queries.map((q) => q.name).sort();
    const names = [...again.stdout.matchAll(/^-- name: (\S+)$/gm)].map((m) => m[1]).sort();
    expect(names).toEqual(before);
  });

  it('--include-writes takes the UPDATE too, with values from its columns', async () => {
    const r = await runCli(['capture', '--include-writes', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/-- name: update_orders_[0-9a-f]{6}\n/);
    expect(r.stdout).toContain('$1 from app.orders.id');
  });

  it('values from a large table come from a bounded sample: about 200 of its blocks read, where a Bernoulli sample reads every one', async () => {
    // Every 40 consecutive rows share an account: values clustered by insertion, the hard case for a block sample.
    await db.query(`CREATE TABLE app.events (id int, account int NOT NULL, pad text);
      INSERT INTO app.events SELECT g, g / 40, repeat('x', 300) FROM generate_series(1, 100000) g; ANALYZE app.events`);
    await traffic(db.url, 'SELECT id FROM app.events WHERE account = $1', (i) => [i * 7], 30);
    const r = await runCli(['capture', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const params = /-- name: select_events_[0-9a-f]{6}\n(?:--.*\n)*?-- params: (.*)\n/.exec(r.stdout)![1];
    const blocks = Number((await db.query(`SELECT pg_relation_size('app.events') / 8192 AS b`))[0].b);
    const sampleRead = async (sql: string) => {
      const plan = (await db.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`))[0]['QUERY PLAN'][0].Plan;
      const scans: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number }[] = [];
      const walk = (n: { 'Node Type': string; Plans?: unknown[] }) => {
        if (n['Node Type'] === 'Sample Scan') scans.push(n as never);
        for (const child of (n.Plans ?? []) as (typeof n)[]) walk(child);
      };
      walk(plan);
      return scans.reduce((t, s) => t + s['Shared Hit Blocks'] + s['Shared Read Blocks'], 0);
    };
    expect(blocks).toBeGreaterThan(4000);
    expect(await sampleRead(params)).toBeLessThan(300);
    const values = await db.query(params);
    expect(values).toHaveLength(50);
    expect(new Set(values.map((v) => v.p1)).size).toBeGreaterThan(30);
    // The control: the same query as a Bernoulli sample reads the whole table for its 50 rows.
    expect(await sampleRead(params.replace('TABLESAMPLE SYSTEM', 'TABLESAMPLE BERNOULLI'))).toBeGreaterThanOrEqual(blocks);
  });

  it('a role without pg_read_all_stats is told why others’ statements are missing', async () => {
    const r = await runCli(['capture', '--db', as(bob)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('show as <insufficient privilege>: grant this role pg_read_all_stats');
  });

  it('where pg_stat_statements is not installed: exit 3 with what to do, and nothing written', async () => {
    const other = await createTestDatabase('nopgss');
    const out = writePack('never', '').replace(/never\.sql$/, `never-${tag}.sql`);
    const r = await runCli(['capture', '--out', out, '--force', '--db', other.url]);
    await other.drop();
    expect(existsSync(out)).toBe(false);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('pg_stat_statements is not installed in this database');
  });
});
