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

/** An open transaction holding a snapshot (and a lock on projects): what a concurrent build must wait out. */
async function snapshotBlocker() {
  const blocker = await db.connect();
  await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await blocker.query('SELECT count(*) FROM app.projects');
  await blocker.query('SELECT txid_current()');
  return blocker;
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
    // A snapshot held open (REPEATABLE READ) is what a concurrent build must wait out before it turns valid.
    const blocker = await snapshotBlocker();
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

describe('an immediate rerun after kill -9 converges', () => {
  const sessionsOf = async (like: string) =>
    (await db.query(`SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`, [like])).length;

  it('the killed run’s build is cancelled by the server within seconds, even while a blocker holds it (client_connection_check_interval)', async () => {
    const pack = writePack('crash', PACK);
    const blocker = await snapshotBlocker();
    let child: ChildProcess | undefined;
    const run = runCli(['apply', pack, '--db', db.url], { onSpawn: (p) => (child = p) });
    await waitFor(async () => (await db.query(`SELECT 1 FROM pg_class WHERE relname = 'idx_c1'`)).length > 0);
    child!.kill('SIGKILL');
    await run;
    // The blocker is still open: without the check the build would wait for it forever.
    await waitFor(async () => (await sessionsOf('pgopt apply crash%')) === 0, 10_000);
    await blocker.query('ROLLBACK');
    const again = await runCli(['apply', pack, '--db', db.url]);
    expect(again.code, again.stderr).toBe(0);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
    expect(await invalidIndexes()).toBe(0);
    expect((await runCli(['rollback', pack, '--db', db.url])).code).toBe(0);
  });

  it('control: a session without the check, killed the same way, builds on until the blocker ends', async () => {
    const blocker = await db.connect();
    await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await blocker.query('SELECT txid_current()');
    const script = `const pg = require('pg'); const c = new pg.Client({ connectionString: process.argv[1], application_name: 'control build' });
      c.connect().then(() => c.query('CREATE INDEX CONCURRENTLY idx_control ON app."Execution" ("projectId", status)'));`;
    const { spawn } = await import('node:child_process');
    const proc = spawn(process.execPath, ['-e', script, db.url], { stdio: 'ignore', cwd: process.cwd() });
    await waitFor(async () => (await db.query(`SELECT 1 FROM pg_class WHERE relname = 'idx_control'`)).length > 0);
    proc.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await sessionsOf('control build')).toBe(1);
    await blocker.query('ROLLBACK');
    await waitFor(async () => (await sessionsOf('control build')) === 0);
    await db.query('DROP INDEX IF EXISTS app.idx_control');
  });

  it('a rerun waits for the session of a killed run (its process gone) instead of blaming another run; a live run is still refused', async () => {
    const pack = writePack('crash', PACK);
    const { spawnSync } = await import('node:child_process');
    const { hostname } = await import('node:os');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    for (const [pid, outcome] of [
      [dead, 'waits'],
      [String(process.pid), 'refused'],
    ] as const) {
      const holder = await db.connect();
      await holder.query(`SELECT set_config('application_name', $1, false)`, [`pgopt apply crash [${pid}@${hostname().slice(0, 20)}]`]);
      await holder.query(`SELECT pg_advisory_lock(${0x70676f70}, 1)`);
      const rerun = runCli(['apply', pack, '--db', db.url]);
      if (outcome === 'waits') {
        // The killed run's session ends a moment after the rerun found the lock taken.
        await waitFor(async () => (await sessionsOf('pgopt apply crash [%')) >= 2);
        await new Promise((r) => setTimeout(r, 1000));
        await holder.end();
      }
      const r = await rerun;
      await holder.end().catch(() => {});
      if (outcome === 'waits') {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(new RegExp(`held by a pgopt run whose process \\(pid ${dead}\\) is gone: waiting up to 30 s`));
      } else {
        expect(r.code).toBe(3);
        expect(r.stderr).toContain("another pgopt run holds this database's run lock");
      }
    }
    expect((await runCli(['rollback', pack, '--db', db.url])).code).toBe(0);
  });
});

describe('a build that times out behind a blocker never leaves an unreported INVALID index', () => {
  const TWO = `CREATE INDEX idx_t_exec ON app."Execution" ("projectId", "createdAt");\nCREATE INDEX idx_t_proj ON app.projects (name, id);\n`;
  const invalidNames = async () =>
    (await db.query(`SELECT c.relname AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid ORDER BY 1`)).map(
      (r) => r.n as string,
    );

  for (const jobs of ['1', '2']) {
    it(`--jobs ${jobs}: the error names --build-timeout and the blocking pid; every leftover is named, kept in the registry, and repaired next time`, async () => {
      const pack = writePack('timeout', TWO);
      const blocker = await db.connect();
      await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      // Reading the table also holds a lock on it: the concurrent drop of a leftover waits for that.
      await blocker.query('SELECT count(*) FROM app."Execution"');
      const blockerPid = (await blocker.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
      const r = await runCli(['apply', pack, '--build-timeout', '2s', '--jobs', jobs, '--db', db.url]).finally(() => {
        setTimeout(() => void blocker.query('ROLLBACK').catch(() => {}), 15_000).unref();
      });
      expect(r.code, r.stderr).toBe(3);
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('error:'));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0], r.stderr).toMatch(new RegExp(`--build-timeout 2s reached while waiting for pid ${blockerPid}`));
      const left = (await invalidNames()).filter((n) => n.startsWith('idx_t_'));
      // The blocker holds a lock on "Execution": the drop of that leftover cannot run at once.
      expect(left.length).toBeGreaterThanOrEqual(1);
      for (const n of left) {
        expect(r.stderr).toContain(`left the INVALID index app.${n}`);
        expect(await db.query(`SELECT state FROM pgopt.objects WHERE object_name = $1`, [n])).toEqual([{ state: 'building' }]);
      }
      const v = await runCli(['verify', pack, '--db', db.url]);
      expect(v.code).toBe(1);
      for (const n of left) expect(v.stdout).toMatch(new RegExp(`${n}[\\s\\S]*INVALID`));
      await blocker.query('ROLLBACK');
      if (jobs === '1') {
        const again = await runCli(['apply', pack, '--db', db.url]);
        expect(again.code, again.stderr).toBe(0);
        expect(await invalidNames()).toEqual([]);
      }
      // Or rollback finishes it: the leftover is dropped with the rest.
      const rb = await runCli(['rollback', pack, '--db', db.url]);
      expect(rb.code, rb.stderr).toBe(0);
      expect(await invalidNames()).toEqual([]);
      expect(await db.query(`SELECT object_name FROM pgopt.objects WHERE pack = 'timeout'`)).toEqual([]);
    });
  }
});
