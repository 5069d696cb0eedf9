import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogSnapshot, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';

let db: TestDatabase;
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);
beforeAll(async () => {
  db = await createTestDatabase('lint');
  await loadSmallSchema(db, 30000);
  await db.query(
    `CREATE TABLE app.accounts (id int, email text); INSERT INTO app.accounts SELECT g, 'a' || (g % 50) FROM generate_series(1, 200) g`,
  );
  await db.query(`CREATE INDEX existing_wf ON app."Execution" ("workflowId", "createdAt")`);
  await db.query('ANALYZE');
});
afterAll(async () => db?.drop());

const rules = (doc: any) => doc.findings.map((f: any) => [f.rule, f.severity, f.location.line]);

describe('pgopt lint', () => {
  it('reports each rule with file:line, a reason and a fix', async () => {
    const pack = writePack(
      'lint',
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS ok_idx ON app."Execution" ("projectId", "createdAt" DESC);
CREATE INDEX plain_idx ON app."Execution" ("projectId", status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS prefix_idx ON app."Execution" ("workflowId");
CREATE INDEX CONCURRENTLY IF NOT EXISTS gin_idx ON app."Execution" USING gin (result);
CREATE INDEX CONCURRENTLY IF NOT EXISTS status_idx ON app."Execution" (status);
CREATE MATERIALIZED VIEW IF NOT EXISTS app.no_key AS SELECT status, count(*) AS n FROM app."Execution" GROUP BY 1;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_email_key ON app.accounts (email);
`,
    );
    const r = await cli('lint', pack, '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(rules(doc)).toEqual([
      ['missing-if-not-exists', 'warning', 2],
      ['not-concurrent', 'warning', 2],
      ['redundant-index', 'warning', 3],
      ['gin-jsonb-ops', 'warning', 4],
      ['low-cardinality', 'warning', 5],
      ['matview-no-unique-index', 'warning', 6],
      ['unique-duplicates', 'error', 7],
    ]);
    expect(doc.findings.find((f: any) => f.rule === 'redundant-index').message).toContain('prefix of existing_wf');
    expect(doc.findings.find((f: any) => f.rule === 'unique-duplicates').message).toMatch(/email="a\d+" appears 4 times/);
    const text = await cli('lint', pack);
    expect(text.stdout).toMatch(new RegExp(`${pack}:7:1: error \\[unique-duplicates\\]`));
    expect(text.stdout).toContain('fix: remove the duplicates first');
  });

  it('warnings alone exit 0, or 1 with --strict; a clean pack has no findings', async () => {
    const warn = writePack('warn', `CREATE INDEX plain2 ON app.projects (name, id);\n`);
    expect((await cli('lint', warn)).code).toBe(0);
    expect((await cli('lint', warn, '--strict')).code).toBe(1);
    const clean = writePack('clean', `CREATE INDEX CONCURRENTLY IF NOT EXISTS clean_idx ON app.projects (name, id);\n`);
    const r = await cli('lint', clean, '--json', '--strict');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).findings).toEqual([]);
  });

  it('apply and plan run lint: a lint error stops apply before it changes anything', async () => {
    const pack = writePack(
      'dups',
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS fine_idx ON app.projects (name, id);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_email_key ON app.accounts (email);
`,
    );
    const plan = JSON.parse((await cli('plan', pack, '--json')).stdout);
    expect(plan.blocked).toBe(true);
    expect(plan.findings.map((f: any) => f.rule)).toEqual(['unique-duplicates']);
    const before = await catalogSnapshot(db);
    const r = await cli('apply', pack);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('apply stopped before changing anything (lint)');
    expect(await catalogSnapshot(db)).toBe(before);
    // With --json the findings travel as data, not only in the message.
    const j = await cli('apply', pack, '--json');
    expect(JSON.parse(j.stdout).error.details.findings.map((f: any) => f.rule)).toEqual(['unique-duplicates']);
  });

  it('unique-duplicates reads the index as the server does: expressions, predicates and NULLs', async () => {
    await db.query(`CREATE TABLE app.members (id int, email text, deleted_at timestamptz, team int);
      INSERT INTO app.members SELECT g, 'm' || g || '@x.io', CASE WHEN g <= 100 THEN now() END, NULL FROM generate_series(1, 300) g;
      -- Deleted members share an address with a live one (soft delete), in another case.
      UPDATE app.members SET email = upper('m' || (id + 100) || '@x.io') WHERE id <= 100`);
    const findings = async (sql: string) =>
      JSON.parse((await cli('lint', writePack('uq', `${sql}\n`), '--json')).stdout).findings.map((f: any) => f.rule);
    // An expression key: lower(email) collides although email does not.
    expect(await findings(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS m_lower ON app.members (lower(email));`)).toEqual([
      'unique-duplicates',
    ]);
    expect(await findings(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS m_plain ON app.members (email);`)).toEqual([]);
    // A partial key: only live members count, and they are unique. Checking without the predicate
    // (the unsafe way) would refuse a valid pack.
    expect(
      await findings(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS m_live ON app.members (lower(email)) WHERE deleted_at IS NULL;`),
    ).toEqual([]);
    // NULLs never collide in a unique index, unless NULLS NOT DISTINCT (PostgreSQL 15+).
    expect(await findings(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS m_team ON app.members (team);`)).toEqual([]);
    const r = await cli(
      'lint',
      writePack('uq', `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS m_lower ON app.members (lower(email));\n`),
      '--json',
    );
    expect(JSON.parse(r.stdout).findings[0].message).toMatch(/lower\(email\)="m\d+@x\.io" appears 2 times/);
    const before = await catalogSnapshot(db);
    expect(
      (
        await cli(
          'lint',
          writePack(
            'uq',
            `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS m_live ON app.members (lower(email)) WHERE deleted_at IS NULL;\n`,
          ),
        )
      ).code,
    ).toBe(0);
    expect(await catalogSnapshot(db)).toBe(before);
  });
});
