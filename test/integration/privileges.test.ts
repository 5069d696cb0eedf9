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
});
