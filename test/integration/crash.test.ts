import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('crash');
  await loadSmallSchema(db, 50_000);
});
afterAll(async () => db?.drop());

const PACK = `CREATE INDEX idx_c1 ON app."Execution" ("workflowId", "createdAt");
CREATE INDEX idx_c2 ON app."Execution" (status, "projectId");
CREATE MATERIALIZED VIEW app.c_daily AS SELECT "projectId", count(*) AS n FROM app."Execution" GROUP BY 1;
CREATE UNIQUE INDEX c_daily_key ON app.c_daily ("projectId");
CREATE INDEX idx_c3 ON app."Execution" USING gin (result jsonb_path_ops);
`;

async function waitFor(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const invalidIndexes = async () => (await db.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`))[0].n;
const duplicateRows = async () =>
  (
    await db.query(
      `SELECT count(*)::int AS n FROM (SELECT schema_name, object_name FROM pgopt.objects WHERE pack = 'crash' GROUP BY 1, 2 HAVING count(*) > 1) d`,
    )
  )[0].n;

describe('kill -9 of apply', () => {
  it('in the middle of a concurrent build: the half-built index is repaired and the registry never claimed it', async () => {
    const pack = writePack('crash', PACK);
    // An open transaction makes the concurrent build of idx_c1 wait: a window to kill pgopt in.
    const blocker = await db.connect();
    // A snapshot held open (REPEATABLE READ) is what a concurrent build must wait out before it turns valid.
    await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await blocker.query('SELECT count(*) FROM app.projects');
    await blocker.query('SELECT txid_current()');
    let child: ChildProcess | undefined;
    const run = runCli(['apply', pack, '--db', db.url], { onSpawn: (p) => (child = p) });
    await waitFor(async () => (await db.query(`SELECT 1 FROM pg_class WHERE relname = 'idx_c1'`)).length > 0);
    const row = await db.query(`SELECT state FROM pgopt.objects WHERE object_name = 'idx_c1'`);
    expect(row).toEqual([{ state: 'building' }]);
    child!.kill('SIGKILL');
    const killed = await run;
    expect(killed.code).toBe(null);
    // The unsafe state pgopt must recover from: an INVALID index nobody may trust.
    const inv = await db.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'app.idx_c1'::regclass`);
    expect(inv[0].indisvalid).toBe(false);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(1);
    // The orphaned backend still holds the run lock until its build ends; apply waits for it.
    await blocker.query('ROLLBACK');
    const again = await runCli(['apply', pack, '--wait', '60s', '--db', db.url]);
    expect(again.code, again.stderr).toBe(0);
    const v = await runCli(['verify', pack, '--db', db.url]);
    expect(v.code, v.stdout).toBe(0);
    expect(await invalidIndexes()).toBe(0);
    expect(await duplicateRows()).toBe(0);
    expect((await runCli(['rollback', pack, '--db', db.url])).code).toBe(0);
  });

  it('at statement boundaries: every kill point converges', async () => {
    const pack = writePack('crash', PACK);
    for (const killAfter of [1, 2, 3, 4]) {
      let child: ChildProcess | undefined;
      const run = runCli(['apply', pack, '--db', db.url], { onSpawn: (p) => (child = p) });
      await waitFor(async () => {
        const r = await db
          .query(`SELECT count(*)::int AS n FROM pgopt.objects WHERE pack = 'crash' AND state = 'applied'`)
          .catch(() => [{ n: 0 }]);
        return r[0].n >= killAfter;
      });
      child!.kill('SIGKILL');
      await run;
      const again = await runCli(['apply', pack, '--wait', '60s', '--db', db.url]);
      expect(again.code, again.stderr).toBe(0);
      expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
      expect(await invalidIndexes()).toBe(0);
      expect(await duplicateRows()).toBe(0);
      expect((await runCli(['rollback', pack, '--db', db.url])).code).toBe(0);
      expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE 'idx_c%' OR relname LIKE 'c_daily%'`)).toEqual([]);
    }
  });
});

describe('Ctrl-C during a concurrent build', () => {
  it('cancels the build, drops the INVALID leftover, records the event and exits 130', async () => {
    const pack = writePack('ctrlc', `CREATE INDEX idx_ctrlc ON app."Execution" (status, "workflowId", "createdAt");\n`);
    const blocker = await db.connect();
    await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await blocker.query('SELECT count(*) FROM app.projects');
    let child: ChildProcess | undefined;
    const run = runCli(['apply', pack, '--db', db.url], { onSpawn: (p) => (child = p) });
    // The build exists (INVALID) and waits for the blocker's snapshot: interrupt it there.
    await waitFor(async () => (await db.query(`SELECT 1 FROM pg_class WHERE relname = 'idx_ctrlc'`)).length > 0);
    await new Promise((r) => setTimeout(r, 200));
    child!.kill('SIGINT');
    const r = await run;
    await blocker.query('ROLLBACK');
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('interrupted');
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname = 'idx_ctrlc'`)).toEqual([]);
    expect(await db.query(`SELECT * FROM pgopt.objects WHERE pack = 'ctrlc'`)).toEqual([]);
    const ev = await db.query(
      `SELECT outcome, detail->>'reason' AS reason FROM pgopt.events WHERE pack = 'ctrlc' AND object IS NOT NULL ORDER BY id`,
    );
    expect(ev).toHaveLength(1);
    expect(ev[0].outcome).toBe('failed');
    expect(ev[0].reason).toContain('interrupted');
    const run2 = await runCli(['apply', pack, '--db', db.url]);
    expect(run2.code).toBe(0);
    await runCli(['rollback', pack, '--db', db.url]);
  });
});
