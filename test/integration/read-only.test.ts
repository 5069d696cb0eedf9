import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/**
 * verify and status with a monitoring role that may only read (no CREATE anywhere, no writes):
 * what a health check or a CI job runs with.
 */
let db: TestDatabase;
let roUrl: string;
const role = `ro_${randomBytes(3).toString('hex')}`;
const PACK = `CREATE INDEX IF NOT EXISTS idx_ro_a ON app.t (a);
CREATE MATERIALIZED VIEW IF NOT EXISTS app.t_daily AS SELECT a, count(*) AS n FROM app.t GROUP BY a;
CREATE UNIQUE INDEX IF NOT EXISTS t_daily_key ON app.t_daily (a);
`;

beforeAll(async () => {
  db = await createTestDatabase('readonly');
  await db.query(
    `CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, a int); INSERT INTO app.t SELECT g, g % 20 FROM generate_series(1, 5000) g`,
  );
  const password = randomBytes(12).toString('hex');
  await db.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  // Read everything, create nothing: no CREATE on the database or any schema (public included).
  await db.query(
    `GRANT CONNECT ON DATABASE "${db.name}" TO ${role}; GRANT USAGE ON SCHEMA app TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA app TO ${role}`,
  );
  await db.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON DATABASE "${db.name}" FROM PUBLIC`);
  const u = new URL(db.url);
  u.username = role;
  u.password = password;
  roUrl = u.toString();
  expect((await runCli(['apply', writePack('ro', PACK), '--db', db.url])).code).toBe(0);
  await db.query(`GRANT USAGE ON SCHEMA pgopt TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA pgopt TO ${role}`);
  await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA app TO ${role}`);
});
afterAll(async () => {
  await db?.query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`).catch(() => {});
  await db?.drop();
});

describe('a read-only role', () => {
  it('control: it cannot create the view the way apply checks one (the reason verify used to fail)', async () => {
    const c = await db.connect();
    await c.query(`SET ROLE ${role}`);
    await expect(c.query(`CREATE MATERIALIZED VIEW app.x AS SELECT 1 AS a WITH NO DATA`)).rejects.toThrow(/permission denied/);
    await c.query('RESET ROLE');
  });

  it('verify passes, changes nothing, and says the event was not logged', async () => {
    const events = await db.query(`SELECT count(*)::int AS n FROM pgopt.events`);
    const r = await runCli(['verify', writePack('ro', PACK), '--db', roUrl]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('all 3 object(s) verified');
    expect(r.stderr).toContain('this role cannot write pgopt.events: the verify was not logged');
    expect(await db.query(`SELECT count(*)::int AS n FROM pgopt.events`)).toEqual(events);
  });

  it('verify still finds a problem: an index dropped by hand', async () => {
    await db.query(`DROP INDEX app.idx_ro_a`);
    const r = await runCli(['verify', writePack('ro', PACK), '--db', roUrl]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('app.idx_ro_a (missing)');
    expect((await runCli(['apply', writePack('ro', PACK), '--db', db.url])).code).toBe(0);
  });

  it('status reads the registry', async () => {
    const r = await runCli(['status', '--json', '--db', roUrl]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).registry).toBe(true);
  });
});

describe('objects the pack describes, made outside pgopt', () => {
  it('verify: "present, not owned by pgopt" holds (a migration delivered the pack)', async () => {
    await db.query(`CREATE INDEX idx_by_migration ON app.t (id, a)`);
    const pack = writePack('migrated', `CREATE INDEX IF NOT EXISTS idx_by_migration ON app.t (id, a);\n`);
    const r = await runCli(['verify', pack, '--db', roUrl]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('present, not owned by pgopt');
    // A different definition under that name is not the pack's object.
    const other = writePack('migrated', `CREATE INDEX IF NOT EXISTS idx_by_migration ON app.t (a, id);\n`);
    expect((await runCli(['verify', other, '--db', roUrl])).code).toBe(1);
  });
});

describe('a role whose sessions start read-only (default_transaction_read_only = on)', () => {
  const owner = `rw_${randomBytes(3).toString('hex')}`;
  let ownerUrl: string;
  // A database of its own: the registry there is this role's.
  let own: TestDatabase;
  beforeAll(async () => {
    own = await createTestDatabase('rwonly');
    const password = randomBytes(12).toString('hex');
    await own.query(`CREATE ROLE ${owner} LOGIN PASSWORD '${password}'; ALTER ROLE ${owner} SET default_transaction_read_only = on`);
    await own.query(`CREATE SCHEMA own AUTHORIZATION ${owner}; GRANT CREATE ON DATABASE "${own.name}" TO ${owner}`);
    await own.query(`SET ROLE ${owner}; CREATE TABLE own.t (id int PRIMARY KEY, a int); RESET ROLE`);
    const u = new URL(own.url);
    u.username = owner;
    u.password = password;
    ownerUrl = u.toString();
  });
  afterAll(async () => {
    await own?.query(`DROP OWNED BY ${owner}`).catch(() => {});
    await own?.drop();
    await db.query(`DROP ROLE IF EXISTS ${owner}`).catch(() => {});
  });

  it('control: its own sessions cannot build (cannot execute CREATE INDEX in a read-only transaction)', async () => {
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: ownerUrl });
    await c.connect();
    await expect(c.query(`CREATE INDEX own_t_a ON own.t (a)`)).rejects.toThrow(/read-only transaction/);
    await c.end();
  });

  it('verify, apply and rollback work: pgopt sessions that must write say so', async () => {
    const pack = writePack('rwpack', `CREATE INDEX IF NOT EXISTS own_t_a ON own.t (a);\n`);
    const before = await runCli(['verify', pack, '--db', ownerUrl]);
    expect(before.code, before.stderr).toBe(1);
    const r = await runCli(['apply', pack, '--db', ownerUrl]);
    expect(r.code, r.stderr).toBe(0);
    expect((await runCli(['verify', pack, '--db', ownerUrl])).code).toBe(0);
    expect((await runCli(['rollback', pack, '--db', ownerUrl])).code).toBe(0);
  });
});
