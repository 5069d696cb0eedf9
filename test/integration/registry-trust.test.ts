import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/**
 * The trust boundaries of SECURITY.md, each attacked the way the security review did, and each
 * with a control showing the attack is real (what the unsafe code did would have let it through).
 */
let db: TestDatabase;
const tag = randomBytes(3).toString('hex');
const mallory = `mallory_${tag}`;
const malloryPassword = randomBytes(12).toString('hex');
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);
const asMallory = () => {
  const u = new URL(db.url);
  u.username = mallory;
  u.password = malloryPassword;
  return u.toString();
};
const isSuperuser = async (role: string) =>
  (await db.query(`SELECT rolsuper FROM pg_roles WHERE rolname = $1`, [role]))[0].rolsuper as boolean;
const exists = async (rel: string) => (await db.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [rel]))[0].ok as boolean;

/** The registry's shape, as an attacker would copy it from pgopt's source. */
const PLANTED_REGISTRY = `
  CREATE SCHEMA pgopt;
  CREATE TABLE pgopt.objects (pack text NOT NULL, schema_name text NOT NULL, object_name text NOT NULL, kind text NOT NULL,
    table_name text, ordinal int NOT NULL, state text NOT NULL, statement text NOT NULL, fingerprint text NOT NULL,
    catalog_definition text, rollback_sql text[] NOT NULL, object_oid oid, pre_existing boolean NOT NULL DEFAULT false,
    applied_at timestamptz, applied_by text, duration_ms numeric, pgopt_version text NOT NULL, table_oid oid,
    PRIMARY KEY (pack, schema_name, object_name));
  CREATE TABLE pgopt.events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), run_id text, pack text,
    action text NOT NULL, object text, outcome text NOT NULL, duration_ms numeric, detail jsonb, by_user text NOT NULL DEFAULT current_user, pgopt_version text);
`;

beforeAll(async () => {
  db = await createTestDatabase('security');
  await db.query(`CREATE ROLE ${mallory} LOGIN PASSWORD '${malloryPassword}'`);
  await db.query(`GRANT CREATE ON DATABASE ${db.name} TO ${mallory}`);
  await db.query(`CREATE TABLE public.t (id int PRIMARY KEY, a int, b text)`);
  await db.query(`INSERT INTO public.t SELECT g, g % 50, 'x' || g FROM generate_series(1, 2000) g`);
});
afterAll(async () => {
  await db?.drop();
  const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/]+$/, '/postgres') });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${mallory}`).catch(() => {});
  await admin.end();
});

describe('a registry planted by a role with CREATE on the database', () => {
  let m: pg.Client;
  beforeAll(async () => {
    m = new pg.Client({ connectionString: asMallory() });
    await m.connect();
    await m.query(PLANTED_REGISTRY);
    await m.query(`CREATE SCHEMA m; CREATE TABLE m.t (a int); CREATE INDEX m_idx ON m.t (a)`);
    await m.query(
      `INSERT INTO pgopt.objects (pack, schema_name, object_name, kind, table_name, ordinal, state, statement, fingerprint,
         catalog_definition, rollback_sql, object_oid, pgopt_version)
       SELECT 'evil', 'm', 'm_idx', 'index', 't', 0, 'applied', 'CREATE INDEX m_idx ON m.t (a)', 'x',
              pg_get_indexdef('m.m_idx'::regclass), ARRAY['ALTER ROLE ${mallory} SUPERUSER', 'DROP INDEX m.m_idx'], 'm.m_idx'::regclass::oid, '0'`,
    );
  });
  afterAll(async () => {
    await m.query('DROP SCHEMA pgopt CASCADE; DROP SCHEMA m CASCADE').catch(() => {});
    await m.end();
  });

  it('control: the row carries a real escalation (run as a superuser would, it makes mallory superuser)', async () => {
    const c = await db.connect();
    await c.query('BEGIN');
    const sql = (await c.query(`SELECT rollback_sql FROM pgopt.objects WHERE pack = 'evil'`)).rows[0].rollback_sql as string[];
    await c.query(sql[0]);
    const inside = (await c.query(`SELECT rolsuper FROM pg_roles WHERE rolname = $1`, [mallory])).rows[0].rolsuper;
    await c.query('ROLLBACK');
    expect(inside).toBe(true);
    expect(await isSuperuser(mallory)).toBe(false);
  });

  it('rollback by a superuser refuses the registry (exit 3, names the owner), runs nothing of it', async () => {
    const r = await cli('rollback', 'evil');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`owned by role "${mallory}"`);
    expect(r.stderr).toMatch(/DROP SCHEMA pgopt CASCADE|OWNER TO/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(await isSuperuser(mallory)).toBe(false);
    expect(await exists('m.m_idx')).toBe(true);
  });

  it('status and apply refuse it too, and apply changes nothing', async () => {
    expect((await cli('status')).code).toBe(3);
    const pack = writePack('p', 'CREATE INDEX t_b_idx ON public.t (b);');
    const r = await cli('apply', pack);
    expect(r.code).toBe(3);
    expect(await exists('public.t_b_idx')).toBe(false);
  });
});

describe('a registry pgopt created, tampered with afterwards', () => {
  const pack = writePack(
    'tamper',
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON public.t (a);\nCREATE INDEX IF NOT EXISTS t_b_idx ON public.t (b);',
  );
  beforeAll(async () => {
    await db.query(`CREATE INDEX keep_me ON public.t (a, b)`);
    const r = await cli('apply', pack);
    expect(r.code, r.stderr).toBe(0);
  });

  it('pgopt creates its registry with no privileges for PUBLIC', async () => {
    const acl = await db.query(
      `SELECT relname, relacl::text AS acl FROM pg_class WHERE relnamespace = 'pgopt'::regnamespace AND relkind IN ('r', 'S')`,
    );
    for (const r of acl) expect(r.acl ?? '').not.toMatch(/(^|[{,])=/);
    const schema = await db.query(`SELECT nspacl::text AS acl FROM pg_namespace WHERE nspname = 'pgopt'`);
    expect(schema[0].acl ?? '').not.toMatch(/(^|[{,])=/);
  });

  for (const [label, sql] of [
    ['an escalation', `ARRAY['ALTER ROLE ${mallory} SUPERUSER']`],
    ['a drop of another index', `ARRAY['DROP INDEX public.keep_me']`],
    ['a drop with CASCADE', `ARRAY['DROP INDEX public.t_a_idx CASCADE']`],
    ['a second statement after the drop', `ARRAY['DROP INDEX public.t_a_idx; ALTER ROLE ${mallory} SUPERUSER']`],
  ] as const) {
    it(`rollback_sql rewritten to ${label}: refused with exit 2 before anything is dropped`, async () => {
      await db.query(`UPDATE pgopt.objects SET rollback_sql = ${sql} WHERE object_name = 't_a_idx'`);
      const r = await cli('rollback', 'tamper');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('registry row for public.t_a_idx was altered: its rollback is not a drop of public.t_a_idx');
      expect(await exists('public.t_a_idx')).toBe(true);
      expect(await exists('public.t_b_idx')).toBe(true);
      expect(await exists('public.keep_me')).toBe(true);
      expect(await isSuperuser(mallory)).toBe(false);
    });
  }

  it('a registry table with INSERT granted to PUBLIC is refused (exit 3) with the REVOKE that fixes it; after it, rollback works', async () => {
    await db.query(`UPDATE pgopt.objects SET rollback_sql = '{}' WHERE object_name = 't_a_idx'`);
    await db.query(`GRANT INSERT ON pgopt.objects TO PUBLIC`);
    const r = await cli('rollback', 'tamper');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('table pgopt.objects grants INSERT to PUBLIC');
    expect(r.stderr).toContain('REVOKE INSERT ON TABLE pgopt.objects FROM PUBLIC');
    expect(await exists('public.t_a_idx')).toBe(true);
    await db.query(`REVOKE INSERT ON pgopt.objects FROM PUBLIC`);
    const ok = await cli('rollback', 'tamper', '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).objects.map((o: any) => o.outcome)).toEqual(['dropped', 'dropped']);
    expect(await exists('public.t_a_idx')).toBe(false);
    expect(await exists('public.keep_me')).toBe(true);
  });

  it('a schema pgopt without the registry tables is refused, not adopted', async () => {
    const other = await createTestDatabase('security_empty');
    try {
      await other.query('CREATE SCHEMA pgopt');
      await other.query('CREATE TABLE public.x (a int)');
      const r2 = await runCli(['apply', writePack('p', 'CREATE INDEX x_idx ON public.x (a);'), '--db', other.url]);
      expect(r2.code).toBe(3);
      expect(r2.stderr).toContain("schema pgopt exists but is not pgopt's registry");
      expect((await other.query(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'pgopt'::regnamespace`))[0].n).toBe(0);
    } finally {
      await other.drop();
    }
  });
});

describe('functions planted on the search_path', () => {
  beforeAll(async () => {
    await db.query(`CREATE TABLE public.planted_calls (at timestamptz DEFAULT now())`);
    await db.query(`GRANT INSERT ON public.planted_calls TO PUBLIC`);
    // An exact match for an oid argument beats pg_catalog.pg_relation_size(regclass), which needs a cast.
    await db.query(`CREATE FUNCTION public.pg_relation_size(oid) RETURNS bigint LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO public.planted_calls DEFAULT VALUES; RETURN 0; END $$`);
  });

  it("control: a catalog query like pgopt's, under the default search_path, calls the planted function", async () => {
    const c = await db.connect();
    await c.query(`SELECT pg_relation_size(i.indexrelid) FROM pg_index i LIMIT 1`);
    expect((await db.query(`SELECT count(*)::int AS n FROM public.planted_calls`))[0].n).toBeGreaterThan(0);
    await db.query(`TRUNCATE public.planted_calls`);
  });

  it('apply, verify, status and rollback never call it', async () => {
    const pack = writePack('planted', 'CREATE INDEX IF NOT EXISTS t_ab_idx ON t (a, b);');
    for (const args of [['apply', pack], ['verify', pack], ['status'], ['plan', pack], ['rollback', pack]]) {
      const r = await cli(...args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(0);
    }
    expect((await db.query(`SELECT count(*)::int AS n FROM public.planted_calls`))[0].n).toBe(0);
  });
});

describe('printed text is inert', () => {
  const evil = 'ev\x1b]0;owned\x07il\x1b[2J_idx';
  const pack = writePack('escapes', `CREATE INDEX "${evil}" ON public.t (a, b, id);`);

  it('an escape sequence in an object name is printed escaped in tables, exact in JSON', async () => {
    const applied = await cli('apply', pack);
    expect(applied.code, applied.stderr).toBe(0);
    const status = await cli('status');
    expect(status.code).toBe(0);
    expect(status.stdout).not.toContain('\x1b');
    expect(status.stdout).not.toContain('\x07');
    expect(status.stdout).toContain('ev\\x1b]0;owned\\x07il\\x1b[2J_idx');
    const json = await cli('status', '--json');
    const names = JSON.parse(json.stdout).packs.flatMap((p: any) => p.objects.map((o: any) => o.name));
    expect(names).toContain(evil);
    const verify = await cli('verify', pack);
    expect(verify.stdout + verify.stderr).not.toContain('\x1b');
    const rollback = await cli('rollback', pack);
    expect(rollback.code).toBe(0);
    expect(rollback.stdout + rollback.stderr).not.toContain('\x1b');
  });

  it('a server message carrying one is escaped in the one-line error', async () => {
    const bad = writePack('bad', `CREATE INDEX x_idx ON public."no\x1b[31mtable" (a);`);
    const r = await cli('apply', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('\x1b');
    expect(r.stderr).toContain('no\\x1b[31mtable');
  });
});

describe('a column grant on the registry', () => {
  const pack = writePack('colgrant', 'CREATE INDEX IF NOT EXISTS t_ab_cg ON public.t (a, b);');
  beforeAll(async () => {
    await db.query(`CREATE INDEX IF NOT EXISTS keep_me_too ON public.t (b, a)`);
    expect((await cli('apply', pack)).code).toBe(0);
    await db.query(`GRANT USAGE ON SCHEMA pgopt TO ${mallory}`);
    await db.query(`GRANT SELECT, UPDATE (object_name, object_oid, table_oid) ON pgopt.objects TO ${mallory}`);
  });

  it('control: the column grant lets mallory redirect a row at an unrelated index, and the table-level ACL shows nothing', async () => {
    const m = new pg.Client({ connectionString: asMallory() });
    await m.connect();
    await m.query(
      `UPDATE pgopt.objects SET object_name = 'keep_me_too', object_oid = 'public.keep_me_too'::regclass::oid WHERE pack = 'colgrant'`,
    );
    await m.end();
    const acl = await db.query(
      `SELECT has_table_privilege($1, 'pgopt.objects', 'UPDATE') AS t, has_column_privilege($1, 'pgopt.objects', 'object_oid', 'UPDATE') AS c`,
      [mallory],
    );
    expect(acl[0]).toEqual({ t: false, c: true });
  });

  it('rollback refuses the registry (exit 3) and names the REVOKE that fixes it; nothing is dropped', async () => {
    const r = await cli('rollback', 'colgrant');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`table pgopt.objects grants UPDATE (object_name), UPDATE (object_oid), UPDATE (table_oid) to ${mallory}`);
    expect(r.stderr).toContain(
      `REVOKE UPDATE (object_name), UPDATE (object_oid), UPDATE (table_oid) ON TABLE pgopt.objects FROM "${mallory}"`,
    );
    expect(await exists('public.keep_me_too')).toBe(true);
    expect(await exists('public.t_ab_cg')).toBe(true);
  });
});
