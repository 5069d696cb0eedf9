/** Descriptive statistics and the significance test behind every verdict. Pure functions. */

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
}

/** Linear-interpolated quantile of sorted values (the "type 7" definition used by R and numpy). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const mean = n ? s.reduce((a, b) => a + b, 0) / n : NaN;
  const variance = n > 1 ? s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { n, median: quantile(s, 0.5), p95: quantile(s, 0.95), min: s[0] ?? NaN, max: s[n - 1] ?? NaN, mean, stddev: Math.sqrt(variance) };
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 via erf), accurate to ~1e-7. */
export function normalCdf(z: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(z)) / Math.SQRT2);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

export interface MannWhitney {
  u: number;
  /**
   * Two-sided p-value: exact (the U distribution counted) when a sample is smaller than 8 and
   * there are no ties, as SciPy's `mannwhitneyu(method="auto")` does; otherwise the normal
   * approximation with tie and continuity correction (R's `wilcox.test(correct = TRUE)`).
   */
  p: number;
  method: 'exact' | 'asymptotic';
  /** Probability that a value from `a` exceeds one from `b` (common-language effect size). */
  effect: number;
}

/**
 * Mann–Whitney U test: are `a` and `b` drawn from the same distribution? Rank-based, so one
 * outlier run (a checkpoint, a context switch) cannot make noise look like a speedup.
 */
export function mannWhitney(a: readonly number[], b: readonly number[]): MannWhitney {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: NaN, p: 1, method: 'asymptotic', effect: 0.5 };
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(all.length);
  let tieTerm = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[k] = rank;
    const t = j - i + 1;
    tieTerm += t ** 3 - t;
    i = j + 1;
  }
  let r1 = 0;
  all.forEach((x, i) => {
    if (x.g === 0) r1 += ranks[i];
  });
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  if (tieTerm === 0 && Math.min(n1, n2) < EXACT_BELOW) return { u: u1, p: exactP(u1, n1, n2), method: 'exact', effect: u1 / (n1 * n2) };
  const mu = (n1 * n2) / 2;
  const n = n1 + n2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (sigma === 0) return { u: u1, p: 1, method: 'asymptotic', effect: u1 / (n1 * n2) };
  const z = (Math.abs(u1 - mu) - 0.5) / sigma;
  const p = Math.min(1, 2 * (1 - normalCdf(Math.max(0, z))));
  return { u: u1, p, method: 'asymptotic', effect: u1 / (n1 * n2) };
}

/** Samples smaller than this (with no ties) get the exact p-value. */
const EXACT_BELOW = 8;

/**
 * Exact two-sided p-value of U without ties: the number of ways to interleave n1 and n2 values
 * with each U, counted by the recurrence f(m, n, u) = f(m-1, n, u-n) + f(m, n-1, u) (the last
 * value belongs to one sample or the other), doubled from the nearer tail.
 */
function exactP(u: number, n1: number, n2: number): number {
  // counts[n][u] for the current m, built up one m at a time.
  let prev: number[][] = Array.from({ length: n2 + 1 }, () => [1]);
  for (let m = 1; m <= n1; m++) {
    const cur: number[][] = [new Array(1).fill(1)];
    for (let n = 1; n <= n2; n++) {
      const size = m * n + 1;
      const row = new Array(size).fill(0);
      for (let k = 0; k < size; k++) {
        const a = k - n >= 0 ? (prev[n][k - n] ?? 0) : 0;
        const b = cur[n - 1][k] ?? 0;
        row[k] = a + b;
      }
      cur.push(row);
    }
    prev = cur;
  }
  const dist = prev[n2];
  const total = dist.reduce((a, b) => a + b, 0);
  const lower = dist.slice(0, Math.floor(u) + 1).reduce((a, b) => a + b, 0) / total;
  const upper = dist.slice(Math.ceil(u)).reduce((a, b) => a + b, 0) / total;
  return Math.min(1, 2 * Math.min(lower, upper));
}
