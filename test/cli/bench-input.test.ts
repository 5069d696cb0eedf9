import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalogSnapshot, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';

let db: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'benchin-'));
beforeAll(async () => {
  db = await createTestDatabase('benchin');
  await loadSmallSchema(db, 2000);
});
afterAll(async () => db?.drop());

const checksum = async () =>
  (
    await db.query(
      `SELECT count(*)::int AS n, md5(string_agg(id || ':' || status || ':' || "workflowId", ',' ORDER BY id)) AS h FROM app."Execution"`,
    )
  )[0];

describe('bench never changes data', () => {
  it('a workload with INSERT, UPDATE and DELETE leaves row counts and contents unchanged', async () => {
    const dml = writePack(
      'dml',
      `-- name: insert
-- params: SELECT g FROM generate_series(1, 5) g
INSERT INTO app."Execution" ("workflowId", status) VALUES ($1, 'pending');

-- name: update
-- params: SELECT g FROM generate_series(1, 5) g
UPDATE app."Execution" SET status = 'failed' WHERE "workflowId" = $1;

-- name: delete
DELETE FROM app."Execution" WHERE id % 3 = 0;
`,
    );
    const before = await checksum();
    const r = await runCli(['bench', dml, '--runs', '5', '--warmup', '1', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(await checksum()).toEqual(before);
    // The unsafe way: the same DELETE outside BEGIN … ROLLBACK changes the table.
    const c = await db.connect();
    await c.query('BEGIN');
    await c.query(`DELETE FROM app."Execution" WHERE id % 3 = 0`);
    const inside = (await c.query(`SELECT count(*)::int AS n FROM app."Execution"`)).rows[0].n;
    expect(inside).toBeLessThan(before.n);
    await c.query('ROLLBACK');
  });

  it('--writes measures an insert and an update on each table the pack indexes, and changes nothing', async () => {
    const pack = writePack(
      'wp',
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_wp ON app."Execution" (status, "createdAt");
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_wp_key ON app."Execution" (id, "workflowId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_wp_doc ON app."Execution" USING gin (result jsonb_path_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_wp2 ON app.projects (name);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_wp3 ON app.projects (lower(name));
`,
    );
    const wl = writePack('one', `-- name: one\nSELECT 1;\n`);
    const everything = async () =>
      (
        await db.query(
          `SELECT (SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM app."Execution" e) || (SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM app.projects p) AS h`,
        )
      )[0].h;
    const before = await everything();
    const r = await runCli(['bench', wl, '--writes', '--pack', pack, '--runs', '5', '--warmup', '1', '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const { run, account } = JSON.parse(r.stdout);
    const queries = run.queries;
    expect(queries.map((q: any) => q.name)).toEqual(['one', 'insert:app.Execution', 'update:app.Execution']);
    // The pack is not applied: its indexes are absent, not "unused".
    expect(account.unused).toEqual([]);
    expect(account.absent).toEqual(['app.idx_wp', 'app.idx_wp_key', 'app.idx_wp_doc', 'app.idx_wp2', 'app.idx_wp3']);
    // The update sets what the pack's non-unique indexes read; the unique index's columns keep
    // their values (another row's would conflict).
    expect(queries[2].sql).toContain(
      'SET ("status", "createdAt", "result") = (SELECT "status", "createdAt", "result" FROM "app"."Execution" WHERE ctid = $3::tid AND tableoid = $4::oid)',
    );
    expect(r.stderr).toContain('--writes: no insert probe on app.projects: other tables reference it');
    expect(r.stderr).toContain('--writes: no update probe on app.projects: the pack indexes only key, identity or generated columns here');
    expect(await everything()).toEqual(before);
    // The unsafe way: the same update outside BEGIN … ROLLBACK changes the table, and the checksum sees it.
    const [a, b] = (
      await db.query(`SELECT ctid::text AS t, tableoid::int AS o FROM app."Execution" WHERE status <> 'failed' ORDER BY id LIMIT 1`)
    ).concat(await db.query(`SELECT ctid::text AS t, tableoid::int AS o FROM app."Execution" WHERE status = 'failed' ORDER BY id LIMIT 1`));
    const c = await db.connect();
    await c.query('BEGIN');
    await c.query(queries[2].sql, [a.t, a.o, b.t, b.o]);
    expect(
      (
        await c.query(
          `SELECT (SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM app."Execution" e) || (SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM app.projects p) AS h`,
        )
      ).rows[0].h,
    ).not.toEqual(before);
    await c.query('ROLLBACK');
    const bad = await runCli(['bench', wl, '--writes', '--db', db.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--writes needs --pack');
  });

  it("--writes skips a probe the table rejects, with the server's reason, instead of failing", async () => {
    await db.query(`CREATE TABLE app.guarded (id int PRIMARY KEY, lo int, hi int, CHECK (lo < hi));
                    INSERT INTO app.guarded SELECT g, g, g + 1 FROM generate_series(1, 500) g`);
    const pack = writePack('guard', `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_guard ON app.guarded (lo);\n`);
    const wl = writePack('one', `-- name: one\nSELECT 1;\n`);
    const r = await runCli(['bench', wl, '--writes', '--pack', pack, '--runs', '3', '--warmup', '0', '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    // A later row's lo next to this row's hi breaks the CHECK: the trial run says so.
    expect(JSON.parse(r.stdout).run.queries.map((q: any) => q.name)).toEqual(['one', 'insert:app.guarded']);
    expect(r.stderr).toMatch(/--writes: no update probe on app.guarded: the server rejects the probe: .*violates check constraint/);
    await db.query('DROP TABLE app.guarded');
  });

  it('a statement over --statement-timeout is cancelled with exit 3', async () => {
    const slow = writePack('slow', `-- name: sleepy\nSELECT pg_sleep(2);\n`);
    const r = await runCli(['bench', slow, '--runs', '1', '--warmup', '0', '--statement-timeout', '200ms', '--db', db.url]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('sleepy');
    expect(r.stderr).toContain('statement timeout');
  });
});

describe('bad baselines and arguments: exit 2', () => {
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const good = async () => {
    const wl = writePack('one', `-- name: one\nSELECT 1;\n`);
    const p = join(dir, 'good.json');
    expect((await runCli(['bench', wl, '--runs', '2', '--warmup', '0', '--save', p, '--db', db.url])).code).toBe(0);
    return p;
  };

  it('compare of a corrupted, truncated, foreign or missing file', async () => {
    const ok = await good();
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(ok, 'utf8');
    const doc = JSON.parse(text);
    const cases: [string, string, string][] = [
      ['truncated', write('trunc.json', text.slice(0, text.length / 2)), 'is not JSON'],
      ['foreign', write('foreign.json', JSON.stringify({ name: 'pkg', version: '1.0.0' })), 'is not a pgopt bench file'],
      [
        'wrong type',
        write('wrongtype.json', JSON.stringify({ ...doc, queries: [{ ...doc.queries[0], samples: 'fast' }] })),
        'queries.0.samples',
      ],
      [
        'empty samples',
        write('nosamples.json', JSON.stringify({ ...doc, queries: [{ ...doc.queries[0], samples: [] }] })),
        'queries.0.samples',
      ],
      ['future format', write('future.json', JSON.stringify({ ...doc, formatVersion: 2 })), 'formatVersion'],
      ['missing', join(dir, 'nope.json'), 'baseline not found'],
    ];
    for (const [name, path, message] of cases) {
      for (const args of [
        ['compare', path, ok],
        ['compare', ok, path],
      ]) {
        const r = await runCli(args);
        expect(r.code, `${name}: ${r.stderr}`).toBe(2);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toContain(message);
      }
    }
  });

  it('bench with a bad baseline fails before touching the database', async () => {
    const wl = writePack('one', `-- name: one\nSELECT 1;\n`);
    const before = await catalogSnapshot(db);
    const r = await runCli(['bench', wl, '--compare', write('bad.json', '{'), '--db', db.url]);
    expect(r.code).toBe(2);
    expect(await catalogSnapshot(db)).toBe(before);
  });

  const wl = () => writePack('one', `-- name: one\nSELECT 1;\n`);
  const argCases: [string, () => string[], string][] = [
    ['bad --runs', () => ['bench', wl(), '--runs', '0'], '--runs: "0" is not a whole number >= 1'],
    ['bad --format', () => ['bench', wl(), '--format', 'xml'], '--format: "xml" is not one of table, json, markdown'],
    ['bad --budget', () => ['bench', wl(), '--budget', 'long'], '--budget: "long" is not a duration'],
    ['gate without baseline', () => ['bench', wl(), '--fail-on-regression', '10'], '--fail-on-regression needs --compare'],
    [
      'bad percentage',
      () => ['compare', 'a.json', 'b.json', '--fail-on-regression', 'lots'],
      '--fail-on-regression: "lots" is not a percentage',
    ],
    ['workload not found', () => ['bench', '/nope/w.sql'], 'workload not found'],
    [
      'params query fails on the server',
      () => ['bench', writePack('p', `-- name: q\n-- params: SELECT id FROM app.nope\nSELECT $1::int;\n`)],
      'params of "q"',
    ],
  ];
  for (const [name, args, message] of argCases) {
    it(name, async () => {
      const r = await runCli([...args(), '--db', db.url]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
    });
  }
});

describe('bad workloads through the CLI: exit 2, one line with file:line, database unchanged', () => {
  // Every refusal of the loader is unit-tested (test/unit/workload.test.ts); here, one found at
  // load and one found only once the server runs the params query, for the exit code and format.
  const BAD: [string, string, string, number][] = [
    ['syntax error', `-- name: q\nSELEC 1;\n`, 'syntax error at or near "SELEC"', 2],
    [
      'too few param columns',
      `-- name: q\n-- params: SELECT 1\nSELECT $1::int + $2::int;\n`,
      'uses $2 but its params query returns 1 column(s)',
      2,
    ],
  ];
  for (const [name, text, message, line] of BAD) {
    it(name, async () => {
      const wl = writePack('badwl', text);
      const before = await catalogSnapshot(db);
      const r = await runCli(['bench', wl, '--runs', '1', '--warmup', '0', '--db', db.url]);
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(message);
      expect(lines[0]).toContain(`${wl}:${line}`);
      expect(await catalogSnapshot(db)).toBe(before);
    });
  }
});
