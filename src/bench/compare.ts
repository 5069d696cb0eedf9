import type { BenchResult, QueryResult } from './runner.js';
import { mannWhitney, summarize } from './stats.js';

export const VERDICTS = ['faster', 'slower', 'unchanged', 'inconclusive', 'new', 'missing'] as const;
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
/**
 * Shared buffers (hit + read) of the same plan on the same data barely move between runs, and
 * not at all with the machine's speed; a plan change that cuts them by this factor or more does
 * real work less (seen: 1032 → 40 buffers with the pack's index, a 9× speedup).
 */
export const BUFFERS_FACTOR = 3;
/**
 * The same plan reading the same buffers (within 10%) did the same work: a timing change alone
 * must then be at least 3× (beyond drift) to be called. Seen here, same state, calibration steady
 * (drift 0.98): a 208-buffer Seq Scan at 0.216 ms, then 0.130 ms (1.7×, p = 2·10⁻⁷); and with a
 * build running beside it, a 0.12 ms lookup at 0.21 ms. `npm run verdicts` saw same-work A/A
 * differences up to 2.4× at 2× (three false verdicts in 396), none at 3×.
 */
export const SAME_WORK_FACTOR = 3;
const SAME_BUFFERS = 1.1;
/** A drift this large (25%) can hide a real change entirely: then "unchanged" is not a safe answer. */
const HIDING_DRIFT = 0.25;
/**
 * How much of the drift is still doubted once it is taken out of a confirmed change (rule 7): the
 * calibration overstated a burst's effect on a query up to 2.9× (query 1.4× slower) and understated
 * a steady slowdown little (a 2.77× win measured 1.79× under a 1.56 drift: 2.8× once taken out).
 */
const DRIFT_DOUBT = 0.5;
/**
 * Fewer buffers but more time (or the reverse): the work and the timing disagree. `npm run verdicts`
 * saw a 1.19× win through a covering index measured 1.3–1.4× slower while a CPU burst slowed the
 * serial plan and not the 3 ms calibration. Timing alone must then show 2×.
 */
const CONTRADICTED_FACTOR = 2;

/** What the verdict is decided from: two runs of one query, and the machine's drift between them. */
export interface VerdictFacts {
  beforeMedian: number;
  afterMedian: number;
  /** Two-sided Mann–Whitney p-value of the execution-time samples. */
  p: number;
  /** The same test with the after samples divided by the drift. */
  pAdjusted: number;
  /** after / before median of the calibration query in this query's windows (1 = steady machine). */
  drift: number;
  planChanged: boolean;
  beforeBuffers: number;
  afterBuffers: number;
}

/**
 * The verdict rule, in one place (README, "Verdicts", rules 1–6). The effect is a ratio on a log
 * scale, |ln(after/before)|, so a 50× win and a 50× loss weigh the same. It must be significant
 * (p < 0.01) and beyond ln 1.2 — ln 3 when the plan and buffers show the same work — plus the
 * machine's drift |ln d|. Drift widens the margin but never hides a change many times larger. A window too noisy to decide is `inconclusive` with its
 * reason, never a confident verdict. Measured on both errors by `npm run verdicts`.
 */
export function decideVerdict(f: VerdictFacts): { verdict: Verdict; reason: string } {
  const e = evidence(f);
  const plain = timingVerdict(f, e);
  // Rule 7 speaks only where the timing alone could not call what the buffers show.
  if (e.work && plain.verdict !== e.work) return confirmedChange(f, e.work, e.driftLog) ?? plain;
  return plain;
}

/** Rules 1–6 and 8: the timing, its significance, and margins widened by drift and by what the buffers say. */
function timingVerdict(f: VerdictFacts, e: Evidence): { verdict: Verdict; reason: string } {
  if (f.p >= SIGNIFICANCE) return hidden(f, e) ?? { verdict: 'unchanged', reason: `not significant (p = ${f.p.toPrecision(2)})` };
  // Below 0.05 ms medians move with cache state, unless the work itself changed (a 60 µs scan at 35 µs through an index).
  if (e.diff < MIN_DIFF_MS && e.work !== e.direction)
    return hidden(f, e) ?? { verdict: 'unchanged', reason: `the medians differ by less than ${MIN_DIFF_MS} ms` };
  // Drift widens the margin whichever way it went: the calibration tracks the machine only roughly
  // (`npm run verdicts` saw it 37% faster while a CPU burst made a parallel scan 1.3× slower), so a
  // query moving against it proves nothing more than one moving with it.
  const contradicted = e.work !== null && e.work !== e.direction;
  const margin = Math.log(e.sameWork ? SAME_WORK_FACTOR : contradicted ? CONTRADICTED_FACTOR : 1 + MIN_EFFECT) + e.driftLog;
  if (e.effect >= margin) return { verdict: e.direction, reason: '' };
  if (e.effect < Math.log(1 + MIN_EFFECT))
    return hidden(f, e) ?? { verdict: 'unchanged', reason: `a change of less than ${MIN_EFFECT * 100}%` };
  if (e.sameWork && e.driftLog < Math.log(1 + DRIFT_WARNING)) {
    return {
      verdict: 'unchanged',
      reason: `same plan and buffers in both runs: the same work, and a ${Math.exp(e.effect).toFixed(1)}× timing difference is within what this machine does to one query (under ${SAME_WORK_FACTOR}×)`,
    };
  }
  if (contradicted) {
    return {
      verdict: 'inconclusive',
      reason: `the buffers went ${f.beforeBuffers} → ${f.afterBuffers} but the time moved the other way, by less than ${CONTRADICTED_FACTOR}×${e.driftLog >= Math.log(1 + DRIFT_WARNING) ? ` (and ${moved(f)})` : ''}; re-run the comparison`,
    };
  }
  return { verdict: 'inconclusive', reason: `${moved(f)}; re-run the comparison` };
}

interface Evidence {
  /** |ln(after / before)| of the medians. */
  effect: number;
  diff: number;
  driftLog: number;
  direction: 'faster' | 'slower';
  buffers: number;
  /** The same plan reading the same buffers: the same work. */
  sameWork: boolean;
  /** The way a plan change moved the work, when it moved the buffers 3× or more. */
  work: 'faster' | 'slower' | null;
}

function evidence(f: VerdictFacts): Evidence {
  const buffers = ratio(f.beforeBuffers, f.afterBuffers);
  const work = !f.planChanged ? null : buffers <= 1 / BUFFERS_FACTOR ? 'faster' : buffers >= BUFFERS_FACTOR ? 'slower' : null;
  return {
    effect: Math.abs(Math.log(ratio(f.beforeMedian, f.afterMedian))),
    diff: Math.abs(f.afterMedian - f.beforeMedian),
    driftLog: Math.abs(Math.log(f.drift > 0 ? f.drift : 1)),
    direction: f.afterMedian < f.beforeMedian ? 'faster' : 'slower',
    buffers,
    sameWork: !f.planChanged && buffers <= SAME_BUFFERS && buffers >= 1 / SAME_BUFFERS,
    work,
  };
}

const moved = (f: VerdictFacts) => `the machine's speed moved ${Math.round(Math.abs(f.drift - 1) * 100)}% while this query ran`;

/**
 * Rule 7: a plan change that moved the buffers 3× is judged with the drift taken out, in the
 * buffers' direction only. A steady slowdown of the machine then cannot hide a real win (a 2.8×
 * win read 1.79× while the calibration ran 1.56× slower), and an overstated drift can at most
 * call a change the buffers already show.
 */
function confirmedChange(f: VerdictFacts, work: 'faster' | 'slower', driftLog: number): { verdict: Verdict; reason: string } | null {
  const adjustedAfter = f.afterMedian / (f.drift > 0 ? f.drift : 1);
  const gain = Math.log(ratio(adjustedAfter, f.beforeMedian));
  const effect = work === 'faster' ? gain : -gain;
  const margin = Math.log(1 + MIN_EFFECT) + DRIFT_DOUBT * driftLog;
  if (f.pAdjusted >= SIGNIFICANCE || effect < margin) return null;
  if (driftLog < Math.log(1 + DRIFT_WARNING)) return null; // a steady machine: the plain rule decides
  const adjusted = Math.exp(effect).toFixed(1);
  return {
    verdict: work,
    reason: `the plan changed and the buffers went ${f.beforeBuffers} → ${f.afterBuffers}; ${moved(f)}, and with that taken out the query ran ${adjusted}× ${work}`,
  };
}

/** Under a large drift, timing that shows nothing cannot outweigh a plan change the buffers confirm. */
function hidden(f: VerdictFacts, e: Evidence): { verdict: Verdict; reason: string } | null {
  if (e.driftLog < Math.log(1 + HIDING_DRIFT) || e.work === null) return null;
  return {
    verdict: 'inconclusive',
    reason: `${moved(f)}, which can hide a change: the plan changed and the buffers went ${f.beforeBuffers} → ${f.afterBuffers}; re-run the comparison`,
  };
}

export interface QueryComparison {
  name: string;
  before: { median: number; p95: number; form: string; plan: string; buffers: number; n: number } | null;
  after: { median: number; p95: number; form: string; plan: string; buffers: number; n: number } | null;
  /** before median / after median (> 1 is faster). */
  speedup: number | null;
  /** Two-sided Mann–Whitney p-value of the execution-time samples. */
  p: number | null;
  verdict: Verdict;
  /** Why the verdict is what it is, when that is not plain (inconclusive, or decided on buffers). */
  reason: string;
  planChanged: boolean;
  /**
   * after / before median of the calibration query measured alongside this query: how much
   * slower the machine itself was while the second run measured it.
   */
  drift: number;
  /**
   * Production time this change saves per hour (negative: costs): the median difference times the
   * workload's `-- calls-per-hour:`. Only for a faster or slower verdict; null otherwise or unknown.
   */
  savedMsPerHour: number | null;
}

export interface Comparison {
  queries: QueryComparison[];
  /** The sum of every query's savedMsPerHour; null where the workload gives no calls per hour. */
  savedMsPerHour: number | null;
  warnings: string[];
  /** after / before median of the calibration query: the machine's own change of speed. */
  drift: number;
  /** What the times are, where that is not obvious (on Citus: the coordinator's end-to-end times). */
  timing: string | null;
}

/** On Citus a query's time is the coordinator's: planning, the workers' share and the merge. */
export function timingNote(run: Pick<BenchResult, 'server'>): string | null {
  const citus = run.server.citus;
  if (!citus) return null;
  return `Citus ${citus}: times are the coordinator's end-to-end EXPLAIN ANALYZE times (the workers' part and the network included); warm-up runs open the connections to the workers first`;
}

/** The calibration query of runs saved before it was recorded in the file. */
const OLD_CALIBRATION_SQL = 'SELECT count(*) FROM generate_series(1, 20000) g WHERE g % 7 = 1';

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
    return {
      name,
      before: b ? side(b) : null,
      after: a ? side(a) : null,
      speedup: null,
      p: null,
      verdict: b ? 'missing' : 'new',
      reason: '',
      planChanged: false,
      drift: runDrift,
      savedMsPerHour: null,
    };
  }
  const drift =
    b.calibration?.length && a.calibration?.length ? ratio(summarize(b.calibration).median, summarize(a.calibration).median) : runDrift;
  const afterMedian = a.execution.median;
  const test = mannWhitney(b.samples, a.samples);
  const adjusted =
    drift > 0 && drift !== 1
      ? mannWhitney(
          b.samples,
          a.samples.map((x) => x / drift),
        )
      : test;
  const speedup = afterMedian > 0 ? b.execution.median / afterMedian : Infinity;
  const planChanged = b.plan.headline !== a.plan.headline || b.form !== a.form;
  const { verdict, reason } = decideVerdict({
    beforeMedian: b.execution.median,
    afterMedian,
    p: test.p,
    pAdjusted: adjusted.p,
    drift,
    planChanged,
    beforeBuffers: b.buffers.hit + b.buffers.read,
    afterBuffers: a.buffers.hit + a.buffers.read,
  });
  return {
    name,
    before: side(b),
    after: side(a),
    speedup,
    p: test.p,
    verdict,
    reason,
    planChanged: b.plan.headline !== a.plan.headline,
    drift,
    savedMsPerHour: savedPerHour(verdict, b.execution.median, afterMedian, a.callsPerHour ?? b.callsPerHour),
  };
}

/** Time saved per hour in production by a change bench confirmed (faster or slower), at its captured rate. */
export function savedPerHour(verdict: Verdict, beforeMs: number, afterMs: number, callsPerHour: number | undefined): number | null {
  if (callsPerHour === undefined || (verdict !== 'faster' && verdict !== 'slower')) return null;
  return (beforeMs - afterMs) * callsPerHour;
}

/** Compare two runs query by query, and say what makes the comparison less than fair. */
export function compareRuns(before: BenchResult, after: BenchResult): Comparison {
  const warnings: string[] = [];
  if (before.workload.checksum !== after.workload.checksum)
    warnings.push(
      `the workloads differ (${before.workload.name} ${before.workload.checksum} vs ${after.workload.name} ${after.workload.checksum})`,
    );
  if (before.dataChecksum !== after.dataChecksum) warnings.push('the table sizes differ: the two runs did not see the same data');
  if (before.server.versionNum !== after.server.versionNum)
    warnings.push(`the server versions differ (${before.server.version} vs ${after.server.version})`);
  for (const [k, v] of Object.entries(before.settings)) {
    if (after.settings[k] !== undefined && after.settings[k] !== v) warnings.push(`setting ${k} differs (${v} vs ${after.settings[k]})`);
  }
  // Two calibration queries say nothing about each other's speed: then no drift is known.
  const sameCalibration = (before.calibrationSql ?? OLD_CALIBRATION_SQL) === (after.calibrationSql ?? OLD_CALIBRATION_SQL);
  if (!sameCalibration)
    warnings.push(
      "the two runs timed different calibration queries (made by different pgopt versions): the machine's drift is not known, so verdicts assume none",
    );
  const drift = sameCalibration ? ratio(before.calibrationMs, after.calibrationMs) : 1;
  const names = [...new Set([...before.queries.map((q) => q.name), ...after.queries.map((q) => q.name)])];
  const strip = (q: QueryResult | undefined) => (q && !sameCalibration ? { ...q, calibration: undefined } : q);
  const queries = names.map((n) =>
    compareQuery(n, strip(before.queries.find((q) => q.name === n)), strip(after.queries.find((q) => q.name === n)), drift),
  );
  const drifted = queries.filter((q) => Math.abs(q.drift - 1) > DRIFT_WARNING);
  if (drifted.length) {
    const each = drifted
      .map((q) => `${q.name} ${Math.round(Math.abs(q.drift - 1) * 100)}% ${q.drift > 1 ? 'slower' : 'faster'}`)
      .join(', ');
    warnings.push(
      `the machine's own speed changed between the runs (calibration query in the second run: ${each}): those verdicts need a change of 20% plus that much, or a plan change the buffers confirm`,
    );
  }
  const weighed = queries.filter((q) => q.savedMsPerHour !== null);
  const savedMsPerHour = weighed.length ? weighed.reduce((t, q) => t + q.savedMsPerHour!, 0) : null;
  return { queries, savedMsPerHour, warnings, drift, timing: timingNote(after) ?? timingNote(before) };
}

/** Queries significantly slower than the baseline by more than `pct` percent. */
export function regressions(c: Comparison, pct: number): QueryComparison[] {
  return c.queries.filter((q) => q.verdict === 'slower' && q.speedup !== null && (1 / q.speedup - 1) * 100 > pct);
}
