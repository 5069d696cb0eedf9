// npm run perf:advise: pgopt advise against the hand-written audit_engine pack (a benchmark, not a test).
// On audit_engine (ADVISE_SCALE, default 1), over the queries the hand pack's *indexes* serve (the
// four its views serve are left out): the time each pack saves per execution, measured side by side
// in one run (before, hand pack, advised pack), and the index bytes each pack adds.
// PG_BIN: a directory of server binaries (default: the embedded PostgreSQL 18); with Debian's 15 and
// postgresql-15-hypopg, advise screens with HypoPG (--install-hypopg).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWorkload } from '../../dist/bench/workload.js';
// The library API: it takes a plain pg.Client (the core's own functions take a Session).
import { adviseWorkload, bench as runBench, DEFAULT_BENCH_OPTIONS } from '../../dist/index.js';
import { packText } from '../../dist/advise/pack-text.js';
import { adviseOptions, createDatabase, loadAuditEngine, log, startServer, withPack } from './perf-setup.mjs';

const SCALE = Number(process.env.ADVISE_SCALE ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'pgopt-advise-perf-'));
const { server, out } = await startServer();
out.scale = SCALE;
const BENCH = { ...DEFAULT_BENCH_OPTIONS, runs: 20, warmup: 3, budgetMs: 10_000 };

try {
  const { url, version, client: c } = await createDatabase(server, 'perf');
  out.server = version;
  out.loadMs = await loadAuditEngine(url, SCALE);
  const full = await loadWorkload('fixtures/audit_engine/workload.sql');
  // The queries the hand pack's indexes serve: those without a form for a view.
  const workload = { ...full, queries: full.queries.filter((q) => q.forms.every((f) => !f.whenExists)) };
  out.queries = workload.queries.map((q) => q.name);

  log('advise…');
  const t0 = performance.now();
  const advice = await adviseWorkload(c, workload, adviseOptions(24, { runs: 15, warmup: 2, budgetMs: 4000 }));
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
  const measuredPack = (path, name) => withPack(c, path, name, async () => ({ bytes: await indexBytes(name), run: await measure(name) }));
  const before = await measure('before');
  const hand = await measuredPack('sql/audit_engine', 'hand');
  const advised = await measuredPack(advisedFile, 'advised');
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
