import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';

/**
 * kill -9 at each moment of a run, then an immediate rerun (no --wait): it must converge —
 * exit 0, verify exit 0, no INVALID index, one registry row per object. A blocker (an open
 * transaction or a lock) holds the run at the moment, is released right after the kill, and the
 * rerun starts at once. README: "kill -9, then run again at once"; figures in BENCHMARKS.md.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('killmatrix');
  await loadSmallSchema(db, 50_000);
});
afterAll(async () => db?.drop());

const PACK = `CREATE INDEX IF NOT EXISTS idx_k_exec ON app."Execution" ("workflowId", "createdAt");
CREATE INDEX IF NOT EXISTS idx_k_proj ON app.projects (name, id);
CREATE MATERIALIZED VIEW IF NOT EXISTS app.k_daily AS SELECT "projectId", count(*) AS n FROM app."Execution" GROUP BY 1;
CREATE UNIQUE INDEX IF NOT EXISTS k_daily_key ON app.k_daily ("projectId");
`;

async function waitFor(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for the kill moment: ${JSON.stringify(await db.query('SELECT application_name, state, wait_event_type, left(query, 80) AS q FROM pg_stat_activity WHERE datname = current_database()'))}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}
const running = async (like: string) =>
  (await db.query(`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pgopt %' AND query ILIKE $1`, [like])).length > 0;
const exists = async (rel: string) => (await db.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [rel]))[0].ok as boolean;

/** A session that holds back the run: a snapshot, or a lock on a table. */
async function blocker(kind: 'snapshot' | 'reader'): Promise<pg.Client> {
  const c = await db.connect();
  await c.query(kind === 'snapshot' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ' : 'BEGIN');
  if (kind === 'snapshot') await c.query('SELECT txid_current()');
  if (kind === 'reader') await c.query('SELECT count(*) FROM app."Execution"');
  return c;
}

async function converges(pack: string): Promise<void> {
  const again = await runCli(['apply', pack, '--db', db.url]);
  expect(again.code, again.stderr).toBe(0);
  const v = await runCli(['verify', pack, '--db', db.url]);
  expect(v.code, v.stdout + v.stderr).toBe(0);
  expect((await db.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`))[0].n).toBe(0);
  const dup = await db.query(`SELECT object_name FROM pgopt.objects GROUP BY pack, schema_name, object_name HAVING count(*) > 1`);
  expect(dup).toEqual([]);
}

async function rollBackAll(): Promise<void> {
  const rb = await runCli(['rollback', 'killmatrix', '--db', db.url]);
  expect(rb.code, rb.stderr).toBe(0);
  for (const rel of ['app.idx_k_exec', 'app.idx_k_proj', 'app.k_daily']) expect(await exists(rel), rel).toBe(false);
}

const MOMENTS: { name: string; block?: 'snapshot'; at: () => Promise<boolean> }[] = [
  { name: 'before the run lock (starting up)', at: async () => true },
  {
    name: 'holding the lock, before any build',
    at: async () =>
      (
        await db
          .query(`SELECT 1 FROM pgopt.events WHERE pack = 'killmatrix' AND outcome = 'started' AND at > now() - interval '5 s'`)
          .catch(() => [])
      ).length > 0,
  },
  {
    name: "during lane 1's index build",
    block: 'snapshot',
    at: async () => (await exists('app.idx_k_exec')) && (await running('CREATE INDEX CONCURRENTLY%idx_k_exec%')),
  },
  {
    name: "during lane 2's index build",
    block: 'snapshot',
    at: async () => (await exists('app.idx_k_proj')) && (await running('CREATE INDEX CONCURRENTLY%idx_k_proj%')),
  },
  {
    name: 'after the view was built, while the indexes build',
    block: 'snapshot',
    at: async () => (await exists('app.k_daily')) && (await running('CREATE%INDEX CONCURRENTLY%')),
  },
];

describe('kill -9 at every moment, then an immediate rerun', () => {
  for (const m of MOMENTS) {
    it(`apply killed ${m.name}`, async () => {
      const pack = writePack('killmatrix', PACK);
      const b = m.block ? await blocker(m.block) : null;
      let child: ChildProcess | undefined;
      const run = runCli(['apply', pack, '--jobs', '2', '--db', db.url], { onSpawn: (p) => (child = p) });
      try {
        await waitFor(m.at);
      } finally {
        child!.kill('SIGKILL');
        await run;
        await b?.query('ROLLBACK');
      }
      await converges(pack);
      await rollBackAll();
    });
  }

  it('rollback killed during a drop (waiting for a reader of the table), then an immediate rerun of rollback', async () => {
    const pack = writePack('killmatrix', PACK);
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    const b = await blocker('reader');
    let child: ChildProcess | undefined;
    const run = runCli(['rollback', 'killmatrix', '--db', db.url], { onSpawn: (p) => (child = p) });
    try {
      await waitFor(() => running('DROP INDEX CONCURRENTLY%'));
    } finally {
      child!.kill('SIGKILL');
      await run;
      await b.query('ROLLBACK');
    }
    await rollBackAll();
    expect((await db.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`))[0].n).toBe(0);
    expect(await db.query(`SELECT object_name FROM pgopt.objects WHERE pack = 'killmatrix'`)).toEqual([]);
  });
});
