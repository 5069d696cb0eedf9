import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadWorkload, type Workload, type QueryForm } from '../../src/bench/workload.js';

const PACK = 'sql/audit_engine';
const WORKLOAD = 'fixtures/audit_engine/workload.sql';

let db: TestDatabase;
let workload: Workload;
/** Today 00:00 UTC: the workload's "last 30 days" then see data, and every load is the same. */
const ANCHOR = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000).toISOString();
const load = (...args: string[]) => cli('fixtures', 'load', 'audit_engine', '--scale', '0.01', '--anchor', ANCHOR, ...args);
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);

/** Every param set's rows for one form, as sorted JSON: optimization must not change results. */
async function resultsOf(c: pg.Client, params: string | null, form: QueryForm): Promise<string[]> {
  const sets = params
    ? (await c.query({ text: params, rowMode: 'array' })).rows.slice(0, 8).map((r: unknown[]) => r.slice(0, form.paramCount))
    : [[]];
  const out: string[] = [];
  for (const p of sets) {
    const res = await c.query(form.sql, p);
    out.push(JSON.stringify(res.rows));
  }
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase('audit');
  workload = await loadWorkload(WORKLOAD);
});
afterAll(async () => db?.drop());

describe('the audit_engine fixture, pack and workload', () => {
  it('loads at scale 0.01 with the expected volumes, and refuses to load twice without --replace', async () => {
    const r = await load('--seed', '7', '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.rows).toEqual({ users: 10, projects: 2, workflows: 100, execution_history: 10000, files: 1000 });
    const again = await load();
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already holds');
    // The schema has what Prisma creates and no performance index: only keys and unique constraints.
    const idx = await db.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`);
    expect(idx.map((i) => i.indexname)).toEqual([
      'execution_history_pkey',
      'files_pkey',
      'files_storage_key_key',
      'projects_pkey',
      'users_email_key',
      'users_pkey',
      'workflows_pkey',
    ]);
  });

  it('is deterministic: the same seed gives the same data', async () => {
    const sum = async () =>
      (
        await db.query(
          `SELECT md5(string_agg(workflow_id::text || status || created_at::text || coalesce(duration_ms, 0), ',' ORDER BY id)) AS h FROM execution_history`,
        )
      )[0].h;
    const first = await sum();
    expect((await load('--seed', '7', '--replace')).code).toBe(0);
    expect(await sum()).toBe(first);
    expect((await load('--seed', '8', '--replace')).code).toBe(0);
    expect(await sum()).not.toBe(first);
    expect((await load('--seed', '7', '--replace')).code).toBe(0);
  });

  it('apply, verify, roll back; every workload query returns the same rows before and after', async () => {
    const c = await db.connect();
    const before = new Map<string, string[]>();
    for (const q of workload.queries) {
      before.set(q.name, await resultsOf(c, q.params, q.forms[0]));
      // A comparison of empty results would prove nothing.
      expect(
        before.get(q.name)!.some((r) => r !== '[]'),
        `${q.name} returns rows`,
      ).toBe(true);
    }

    const a = await cli('apply', PACK, '--json');
    expect(a.code, a.stderr).toBe(0);
    const applied = JSON.parse(a.stdout);
    expect(
      applied.statements
        .filter((s: any) => s.outcome === 'created')
        .map((s: any) => s.kind)
        .sort(),
    ).toEqual([...Array(16).fill('create-index'), ...Array(3).fill('create-matview')].sort());
    expect((await cli('verify', PACK)).code).toBe(0);

    for (const q of workload.queries) {
      // Raw form: indexes change speed, never results.
      expect(await resultsOf(c, q.params, q.forms[0]), q.name).toEqual(before.get(q.name));
      // The view form matches the raw query at refresh time.
      for (const f of q.forms.slice(1))
        expect(await resultsOf(c, q.params, f), `${q.name} via ${f.whenExists}`).toEqual(before.get(q.name));
    }

    const r = await cli('rollback', PACK);
    expect(r.code).toBe(0);
    const v = await cli('verify', PACK, '--json');
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).objects.every((o: any) => o.state === 'pending')).toBe(true);
  });

  it('--replace after apply leaves no registry row claiming a dropped object', async () => {
    expect((await cli('apply', PACK)).code).toBe(0);
    expect((await load('--seed', '7', '--replace')).code).toBe(0);
    expect(await db.query(`SELECT * FROM pgopt.objects`)).toEqual([]);
    const v = JSON.parse((await cli('verify', PACK, '--json')).stdout);
    expect(v.objects.every((o: any) => o.state === 'pending')).toBe(true);
  });
});
