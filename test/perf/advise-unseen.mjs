// npm run perf:unseen: advise on three schemas pgopt's rules were not written for (test/perf/unseen),
// against the pack a DBA wrote by hand for each (a benchmark, not a test). Per schema, in one run on
// one server: load it at scale 1, advise on its workload, then bench before, with the hand pack and
// with the advised pack side by side; the time each pack saves per execution and the index bytes it adds.
// UNSEEN=ci,social,billing picks the schemas; PG_BIN as for perf:advise.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWorkload } from '../../dist/bench/workload.js';
import { adviseWorkload, bench as runBench, DEFAULT_BENCH_OPTIONS } from '../../dist/index.js';
import { packText } from '../../dist/advise/pack-text.js';
import { adviseOptions, createDatabase, log, startServer, withPack } from './perf-setup.mjs';

const SCHEMAS = (process.env.UNSEEN ?? 'ci,social,billing').split(',');
const dir = mkdtempSync(join(tmpdir(), 'pgopt-unseen-'));
const { server, out } = await startServer();
const BENCH = { ...DEFAULT_BENCH_OPTIONS, runs: 20, warmup: 3, budgetMs: 10_000 };
out.schemas = [];

/** The bytes of the indexes pack `name` built. */
const indexBytes = async (c, name) =>
  Number(
    (
      await c.query(
        `SELECT coalesce(sum(pg_relation_size(c.oid)), 0)::float8 AS b FROM pgopt.objects o
           JOIN pg_namespace n ON n.nspname = o.schema_name JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = o.object_name
          WHERE o.pack = $1 AND o.kind = 'index' AND c.relkind = 'i'`,
        [name],
      )
    ).rows[0].b,
  );

async function onSchema(name) {
  const base = `test/perf/unseen/${name}`;
  const rec = { schema: name };
  const { version, client: c } = await createDatabase(server, `unseen_${name}`);
  out.server = version;
  log(`${name}: loading…`);
  let t0 = performance.now();
  await c.query(readFileSync(`${base}/schema.sql`, 'utf8'));
  rec.loadMs = Math.round(performance.now() - t0);
  const workload = await loadWorkload(`${base}/workload.sql`);
  log(`${name}: advise…`);
  t0 = performance.now();
  const advice = await adviseWorkload(c, workload, adviseOptions(24, { runs: 15, warmup: 2, budgetMs: 4000 }));
  rec.adviseMs = Math.round(performance.now() - t0);
  if (advice.error) throw advice.error;
  rec.trials = advice.trials.map((t) => ({ sql: t.sql, outcome: t.outcome, reason: t.reason, sizeBytes: t.sizeBytes }));
  const advisedFile = join(dir, `${name}-advised.sql`);
  rec.pack = packText(advice, version);
  writeFileSync(advisedFile, rec.pack);
  const measure = (label) => (log(`${name}: bench ${label}`), runBench(c, workload, BENCH));
  const measured = (path, pack) => withPack(c, path, pack, async () => ({ bytes: await indexBytes(c, pack), run: await measure(pack) }));
  const before = await measure('before');
  const hand = await measured(`${base}/hand.sql`, 'hand');
  const advised = await measured(advisedFile, 'advised');
  const med = (run, q) => run.queries.find((x) => x.name === q).execution.median;
  rec.rows = workload.queries.map((q) => ({ query: q.name, beforeMs: med(before, q.name), handMs: med(hand.run, q.name), advisedMs: med(advised.run, q.name) }));
  const saved = (k) => rec.rows.reduce((s, r) => s + Math.max(0, r.beforeMs - r[k]), 0);
  Object.assign(rec, { savedHandMs: saved('handMs'), savedAdvisedMs: saved('advisedMs'), handBytes: hand.bytes, advisedBytes: advised.bytes });
  rec.savedRatio = rec.savedAdvisedMs / rec.savedHandMs;
  rec.bytesRatio = rec.advisedBytes / rec.handBytes;
  await c.end();
  return rec;
}

const f = (v) => (v < 1 ? v.toFixed(3) : v.toFixed(1));
function report(r) {
  log(`\n${r.schema}\n${'query'.padEnd(26)} ${'before'.padStart(9)} ${'hand'.padStart(9)} ${'advised'.padStart(9)}  (ms, median)`);
  for (const x of r.rows) log(`${x.query.padEnd(26)} ${f(x.beforeMs).padStart(9)} ${f(x.handMs).padStart(9)} ${f(x.advisedMs).padStart(9)}`);
  log(
    `saved: hand ${f(r.savedHandMs)} ms, advised ${f(r.savedAdvisedMs)} ms (${(100 * r.savedRatio).toFixed(1)}%); ` +
      `index bytes: hand ${(r.handBytes / 2 ** 20).toFixed(1)} MB, advised ${(r.advisedBytes / 2 ** 20).toFixed(1)} MB (${r.bytesRatio.toFixed(2)}×); ` +
      `advise took ${(r.adviseMs / 1000).toFixed(0)} s`,
  );
}

try {
  for (const name of SCHEMAS) {
    const r = await onSchema(name);
    out.schemas.push(r);
    report(r);
    writeFileSync('test/perf/unseen-last.json', JSON.stringify(out, null, 2) + '\n');
  }
} finally {
  await server.stop();
}
