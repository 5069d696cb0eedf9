import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { createCitusDatabase, type CitusDatabase } from '../helpers/citus.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';
import { CITUS_PACK, CITUS_WORKLOAD, LONG_NAME, loadCitusSchema } from './schema.js';

let db: CitusDatabase;
let pack: string;
let workload: string;
beforeAll(async () => {
  db = await createCitusDatabase('cpack');
  await loadCitusSchema(db, 20_000);
  pack = writePack('citus', CITUS_PACK);
  workload = join(dirname(pack), 'workload.sql');
  writeFileSync(workload, CITUS_WORKLOAD);
});
afterAll(async () => db?.drop());

const DISTRIBUTED = ['idx_exec_workflowCreated', 'idx_exec_failed', 'idx_exec_result', 'idx_exec_error', LONG_NAME];

const verifyJson = async () => {
  const r = await runCli(['verify', pack, '--db', db.url, '--json']);
  return { code: r.code, stderr: r.stderr, objects: JSON.parse(r.stdout).objects as { object: string; state: string; reason: string }[] };
};
const reasonOf = (objects: { object: string; reason: string }[], name: string) =>
  objects.find((o) => o.object.replaceAll('"', '').endsWith(`.${name}`))!.reason;
const coordinatorValid = async (name: string) =>
  (await db.query(`SELECT indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`, [name]))[0]?.indisvalid;

describe('a pack on a Citus distributed and a reference table', () => {
  it('plan shows the layout of each table and the locks on the coordinator and the shards', async () => {
    const r = await runCli(['plan', pack, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('distributed by workflowId: 32 shards on 2 workers');
    expect(r.stdout).toContain('reference table: a copy on each of 3 nodes');
    expect(r.stdout).toContain("SHARE UPDATE EXCLUSIVE on the coordinator's table and on each shard");
  });

  it('apply builds on every shard, verify checks every placement, bench names the pack\u2019s indexes, rollback leaves nothing on any worker', async () => {
    const a = await runCli(['apply', pack, '--db', db.url]);
    expect(a.code, a.stderr).toBe(0);
    const v = await verifyJson();
    expect(v.code, v.stderr).toBe(0);
    for (const n of DISTRIBUTED) expect(reasonOf(v.objects, n)).toBe('32/32 shards valid');
    expect(reasonOf(v.objects, 'idx_project_name')).toBe('3/3 placements valid');
    // Read on the workers themselves, not through pgopt: 5 indexes × 32 shards, all valid.
    const onWorkers = await db.shardIndexes('idx_');
    expect(onWorkers.filter((i) => i.shard && i.valid)).toHaveLength(5 * 32 + 2);
    expect(onWorkers.filter((i) => i.shard && !i.valid)).toEqual([]);
    expect(onWorkers.some((i) => /^idx_execution_by_workflow_and_creation_time_for_[0-9a-f]{8}_\d+$/.test(i.name))).toBe(true);

    const b = await runCli(['bench', workload, '--pack', pack, '--runs', '5', '--db', db.url, '--json']);
    expect(b.code, b.stderr).toBe(0);
    const bench = JSON.parse(b.stdout);
    const used = Object.fromEntries(bench.account.objects.map((o: { name: string; usedBy: string[] }) => [o.name, o.usedBy]));
    expect(used['idx_exec_workflowCreated']).toContain('workflow_runs');
    expect(used['idx_exec_failed']).toContain('failures');
    // Every index a worker's plan names is the pack's, and its query is counted for it.
    for (const q of bench.run.queries as { name: string; plan: { indexes: string[] } }[]) {
      for (const i of q.plan.indexes)
        expect(Object.entries(used).some(([n, by]) => i.startsWith(n.slice(0, 40)) && (by as string[]).includes(q.name))).toBe(true);
    }
    const projectRuns = bench.run.queries.find((q: { name: string }) => q.name === 'project_runs');
    expect(used[LONG_NAME], JSON.stringify(projectRuns?.plan)).toContain('project_runs');
    expect(bench.run.server.citus).toMatch(/^13\./);
    const sizes = bench.account.objects.map((o: { sizeBytes: number }) => o.sizeBytes);
    // citus_relation_size sums the shards; the coordinator's shell index alone is one page or none.
    expect(Math.min(...sizes.slice(0, 5))).toBeGreaterThan(32 * 8192);
    const workflowRuns = bench.run.queries.find((q: { name: string }) => q.name === 'workflow_runs');
    expect(workflowRuns.plan.headline).toMatch(/^Citus, 1 task: .*idx_exec_workflowCreated on Execution/);

    const r = await runCli(['rollback', 'citus', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(await db.shardIndexes('idx_')).toEqual([]);
    expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE 'idx_%'`)).toEqual([]);
  });

  it('a shard index dropped on a worker: verify names the shard and the worker, where the coordinator alone says valid; apply rebuilds it', async () => {
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    const [shard] = await db.onWorker(
      db.workers[1],
      `SELECT c.relname FROM pg_class c WHERE c.relname LIKE 'idx_exec_failed_%' ORDER BY 1 LIMIT 1`,
    );
    await db.onWorker(db.workers[1], `DROP INDEX "App".${shard.relname}`);
    // The unsafe check: the coordinator's catalog still says valid.
    expect(await coordinatorValid('idx_exec_failed')).toBe(true);
    const v = await verifyJson();
    expect(v.code).toBe(1);
    const id = shard.relname.replace('idx_exec_failed_', '');
    expect(reasonOf(v.objects, 'idx_exec_failed')).toBe(
      `31/32 shards valid, missing on shard ${id} (worker :${db.workers[1]}); apply drops and rebuilds it on every shard`,
    );
    const a = await runCli(['apply', pack, '--db', db.url]);
    expect(a.code, a.stderr).toBe(0);
    expect((await verifyJson()).code).toBe(0);
    expect((await db.shardIndexes('idx_exec_failed')).filter((i) => i.shard && i.valid)).toHaveLength(32);
  });

  it('a shard index of the pack\u2019s name with another definition is found, and replaced', async () => {
    const [shard] = await db.onWorker(
      db.workers[0],
      `SELECT c.relname, c2.relname AS t FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class c2 ON c2.oid = i.indrelid WHERE c.relname LIKE 'idx_exec_error_%' ORDER BY 1 LIMIT 1`,
    );
    await db.onWorker(db.workers[0], `DROP INDEX "App".${shard.relname}`);
    await db.onWorker(db.workers[0], `CREATE INDEX ${shard.relname} ON "App"."${shard.t}" ("createdAt")`);
    const v = await verifyJson();
    expect(v.code).toBe(1);
    expect(reasonOf(v.objects, 'idx_exec_error')).toMatch(/^31\/32 shards valid, a different definition on shard \d+ \(worker :\d+\)/);
    // Control: the other shards' definitions, rendered on the workers, match the pack's.
    expect(reasonOf(v.objects, 'idx_exec_failed')).toBe('32/32 shards valid');
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    expect((await verifyJson()).code).toBe(0);
  });

  it('lint judges a distributed table by its shards, not by the coordinator’s empty copy', async () => {
    const lintPack = writePack(
      'lintc',
      `CREATE INDEX IF NOT EXISTS idx_lint_status ON "App"."Execution" (status);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS idx_lint_id ON "App"."Execution" ("createdAt");\n`,
    );
    // What the coordinator alone knows: no rows, no statistics.
    expect(await db.query(`SELECT reltuples::int AS n FROM pg_class WHERE oid = '"App"."Execution"'::regclass`)).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_stats WHERE tablename = 'Execution'`)).toEqual([{ n: 0 }]);
    const r = await runCli(['lint', lintPack, '--db', db.url, '--json']);
    const findings = JSON.parse(r.stdout).findings as { rule: string; object: string; message: string }[];
    const of = (name: string) => findings.filter((f) => f.object.endsWith(name)).map((f) => f.rule);
    expect(of('idx_lint_status')).toEqual(expect.arrayContaining(['not-concurrent', 'low-cardinality']));
    expect(findings.find((f) => f.rule === 'not-concurrent')!.message).toContain('(20,000 rows)');
    // Control: a selective column, written concurrently, draws neither.
    expect(of('idx_lint_id')).toEqual([]);
  });

  it('never issues CREATE INDEX CONCURRENTLY IF NOT EXISTS for an index that exists (citus#8338)', async () => {
    // Control: the statement the pack says, run as written on an existing index, breaks it.
    await db.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_exec_failed ON "App"."Execution" ("createdAt") WHERE status = 'failed'`);
    expect(await coordinatorValid('idx_exec_failed')).toBe(false);
    const v = await verifyJson();
    expect(reasonOf(v.objects, 'idx_exec_failed')).toMatch(/^index is INVALID on the coordinator, with 32\/32 shards valid behind it/);
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(0);
    expect(await coordinatorValid('idx_exec_failed')).toBe(true);
    // With everything applied, apply again: pgopt decides existence itself and builds nothing.
    const again = await runCli(['apply', pack, '--db', db.url]);
    expect(again.code, again.stderr).toBe(0);
    for (const n of DISTRIBUTED) expect(await coordinatorValid(n)).toBe(true);
    expect((await runCli(['rollback', 'citus', '--db', db.url])).code).toBe(0);
    expect(await db.shardIndexes('idx_')).toEqual([]);
  });
});
