/**
 * Production windows from pg_stat_statements' cumulative counters, and the verdict on two of them.
 * Pure functions: exact window statistics from differences of cumulative sums, Welch's test on the
 * window means, and the same verdict vocabulary and standard as bench (src/bench/compare.ts).
 */
import { MIN_DIFF_MS, MIN_EFFECT, SAME_WORK_FACTOR, SIGNIFICANCE, type Verdict } from '../bench/compare.js';

/** One statement's cumulative counters at one moment (one snapshot row). */
export interface Cumulative {
  calls: number;
  totalMs: number;
  /** Population standard deviation of the execution times (pg_stat_statements' stddev_exec_time). */
  stddevMs: number;
  rows: number;
  sharedBlocks: number;
}

/** What happened between two snapshots: n executions with their mean and sample variance. */
export interface Window {
  calls: number;
  meanMs: number;
  /** Sample variance of the execution times in the window (ms²). */
  varianceMs2: number;
  totalMs: number;
  rowsPerCall: number;
  blocksPerCall: number;
}

/** Σx² of all executions so far: pg_stat_statements keeps the mean and the population variance. */
export const sumOfSquares = (c: Cumulative): number => {
  const mean = c.calls ? c.totalMs / c.calls : 0;
  return c.calls * (c.stddevMs * c.stddevMs + mean * mean);
};

/**
 * The window between `start` (null: the entry did not exist yet, so it starts from zero) and
 * `end`. Counters that went down were reset or the entry was evicted and came back: that window
 * cannot be judged, and says why.
 */
export function windowOf(start: Cumulative | null, end: Cumulative): Window | { invalid: string } {
  const s = start ?? { calls: 0, totalMs: 0, stddevMs: 0, rows: 0, sharedBlocks: 0 };
  const calls = end.calls - s.calls;
  const totalMs = end.totalMs - s.totalMs;
  if (calls < 0 || totalMs < -1e-6) return { invalid: 'its counters went down (reset, or evicted and counted again)' };
  if (calls === 0) return { calls: 0, meanMs: NaN, varianceMs2: NaN, totalMs: 0, rowsPerCall: NaN, blocksPerCall: NaN };
  const meanMs = totalMs / calls;
  const squares = sumOfSquares(end) - sumOfSquares(s);
  // Rounding in the server's running sums can leave a hair below zero for a constant-time statement.
  const varianceMs2 = calls > 1 ? Math.max(0, (squares - calls * meanMs * meanMs) / (calls - 1)) : 0;
  return {
    calls,
    meanMs,
    varianceMs2,
    totalMs,
    rowsPerCall: (end.rows - s.rows) / calls,
    blocksPerCall: (end.sharedBlocks - s.sharedBlocks) / calls,
  };
}

/** ln Γ(x), Lanczos (g = 7, n = 9), for x > 0. */
function lnGamma(x: number): number {
  const g = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const y = x - 1;
  let a = g[0];
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += g[i] / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the regularized incomplete beta (Numerical Recipes' betacf). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    for (const aa of [(m * (b - m) * x) / ((a + m2 - 1) * (a + m2)), (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1))]) {
      d = 1 + aa * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + aa / c;
      c = Math.abs(c) < tiny ? tiny : c;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-14) break;
  }
  return h;
}

/** I_x(a, b), the regularized incomplete beta function. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(a, b, x)) / a : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** Two-sided p-value of Student's t with `df` degrees of freedom. */
export const studentP = (t: number, df: number): number => (Number.isFinite(t) ? incompleteBeta(df / (df + t * t), df / 2, 0.5) : 0);

/** Welch's unequal-variances t-test on two window means. */
export function welch(a: Window, b: Window): { t: number; df: number; p: number } {
  const va = a.varianceMs2 / a.calls;
  const vb = b.varianceMs2 / b.calls;
  const se2 = va + vb;
  if (se2 === 0) return { t: a.meanMs === b.meanMs ? 0 : Infinity, df: a.calls + b.calls - 2, p: a.meanMs === b.meanMs ? 1 : 0 };
  const t = (b.meanMs - a.meanMs) / Math.sqrt(se2);
  const df = (se2 * se2) / ((va * va) / Math.max(1, a.calls - 1) + (vb * vb) / Math.max(1, b.calls - 1));
  return { t, df, p: studentP(t, df) };
}

/** Fewer executions than this in a window say too little about its mean. */
export const MIN_WINDOW_CALLS = 30;

export interface ImpactVerdict {
  verdict: Verdict;
  reason: string;
  /** before mean / after mean: above 1 is faster. */
  speedup: number | null;
  p: number | null;
}

/**
 * The verdict on one statement's two production windows, by bench's standard: significant
 * (p < 0.01) and at least 1.2× and 0.05 ms. Production windows differ in load and in the values
 * sent, which a test on the means cannot see as noise; the work per call (shared blocks) can: a
 * change with the same work per call must be 3× (SAME_WORK_FACTOR), one whose blocks moved the
 * other way (or barely) 2×, one whose blocks fell or rose 1.5× with it only 1.2×.
 */
export function decideImpact(before: Window | { invalid: string }, after: Window | { invalid: string }): ImpactVerdict {
  if ('invalid' in before) return { verdict: 'inconclusive', reason: `before window: ${before.invalid}`, speedup: null, p: null };
  if ('invalid' in after) return { verdict: 'inconclusive', reason: `after window: ${after.invalid}`, speedup: null, p: null };
  const few = [before, after].find((w) => w.calls < MIN_WINDOW_CALLS);
  if (few) {
    const which = few === before ? 'before' : 'after';
    return {
      verdict: 'inconclusive',
      reason: `${few.calls} call(s) in the ${which} window (needs ${MIN_WINDOW_CALLS})`,
      speedup: null,
      p: null,
    };
  }
  const speedup = before.meanMs / after.meanMs;
  const { p } = welch(before, after);
  const needed = neededFactor(before, after);
  const diff = Math.abs(before.meanMs - after.meanMs);
  const large = Math.abs(Math.log(speedup)) >= Math.log(needed) && diff >= MIN_DIFF_MS;
  if (p >= SIGNIFICANCE) {
    // A large change the test cannot confirm (a few slow outliers, too few calls) is not "unchanged".
    if (large)
      return {
        verdict: 'inconclusive',
        reason: `${ratioText(speedup)} but not significant (p = ${p.toPrecision(2)}): too few calls for their spread`,
        speedup,
        p,
      };
    return { verdict: 'unchanged', reason: `not significant (p = ${p.toPrecision(2)})`, speedup, p };
  }
  if (!large) {
    return { verdict: 'unchanged', reason: `${ratioText(speedup)} is within ${needed}× (${workText(before, after)})`, speedup, p };
  }
  return {
    verdict: speedup > 1 ? 'faster' : 'slower',
    reason: `${ratioText(speedup)}, p = ${p.toPrecision(2)} (${workText(before, after)})`,
    speedup,
    p,
  };
}

const ratioText = (s: number) => (s >= 1 ? `${s.toFixed(2)}× faster` : `${(1 / s).toFixed(2)}× slower`);
const blocksRatio = (b: Window, a: Window) => (b.blocksPerCall + 1) / (a.blocksPerCall + 1);

/**
 * The work per call moved with the time by at least this much: the change is real work, and bench's
 * 1.2× is enough. In production the mix of values sent moves blocks per call between windows too
 * (one account has more rows than another), so less than bench's BUFFERS_FACTOR, more than noise.
 */
export const WORK_CONFIRMS = 1.5;

function neededFactor(before: Window, after: Window): number {
  const work = Math.log(blocksRatio(before, after));
  const time = Math.log(before.meanMs / after.meanMs);
  if (Math.abs(work) < Math.log(1.1)) return SAME_WORK_FACTOR;
  if (Math.abs(work) >= Math.log(WORK_CONFIRMS) && Math.sign(work) === Math.sign(time)) return 1 + MIN_EFFECT;
  return 2;
}

const workText = (b: Window, a: Window) => `shared blocks per call ${b.blocksPerCall.toFixed(1)} → ${a.blocksPerCall.toFixed(1)}`;
