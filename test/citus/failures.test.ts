import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { createCitusDatabase, type CitusDatabase } from '../helpers/citus.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

let db: CitusDatabase;
beforeAll(async () => {
  db = await createCitusDatabase('cfail');
  const statements = [
    `CREATE SCHEMA "App"`,
    `CREATE TABLE "App"."Run" (id bigint NOT NULL, "workflowId" int NOT NULL, attempt int NOT NULL, note text)`,
    `SELECT create_distributed_table('"App"."Run"', 'workflowId')`,
    `INSERT INTO "App"."Run" SELECT g, g % 400, g / 400, md5(g::text) FROM generate_series(1, 40000) g`,
    // Two workflows, so two shards, hold a duplicate (workflowId, attempt): a UNIQUE build fails there.
    `INSERT INTO "App"."Run" VALUES (-1, 7, 1, 'dup'), (-2, 8, 1, 'dup')`,
    `ANALYZE "App"."Run"`,
  ];
  for (const s of statements) await db.query(s);
});
afterAll(async () => db?.drop());

const UNIQUE_PACK = `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_run_attempt ON "App"."Run" ("workflowId", attempt);\n`;
const coordinator = async (name: string) =>
  (await db.query(`SELECT indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`, [name]))[0] ?? null;
/** Registry rows of a pack (none when apply never got as far as creating the registry). */
const claimed = async (pack: string) =>
  (await db.query(`SELECT to_regclass('pgopt.objects') AS r`))[0].r
    ? await db.query(`SELECT object_name FROM pgopt.objects WHERE pack = $1`, [pack])
    : [];
const verifyReason = async (pack: string) => {
  const r = await runCli(['verify', pack, '--db', db.url, '--json']);
  return { code: r.code, reason: JSON.parse(r.stdout).objects[0].reason as string };
};

async function waitFor(cond: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a failed UNIQUE build on a distributed table', () => {
  it('as Citus leaves it: a mixed state verify names; apply cleans every node, then converges once the data allows', async () => {
    const pack = writePack('uniq', UNIQUE_PACK);
    // The control: the pack's statement run by hand leaves an INVALID coordinator index and some shards built.
    await expect(db.query(UNIQUE_PACK)).rejects.toThrow(/could not create unique index/);
    expect(await coordinator('idx_run_attempt')).toEqual({ indisvalid: false });
    const mixed = await db.shardIndexes('idx_run_attempt_');
    expect(mixed.length).toBeLessThan(32);
    const v = await verifyReason(pack);
    expect(v.code).toBe(1);
    expect(v.reason).toMatch(/^index is INVALID on the coordinator, with \d+\/32 shards valid, .*missing on shards? \d+.*\(worker :\d+\)/);

    // With the duplicates still there, pgopt refuses before building (lint reads them through the
    // coordinator) and changes nothing: every shard stays as Citus left it, nothing is claimed.
    const refused = await runCli(['apply', pack, '--db', db.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('UNIQUE index over data with duplicates');
    expect(await db.shardIndexes('idx_run_attempt_')).toEqual(mixed);
    expect(await claimed('uniq')).toEqual([]);

    await db.query(`DELETE FROM "App"."Run" WHERE id < 0`);
    const ok = await runCli(['apply', pack, '--db', db.url, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).statements[0].outcome).toBe('rebuilt');
    expect(await verifyReason(pack)).toEqual({ code: 0, reason: '32/32 shards valid' });
    expect((await db.shardIndexes('idx_run_attempt')).filter((i) => i.shard && i.valid)).toHaveLength(32);
    expect((await runCli(['rollback', 'uniq', '--db', db.url])).code).toBe(0);
    expect(await db.shardIndexes('idx_run_attempt')).toEqual([]);
  });
});

describe("pgopt's own distributed build failing on some shards", () => {
  it('drops the coordinator index and every shard index that was built: nothing on any worker, nothing claimed', async () => {
    // Division by zero only on the shard holding workflowId 7: the error only the real build meets.
    const pack = writePack('ratio', `CREATE INDEX CONCURRENTLY idx_run_ratio ON "App"."Run" ((1 / ("workflowId" - 7)));\n`);
    // Control: the same statement by hand leaves shard indexes behind on the workers.
    await expect(db.query(`CREATE INDEX CONCURRENTLY idx_run_ratio ON "App"."Run" ((1 / ("workflowId" - 7)))`)).rejects.toThrow(
      /division by zero/,
    );
    expect((await db.shardIndexes('idx_run_ratio_')).length).toBeGreaterThan(0);
    await db.query(`DROP INDEX CONCURRENTLY IF EXISTS "App".idx_run_ratio`);
    expect(await db.shardIndexes('idx_run_ratio')).toEqual([]);

    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('division by zero');
    expect(await coordinator('idx_run_ratio')).toBe(null);
    expect(await db.shardIndexes('idx_run_ratio')).toEqual([]);
    expect(await claimed('ratio')).toEqual([]);
  });
});

describe('shard indexes left without their coordinator index (a drop that stopped part-way)', () => {
  /** On the first worker, an index under the name Citus would give the pack's index on one shard. */
  async function plant(): Promise<string> {
    const [shard] = await db.onWorker(
      db.workers[0],
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'App' AND c.relname ~ '^Run_[0-9]+$' AND relation_is_a_known_shard(c.oid) ORDER BY 1 LIMIT 1`,
    );
    const id = shard.relname.replace('Run_', '');
    await db.onWorker(db.workers[0], `CREATE INDEX idx_run_id_${id} ON "App"."${shard.relname}" (id)`);
    return id;
  }

  it('are dropped on their node before the build, which would otherwise fail on that shard', async () => {
    const pack = writePack('swept', `CREATE INDEX CONCURRENTLY idx_run_id ON "App"."Run" (id);\n`);
    const id = await plant();
    // Control: Citus's own build meets the leftover and fails.
    await expect(db.query(`CREATE INDEX CONCURRENTLY idx_run_id ON "App"."Run" (id)`)).rejects.toThrow(
      /CONCURRENTLY-enabled index command failed/,
    );
    expect(await coordinator('idx_run_id')).toEqual({ indisvalid: false });
    expect((await db.shardIndexes(`idx_run_id_${id}`)).length).toBe(1);
    await db.query(`DROP INDEX CONCURRENTLY IF EXISTS "App".idx_run_id`);
    await plant();
    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(await verifyReason(pack)).toEqual({ code: 0, reason: '32/32 shards valid' });
    expect((await runCli(['rollback', 'swept', '--db', db.url])).code).toBe(0);
    expect(await db.shardIndexes('idx_run_id')).toEqual([]);
  });
});

describe('a transaction open on a worker', () => {
  it('is named in the warning before the build waits for it, which the coordinator alone cannot see', async () => {
    const pack = writePack('waits', `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_run_waits ON "App"."Run" (attempt, note);\n`);
    const blocker = new pg.Client({ connectionString: db.url.replace(/:(\d+)\//, `:${db.workers[1]}/`) });
    await blocker.connect();
    const pid = (await blocker.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
    await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await blocker.query('SELECT txid_current()');
    // pgopt names transactions older than 5 s.
    await new Promise((r) => setTimeout(r, 5_500));
    // The unsafe view: on the coordinator, no transaction is that old.
    expect(
      await db.query(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND xact_start < now() - interval '5 seconds' AND pid <> pg_backend_pid()`,
      ),
    ).toEqual([]);
    const run = runCli(['apply', pack, '--db', db.url]);
    setTimeout(() => void blocker.query('ROLLBACK').then(() => blocker.end()), 3_000);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`waits for 1 older transaction(s): pid ${pid} on :${db.workers[1]} (postgres`);
    expect((await runCli(['rollback', 'waits', '--db', db.url])).code).toBe(0);
  });
});

describe('kill -9 of apply in the middle of a distributed build', () => {
  it('leaves shards built on one worker and not the other; the next apply converges with every placement valid', async () => {
    const pack = writePack('killed', `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_run_note ON "App"."Run" (note);\n`);
    // A snapshot held open on the second worker: its shard builds wait there, the first worker's finish.
    const blocker = new pg.Client({ connectionString: db.url.replace(/:(\d+)\//, `:${db.workers[1]}/`) });
    await blocker.connect();
    await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await blocker.query('SELECT 1');
    await blocker.query('SELECT txid_current()');
    let child: ChildProcess | undefined;
    const run = runCli(['apply', pack, '--db', db.url], { onSpawn: (p) => (child = p) });
    await waitFor(async () => (await db.shardIndexes('idx_run_note_')).filter((i) => i.port === db.workers[0] && i.valid).length === 16);
    child!.kill('SIGKILL');
    expect((await run).code).toBe(null);
    // The coordinator's backend goes too (a DBA's pg_terminate_backend, or a restart): the build is cut off.
    await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%idx_run_note%' AND pid <> pg_backend_pid()`,
    );
    await waitFor(
      async () =>
        !(
          await db.query(
            `SELECT 1 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%idx_run_note%' AND pid <> pg_backend_pid()`,
          )
        ).length,
    );
    expect(await coordinator('idx_run_note')).toEqual({ indisvalid: false });
    const v = await verifyReason(pack);
    expect(v.code).toBe(1);
    expect(v.reason).toMatch(/^index is INVALID on the coordinator/);
    await blocker.query('ROLLBACK');
    await blocker.end();

    const again = await runCli(['apply', pack, '--wait', '60s', '--db', db.url]);
    expect(again.code, again.stderr).toBe(0);
    expect(await verifyReason(pack)).toEqual({ code: 0, reason: '32/32 shards valid' });
    const onWorkers = await db.shardIndexes('idx_run_note');
    expect(onWorkers.filter((i) => i.shard && i.valid)).toHaveLength(32);
    expect(onWorkers.filter((i) => !i.valid)).toEqual([]);
    expect(await db.query(`SELECT count(*)::int AS n FROM pgopt.objects WHERE pack = 'killed'`)).toEqual([{ n: 1 }]);
    expect((await runCli(['rollback', 'killed', '--db', db.url])).code).toBe(0);
    expect(await db.shardIndexes('idx_run_note')).toEqual([]);
  });
});
