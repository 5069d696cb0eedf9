import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { runApplicationName } from '../../src/db/run-lock.js';
import { writePack } from '../helpers/packs.js';
import { loadPack } from '../../src/pack/load-pack.js';
import { prepareSession, runOneStatement, Session } from '../../src/db/session.js';

/**
 * "pgopt runs only what the pack says" and "it never touches an object it did not create",
 * each finding of the adversarial review reproduced; every attack has a control showing it is
 * real (the unsafe way, done by hand, does the damage).
 */
let db: TestDatabase;
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);
const exists = async (rel: string) => (await db.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [rel]))[0].ok as boolean;
const count = async (rel: string) => (await db.query(`SELECT count(*)::int AS n FROM ${rel}`))[0].n as number;

/** The smuggling text of C1: one statement for a lexer with standard_conforming_strings on, three with it off. */
const SMUGGLED = (victim: string) => `CREATE MATERIALIZED VIEW IF NOT EXISTS mv_report AS
  SELECT 'x\\' AS a, ' AS b; COMMIT; DROP TABLE ${victim}; SELECT 1 AS c -- ' AS d`;

function workload(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-wl-'));
  const p = join(dir, 'w.sql');
  writeFileSync(p, text);
  return p;
}

beforeAll(async () => {
  db = await createTestDatabase('integrity');
  await db.query(`CREATE TABLE victim (id int PRIMARY KEY); INSERT INTO victim SELECT generate_series(1, 100)`);
  await db.query(`CREATE TABLE t (id int PRIMARY KEY, a int, b text, c text)`);
  await db.query(`INSERT INTO t SELECT g, g % 10, 'b' || g, 'c' || g FROM generate_series(1, 1000) g`);
  await db.query(`CREATE SEQUENCE s`);
});
afterAll(async () => db?.drop());

describe('the server runs exactly what the parser saw', () => {
  it('control: with standard_conforming_strings off, the simple protocol runs the smuggled DROP', async () => {
    await db.query(`CREATE TABLE victim_control (id int)`);
    const c = await db.connect();
    await c.query(`SET standard_conforming_strings = off`);
    await c.query(SMUGGLED('victim_control')).catch(() => {});
    expect(await exists('victim_control')).toBe(false);
    await c.query('DROP MATERIALIZED VIEW IF EXISTS mv_report').catch(() => {});
  });

  it('one statement per round trip: a second statement is refused by the server, not run', async () => {
    const c = await db.connect();
    await expect(runOneStatement(new Session(c), 'SELECT 1; DROP TABLE victim')).rejects.toThrow(/multiple commands/);
    expect(await exists('victim')).toBe(true);
  });

  it('a pack cannot turn standard_conforming_strings off, not even with --allow-unsafe', async () => {
    const pack = writePack('smuggle', `SET standard_conforming_strings = off;\n${SMUGGLED('victim')};\n`);
    for (const cmd of ['lint', 'plan', 'verify', 'apply']) {
      const r = await cli(cmd, pack, '--allow-unsafe');
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(2);
    }
    expect(await exists('victim')).toBe(true);
  });

  it('with the database default off, pgopt pins it on: the view is created from literals, the victim stays', async () => {
    await db.query(`ALTER DATABASE ${db.name} SET standard_conforming_strings = off`);
    try {
      const pack = writePack('smuggle2', `${SMUGGLED('victim')};\n`);
      const r = await cli('apply', pack);
      expect(r.code, r.stderr).toBe(0);
      expect(await exists('victim')).toBe(true);
      expect((await db.query(`SELECT d FROM mv_report`))[0].d).toBe(' AS b; COMMIT; DROP TABLE victim; SELECT 1 AS c -- ');
      expect((await cli('rollback', pack)).code).toBe(0);
    } finally {
      await db.query(`ALTER DATABASE ${db.name} RESET standard_conforming_strings`);
    }
  });

  it('a workload whose params turn it off cannot smuggle a DROP into a later query', async () => {
    const wl = workload(`-- name: flip
-- params: SELECT set_config('standard_conforming_strings', 'off', false)
SELECT $1::text;

-- name: smuggle
SELECT 'x\\' AS a, ' AS b; COMMIT; DROP TABLE victim; SELECT 1 AS c -- ' AS d;
`);
    const r = await cli('bench', wl, '--runs', '2', '--warmup', '0', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(await exists('victim')).toBe(true);
    expect(await count('victim')).toBe(100);
  });
});

describe('params only read, under the timeout, rolled back', () => {
  it.each([
    ['a data-modifying WITH', `WITH d AS (DELETE FROM victim RETURNING id) SELECT id FROM d`],
    ['SELECT INTO', `SELECT 1 AS x INTO made_by_params`],
  ])('%s is refused at load (exit 2), nothing changes', async (_label, params) => {
    const wl = workload(`-- name: q\n-- params: ${params}\nSELECT $1::int;\n`);
    const r = await cli('bench', wl, '--runs', '1', '--warmup', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('params: must only read');
    expect(await count('victim')).toBe(100);
    expect(await exists('made_by_params')).toBe(false);
  });

  it('control: the same DELETE params, run the way params used to be run (autocommit), delete rows', async () => {
    await db.query(`CREATE TABLE victim_params (id int); INSERT INTO victim_params VALUES (1), (2)`);
    await db.query(`WITH d AS (DELETE FROM victim_params RETURNING id) SELECT id FROM d`);
    expect(await count('victim_params')).toBe(0);
  });

  it('a slow params query is cancelled by --statement-timeout', async () => {
    const wl = workload(`-- name: q\n-- params: SELECT 1 FROM pg_sleep(6)\nSELECT $1::int;\n`);
    const t0 = Date.now();
    const r = await cli('bench', wl, '--runs', '1', '--warmup', '0', '--statement-timeout', '1s');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/statement timeout|cancel/i);
    expect(Date.now() - t0).toBeLessThan(5500);
  });

  it('L4: an inline -- comment on a params continuation line ends there', async () => {
    const wl = workload(`-- name: q
-- params: SELECT id FROM t -- twenty rows
--   WHERE id <= 20
SELECT $1::int;
`);
    const r = await cli('bench', wl, '--runs', '1', '--warmup', '0', '--json');
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('a failed partitioned build drops only what it built', () => {
  it('an application index with the name pgopt would give a partition, on another table, survives', async () => {
    await db.query(`CREATE TABLE pt (id int, a int) PARTITION BY RANGE (id);
      CREATE TABLE pt_p1 PARTITION OF pt FOR VALUES FROM (0) TO (500);
      CREATE TABLE pt_p2 PARTITION OF pt FOR VALUES FROM (500) TO (1000);
      INSERT INTO pt SELECT g, g % 7 FROM generate_series(0, 999) g;
      CREATE TABLE other (a int); CREATE INDEX pidx_pt_p2 ON other (a);`);
    const before = (await db.query(`SELECT 'pidx_pt_p2'::regclass::oid::int AS oid`))[0].oid;
    const r = await cli('apply', writePack('part', 'CREATE INDEX pidx ON pt (a);'));
    expect(r.code).not.toBe(0);
    expect((await db.query(`SELECT to_regclass('pidx_pt_p2')::oid::int AS oid`))[0].oid).toBe(before);
    expect(await exists('pidx')).toBe(false);
    expect(await exists('pidx_pt_p1')).toBe(false);
  });
});

describe('rollback drops exactly the object it created', () => {
  it('H3: an override dropping a same-named index in another schema is refused before anything runs', async () => {
    await db.query(`CREATE SCHEMA billing; CREATE TABLE billing.t (a int); CREATE INDEX t_a_idx ON billing.t (a)`);
    const pack = writePack('h3', `CREATE INDEX t_a_idx ON t (a);\n-- pgopt:rollback DROP INDEX IF EXISTS billing.t_a_idx;\n`);
    const r = await cli('apply', pack);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('may only drop that object: it drops billing.t_a_idx, in another schema');
    expect(await exists('public.t_a_idx')).toBe(false);
    expect(await exists('billing.t_a_idx')).toBe(true);
  });

  it('M2: an application index that replaced ours on a recreated table (same name, same definition) is kept', async () => {
    await db.query(`CREATE TABLE t2 (a int)`);
    const pack = writePack('m2', 'CREATE INDEX t2_a_idx ON t2 (a);');
    expect((await cli('apply', pack)).code).toBe(0);
    await db.query(`DROP TABLE t2; CREATE TABLE t2 (a int); CREATE INDEX t2_a_idx ON t2 (a)`);
    const r = await cli('rollback', pack);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('replaced outside pgopt');
    expect(await exists('t2_a_idx')).toBe(true);
  });

  it('M2 control: after a REINDEX CONCURRENTLY (new oid, same table), the index is still ours and is dropped', async () => {
    await db.query(`CREATE TABLE t3 (a int)`);
    const pack = writePack('m2b', 'CREATE INDEX t3_a_idx ON t3 (a);');
    expect((await cli('apply', pack)).code).toBe(0);
    await db.query(`REINDEX INDEX CONCURRENTLY t3_a_idx`);
    const r = await cli('rollback', pack);
    expect(r.code, r.stderr).toBe(0);
    expect(await exists('t3_a_idx')).toBe(false);
  });

  it('M3: a renamed index is reported with its new name, kept, and its registry row stays', async () => {
    const pack = writePack('m3', 'CREATE INDEX t_b_idx ON t (b);');
    expect((await cli('apply', pack)).code).toBe(0);
    await db.query(`ALTER INDEX t_b_idx RENAME TO t_b_renamed`);
    const r = await cli('rollback', pack);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('renamed to public.t_b_renamed');
    expect(await exists('t_b_renamed')).toBe(true);
    const status = JSON.parse((await cli('status', '--json')).stdout);
    expect(status.packs.find((p: any) => p.pack === 'm3').objects.map((o: any) => o.name)).toEqual(['t_b_idx']);
    await db.query(`ALTER INDEX t_b_renamed RENAME TO t_b_idx`);
    expect((await cli('rollback', pack)).code).toBe(0);
    expect(await exists('t_b_idx')).toBe(false);
  });

  it('M3: a materialized view moved to another schema is reported, not dropped, not forgotten', async () => {
    const pack = writePack('m3v', 'CREATE MATERIALIZED VIEW mv_moved AS SELECT a, count(*) AS n FROM t GROUP BY a;');
    expect((await cli('apply', pack)).code).toBe(0);
    await db.query(`ALTER MATERIALIZED VIEW mv_moved SET SCHEMA billing`);
    const r = await cli('rollback', pack);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('renamed to billing.mv_moved');
    expect(await exists('billing.mv_moved')).toBe(true);
  });
});

describe("an index of the pack's name on another table is a conflict", () => {
  it('verify fails and apply stops, naming the other table', async () => {
    await db.query(`CREATE TABLE elsewhere (a int); CREATE INDEX same_name_idx ON elsewhere (a)`);
    const pack = writePack('m1', 'CREATE INDEX same_name_idx ON t (a);');
    const v = await cli('verify', pack);
    expect(v.code).toBe(1);
    expect(v.stderr + v.stdout).toContain('another table (public.elsewhere)');
    const a = await cli('apply', pack);
    expect(a.code).toBe(1);
  });
});

describe('views that write are refused', () => {
  it('a view calling a SQL function that DELETEs is refused (exit 2); with --allow-unsafe it runs', async () => {
    await db.query(`CREATE TABLE victim_fn (id int); INSERT INTO victim_fn VALUES (1), (2);
      CREATE FUNCTION wipe() RETURNS int LANGUAGE sql AS $$ DELETE FROM public.victim_fn RETURNING 1 $$`);
    const pack = writePack('m4', 'CREATE MATERIALIZED VIEW mv_wipe AS SELECT wipe() AS w;');
    const r = await cli('apply', pack);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('VOLATILE function(s) public.wipe()');
    expect(await count('victim_fn')).toBe(2);
    expect(await exists('mv_wipe')).toBe(false);
    // Control: what --allow-unsafe (the old default) does.
    const unsafe = await cli('apply', pack, '--allow-unsafe');
    expect(unsafe.code, unsafe.stderr).toBe(0);
    expect(await count('victim_fn')).toBeLessThan(2);
  });
});

describe('workload queries whose effects ROLLBACK does not undo', () => {
  it.each([
    ['setval', `SELECT setval('s', 1000)`],
    ['nextval', `SELECT nextval('s')`],
    ['a session advisory lock', `SELECT pg_advisory_lock(42)`],
    ['backend signalling', `SELECT pg_terminate_backend(1)`],
  ])('%s is refused at load with exit 2', async (_label, sql) => {
    const wl = workload(`-- name: q\n${sql};\n`);
    const r = await cli('bench', wl, '--runs', '1', '--warmup', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('so bench (which rolls every run back) would change things for real');
  });

  it('query text run by a function (query_to_xml, ts_stat, …) is refused at load with exit 2', async () => {
    for (const sql of [`SELECT query_to_xml('select setval(''s'', 4242)', true, false, '')`, `SELECT * FROM ts_stat('select 1')`]) {
      const r = await cli('bench', workload(`-- name: q\n${sql};\n`), '--runs', '1', '--warmup', '0');
      expect(r.code, sql).toBe(2);
      expect(r.stderr).toContain('it runs SQL given as text, which pgopt cannot check');
    }
    // Control: the text does run, and moves the sequence for real, ROLLBACK or not.
    const c = await db.connect();
    await c.query('BEGIN');
    await c.query(`SELECT query_to_xml('select setval(''s'', 4242)', true, false, '')`);
    await c.query('ROLLBACK');
    expect((await db.query(`SELECT last_value::int AS v FROM s`))[0].v).toBe(4242);
  });

  it('sequences a workload advances anyway (a serial default, a wrapper) are named, with how far they moved', async () => {
    await db.query(`CREATE TABLE public.ticket (id serial PRIMARY KEY, note text);
                    CREATE FUNCTION public.bump() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('s') $$`);
    const before = Number((await db.query(`SELECT last_value FROM s`))[0].last_value);
    const wl = workload(
      `-- name: add\nINSERT INTO public.ticket (note) VALUES ('x');\n\n-- name: bumped\nINSERT INTO public.ticket (id, note) SELECT public.bump(), 'y';\n`,
    );
    const r = await cli('bench', wl, '--runs', '3', '--warmup', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    // 1 warm-up + 3 measured + 1 profiled run each. (A SELECT runs read-only: there the server refuses nextval.)
    expect(r.stderr).toContain('the workload advanced sequences, which ROLLBACK does not undo: public.s by 5, public.ticket_id_seq by 5');
    expect(JSON.parse(r.stdout).run.sequencesAdvanced).toEqual([
      { sequence: 'public.s', by: 5 },
      { sequence: 'public.ticket_id_seq', by: 5 },
    ]);
    expect(Number((await db.query(`SELECT last_value FROM s`))[0].last_value)).toBe(before + 5);
    expect((await db.query(`SELECT count(*)::int AS n FROM public.ticket`))[0].n).toBe(0);
  });

  it('control: ROLLBACK does not undo setval', async () => {
    const c = await db.connect();
    await c.query('BEGIN');
    await c.query(`SELECT setval('s', 777)`);
    await c.query('ROLLBACK');
    expect((await db.query(`SELECT last_value::int AS v FROM s`))[0].v).toBe(777);
  });
});

describe('credentials in application_name', () => {
  it('a URL given where the pack goes never reaches pg_stat_activity with its password', async () => {
    const url = 'postgres://app:Sup3rS3cret@example.com/prod';
    // Control: the name as it was built before, from what was typed, held the password.
    expect(`pgopt rollback ${url}`).toContain('Sup3rS3cret');
    expect(runApplicationName('rollback', url)).not.toContain('Sup3rS3cret');
    // A URL long enough to be clipped inside its password is scrubbed before the clip.
    const long = `postgres://app:${'Q7'.repeat(30)}@example.com/prod`;
    expect(runApplicationName('rollback', long)).not.toMatch(/Q7Q7/);
    const holder = await db.connect();
    await holder.query('SELECT pg_advisory_lock($1::int, 1)', [0x70676f70]);
    const run = cli('rollback', url, '--wait', '30s');
    let seen: string[] = [];
    // It waits for the lock (up to 30 s) while connected: look until its session shows up.
    for (let i = 0; i < 600 && !seen.length; i++) {
      await new Promise((res) => setTimeout(res, 30));
      // This database only: other test files run their own rollbacks on the same server at the same time.
      seen = (
        await db.query(
          `SELECT application_name AS a FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgopt rollback%'`,
        )
      ).map((r) => r.a);
    }
    await holder.query('SELECT pg_advisory_unlock($1::int, 1)', [0x70676f70]);
    await run;
    expect(seen.length).toBeGreaterThan(0);
    for (const a of seen) {
      expect(a).not.toContain('Sup3rS3cret');
      expect(a).toContain('postgres://app:***@');
    }
  });
});

describe('passwords in output', () => {
  const tag = randomBytes(3).toString('hex');
  it('a URL given where the pack goes is printed without its password', async () => {
    const r = await runCli(['plan', 'postgres://app:S3cr3tPw@localhost/db', '--db', db.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('postgres://app:***@localhost/db');
    expect(r.stderr).not.toContain('S3cr3tPw');
  });

  it('password "1": --json stays valid and its numbers intact; a password equal to the user name is not blanked everywhere', async () => {
    const short = `pw_short_${tag}`;
    const same = `pw_same_${tag}`;
    await db.query(`CREATE ROLE ${short} LOGIN PASSWORD '1'; CREATE ROLE ${same} LOGIN PASSWORD '${same}'`);
    try {
      const url = (user: string, password: string) => {
        const u = new URL(db.url);
        u.username = user;
        u.password = password;
        return u.toString();
      };
      const wl = workload(`-- name: one\nSELECT 1 AS x;\n`);
      const r = await runCli(['bench', wl, '--runs', '11', '--warmup', '1', '--json', '--db', url(short, '1')]);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.run.options.runs).toBe(11);
      expect(doc.run.queries[0].runs ?? doc.run.queries[0].samples ?? 11).toBeTruthy();
      // The workload is named after the role, so the document holds the password's text as a value.
      const dir = mkdtempSync(join(tmpdir(), 'pgopt-wl-'));
      writeFileSync(join(dir, `${same}.sql`), `-- name: one\nSELECT 1 AS x;\n`);
      const s = await runCli(['bench', join(dir, `${same}.sql`), '--runs', '1', '--warmup', '0', '--json', '--db', url(same, same)]);
      expect(s.code, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout).run.workload.name).toBe(same);
      expect(s.stderr).toContain('not scrubbed from messages by value');
    } finally {
      await db.query(`DROP ROLE ${short}; DROP ROLE ${same}`);
    }
  });
});

describe("names of unnamed indexes are the server's", () => {
  const cases = [
    '(a::text)',
    'coalesce(a, 0)',
    'lower(b), lower(c)',
    '(a + 1)',
    '((b || c))',
    "(('x'::text || b))",
    '(nullif(a, 0))',
    '(CASE WHEN a > 1 THEN b ELSE c END)',
    '(b COLLATE "C")',
    'a, a',
    'a) INCLUDE (b',
    'lower(b), upper(b), lower(c), lower(b)',
  ];
  it.each(cases)('CREATE INDEX ON t (%s)', async (cols) => {
    const sql = `CREATE INDEX ON t (${cols})`;
    const pack = await loadPack(writePack('l5', `${sql};\n`));
    const c = await db.connect();
    await c.query('BEGIN');
    try {
      await c.query(sql);
      const made = await c.query(
        `SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE i.indrelid = 't'::regclass AND c.relname NOT IN (SELECT indexname FROM pg_indexes WHERE tablename = 't' AND schemaname = 'public' AND indexname = 't_pkey') ORDER BY c.oid DESC LIMIT 1`,
      );
      expect(pack.objects[0].name).toBe(made.rows[0].relname);
    } finally {
      await c.query('ROLLBACK');
    }
  });

  it('expressions PostgreSQL names differently are not "created twice"; same names in two schemas load', async () => {
    const p = await loadPack(
      writePack(
        'l5b',
        `CREATE INDEX ON t ((a::text));\nCREATE INDEX ON t (coalesce(a, 0));\nCREATE INDEX i ON public.t (a);\nCREATE INDEX i ON billing.t (a);\n`,
      ),
    );
    expect(p.objects.map((o) => o.name)).toEqual(['t_a_idx', 't_coalesce_idx', 'i', 'i']);
  });
});

describe('the session pgopt pins', () => {
  it("pgopt's own queries run under pg_catalog, pg_temp; the user's path is kept for the user's SQL", async () => {
    const c = await db.connect();
    await c.query(`SET search_path = billing, public`);
    const s = await prepareSession(new Session(c));
    expect(s.userSearchPath).toBe('billing, public');
    expect((await c.query('SHOW search_path')).rows[0].search_path).toBe('pg_catalog, pg_temp');
    expect((await c.query('SHOW standard_conforming_strings')).rows[0].standard_conforming_strings).toBe('on');
    void pg;
  });
});
