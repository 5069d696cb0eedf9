// npm run perf:views: advise's materialized views against the hand-written ones (a benchmark, not a test).
// audit_engine at ADVISE_SCALE (default 1); the workload is the four statistics queries the hand pack
// serves with its views, each as the application sends it today (the view forms removed), so advise
// sees only the raw aggregate. Then, side by side in one run: the raw queries before any pack; with
// the hand pack (its indexes and views, each query in its view form); with the advised pack (each
// query as advise rewrote it). PG_BIN: server binaries (default: the embedded PostgreSQL 18).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbedded } from '../../dist/embedded/server.js';
import { startFromBinaries } from '../../dist/embedded/binaries.js';
import { loadFixture } from '../../dist/fixture-loader/load-fixture.js';
import { packText } from '../../dist/advise/pack-text.js';
import { adviseWorkload, applyPack, bench, DEFAULT_BENCH_OPTIONS, DEFAULT_RUN_OPTIONS, loadPack, loadWorkload, rollbackPack } from '../../dist/index.js';

const SCALE = Number(process.env.ADVISE_SCALE ?? 1);
const log = (...a) => console.error(...a);
const dir = mkdtempSync(join(tmpdir(), 'pgopt-views-perf-'));
const server = process.env.PG_BIN ? await startFromBinaries(process.env.PG_BIN) : await startEmbedded();
process.on('SIGINT', () => void server.stop().then(() => process.exit(130)));
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, scale: SCALE };
const BENCH = { ...DEFAULT_BENCH_OPTIONS, runs: 20, warmup: 3, budgetMs: 20_000 };
const url = server.url.replace(/\/postgres$/, '/perf');

try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE perf');
  out.server = (await admin.query('SHOW server_version')).rows[0].server_version;
  await admin.end();
  // loadFixture is the core's (it pins its own search_path on the connection): a connection of its own.
  const loader = new pg.Client({ connectionString: url });
  await loader.connect();
  log(`loading audit_engine at scale ${SCALE}…`);
  out.loadMs = (await loadFixture(loader, 'audit_engine', { scale: SCALE, seed: 42, replace: false })).totalMs;
  await loader.end();
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  const full = await loadWorkload('fixtures/audit_engine/workload.sql');
  const served = full.queries.filter((q) => q.forms.some((f) => f.whenExists));
  const raw = { ...full, queries: served.map((q) => ({ ...q, forms: [q.forms[0]] })) };
  out.queries = raw.queries.map((q) => q.name);

  log('advise…');
  const t0 = performance.now();
  const advice = await adviseWorkload(c, raw, {
    ...DEFAULT_RUN_OPTIONS,
    maxIndexes: 30,
    maxSizeBytes: Infinity,
    maxTrials: 24,
    dryRun: false,
    installHypopg: !!process.env.PG_BIN,
    bench: { ...DEFAULT_BENCH_OPTIONS, runs: 15, warmup: 2, budgetMs: 8000 },
    onProgress: (e) => e.type === 'step' && log(`  ${e.message}`),
  });
  out.adviseMs = Math.round(performance.now() - t0);
  if (advice.error) throw advice.error;
  out.views = advice.views.map((v) => ({ ...v, view: v.view && { name: v.view.name, grain: v.view.grain, rewrite: v.view.rewrite } }));
  const advisedFile = join(dir, 'advised.sql');
  writeFileSync(advisedFile, packText(advice, out.server));

  const measure = (label, workload) => {
    log(`bench: ${label}`);
    return bench(c, workload, BENCH);
  };
  const withPack = async (path, name, workload) => {
    const r = await applyPack(c, await loadPack(path, { name }), { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false });
    if (r.error) throw r.error;
    const run = await measure(name, workload);
    await rollbackPack(c, name, DEFAULT_RUN_OPTIONS);
    return run;
  };
  const rewritten = {
    ...raw,
    queries: raw.queries.map((q) => {
      const v = advice.views.find((x) => x.query === q.name && x.outcome === 'kept');
      return v ? { ...q, forms: [{ ...q.forms[0], sql: v.view.rewrite }] } : q;
    }),
  };
  const before = await measure('before', raw);
  const hand = await withPack('sql/audit_engine', 'hand', { ...full, queries: served });
  const advised = await withPack(advisedFile, 'advised', rewritten);
  const med = (run, name) => run.queries.find((q) => q.name === name).execution.median;
  out.rows = raw.queries.map((q) => ({
    query: q.name,
    beforeMs: med(before, q.name),
    handMs: med(hand, q.name),
    advisedMs: med(advised, q.name),
    outcome: advice.views.find((v) => v.query === q.name)?.outcome,
  }));
  await c.end();
  writeFileSync('test/perf/views-last.json', JSON.stringify(out, null, 2) + '\n');
  const f = (v) => (v < 1 ? v.toFixed(3) : v.toFixed(1));
  log(`\n${'query'.padEnd(20)} ${'before'.padStart(9)} ${'hand'.padStart(9)} ${'advised'.padStart(9)} ${'×hand'.padStart(7)} ${'×advised'.padStart(9)}  outcome`);
  for (const r of out.rows)
    log(
      `${r.query.padEnd(20)} ${f(r.beforeMs).padStart(9)} ${f(r.handMs).padStart(9)} ${f(r.advisedMs).padStart(9)} ${(r.beforeMs / r.handMs).toFixed(0).padStart(7)} ${(r.beforeMs / r.advisedMs).toFixed(0).padStart(9)}  ${r.outcome}`,
    );
  for (const v of advice.views) log(`${v.query}: refresh ${v.refreshMs === null ? '-' : f(v.refreshMs)} ms, ${v.sizeBytes ?? '-'} bytes, ${v.reason}`);
  log(`advise took ${(out.adviseMs / 1000).toFixed(0)} s`);
} finally {
  await server.stop();
}
