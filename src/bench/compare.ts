import type { BenchResult, QueryResult } from './runner.js';
import { mannWhitney, summarize } from './stats.js';

export const VERDICTS = ['faster', 'slower', 'unchanged', 'new', 'missing'] as const;
export type Verdict = (typeof VERDICTS)[number];

/**
 * A difference must be significant and large enough to matter before it gets a colour: at
 * least 20% and 0.05 ms. Two runs of the same state, back to back on a 2-core VM, had
 * significantly different medians by up to 14% (16.5 vs 14.3 ms): a run-to-run shift of the
 * machine, which a rank test on samples from one run cannot see as noise. Below 0.05 ms,
 * medians move with cache state from run to run (seen: 0.095 vs 0.059 ms, same state).
 */
export const SIGNIFICANCE = 0.01;
export const MIN_EFFECT = 0.2;
export const MIN_DIFF_MS = 0.05;

export interface QueryComparison {
  name: string;
  before: { median: number; p95: number; form: string; plan: string; buffers: number; n: number } | null;
  after: { median: number; p95: number; form: string; plan: string; buffers: number; n: number } | null;
  /** before median / after median (> 1 is faster). */
  speedup: number | null;
  /** Two-sided Mann–Whitney p-value of the execution-time samples. */
  p: number | null;
  verdict: Verdict;
  planChanged: boolean;
  /**
   * after / before median of the calibration query measured alongside this query: how much
   * slower the machine itself was while the second run measured it.
   */
  drift: number;
}

export interface Comparison {
  queries: QueryComparison[];
  warnings: string[];
  /** after / before median of the calibration query: the machine's own change of speed. */
  drift: number;
}

/** Machine drift beyond which a comparison says so. */
export const DRIFT_WARNING = 0.1;

const side = (q: QueryResult) => ({
  median: q.execution.median,
  p95: q.execution.p95,
  form: q.form,
  plan: q.plan.headline,
  buffers: q.buffers.hit + q.buffers.read,
  n: q.samples.length,
});

const ratio = (before: number, after: number) => (before > 0 && after > 0 ? after / before : 1);

/**
 * Compare one query. The drift is how much slower the machine ran the calibration query in the
 * after run (after / before): in this query's own window when both runs have those samples,
 * else over the whole run (`runDrift`). It is not divided out: the calibration query tracks a
 * backend's speed only roughly (seen: the same scan equal in both runs while the calibration
 * moved 25%). Instead the change must exceed the usual margin plus the machine's own drift.
 */
export function compareQuery(name: string, b: QueryResult | undefined, a: QueryResult | undefined, runDrift = 1): QueryComparison {
  if (!b || !a) {
    return { name, before: b ? side(b) : null, after: a ? side(a) : null, speedup: null, p: null, verdict: b ? 'missing' : 'new', planChanged: false, drift: runDrift };
  }
  const drift = b.calibration?.length && a.calibration?.length ? ratio(summarize(b.calibration).median, summarize(a.calibration).median) : runDrift;
  const afterMedian = a.execution.median;
  const test = mannWhitney(b.samples, a.samples);
  const speedup = afterMedian > 0 ? b.execution.median / afterMedian : Infinity;
  const diff = Math.abs(afterMedian - b.execution.median);
  const needed = MIN_EFFECT + Math.abs(drift - 1);
  let verdict: Verdict = 'unchanged';
  if (test.p < SIGNIFICANCE && diff / b.execution.median >= needed && diff >= MIN_DIFF_MS) verdict = afterMedian < b.execution.median ? 'faster' : 'slower';
  return { name, before: side(b), after: side(a), speedup, p: test.p, verdict, planChanged: b.plan.headline !== a.plan.headline, drift };
}

/** Compare two runs query by query, and say what makes the comparison less than fair. */
export function compareRuns(before: BenchResult, after: BenchResult): Comparison {
  const warnings: string[] = [];
  if (before.workload.checksum !== after.workload.checksum) warnings.push(`the workloads differ (${before.workload.name} ${before.workload.checksum} vs ${after.workload.name} ${after.workload.checksum})`);
  if (before.dataChecksum !== after.dataChecksum) warnings.push('the table sizes differ: the two runs did not see the same data');
  if (before.server.versionNum !== after.server.versionNum) warnings.push(`the server versions differ (${before.server.version} vs ${after.server.version})`);
  for (const [k, v] of Object.entries(before.settings)) {
    if (after.settings[k] !== undefined && after.settings[k] !== v) warnings.push(`setting ${k} differs (${v} vs ${after.settings[k]})`);
  }
  const drift = ratio(before.calibrationMs, after.calibrationMs);
  const names = [...new Set([...before.queries.map((q) => q.name), ...after.queries.map((q) => q.name)])];
  const queries = names.map((n) =>
    compareQuery(
      n,
      before.queries.find((q) => q.name === n),
      after.queries.find((q) => q.name === n),
      drift,
    ),
  );
  const drifted = queries.filter((q) => Math.abs(q.drift - 1) > DRIFT_WARNING);
  if (drifted.length) {
    const each = drifted.map((q) => `${q.name} ${Math.round(Math.abs(q.drift - 1) * 100)}% ${q.drift > 1 ? 'slower' : 'faster'}`).join(', ');
    warnings.push(`the machine's own speed changed between the runs (calibration query in the second run: ${each}): those verdicts need a change of 20% plus that much`);
  }
  return { queries, warnings, drift };
}

/** Queries significantly slower than the baseline by more than `pct` percent. */
export function regressions(c: Comparison, pct: number): QueryComparison[] {
  return c.queries.filter((q) => q.verdict === 'slower' && q.speedup !== null && (1 / q.speedup - 1) * 100 > pct);
}
