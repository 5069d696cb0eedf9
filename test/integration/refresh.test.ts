import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';

let db: TestDatabase;
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);
const PACK = `CREATE MATERIALIZED VIEW app.wf_counts AS SELECT "workflowId", count(*) AS n FROM app."Execution" GROUP BY 1;
CREATE UNIQUE INDEX wf_counts_key ON app.wf_counts ("workflowId");
CREATE MATERIALIZED VIEW app.status_counts AS SELECT status, count(*) AS n FROM app."Execution" GROUP BY 1;
`;

beforeAll(async () => {
  db = await createTestDatabase('refresh');
  await loadSmallSchema(db, 5000);
});
afterAll(async () => db?.drop());

describe('pgopt refresh', () => {
  it('refreshes a pack’s views: concurrently where a unique index allows, plain with a warning otherwise', async () => {
    const pack = writePack('views', PACK);
    expect((await cli('apply', pack)).code).toBe(0);
    await db.query(`INSERT INTO app."Execution" ("workflowId", status) SELECT 9999, 'pending' FROM generate_series(1, 7)`);
    const stale = await db.query(`SELECT n FROM app.wf_counts WHERE "workflowId" = 9999`);
    expect(stale).toEqual([]);
    const r = await cli('refresh', pack, '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.views.map((v: any) => [v.view, v.mode, v.outcome])).toEqual([
      ['app.wf_counts', 'concurrently', 'refreshed'],
      ['app.status_counts', 'plain', 'refreshed'],
    ]);
    expect(res.views[0].rows).toBe(201);
    expect(r.stderr).toContain('app.status_counts: no unique index on plain columns');
    expect(await db.query(`SELECT n::int FROM app.wf_counts WHERE "workflowId" = 9999`)).toEqual([{ n: 7 }]);
    const ev = await db.query(`SELECT object, outcome, detail->>'mode' AS mode FROM pgopt.events WHERE action = 'refresh' ORDER BY id`);
    expect(ev).toEqual([
      { object: 'app.wf_counts', outcome: 'refreshed', mode: 'concurrently' },
      { object: 'app.status_counts', outcome: 'refreshed', mode: 'plain' },
    ]);
  });

  it('status shows each view’s last refresh and its age', async () => {
    const s = JSON.parse((await cli('status', '--json')).stdout);
    expect(s.views.map((v: any) => [v.view, v.how, v.rows])).toEqual([
      ['app.wf_counts', 'refresh', 201],
      ['app.status_counts', 'refresh', 4],
    ]);
    expect(s.views[0].ageSeconds).toBeGreaterThanOrEqual(0);
    expect(s.views[0].ageSeconds).toBeLessThan(120);
  });

  it('a named view, all views, and bad names', async () => {
    const one = JSON.parse((await cli('refresh', 'app.wf_counts', '--json')).stdout);
    expect(one.views.map((v: any) => v.view)).toEqual(['app.wf_counts']);
    const all = JSON.parse((await cli('refresh', '--json')).stdout);
    expect(all.views).toHaveLength(2);
    const bad = await cli('refresh', 'app.projects');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"app.projects" is neither an applied pack nor a materialized view');
  });

  it('a refresh blocked by a lock times out, retries and fails naming the holder (exit 3)', async () => {
    const holder = await db.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM app.status_counts'); // a reader holding ACCESS SHARE
    const r = await cli('refresh', 'app.status_counts', '--lock-timeout', '100ms', '--lock-retries', '1');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/blocked by pid \d+/);
    await holder.query('ROLLBACK');
  });
});
