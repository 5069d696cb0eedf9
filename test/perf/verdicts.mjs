// npm run verdicts: how often the verdict rule is wrong, both ways, on real PostgreSQL.
// A benchmark, not a test: it prints counts and rates for BENCHMARKS.md and records samples for
// the unit tests (fixtures/verdicts/recorded.json).
//
//   A/A (false positives): the same state benched twice; any "faster"/"slower" is wrong.
//   A/B (false negatives): before and after a pack whose indexes change plans; the true ratio of
//   each query comes from many more runs (every calm run of each state pooled), and a change of
//   1.25x or more must be called in its direction.
// In some rounds a CPU burst (one busy process per core) runs during the second run of the pair.
//
// VERDICT_ROUNDS (default 6), VERDICT_SCALE (audit_engine scale, default 0.1),
// PGOPT_TEST_PG_BIN (server binaries; default the embedded PostgreSQL 18).
// Every measured run is kept in verdicts-raw.json (not committed). VERDICT_FROM=raw scores that file
// again without measuring: a changed rule is then judged on exactly the same samples as the old one.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbedded } from '../../dist/embedded/server.js';
import { startFromBinaries } from '../../dist/embedded/binaries.js';
import { loadFixture } from '../../dist/fixture-loader/load-fixture.js';
import { loadWorkload } from '../../dist/bench/workload.js';
import { runBench } from '../../dist/bench/runner.js';
import { compareRuns } from '../../dist/bench/compare.js';
import { summarize } from '../../dist/bench/stats.js';
import { loadPack } from '../../dist/pack/load-pack.js';
import { applyPack } from '../../dist/engine/apply.js';
import { DEFAULT_RUN_OPTIONS } from '../../dist/engine/run-options.js';

const ROUNDS = Number(process.env.VERDICT_ROUNDS ?? 6);
const SCALE = Number(process.env.VERDICT_SCALE ?? 0.1);
const BENCH = { runs: 20, warmup: 3, budgetMs: 15_000, minRuns: 5, statementTimeoutMs: 30_000 };
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const log = (...a) => console.error(...a);

/** Ledgers on SSD-like settings. VACUUM sets the visibility map, so the covering index is read without the heap. */
function ledger(name, databaseSettings) {
  // Qualified: after pgopt ran on this connection, its search_path is pgopt's pinned one.
  const vacuum = async (c) => {
    await c.query('VACUUM ANALYZE public.ledger');
    await c.query('VACUUM ANALYZE public.ledger_narrow');
  };
  return {
    name,
    databaseSettings,
    workload: here('verdicts/ledger.workload.sql'),
    pack: here('verdicts/ledger.pack.sql'),
    load: async (c) => {
      await c.query(readFileSync(here('verdicts/ledger.schema.sql'), 'utf8'));
      await vacuum(c);
    },
    afterApply: vacuum,
  };
}

const FROM_RAW = process.env.VERDICT_FROM === 'raw';
const ONLY = process.env.VERDICT_SCHEMAS ? process.env.VERDICT_SCHEMAS.split(',') : null;
const ALL_SCHEMAS = [
  { name: 'audit_engine', workload: here('../../fixtures/audit_engine/workload.sql'), pack: here('../../sql/audit_engine'), load: (c) => loadFixture(c, 'audit_engine', { scale: SCALE, seed: 42, replace: false }) },
  { name: 'queue', workload: here('verdicts/queue.workload.sql'), pack: here('verdicts/queue.pack.sql'), load: (c) => c.query(readFileSync(here('verdicts/queue.schema.sql'), 'utf8')) },
  { name: 'shop', workload: here('verdicts/shop.workload.sql'), pack: here('verdicts/shop.pack.sql'), load: (c) => c.query(readFileSync(here('verdicts/shop.schema.sql'), 'utf8')) },
  ledger('ledger', { random_page_cost: '1.1' }),
  // The same ledgers without parallel query: serial scans, where the covering index gives the
  // modest 1.25–2× changes the parallel plans do not.
  ledger('ledger_serial', { random_page_cost: '1.1', max_parallel_workers_per_gather: '0' }),
];
const SCHEMAS = ALL_SCHEMAS.filter((s) => !ONLY || ONLY.includes(s.name));

/** One busy process per core for as long as `fn` runs: the machine slows down, the data does not change. */
async function withCpuBurst(on, fn) {
  if (!on) return fn();
  const hogs = cpus().map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  try {
    return await fn();
  } finally {
    for (const h of hogs) h.kill('SIGKILL');
  }
}

// Only what the verdict rule reads: samples, calibration, plan headline, buffers.
const slim = (q) => ({ name: q.name, form: q.form, samples: q.samples, execution: q.execution, calibration: q.calibration, buffers: q.buffers, plan: { headline: q.plan.headline } });
const slimRun = (r) => ({ ...r, queries: r.queries.map(slim) });
const slimPair = (p) => ({ burst: p.burst, first: slimRun(p.first), second: slimRun(p.second) });

const raw = FROM_RAW ? JSON.parse(readFileSync(here('verdicts-raw.json'), 'utf8')) : await measure();
const out = { machine: raw.machine, node: raw.node, rounds: raw.rounds, scale: raw.scale, bench: raw.bench, server: raw.server, schemas: {} };
const recorded = [];
for (const [schema, r] of Object.entries(raw.schemas)) out.schemas[schema] = score(schema, r.queries, r.pairs, raw.rounds);

/** Both states of every schema, each benched in ROUNDS pairs of back-to-back runs. */
async function measure() {
  const server = process.env.PGOPT_TEST_PG_BIN ? await startFromBinaries(process.env.PGOPT_TEST_PG_BIN) : await startEmbedded();
  process.on('SIGINT', () => void server.stop().then(() => process.exit(130)));
  const raw = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, rounds: ROUNDS, scale: SCALE, bench: BENCH, schemas: {} };
  try {
    const admin = new pg.Client({ connectionString: server.url });
    admin.on('error', () => {});
    await admin.connect();
    raw.server = (await admin.query('SHOW server_version')).rows[0].server_version;
    for (const s of SCHEMAS) {
      await admin.query(`CREATE DATABASE verdicts_${s.name}`);
      for (const [k, v] of Object.entries(s.databaseSettings ?? {})) await admin.query(`ALTER DATABASE verdicts_${s.name} SET ${k} = '${v}'`);
      const c = new pg.Client({ connectionString: server.url.replace(/\/postgres$/, `/verdicts_${s.name}`) });
      c.on('error', () => {});
      await c.connect();
      log(`${s.name}: loading`);
      await s.load(c);
      const workload = await loadWorkload(s.workload);
      const pack = await loadPack(s.pack);
      const bench = () => runBench(c, workload, BENCH);
      const pairs = { A: [], B: [] };
      for (const state of ['A', 'B']) {
        if (state === 'B') {
          log(`${s.name}: applying the pack`);
          const r = await applyPack(c, pack, { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false, jobs: 1 });
          if (r.error) throw r.error;
          await s.afterApply?.(c);
        }
        for (let round = 0; round < ROUNDS; round++) {
          const burst = round % 3 === 2;
          log(`${s.name}: state ${state}, round ${round + 1}/${ROUNDS}${burst ? ' (CPU burst in the second run)' : ''}`);
          const first = await bench();
          const second = await withCpuBurst(burst, bench);
          pairs[state].push({ first, second, burst });
        }
      }
      raw.schemas[s.name] = { queries: workload.queries.map((q) => q.name), pairs: { A: pairs.A.map(slimPair), B: pairs.B.map(slimPair) } };
      await c.end();
    }
    await admin.end();
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  } finally {
    await server.stop();
  }
  if (process.exitCode) process.exit(process.exitCode);
  writeFileSync(here('verdicts-raw.json'), JSON.stringify(raw));
  return raw;
}

/** The verdict of every A/A and A/B pair of one schema, against the truth from its pooled calm runs. */
function score(schema, names, pairs, rounds) {
  // The truth: every calm run of each state pooled (2 × ROUNDS × runs samples less the bursts).
  const pooled = (state) => Object.fromEntries(names.map((q) => [q, summarize(pairs[state].flatMap((p) => [p.first, ...(p.burst ? [] : [p.second])]).flatMap((r) => r.queries.find((x) => x.name === q).samples)).median]));
  const truthA = pooled('A');
  const truthB = pooled('B');
  const truth = Object.fromEntries(names.map((q) => [q, truthA[q] / truthB[q]]));
  const truthDiffMs = Object.fromEntries(names.map((q) => [q, Math.abs(truthA[q] - truthB[q])]));
  const aa = [];
  for (const state of ['A', 'B']) {
    for (const p of pairs[state]) {
      for (const q of compareRuns(p.first, p.second).queries) {
        aa.push({ state, burst: p.burst, name: q.name, verdict: q.verdict, drift: q.drift, p: q.p, reason: q.reason, before: q.before, after: q.after });
        // Every same-state pair called faster or slower is kept for the unit tests: the rule's own mistakes.
        if (q.verdict === 'faster' || q.verdict === 'slower') recorded.push({ schema, name: q.name, kind: 'A/A', truth: 1, burst: p.burst, before: p.first.queries.find((x) => x.name === q.name), after: p.second.queries.find((x) => x.name === q.name) });
      }
    }
  }
  const ab = [];
  const abPairs = [];
  for (let round = 0; round < rounds; round++) {
    const before = pairs.A[round].first;
    const after = pairs.B[round].second;
    const burst = pairs.B[round].burst;
    for (const q of compareRuns(before, after).queries) {
      ab.push({ name: q.name, burst, truth: truth[q.name], truthDiffMs: truthDiffMs[q.name], verdict: q.verdict, speedup: q.speedup, drift: q.drift, reason: q.reason });
      abPairs.push({ name: q.name, burst, drift: q.drift, planChanged: q.planChanged, before: before.queries.find((x) => x.name === q.name), after: after.queries.find((x) => x.name === q.name) });
    }
  }
  // For the unit tests, the hardest pairs of each query the pack changed (a real change, or a plan
  // change): the one under the largest drift, and the one under a burst with the largest drift.
  // Chosen by the conditions, never by the verdict.
  for (const name of names) {
    const xs = abPairs.filter((x) => x.name === name && (truth[name] >= 1.25 || truth[name] <= 0.8 || x.planChanged));
    const byDrift = (a, b) => Math.abs(Math.log(b.drift)) - Math.abs(Math.log(a.drift));
    const picks = new Set([xs.sort(byDrift)[0], xs.filter((x) => x.burst).sort(byDrift)[0]].filter(Boolean));
    for (const x of picks) recorded.push({ schema, name, kind: 'A/B', truth: truth[name], burst: x.burst, before: x.before, after: x.after });
  }
  for (const p of pairs.A.filter((x) => x.burst).slice(0, 1)) {
    for (const q of p.first.queries) recorded.push({ schema, name: q.name, kind: 'A/A', truth: 1, burst: true, before: q, after: p.second.queries.find((x) => x.name === q.name) });
  }
  return { truth, aa, ab };
}

// Counts and rates.
const rate = (n, d) => (d ? `${((100 * n) / d).toFixed(1)}%` : '—');
const lines = [`Machine: ${out.machine}, Node ${out.node}, PostgreSQL ${out.server}; ${out.rounds} rounds, ${out.bench.runs} runs + ${out.bench.warmup} warm-up per query per bench; CPU burst in every third round.`, ''];
lines.push('| schema | A/A comparisons | of them under a CPU burst | called faster/slower (false positive) | inconclusive |', '|---|--:|--:|--:|--:|');
let tot = { n: 0, burst: 0, fp: 0, inc: 0 };
for (const [name, r] of Object.entries(out.schemas)) {
  const n = r.aa.length;
  const burst = r.aa.filter((x) => x.burst).length;
  const fp = r.aa.filter((x) => x.verdict === 'faster' || x.verdict === 'slower').length;
  const inc = r.aa.filter((x) => x.verdict === 'inconclusive').length;
  tot = { n: tot.n + n, burst: tot.burst + burst, fp: tot.fp + fp, inc: tot.inc + inc };
  lines.push(`| ${name} | ${n} | ${burst} | ${fp} (${rate(fp, n)}) | ${inc} (${rate(inc, n)}) |`);
}
lines.push(`| **all** | ${tot.n} | ${tot.burst} | **${tot.fp} (${rate(tot.fp, tot.n)})** | ${tot.inc} (${rate(tot.inc, tot.n)}) |`, '');
const buckets = [['≥ 2×', (t) => t >= 2], ['1.5–2×', (t) => t >= 1.5 && t < 2], ['1.25–1.5×', (t) => t >= 1.25 && t < 1.5]];
lines.push('| schema | true ratio (pooled runs) | A/B comparisons | right direction | inconclusive | unchanged | wrong direction |', '|---|---|--:|--:|--:|--:|--:|');
// A real change: 1.25× or more, and at least the 0.05 ms the rule ignores by design.
const everyAb = Object.entries(out.schemas).flatMap(([schema, r]) => r.ab.map((x) => ({ ...x, schema })));
const all = everyAb.filter((x) => x.truthDiffMs >= 0.05);
for (const [label, test] of buckets) {
  for (const schema of [...Object.keys(out.schemas), 'all']) {
    const xs = all.filter((x) => (schema === 'all' || x.schema === schema) && test(Math.max(x.truth, 1 / x.truth)));
    if (!xs.length) continue;
    const right = xs.filter((x) => x.verdict === (x.truth > 1 ? 'faster' : 'slower')).length;
    const wrong = xs.filter((x) => x.verdict === (x.truth > 1 ? 'slower' : 'faster')).length;
    const inc = xs.filter((x) => x.verdict === 'inconclusive').length;
    const same = xs.filter((x) => x.verdict === 'unchanged').length;
    const name = schema === 'all' ? '**all**' : schema;
    lines.push(`| ${name} | ${label} | ${xs.length} | ${right} (${rate(right, xs.length)}) | ${inc} | ${same} | ${wrong} |`);
  }
}
const tiny = everyAb.filter((x) => x.truthDiffMs < 0.05 && Math.max(x.truth, 1 / x.truth) >= 1.25);
lines.push('', `A/B comparisons of changes under 0.05 ms in absolute terms (not called by design): ${tiny.length}; called faster ${tiny.filter((x) => x.verdict === 'faster').length}, slower ${tiny.filter((x) => x.verdict === 'slower').length}.`);
const flat = everyAb.filter((x) => Math.max(x.truth, 1 / x.truth) < 1.25);
lines.push(`A/B comparisons of queries the pack changes by less than 1.25× (true ratio within 0.8–1.25): ${flat.length}; called faster ${flat.filter((x) => x.verdict === 'faster').length}, slower ${flat.filter((x) => x.verdict === 'slower').length}, inconclusive ${flat.filter((x) => x.verdict === 'inconclusive').length}.`);
const report = lines.join('\n');
console.log(report);
mkdirSync(here('../../fixtures/verdicts'), { recursive: true });
const cases = recorded.map((r) => ({ ...r, before: slim(r.before), after: slim(r.after) }));
writeFileSync(here('../../fixtures/verdicts/recorded.json'), JSON.stringify({ note: 'Recorded by npm run verdicts: real samples with their true ratio, for the unit tests of the verdict rule.', server: out.server, machine: out.machine, cases }));
writeFileSync(here('verdicts-last.json'), JSON.stringify(out, null, 1));
