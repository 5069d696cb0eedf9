// npm run perf:advise: pgopt advise against the hand-written audit_engine pack (a benchmark, not a test).
// On audit_engine (ADVISE_SCALE, default 1), over the queries the hand pack's *indexes* serve (the
// four its views serve are left out): the time each pack saves per execution, measured side by side
// in one run (before, hand pack, advised pack), and the index bytes each pack adds.
// PG_BIN: a directory of server binaries (default: the embedded PostgreSQL 18); with Debian's 15 and
// postgresql-15-hypopg, advise screens with HypoPG (--install-hypopg).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbedded } from '../../dist/embedded/server.js';
import { startFromBinaries } from '../../dist/embedded/binaries.js';
import { loadFixture } from '../../dist/fixture-loader/load-fixture.js';
import { loadWorkload } from '../../dist/bench/workload.js';
// The library API: it takes a plain pg.Client (the core's own functions take a Session).
import { adviseWorkload, applyPack, bench as runBench, DEFAULT_BENCH_OPTIONS, DEFAULT_RUN_OPTIONS, loadPack, rollbackPack } from '../../dist/index.js';
import { packText } from '../../dist/advise/pack-text.js';

const SCALE = Number(process.env.ADVISE_SCALE ?? 1);
const log = (...a) => console.error(...a);
const dir = mkdtempSync(join(tmpdir(), 'pgopt-advise-perf-'));
const server = process.env.PG_BIN ? await startFromBinaries(process.env.PG_BIN) : await startEmbedded();
process.on('SIGINT', () => void server.stop().then(() => process.exit(130)));
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, scale: SCALE };
const BENCH = { ...DEFAULT_BENCH_OPTIONS, runs: 20, warmup: 3, budgetMs: 10_000 };

try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE perf');
  out.server = (await admin.query('SHOW server_version')).rows[0].server_version;
  await admin.end();
  const c = new pg.Client({ connectionString: server.url.replace(/\/postgres$/, '/perf') });
  c.on('error', () => {});
  await c.connect();
  log(`loading audit_engine at scale ${SCALE}…`);
  // loadFixture is the core's (it pins its own search_path on the connection): a connection of its own.
  const loader = new pg.Client({ connectionString: server.url.replace(/\/postgres$/, '/perf') });
  await loader.connect();
  out.loadMs = (await loadFixture(loader, 'audit_engine', { scale: SCALE, seed: 42, replace: false })).totalMs;
  await loader.end();
  const full = await loadWorkload('fixtures/audit_engine/workload.sql');
  // The queries the hand pack's indexes serve: those without a form for a view.
  const workload = { ...full, queries: full.queries.filter((q) => q.forms.every((f) => !f.whenExists)) };
  out.queries = workload.queries.map((q) => q.name);

  log('advise…');
  const t0 = performance.now();
  const advice = await adviseWorkload(c, workload, {
    ...DEFAULT_RUN_OPTIONS,
    maxIndexes: 30,
    maxSizeBytes: Infinity,
    maxTrials: 24,
    dryRun: false,
    installHypopg: !!process.env.PG_BIN,
    bench: { ...DEFAULT_BENCH_OPTIONS, runs: 15, warmup: 2, budgetMs: 4000 },
    onProgress: (e) => e.type === 'step' && log(`  ${e.message}`),
  });
  out.adviseMs = Math.round(performance.now() - t0);
  if (advice.error) throw advice.error;
  out.hypopg = advice.hypopg;
  out.trials = advice.trials.map((t) => ({ sql: t.sql, outcome: t.outcome, reason: t.reason, sizeBytes: t.sizeBytes }));
  const advisedFile = join(dir, 'advised.sql');
  writeFileSync(advisedFile, packText(advice, out.server));

  const measure = async (label) => {
    log(`bench: ${label}`);
    return runBench(c, workload, BENCH);
  };
  const indexBytes = async (pack) =>
    Number(
      (
        await c.query(
          `SELECT coalesce(sum(pg_relation_size(c.oid)), 0)::float8 AS b FROM pgopt.objects o
             JOIN pg_namespace n ON n.nspname = o.schema_name JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = o.object_name
            WHERE o.pack = $1 AND o.kind = 'index' AND c.relkind = 'i'
              AND NOT EXISTS (SELECT 1 FROM pgopt.objects v WHERE v.pack = o.pack AND v.kind = 'matview' AND v.object_name = o.table_name)`,
          [pack],
        )
      ).rows[0].b,
    );
  const withPack = async (path, name) => {
    const pack = await loadPack(path, { name });
    const r = await applyPack(c, pack, { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false });
    if (r.error) throw r.error;
    const bytes = await indexBytes(name);
    const run = await measure(name);
    await rollbackPack(c, name, DEFAULT_RUN_OPTIONS);
    return { bytes, run };
  };
  const before = await measure('before');
  const hand = await withPack('sql/audit_engine', 'hand');
  const advised = await withPack(advisedFile, 'advised');
  const med = (run, name) => run.queries.find((q) => q.name === name).execution.median;
  out.rows = workload.queries.map((q) => ({
    query: q.name,
    beforeMs: med(before, q.name),
    handMs: med(hand.run, q.name),
    advisedMs: med(advised.run, q.name),
  }));
  const saved = (k) => out.rows.reduce((s, r) => s + Math.max(0, r.beforeMs - r[k]), 0);
  out.savedHandMs = saved('handMs');
  out.savedAdvisedMs = saved('advisedMs');
  out.savedRatio = out.savedAdvisedMs / out.savedHandMs;
  out.handBytes = hand.bytes;
  out.advisedBytes = advised.bytes;
  out.bytesRatio = advised.bytes / hand.bytes;
  await c.end();
  writeFileSync('test/perf/advise-last.json', JSON.stringify(out, null, 2) + '\n');
  const f = (v) => (v < 1 ? v.toFixed(3) : v.toFixed(1));
  log(`\n${'query'.padEnd(28)} ${'before'.padStart(9)} ${'hand'.padStart(9)} ${'advised'.padStart(9)}  (ms, median)`);
  for (const r of out.rows) log(`${r.query.padEnd(28)} ${f(r.beforeMs).padStart(9)} ${f(r.handMs).padStart(9)} ${f(r.advisedMs).padStart(9)}`);
  log(
    `\nsaved: hand ${f(out.savedHandMs)} ms, advised ${f(out.savedAdvisedMs)} ms (${(100 * out.savedRatio).toFixed(1)}%); ` +
      `index bytes: hand ${(out.handBytes / 2 ** 20).toFixed(1)} MB, advised ${(out.advisedBytes / 2 ** 20).toFixed(1)} MB (${out.bytesRatio.toFixed(2)}×); ` +
      `advise took ${(out.adviseMs / 1000).toFixed(0)} s (${out.hypopg})`,
  );
} finally {
  await server.stop();
}
