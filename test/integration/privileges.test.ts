import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogSnapshot, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';
import { randomBytes } from 'node:crypto';

let db: TestDatabase;
const suffix = randomBytes(3).toString('hex');
const OWNER = `app_owner_${suffix}`;
const READER = `app_reader_${suffix}`;
const urlAs = (role: string) => {
  const u = new URL(db.url);
  u.username = role;
  u.password = 'Role-Pa55';
  return u.toString();
};
const PACK = `CREATE INDEX idx_priv_wf ON app."Execution" ("workflowId", "createdAt" DESC);
CREATE MATERIALIZED VIEW app.priv_daily AS SELECT "workflowId", count(*) AS n FROM app."Execution" GROUP BY 1;
CREATE UNIQUE INDEX priv_daily_key ON app.priv_daily ("workflowId");
`;

beforeAll(async () => {
  db = await createTestDatabase('priv');
  await loadSmallSchema(db, 2000);
  await db.query(`
    CREATE ROLE ${OWNER} LOGIN PASSWORD 'Role-Pa55';
    CREATE ROLE ${READER} LOGIN PASSWORD 'Role-Pa55';
    GRANT CREATE, TEMP ON DATABASE ${db.name} TO ${OWNER};
    ALTER SCHEMA app OWNER TO ${OWNER};
    ALTER TABLE app."Execution" OWNER TO ${OWNER};
    ALTER TABLE app.projects OWNER TO ${OWNER};
    GRANT USAGE ON SCHEMA app TO ${READER};
    GRANT SELECT ON ALL TABLES IN SCHEMA app TO ${READER};
  `);
});
afterAll(async () => {
  await db?.drop();
  const { inject } = await import('vitest');
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${OWNER}`).catch(() => {});
  await admin.query(`DROP ROLE IF EXISTS ${READER}`).catch(() => {});
  await admin.end();
});

describe('least privilege', () => {
  it('a role that lacks ownership and CREATE fails before changing anything, naming what is missing (exit 3)', async () => {
    const pack = writePack('priv', PACK);
    const before = await catalogSnapshot(db);
    const r = await runCli(['apply', pack, '--db', urlAs(READER)]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`role ${READER} lacks the privileges this pack needs`);
    expect(r.stderr).toContain(`ownership of app.Execution (owned by ${OWNER})`);
    expect(r.stderr).toContain('CREATE on schema app');
    expect(r.stderr).toContain('CREATE on this database');
    expect(r.stderr).not.toContain('Role-Pa55');
    expect(await catalogSnapshot(db)).toBe(before);
    // The unsafe way: the same statement run directly is refused only when it gets there.
    const pg = (await import('pg')).default;
    const direct = new pg.Client({ connectionString: urlAs(READER) });
    await direct.connect();
    await expect(direct.query(`CREATE INDEX idx_direct ON app."Execution" (status)`)).rejects.toThrow(/must be owner/);
    await direct.end();
  });

  it('the owner of the tables, not a superuser, can apply, verify, bench and roll back', async () => {
    const pack = writePack('priv', PACK);
    const super_ = await db.query(`SELECT rolsuper FROM pg_roles WHERE rolname = '${OWNER}'`);
    expect(super_[0].rolsuper).toBe(false);
    const a = await runCli(['apply', pack, '--db', urlAs(OWNER)]);
    expect(a.code, a.stderr).toBe(0);
    expect((await runCli(['verify', pack, '--db', urlAs(OWNER)])).code).toBe(0);
    const wl = writePack(
      'w',
      `-- name: hist\n-- params: SELECT g FROM generate_series(1, 5) g\nSELECT id FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 5;\n`,
    );
    const b = await runCli(['bench', wl, '--runs', '3', '--warmup', '1', '--db', urlAs(OWNER)]);
    expect(b.code, b.stderr).toBe(0);
    const rows = await db.query(`SELECT applied_by FROM pgopt.objects`);
    expect(rows.every((r) => r.applied_by === OWNER)).toBe(true);
    expect((await runCli(['rollback', pack, '--db', urlAs(OWNER)])).code).toBe(0);
  });

  it('a registry another role owns: status names the owner and the GRANT, which is all status and verify need', async () => {
    const pack = writePack('priv', PACK);
    // The DBA's registry: a superuser owns it (so every role trusts it), and others may not read it.
    expect((await runCli(['apply', pack, '--db', urlAs(OWNER)])).code).toBe(0);
    await db.query(
      `ALTER SCHEMA pgopt OWNER TO postgres; ALTER TABLE pgopt.objects OWNER TO postgres; ALTER TABLE pgopt.events OWNER TO postgres;
       ALTER TABLE pgopt.meta OWNER TO postgres; ALTER TABLE pgopt.snapshots OWNER TO postgres;
       ALTER TABLE pgopt.snapshot_statements OWNER TO postgres; ALTER TABLE pgopt.snapshot_indexes OWNER TO postgres;
       ALTER TABLE pgopt.dropped OWNER TO postgres`,
    );
    const denied = await runCli(['status', '--db', urlAs(READER)]);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toContain(`role ${READER} cannot read the registry: schema pgopt belongs to postgres`);
    expect(denied.stderr).toContain(`GRANT USAGE ON SCHEMA pgopt TO ${READER}; GRANT SELECT ON ALL TABLES IN SCHEMA pgopt TO ${READER}`);
    expect(denied.stderr).not.toContain('unexpected');
    // The control: the same read done directly is the bare server error the old message passed on.
    const pg = (await import('pg')).default;
    const direct = new pg.Client({ connectionString: urlAs(READER) });
    await direct.connect();
    await expect(direct.query('SELECT * FROM pgopt.objects')).rejects.toThrow(/permission denied for schema pgopt/);
    await direct.end();
    // The hint's grants, and nothing more, let status and verify run (verify also reads the pack's view, made after READER's grants).
    await db.query(`GRANT USAGE ON SCHEMA pgopt TO ${READER}; GRANT SELECT ON ALL TABLES IN SCHEMA pgopt TO ${READER}`);
    await db.query(`GRANT SELECT ON app.priv_daily TO ${READER}`);
    const s = await runCli(['status', '--db', urlAs(READER)]);
    expect(s.code, s.stderr).toBe(0);
    const v = await runCli(['verify', pack, '--db', urlAs(READER)]);
    expect(v.code, v.stderr).toBe(0);
    expect((await runCli(['rollback', pack, '--db', db.url])).code).toBe(0);
  });
});
