// npm run perf:traffic: a workload captured from traffic alone, advised into a pack, against the
// hand-written pack, both judged by impact on the same application traffic (issue 25).
//   audit_engine at SCALE; traffic = the workload's queries from 3 plain clients, CALLS of each;
//   capture → advise (its default budget) → apply the advised pack → traffic → impact → roll back;
//   a snapshot; traffic → apply sql/audit_engine → traffic → impact → roll back.
// Prints production time saved per hour by each pack, and the ratio.
// LOG=1: the server logs every statement with its bind values (log_min_duration_statement = 0, jsonlog),
// and capture reads that log (capture --log): the application's own text and its values.
import { chownSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded } from '../../dist/embedded/server.js';
import { resolveConnection } from '../../dist/db/connection.js';
import { withClient } from '../../dist/db/scoped.js';
import { asUser } from '../../dist/db/session.js';
import { loadFixture } from '../../dist/fixture-loader/load-fixture.js';
import { loadWorkload } from '../../dist/bench/workload.js';
import { DEFAULT_BENCH_OPTIONS } from '../../dist/bench/runner.js';
import { loadPack } from '../../dist/pack/load-pack.js';
import { applyPack } from '../../dist/engine/apply.js';
import { rollbackPack } from '../../dist/engine/rollback.js';
import { DEFAULT_RUN_OPTIONS } from '../../dist/engine/run-options.js';
import { adviseWorkload } from '../../dist/advise/advise.js';
import { packText } from '../../dist/advise/pack-text.js';
import { captureWorkload } from '../../dist/production/capture.js';
import { captureText } from '../../dist/production/workload-text.js';
import { readServerLog } from '../../dist/production/server-log.js';
import { EMBEDDED_BIN, serverUser, startFromBinaries } from '../../dist/embedded/binaries.js';
import { takeSnapshot } from '../../dist/production/snapshots.js';
import { measureImpact } from '../../dist/production/impact.js';
import { sendTraffic } from '../../dist/demo/traffic.js';
import { DEMO_PACK, DEMO_WORKLOAD } from '../../dist/demo/run-demo.js';

const SCALE = Number(process.env.SCALE ?? 0.2);
const CALLS = Number(process.env.CALLS ?? 60);
const log = (...a) => console.error(...a);
const dir = mkdtempSync(join(tmpdir(), 'pgopt-traffic-perf-'));
const LOG = process.env.LOG === '1';
const logDir = mkdtempSync(join(tmpdir(), 'pgopt-traffic-log-'));
const user = serverUser();
if (user) chownSync(logDir, user.uid, user.gid);
const logging = LOG
  ? { logging_collector: 'on', log_destination: 'jsonlog', log_directory: logDir, log_filename: 'pg.log', log_min_duration_statement: '0' }
  : {};
// The embedded runner waits for the server's ready line on stderr, which the logging collector takes: pg_ctl -w instead.
const server = LOG
  ? await startFromBinaries(EMBEDDED_BIN, { shared_preload_libraries: 'pg_stat_statements', ...logging })
  : await startEmbedded({ settings: { shared_preload_libraries: 'pg_stat_statements' } });
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, scale: SCALE, callsPerQuery: CALLS, log: LOG };
try {
  await withClient(resolveConnection({ db: server.url }), 'perf', (c) => c.query('CREATE DATABASE traffic'));
  const url = server.url.replace(/\/postgres$/, '/traffic');
  const target = resolveConnection({ db: url });
  await withClient(target, 'pgopt perf', async (c) => {
    out.server = (await c.query('SHOW server_version')).rows[0].server_version;
    await loadFixture(c, 'audit_engine', { scale: SCALE, seed: 42, replace: false });
    await asUser(c, async () => {
      await c.query('CREATE EXTENSION pg_stat_statements');
      await c.query('SELECT pg_stat_statements_reset()');
    });
    const app = await loadWorkload(DEMO_WORKLOAD);
    // MODE=weights: production's rates differ: the pages people open all day run 10 times as often as the reports.
    const FREQUENT = new Set(['login', 'workflow_list', 'my_workflows', 'workflow_detail', 'execution_history', 'recent_files', 'workflow_files']);
    const rate = process.env.MODE === 'weights' ? (name) => (FREQUENT.has(name) ? 10 : 1) : undefined;
    const traffic = () => sendTraffic(url, app, { clients: 3, callsPerQuery: CALLS, application: 'audit-engine', rate });
    const apply = (pack) =>
      applyPack(c, pack, { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false, jobs: 2, withExtraClient: (fn) => withClient(target, 'pgopt perf', fn) });
    log('traffic (before any pack)');
    await traffic();
    if (LOG) await new Promise((r) => setTimeout(r, 1500)); // the collector writes a moment later
    const logged = LOG ? readServerLog(readFileSync(join(logDir, 'pg.json'), 'utf8')) : undefined;
    if (LOG) log(`the server log holds ${logged.length} executions with bind values`);
    const captured = await captureWorkload(c, { top: 20, minCalls: 2, includeWrites: false, logged }, 60_000);
    writeFileSync(join(dir, 'captured.sql'), captureText(captured, out.server));
    log(`captured ${captured.queries.length} statements; advising`);
    const advise = async (file, name, maxIndexes) => {
      const t0 = performance.now();
      const advice = await adviseWorkload(c, await loadWorkload(file), {
        ...DEFAULT_RUN_OPTIONS,
        maxIndexes,
        maxSizeBytes: Infinity,
        maxTrials: 12,
        dryRun: false,
        installHypopg: false,
        bench: { ...DEFAULT_BENCH_OPTIONS, runs: 15, warmup: 2, budgetMs: 5000, statementTimeoutMs: 60_000 },
      });
      if (advice.error) throw advice.error;
      writeFileSync(join(dir, `${name}.sql`), packText(advice, out.server));
      out[`${name}Indexes`] = advice.trials.filter((t) => t.outcome === 'kept').map((t) => t.sql);
      out[`${name}AdviseSeconds`] = Math.round((performance.now() - t0) / 1000);
      return loadPack(join(dir, `${name}.sql`));
    };
    const judged = async (pack) => {
      const r = await apply(pack);
      if (r.error) throw r.error;
      await traffic();
      const impact = await measureImpact(c, { pack: pack.name });
      await rollbackPack(c, pack.name, DEFAULT_RUN_OPTIONS);
      await takeSnapshot(c, { moment: 'manual' });
      const faster = impact.statements.filter((s) => s.verdict === 'faster').length;
      const slower = impact.statements.filter((s) => s.verdict === 'slower').length;
      // The same traffic ran after each pack: the time saved over it compares the packs (a rate per
      // hour would favour the faster pack twice, its window being shorter).
      const savedMs = impact.statements
        .filter((s) => s.verdict === 'faster' || s.verdict === 'slower')
        .reduce((t, s) => t + (s.before.meanMs - s.after.meanMs) * s.after.calls, 0);
      // Every statement the pack made 10× faster or more must be called faster; its unused indexes named.
      const big = impact.statements.filter((s) => !('invalid' in s.before) && !('invalid' in s.after) && s.before.meanMs / s.after.meanMs >= 10);
      return {
        objects: pack.objects.length,
        savedMs: Math.round(savedMs),
        savedMsPerHour: Math.round(impact.savedMsPerHour),
        faster,
        slower,
        tenfold: big.length,
        tenfoldCalledFaster: big.filter((s) => s.verdict === 'faster').length,
        unusedIndexes: impact.objects.filter((o) => o.unused).map((o) => o.object),
        statements: impact.statements
          .filter((s) => !('invalid' in s.before) && !('invalid' in s.after) && s.after.calls >= 30)
          .map((s) => `${s.name} ${s.before.meanMs.toFixed(2)} → ${s.after.meanMs.toFixed(2)} ms ${s.verdict}`),
        problems: impact.problems,
        judged: impact.statements
          .filter((s) => !('invalid' in s.before) && !('invalid' in s.after))
          .map((s) => ({ queryid: s.queryid, verdict: s.verdict, before: s.before, after: s.after })),
      };
    };
    // MODE=weights: advise's ranking under a binding budget, with the captured calls per hour and
    // without them (the same file, its `-- calls-per-hour:` lines removed), judged on the same traffic.
    const weights = process.env.MODE === 'weights';
    const maxIndexes = Number(process.env.MAX_INDEXES ?? (weights ? 3 : 10));
    const first = await advise(join(dir, 'captured.sql'), weights ? 'weighed' : 'advised', maxIndexes);
    let second;
    if (weights) {
      const plain = readFileSync(join(dir, 'captured.sql'), 'utf8').replace(/^-- calls-per-hour: .*\n/gm, '');
      writeFileSync(join(dir, 'plain.sql'), plain);
      second = await advise(join(dir, 'plain.sql'), 'unweighed', maxIndexes);
    } else second = await loadPack(DEMO_PACK);
    log(`${first.name}: apply, traffic, impact`);
    out[first.name] = await judged(first);
    log(`traffic (baseline again), then ${second.name}`);
    await traffic();
    out[second.name] = await judged(second);
    out.ratio = Number((out[first.name].savedMs / out[second.name].savedMs).toFixed(3));
    // The two before windows measure the same state (no pack): pooled, they are one baseline for
    // both packs, so a slower or faster before window of one pack does not count as that pack's doing.
    const pooled = (mine, other) =>
      mine.judged
        .filter((s) => s.verdict === 'faster' || s.verdict === 'slower')
        .reduce((t, s) => {
          const o = other.judged.find((x) => x.queryid === s.queryid)?.before ?? s.before;
          const base = (s.before.meanMs * s.before.calls + o.meanMs * o.calls) / (s.before.calls + o.calls);
          return t + (base - s.after.meanMs) * s.after.calls;
        }, 0);
    out[first.name].savedPooledMs = Math.round(pooled(out[first.name], out[second.name]));
    out[second.name].savedPooledMs = Math.round(pooled(out[second.name], out[first.name]));
    out.ratioPooled = Number((out[first.name].savedPooledMs / out[second.name].savedPooledMs).toFixed(3));
    for (const p of [out[first.name], out[second.name]]) delete p.judged;
  });
} finally {
  await server.stop();
}
console.log(JSON.stringify(out, null, 2));
