import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('locks');
  await loadSmallSchema(db, 1000);
});
afterAll(async () => db?.drop());

describe('lock timeouts', () => {
  it('a blocking build gives up after its lock timeout and retries, then fails naming the blocker; each object is whole or absent', async () => {
    const pack = writePack(
      'locky',
      `CREATE INDEX idx_l1 ON app."Execution" (status, id);\nCREATE INDEX idx_l2 ON app.projects (name, id);\n`,
    );
    const holder = await db.connect();
    await holder.query(`SET application_name = 'the app'`);
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE app.projects IN ROW EXCLUSIVE MODE');
    const holderPid = (await holder.query('SELECT pg_backend_pid() AS p')).rows[0].p;

    // The unsafe way: a plain CREATE INDEX just waits in the lock queue, and every later
    // writer of the table would queue behind it for as long as it waits.
    const naive = await db.connect();
    await naive.query(`SET statement_timeout = '1s'`);
    const t0 = Date.now();
    await expect(naive.query(`CREATE INDEX idx_naive ON app.projects (name, id)`)).rejects.toThrow(/statement timeout/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);

    const r = await runCli(['apply', pack, '--no-concurrently', '--lock-timeout', '200ms', '--lock-retries', '2', '--db', db.url]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('lock not granted in time (attempt 1)');
    expect(r.stderr).toContain('lock not granted in time (attempt 2)');
    expect(r.stderr).toMatch(
      new RegExp(
        `could not get its lock within 200 ms after 3 attempts; blocked by pid ${holderPid} \\(postgres, the app, holds RowExclusiveLock`,
      ),
    );
    // idx_l1 was built before the failure and is recorded; idx_l2 neither exists nor is claimed.
    const rows = await db.query(`SELECT object_name, state FROM pgopt.objects WHERE pack = 'locky'`);
    expect(rows).toEqual([{ object_name: 'idx_l1', state: 'applied' }]);
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname = 'idx_l2'`)).toEqual([]);

    await holder.query('COMMIT');
    const ok = await runCli(['apply', pack, '--no-concurrently', '--db', db.url]);
    expect(ok.code).toBe(0);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
  });
});
