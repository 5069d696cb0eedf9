// npm run perf:generic: how often the planner's generic plan (PREPARE, then EXPLAIN EXECUTE under
// plan_cache_mode = force_generic_plan)
// tells, without values, whether an index makes a query faster (issue 25: captured statements whose
// $n no source explains). Both errors, against bench's measured verdict with the real values:
//   audit_engine at SCALE; for each index of sql/audit_engine alone: bench the workload's queries
//   that read its table, build it, bench them again (the verdict: faster or not); the generic plan
//   of each before and after (the prediction: the plan uses the index and its cost falls by RATIO
//   or more). Every (index, query) pair is one case; the workload's values are what production sent.
import { cpus } from 'node:os';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded } from '../../dist/embedded/server.js';
import { startFromBinaries } from '../../dist/embedded/binaries.js';
import { resolveConnection } from '../../dist/db/connection.js';
import { withClient } from '../../dist/db/scoped.js';
import { loadFixture } from '../../dist/fixture-loader/load-fixture.js';
import { loadWorkload } from '../../dist/bench/workload.js';
import { runBench, DEFAULT_BENCH_OPTIONS } from '../../dist/bench/runner.js';
import { compareRuns } from '../../dist/bench/compare.js';
import { loadPack } from '../../dist/pack/load-pack.js';
import { applyPack } from '../../dist/engine/apply.js';
import { rollbackPack } from '../../dist/engine/rollback.js';
import { DEFAULT_RUN_OPTIONS } from '../../dist/engine/run-options.js';
import { genericPlan } from '../../dist/db/generic-plan.js';
import { parseTrusted } from '../../dist/sql/parse.js';
import { relationsRead } from '../../dist/sql/tree.js';
import { DEMO_PACK, DEMO_WORKLOAD } from '../../dist/demo/run-demo.js';
import { predictsFaster } from '../../dist/advise/generic-plan.js';

const SCALE = Number(process.env.SCALE ?? 0.2);
const log = (...a) => console.error(...a);
const dir = mkdtempSync(join(tmpdir(), 'pgopt-generic-'));
// PG_BIN: another server's binaries (e.g. Debian's PostgreSQL 15); default the embedded 18.
const server = process.env.PG_BIN ? await startFromBinaries(process.env.PG_BIN) : await startEmbedded({});
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, scale: SCALE, cases: [] };
try {
  await withClient(resolveConnection({ db: server.url }), 'perf', (c) => c.query('CREATE DATABASE generic'));
  const target = resolveConnection({ db: server.url.replace(/\/postgres$/, '/generic') });
  await withClient(target, 'pgopt perf', async (c) => {
    out.server = (await c.query('SHOW server_version')).rows[0].server_version;
    await loadFixture(c, 'audit_engine', { scale: SCALE, seed: 42, replace: false });
    const workload = await loadWorkload(DEMO_WORKLOAD);
    const pack = await loadPack(DEMO_PACK);
    const bench = { ...DEFAULT_BENCH_OPTIONS, runs: 12, warmup: 2, budgetMs: 4000 };
    for (const o of pack.objects.filter((x) => x.kind === 'index')) {
      const table = o.statement.references[0]?.name;
      const queries = workload.queries.filter((q) => relationsRead(parseTrusted(q.forms[0].sql)).some((r) => r.name === table));
      if (!queries.length) continue;
      const w = { ...workload, queries };
      const plans = async () => {
        const m = new Map();
        for (const q of queries) m.set(q.name, await genericPlan(c, q.forms[0].sql, q.forms[0].paramCount));
        return m;
      };
      const before = await runBench(c, w, bench);
      const plansBefore = await plans();
      const file = join(dir, `generic_${o.name}.sql`);
      writeFileSync(file, `${o.statement.sql};\n`);
      const one = await loadPack(file);
      const r = await applyPack(c, one, { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false });
      if (r.error) throw r.error;
      const after = await runBench(c, w, bench);
      const plansAfter = await plans();
      const cmp = compareRuns(before, after);
      for (const q of cmp.queries) {
        const b = plansBefore.get(q.name);
        const a = plansAfter.get(q.name);
        const predicted = predictsFaster(b, a, o.name);
        out.cases.push({
          index: o.name,
          query: q.name,
          measured: q.verdict,
          speedup: q.speedup,
          costBefore: b.cost,
          costAfter: a.cost,
          usedAfter: a.indexes.includes(o.name),
          predicted,
        });
        log(`${o.name} × ${q.name}: measured ${q.verdict} ${q.speedup?.toFixed(1) ?? ''} predicted ${predicted} (${b.cost.toFixed(0)} → ${a.cost.toFixed(0)})`);
      }
      await rollbackPack(c, one.name, DEFAULT_RUN_OPTIONS);
    }
  });
} finally {
  await server.stop();
}
const tally = (pred, meas) => out.cases.filter((x) => x.predicted === pred && (x.measured === 'faster') === meas).length;
out.summary = {
  cases: out.cases.length,
  truePositive: tally(true, true),
  falsePositive: tally(true, false),
  falseNegative: tally(false, true),
  trueNegative: tally(false, false),
};
console.log(JSON.stringify(out.summary));
writeFileSync(new URL(`./generic-last${process.env.PG_BIN ? '-bin' : ''}.json`, import.meta.url), JSON.stringify(out, null, 2) + '\n');
