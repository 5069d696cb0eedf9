// npm run perf:views: advise's materialized views against the hand-written ones (a benchmark, not a test).
// audit_engine at ADVISE_SCALE (default 1); the workload is the four statistics queries the hand pack
// serves with its views, each as the application sends it today (the view forms removed), so advise
// sees only the raw aggregate. Then, side by side in one run: the raw queries before any pack; with
// the hand pack (its indexes and views, each query in its view form); with the advised pack (each
// query as advise rewrote it). PG_BIN: server binaries (default: the embedded PostgreSQL 18).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packText } from '../../dist/advise/pack-text.js';
import { adviseWorkload, bench, DEFAULT_BENCH_OPTIONS, loadWorkload } from '../../dist/index.js';
import { adviseOptions, createDatabase, loadAuditEngine, log, startServer, withPack } from './perf-setup.mjs';

const SCALE = Number(process.env.ADVISE_SCALE ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'pgopt-views-perf-'));
const { server, out } = await startServer();
out.scale = SCALE;
const BENCH = { ...DEFAULT_BENCH_OPTIONS, runs: 20, warmup: 3, budgetMs: 20_000 };

try {
  const { url, version, client: c } = await createDatabase(server, 'perf');
  out.server = version;
  out.loadMs = await loadAuditEngine(url, SCALE);
  const full = await loadWorkload('fixtures/audit_engine/workload.sql');
  const served = full.queries.filter((q) => q.forms.some((f) => f.whenExists));
  const raw = { ...full, queries: served.map((q) => ({ ...q, forms: [q.forms[0]] })) };
  out.queries = raw.queries.map((q) => q.name);

  log('advise…');
  const t0 = performance.now();
  const advice = await adviseWorkload(c, raw, adviseOptions(24, { runs: 15, warmup: 2, budgetMs: 8000 }));
  out.adviseMs = Math.round(performance.now() - t0);
  if (advice.error) throw advice.error;
  out.views = advice.views.map((v) => ({ ...v, view: v.view && { name: v.view.name, grain: v.view.grain, rewrite: v.view.rewrite } }));
  const advisedFile = join(dir, 'advised.sql');
  writeFileSync(advisedFile, packText(advice, out.server));

  const measure = (label, workload) => {
    log(`bench: ${label}`);
    return bench(c, workload, BENCH);
  };
  const rewritten = {
    ...raw,
    queries: raw.queries.map((q) => {
      const v = advice.views.find((x) => x.query === q.name && x.outcome === 'kept');
      return v ? { ...q, forms: [{ ...q.forms[0], sql: v.view.rewrite }] } : q;
    }),
  };
  const before = await measure('before', raw);
  const hand = await withPack(c, 'sql/audit_engine', 'hand', () => measure('hand', { ...full, queries: served }));
  const advised = await withPack(c, advisedFile, 'advised', () => measure('advised', rewritten));
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
