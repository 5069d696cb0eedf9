import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { holdRunKey, runKeyHeld } from '../../src/db/run-lock.js';
import { prepareSession, repeatedQuery, resetSession, Session } from '../../src/db/session.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('session');
});
afterAll(() => db.drop());

const KEY = 0x1234abcd;
/** The run-key class advise holds ('pgoa'), as an observer would try it. */
const tryTake = async (o: pg.Client) => (await o.query(`SELECT pg_try_advisory_lock(${0x70676f61}, ${KEY}) AS got`)).rows[0].got as boolean;

describe('resetSession between workload queries', () => {
  it('leaves a fresh session: temp tables, settings, prepared statements, LISTEN and other advisory locks are gone', async () => {
    const c = new Session(await db.connect());
    await prepareSession(c);
    await holdRunKey(c, KEY);
    const wm = (await c.query(`SELECT current_setting('work_mem') AS wm`)).rows[0].wm;
    await c.query(`CREATE TEMP TABLE left_over (x int); SET work_mem = '7MB'; PREPARE p AS SELECT 1; LISTEN chan;
                   SELECT pg_advisory_lock(42)`);
    await resetSession(c);
    const r = await c.query(
      `SELECT to_regclass('pg_temp.left_over') AS t, current_setting('work_mem') AS wm,
              (SELECT count(*)::int FROM pg_prepared_statements) AS prepared,
              (SELECT count(*)::int FROM pg_listening_channels()) AS listening,
              current_setting('search_path') AS path,
              (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objid = 42) AS other`,
    );
    expect(r.rows[0]).toEqual({ t: null, wm, prepared: 0, listening: 0, path: 'pg_catalog, pg_temp', other: 0 });
    expect(await runKeyHeld(new Session(await db.connect()), KEY)).toBe(true);
    await c.client.end();
  });

  it('never lets the run key go, not for a moment (DISCARD ALL and a fresh lock did: the control)', async () => {
    const c = new Session(await db.connect());
    const o = await db.connect();
    await prepareSession(c);
    await holdRunKey(c, KEY + 1);
    // The control, the old way: between DISCARD ALL and taking the key again, another session can take it.
    await c.query(`SELECT pg_advisory_lock(${0x70676f61}, ${KEY})`);
    await c.query('DISCARD ALL');
    expect(await tryTake(o)).toBe(true);
    await o.query('SELECT pg_advisory_unlock_all()');
    // pgopt's way, with an observer trying all the while.
    await holdRunKey(c, KEY);
    let stop = false;
    let taken = 0;
    const observe = (async () => {
      while (!stop)
        if (await tryTake(o)) {
          taken++;
          await o.query(`SELECT pg_advisory_unlock_all()`);
        }
    })();
    for (let i = 0; i < 150; i++) await resetSession(c);
    stop = true;
    await observe;
    expect(taken).toBe(0);
    await c.client.end();
    await o.end();
  });
});

describe('repeatedQuery: a statement sent once per object, prepared once per connection', () => {
  const ask = (c: Session, n: number) => repeatedQuery(c, 'session_test', 'SELECT $1::int + 1 AS n', [n]);
  const preparedHere = async (c: Session) =>
    (await c.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'pgopt_session_test'`)).rows[0].n as number;

  it('is prepared once where the Session keeps plans, and nowhere else', async () => {
    const c = new Session(await db.connect());
    c.keepsPlans = true;
    expect((await ask(c, 1)).rows[0].n).toBe(2);
    expect((await ask(c, 2)).rows[0].n).toBe(3);
    expect(await preparedHere(c)).toBe(1);
    const plain = new Session(await db.connect());
    expect((await ask(plain, 1)).rows[0].n).toBe(2);
    expect(await preparedHere(plain)).toBe(0);
    await c.client.end();
    await plain.client.end();
  });

  it('goes on after its statement is deallocated behind the client (a plain named query fails there: the control)', async () => {
    const c = new Session(await db.connect());
    c.keepsPlans = true;
    await ask(c, 1);
    await c.query('DEALLOCATE ALL');
    expect((await ask(c, 5)).rows[0].n).toBe(6);
    expect(c.keepsPlans).toBe(false);
    // The control: the client still believes its statement is there, and the server says no.
    const raw = await db.connect();
    await raw.query({ name: 'control', text: 'SELECT 1' });
    await raw.query('DEALLOCATE ALL');
    await expect(raw.query({ name: 'control', text: 'SELECT 1' })).rejects.toMatchObject({ code: '26000' });
    await raw.end();
    await c.client.end();
  });

  it('stops preparing after resetSession, which deallocates what it prepared', async () => {
    const c = new Session(await db.connect());
    c.keepsPlans = true;
    await prepareSession(c);
    await ask(c, 1);
    await resetSession(c);
    expect((await ask(c, 2)).rows[0].n).toBe(3);
    expect(await preparedHere(c)).toBe(0);
    await c.client.end();
  });
});
