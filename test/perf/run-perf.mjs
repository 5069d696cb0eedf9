// npm run perf: how fast pgopt itself is, measured side by side in one run (a benchmark, not a test).
//   1. harness overhead: pgopt bench's median vs pgbench's average latency, same query, same runs;
//   2. apply: pgopt apply of sql/audit_engine (concurrent builds) vs psql -f of the same statements
//      as plain blocking builds;
//   3. start-up: pgopt --version vs node -e 0.
// PERF_SCALE (default 1) sets the audit_engine data volume; PG_BIN where psql and pgbench are.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbedded } from '../../dist/embedded/server.js';
import { loadFixture } from '../../dist/fixture-loader/load-fixture.js';
import { loadWorkload } from '../../dist/bench/workload.js';
import { runBench } from '../../dist/bench/runner.js';
import { summarize } from '../../dist/bench/stats.js';
import { loadPack } from '../../dist/pack/load-pack.js';
import { rewriteIndexSql } from '../../dist/pack/rewrite.js';

const SCALE = Number(process.env.PERF_SCALE ?? 1);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const RUNS = 30;
const dir = mkdtempSync(join(tmpdir(), 'pgopt-perf-'));
const log = (...a) => console.error(...a);
const median = (xs) => summarize(xs).median;
const time = (fn) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};

const server = await startEmbedded();
process.on('SIGINT', () => void server.stop().then(() => process.exit(130)));
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, scale: SCALE };
try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE perf');
  out.server = (await admin.query('SHOW server_version')).rows[0].server_version;
  await admin.end();
  const url = server.url.replace(/\/postgres$/, '/perf');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  log(`loading audit_engine at scale ${SCALE}…`);
  const load = await loadFixture(c, 'audit_engine', { scale: SCALE, seed: 42, replace: false });
  out.loadMs = load.totalMs;

  // 1. Harness overhead, on queries of three sizes (before the pack: seq scans of every size).
  out.harness = [];
  const queries = {
    failure_feed: `SELECT id, workflow_id, created_at, error FROM execution_history WHERE status = 'failed' ORDER BY created_at DESC LIMIT 100`,
    recent_files_all: `SELECT id, filename, created_at FROM files WHERE deleted_at IS NULL ORDER BY created_at DESC LIMIT 50`,
    login_by_email: `SELECT id, email FROM users WHERE email = 'user17@example.org'`,
  };
  for (const [name, sql] of Object.entries(queries)) {
    const wfile = join(dir, `${name}.sql`);
    writeFileSync(wfile, `-- name: ${name}\n${sql};\n`);
    const workload = await loadWorkload(wfile);
    const r = await runBench(c, workload, { runs: RUNS, warmup: 5, budgetMs: 600_000, minRuns: RUNS, statementTimeoutMs: 60_000 });
    const q = r.queries[0];
    const bfile = join(dir, `${name}.pgbench`);
    writeFileSync(bfile, `${sql};\n`);
    const logDir = mkdtempSync(join(dir, 'pgbench-'));
    const pgbench = (t, extra = []) =>
      execFileSync(join(PG_BIN, 'pgbench'), ['-n', '-f', bfile, '-t', String(t), '-c', '1', ...extra, url], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: logDir });
    pgbench(5);
    const text = pgbench(RUNS, ['-l', '--log-prefix', join(logDir, 'tx')]);
    const latency = Number(/latency average = ([\d.]+) ms/.exec(text)[1]);
    // Per-transaction log: "client tx latency_us script time_epoch time_us".
    const logFile = readdirSync(logDir).find((f) => f.startsWith('tx'));
    const perTx = readFileSync(join(logDir, logFile), 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[2]) / 1000);
    const pgbenchMedian = median(perTx);
    out.harness.push({
      query: name,
      pgoptExecutionMedianMs: q.execution.median,
      pgoptExecutionMeanMs: q.execution.mean,
      pgoptRoundTripMedianMs: q.roundTrip.median,
      pgbenchLatencyAverageMs: latency,
      pgbenchLatencyMedianMs: pgbenchMedian,
      ratioMedianToAverage: q.execution.median / latency,
      ratioMedianToMedian: q.execution.median / pgbenchMedian,
    });
    log(`harness ${name}: pgopt median ${q.execution.median.toFixed(3)} ms (mean ${q.execution.mean.toFixed(3)}, round trip ${q.roundTrip.median.toFixed(3)}), pgbench average ${latency} ms, median ${pgbenchMedian.toFixed(3)} ms`);
  }

  // 2. Apply vs psql -f (plain blocking builds), alternated over rounds, medians reported.
  const packDir = new URL('../../sql/audit_engine/', import.meta.url).pathname;
  // The baseline the issue names: the same statements as plain blocking builds (CONCURRENTLY
  // taken out with the pack rewriter, on the parser's tokens). The pack as written (CONCURRENTLY,
  // one connection) is timed too, to separate CIC's own cost from pgopt's.
  const pack = await loadPack(packDir);
  const plain = join(dir, 'plain.sql');
  writeFileSync(plain, pack.statements.map((st) => (st.kind === 'create-index' ? rewriteIndexSql(st.sql, { name: st.object.name, concurrently: false, ifNotExists: true }) : st.sql) + ';\n').join(''));
  const asWritten = join(dir, 'as-written.sql');
  writeFileSync(asWritten, readdirSync(packDir).filter((f) => f.endsWith('.sql')).sort().map((f) => readFileSync(join(packDir, f), 'utf8')).join('\n'));
  const pgopt = (...args) => {
    const r = spawnSync(process.execPath, ['bin/pgopt.js', ...args, '--db', url], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`pgopt ${args.join(' ')} failed: ${r.stderr}`);
  };
  const dropAll = async () => {
    await c.query('DROP MATERIALIZED VIEW IF EXISTS workflow_execution_stats, project_daily_stats, node_type_usage');
    const idx = (await c.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE 'idx_%'`)).rows.map((r) => r.indexname);
    if (idx.length) await c.query(`DROP INDEX ${idx.join(', ')}`);
    await c.query('CHECKPOINT');
  };
  const psqlTimes = [];
  const psqlConcurrentTimes = [];
  const applyTimes = [];
  const applyNoAnalyzeTimes = [];
  const applySerialTimes = [];
  const applyBlockingTimes = [];
  for (let round = 0; round < 3; round++) {
    await dropAll();
    psqlTimes.push(time(() => execFileSync(join(PG_BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', '-f', plain, url], { stdio: 'ignore' })));
    await dropAll();
    psqlConcurrentTimes.push(time(() => execFileSync(join(PG_BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', '-f', asWritten, url], { stdio: 'ignore' })));
    await dropAll();
    applyTimes.push(time(() => pgopt('apply', packDir)));
    pgopt('rollback', 'audit_engine');
    await c.query('CHECKPOINT');
    applyNoAnalyzeTimes.push(time(() => pgopt('apply', packDir, '--no-analyze')));
    pgopt('rollback', 'audit_engine');
    await c.query('CHECKPOINT');
    applySerialTimes.push(time(() => pgopt('apply', packDir, '--jobs', '1')));
    pgopt('rollback', 'audit_engine');
    await c.query('CHECKPOINT');
    applyBlockingTimes.push(time(() => pgopt('apply', packDir, '--no-concurrently', '--no-analyze')));
    pgopt('rollback', 'audit_engine');
    log(`apply round ${round + 1}: psql -f plain ${psqlTimes.at(-1).toFixed(0)} ms, psql -f as written (CONCURRENTLY) ${psqlConcurrentTimes.at(-1).toFixed(0)} ms, pgopt apply ${applyTimes.at(-1).toFixed(0)} ms, --no-analyze ${applyNoAnalyzeTimes.at(-1).toFixed(0)} ms, --jobs 1 ${applySerialTimes.at(-1).toFixed(0)} ms, --no-concurrently --no-analyze ${applyBlockingTimes.at(-1).toFixed(0)} ms`);
  }
  out.apply = {
    psqlPlainMs: median(psqlTimes),
    psqlConcurrentMs: median(psqlConcurrentTimes),
    pgoptApplyMs: median(applyTimes),
    pgoptApplyNoAnalyzeMs: median(applyNoAnalyzeTimes),
    pgoptApplyJobs1Ms: median(applySerialTimes),
    pgoptApplyBlockingNoAnalyzeMs: median(applyBlockingTimes),
    ratio: median(applyTimes) / median(psqlTimes),
    ratioToConcurrentPsql: median(applyTimes) / median(psqlConcurrentTimes),
    ratioNoAnalyze: median(applyNoAnalyzeTimes) / median(psqlTimes),
    ratioBlockingNoAnalyze: median(applyBlockingTimes) / median(psqlTimes),
  };
  await c.end();

  // 3. Start-up.
  const startup = (args) => Array.from({ length: 20 }, () => time(() => execFileSync(process.execPath, args, { stdio: 'ignore' })));
  startup(['-e', '0']);
  const node0 = startup(['-e', '0']);
  const version = startup(['bin/pgopt.js', '--version']);
  out.startup = { nodeMs: median(node0), pgoptVersionMs: median(version), ratio: median(version) / median(node0) };
  log(`start-up: node -e 0 ${median(node0).toFixed(1)} ms, pgopt --version ${median(version).toFixed(1)} ms`);
} finally {
  await server.stop();
}
console.log(JSON.stringify(out, null, 2));
