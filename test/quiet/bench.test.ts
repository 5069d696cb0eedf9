import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';

let db: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'bench-'));
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);

const WORKLOAD = `-- name: history
-- A workflow's latest runs.
-- params: SELECT g FROM generate_series(1, 40) g
SELECT id, status FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 20;

-- name: active
SELECT count(*) FROM app."Execution" WHERE status IN ('pending', 'running');

-- name: daily
-- expect: under 10000 ms
SELECT date_trunc('day', "createdAt") AS d, count(*) FROM app."Execution" WHERE "workflowId" = 7 GROUP BY 1;

-- name: daily
-- when-exists: app.exec_day
SELECT d, n FROM app.exec_day WHERE wf = 7;
`;
const PACK = `CREATE INDEX idx_hist ON app."Execution" ("workflowId", "createdAt" DESC);
CREATE MATERIALIZED VIEW app.exec_day AS SELECT "workflowId" AS wf, date_trunc('day', "createdAt") AS d, count(*) AS n FROM app."Execution" GROUP BY 1, 2;
CREATE UNIQUE INDEX exec_day_key ON app.exec_day (wf, d);
`;
let workload: string;
let pack: string;

beforeAll(async () => {
  db = await createTestDatabase('bench');
  await loadSmallSchema(db, 200_000);
  await db.query('VACUUM ANALYZE');
  workload = writePack('small', WORKLOAD);
  pack = writePack('benchpack', PACK);
});
afterAll(async () => db?.drop());

describe('pgopt bench', () => {
  it('measures each query and saves the whole result', async () => {
    const before = join(dir, 'before.json');
    const r = await cli('bench', workload, '--runs', '15', '--warmup', '3', '--save', before, '--json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const run = doc.run;
    expect(run).toMatchObject({ kind: 'pgopt-bench', formatVersion: 1, workload: { name: 'small' }, options: { runs: 15, warmup: 3 } });
    expect(Object.keys(run.settings).sort()).toEqual([
      'effective_cache_size',
      'jit',
      'max_parallel_workers_per_gather',
      'random_page_cost',
      'shared_buffers',
      'work_mem',
    ]);
    expect(run.queries.map((q: any) => [q.name, q.form, q.samples.length, q.paramSets])).toEqual([
      ['history', 'raw', 15, 40],
      ['active', 'raw', 15, 1],
      ['daily', 'raw', 15, 1],
    ]);
    const h = run.queries[0];
    expect(h.execution.min).toBeLessThanOrEqual(h.execution.median);
    expect(h.execution.median).toBeLessThanOrEqual(h.execution.max);
    expect(h.plan.seqScans).toEqual(['Execution']);
    expect(h.rows).toBe(20);
    expect(h.profile['Node Type']).toBe('Limit');
    expect(h.profile['Actual Total Time']).toBeGreaterThan(0);
    // One calibration sample right before each measured run: the machine's speed in the same window.
    expect(h.calibration).toHaveLength(15);
    expect(Math.min(...h.calibration)).toBeGreaterThan(0);
    expect(run.queries[2].expectations).toEqual([{ text: 'under 10000 ms', ok: true, reason: '' }]);
  });

  it('after the pack: faster with a plan change, the view form runs, accounting names the users of each object', async () => {
    expect((await cli('apply', pack)).code).toBe(0);
    const after = join(dir, 'after.json');
    const r = await cli(
      'bench',
      workload,
      '--runs',
      '15',
      '--warmup',
      '3',
      '--compare',
      join(dir, 'before.json'),
      '--pack',
      pack,
      '--save',
      after,
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const history = doc.comparison.queries.find((q: any) => q.name === 'history');
    expect(history).toMatchObject({ verdict: 'faster', planChanged: true });
    expect(history.after.plan).toContain('idx_hist');
    expect(history.speedup).toBeGreaterThan(5);
    const daily = doc.comparison.queries.find((q: any) => q.name === 'daily');
    expect(daily.after.form).toBe('app.exec_day');
    expect(doc.account.objects.map((o: any) => [o.name, o.usedBy])).toEqual([
      ['idx_hist', ['history']],
      ['exec_day', ['daily']],
      ['exec_day_key', ['daily']],
    ]);
    expect(doc.account.unused).toEqual([]);
    expect(doc.account.totalBytes).toBeGreaterThan(0);
  });

  it('two runs of the same state are reported unchanged', async () => {
    // Same state: no autovacuum or analyze may run between the two (that would be a real change).
    await db.query(`ALTER TABLE app."Execution" SET (autovacuum_enabled = false)`);
    await db.query(`ALTER TABLE app.exec_day SET (autovacuum_enabled = false)`);
    // On 2 cores, whether a parallel plan's workers get a core of their own changes from one
    // connection to the next: the count over 200k rows ran at 18 ms or at 22 ms (seen here). That
    // is a real property of parallel query, not of the two states, so this test measures without it.
    await db.query(`ALTER DATABASE ${db.name} SET max_parallel_workers_per_gather = 0`);
    await db.query('VACUUM ANALYZE');
    // A first pass sets hint bits on the view's fresh pages: that is a change of state, not noise.
    expect((await cli('bench', workload, '--runs', '3', '--warmup', '1')).code).toBe(0);
    const first = join(dir, 'same1.json');
    const again = join(dir, 'same2.json');
    expect((await cli('bench', workload, '--runs', '30', '--warmup', '5', '--save', first)).code).toBe(0);
    expect((await cli('bench', workload, '--runs', '30', '--warmup', '5', '--save', again)).code).toBe(0);
    const r = await runCli(['compare', first, again, '--json', '--fail-on-regression', '50']);
    expect(r.code, r.stdout).toBe(0);
    const cmp = JSON.parse(r.stdout).comparison;
    // No confident verdict: each query is unchanged, or inconclusive with its reason.
    expect(
      cmp.queries
        .filter((q: any) => q.verdict === 'faster' || q.verdict === 'slower')
        .map((q: any) => [q.name, q.verdict, q.before.median, q.after.median]),
    ).toEqual([]);
    for (const q of cmp.queries.filter((x: any) => x.verdict === 'inconclusive')) expect(q.reason).toMatch(/re-run/);
    // Same workload, data and settings; the only thing a comparison may report is the machine's
    // own change of speed (the calibration query), which the verdicts above already corrected.
    expect(cmp.warnings.filter((w: string) => !w.includes('calibration query'))).toEqual([]);
  });

  it('an index dropped by hand shows as a significant regression and --fail-on-regression exits 1', async () => {
    await db.query('DROP INDEX app.idx_hist');
    const r = await cli(
      'bench',
      workload,
      '--runs',
      '15',
      '--warmup',
      '3',
      '--compare',
      join(dir, 'after.json'),
      '--fail-on-regression',
      '20',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/history is \d+% slower than the baseline \(p = /);
    expect(r.stdout).toMatch(/history.*slower/);
    // The same comparison with a looser gate than the regression passes: the gate is the threshold.
    const loose = await runCli(['compare', join(dir, 'after.json'), join(dir, 'before.json'), '--fail-on-regression', '100000']);
    expect(loose.code).toBe(0);
  });

  it('a failed expectation exits 1 naming the query and the reason', async () => {
    const strict = writePack(
      'strict',
      `-- name: scan\n-- expect: uses index idx_nope\n-- expect: no seq scan on Execution\nSELECT count(*) FROM app."Execution";\n`,
    );
    const r = await cli('bench', strict, '--runs', '3', '--warmup', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('scan: expected "uses index idx_nope", but the plan uses no index');
    expect(r.stderr).toContain('scan: expected "no seq scan on Execution", but the plan reads Execution with a Seq Scan');
  });

  it('markdown output goes to stdout and to $GITHUB_STEP_SUMMARY', async () => {
    const summary = join(dir, 'summary.md');
    const r = await runCli(['compare', join(dir, 'before.json'), join(dir, 'after.json'), '--format', 'markdown'], {
      env: { GITHUB_STEP_SUMMARY: summary },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| query | before p50 | after p50 | speedup | plan before → after | buffers |');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(summary, 'utf8')).toContain('| history |');
  });
});
