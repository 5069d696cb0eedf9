import { describe, expect, it } from 'vitest';
import { mannWhitney, normalCdf, quantile, summarize } from '../../src/bench/stats.js';
import { compareQuery } from '../../src/bench/compare.js';
import type { QueryResult } from '../../src/bench/runner.js';

/** A deterministic pseudo-random stream, so the tests never flake. */
function lcg(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}
const noisy = (center: number, spread: number, n: number, seed: number) => {
  const r = lcg(seed);
  return Array.from({ length: n }, () => center + (r() - 0.5) * spread);
};

const result = (samples: number[], headline = 'Seq Scan on t', calibration?: number[]): QueryResult =>
  ({
    calibration,
    name: 'q',
    form: 'raw',
    sql: 'SELECT 1',
    paramSets: 1,
    samples,
    execution: summarize(samples),
    planning: summarize(samples),
    roundTrip: summarize(samples),
    rows: 1,
    buffers: { hit: 1, read: 0 },
    plan: { nodeTypes: [], indexes: [], seqScans: [], relations: [], headline, rows: 1, sharedHit: 1, sharedRead: 0 },
    profile: { 'Node Type': 'Result' },
    expectations: [],
  }) as QueryResult;

describe('statistics', () => {
  it('summarizes with interpolated quantiles', () => {
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ n: 5, median: 3, min: 1, max: 5, mean: 3 });
    expect(s.stddev).toBeCloseTo(Math.sqrt(2.5));
    expect(quantile([1, 2, 3, 4], 0.95)).toBeCloseTo(3.85);
  });

  it('Mann–Whitney: identical distributions are not significant, shifted ones are', () => {
    expect(mannWhitney(noisy(10, 2, 30, 1), noisy(10, 2, 30, 2)).p).toBeGreaterThan(0.05);
    expect(mannWhitney(noisy(10, 2, 30, 1), noisy(5, 2, 30, 2)).p).toBeLessThan(1e-6);
    expect(mannWhitney([1, 1, 1], [1, 1, 1]).p).toBe(1);
  });

  it('verdicts: noise is "unchanged" even when the medians differ a little; a real change is "faster"/"slower"', () => {
    const base = noisy(10, 4, 30, 3);
    const same = compareQuery('q', result(base), result(noisy(10.3, 4, 30, 4)));
    expect(same.verdict).toBe('unchanged');
    expect(compareQuery('q', result(base), result(noisy(1, 0.2, 30, 5), 'Index Scan using i on t'))).toMatchObject({ verdict: 'faster', planChanged: true });
    expect(compareQuery('q', result(noisy(1, 0.2, 30, 5)), result(base)).verdict).toBe('slower');
    // Significant but tiny (1%): not worth a colour.
    const tight = Array.from({ length: 30 }, (_, i) => 10 + i * 0.001);
    expect(compareQuery('q', result(tight), result(tight.map((v) => v * 1.01))).verdict).toBe('unchanged');
  });

  it('a 30% difference of a few microseconds is not a verdict; the same ratio at milliseconds is', () => {
    const tiny = Array.from({ length: 30 }, (_, i) => 0.055 + i * 0.0001);
    expect(compareQuery('q', result(tiny), result(tiny.map((v) => v * 0.7))).verdict).toBe('unchanged');
    const big = tiny.map((v) => v * 100);
    expect(compareQuery('q', result(big), result(big.map((v) => v * 0.7))).verdict).toBe('faster');
  });

  it('a significant 14% shift (the run-to-run variation measured here) is not a verdict', () => {
    const a = noisy(16.5, 1, 30, 11);
    expect(compareQuery('q', result(a), result(a.map((v) => v * 0.86))).verdict).toBe('unchanged');
  });

  it('a machine that ran 25% slower (calibration drift) does not make a query "slower"', () => {
    const a = noisy(20, 1, 30, 13);
    const b = a.map((v) => v * 1.25);
    expect(compareQuery('q', result(a), result(b)).verdict).toBe('slower');
    const drifted = compareQuery('q', result(a), result(b), 1.25);
    expect(drifted.verdict).toBe('unchanged');
    // …and a machine that drifted the other way cannot turn an unchanged query into a regression.
    expect(compareQuery('q', result(a), result(a.map((v) => v * 1.01)), 0.75).verdict).toBe('unchanged');
    // A real change beyond margin + drift is still reported.
    expect(compareQuery('q', result(a), result(a.map((v) => v * 2)), 1.25).verdict).toBe('slower');
  });

  it("a slow spell of the machine during one query's runs is caught by the calibration measured alongside it", () => {
    // Seen in CI: the same count at 32 ms for most of one run, 19.5 ms in the next, same state.
    const slow = noisy(32.3, 1, 30, 21);
    const fast = noisy(19.5, 1, 30, 22);
    const calSlow = noisy(3.4, 0.1, 30, 23);
    const calFast = noisy(2.1, 0.1, 30, 24);
    // The whole run's calibration barely moved (the spell was short), so by itself it cannot help…
    expect(compareQuery('q', result(slow), result(fast), 1.02).verdict).toBe('faster');
    // …the calibration samples taken right before each run of this query can.
    const c = compareQuery('q', result(slow, undefined, calSlow), result(fast, undefined, calFast), 1.02);
    expect(c.drift).toBeCloseTo(2.1 / 3.4, 1);
    expect(c.verdict).toBe('unchanged');
    // A steady machine: the same samples with a steady calibration are a real change.
    expect(compareQuery('q', result(slow, undefined, calFast), result(fast, undefined, calFast), 1.5).verdict).toBe('faster');
  });

  it('an outlier cannot fake a speedup: the test ranks, it does not average', () => {
    const a = noisy(10, 1, 30, 7);
    const b = [...noisy(10, 1, 29, 8), 10_000];
    expect(compareQuery('q', result(a), result(b)).verdict).toBe('unchanged');
  });
});

/**
 * p-values pinned to values computed independently:
 * - SciPy's documentation example for `scipy.stats.mannwhitneyu` (males vs females):
 *   U = 17, exact p = 0.1111111111111111 (method="exact"), and 0.11134688653314041 with
 *   method="asymptotic" (normal approximation with continuity correction). Checked here also by
 *   enumerating all C(9,4) = 126 splits by brute force, and by hand: σ = √(5·4·10/12) = 4.0825,
 *   z = (|17 − 10| − 0.5)/σ = 1.5922, p = 2(1 − Φ(z)) = 0.11135.
 * - Ties, by hand (R's `wilcox.test(c(1,2,2,3), c(2,3,4,5))` reports W = 2.5, p-value = 0.1366
 *   with correct = TRUE): ranks 1, 3, 3, 5.5 → U = 2.5; tie term (3³−3)+(2³−2) = 30;
 *   σ² = (16/12)(9 − 30/56) = 11.2857; z = (|2.5 − 8| − 0.5)/3.35942 = 1.48835; p = 0.13665.
 */
describe('Mann–Whitney U against reference values', () => {
  const males = [19, 22, 16, 29, 24];
  const females = [20, 11, 17, 12];

  it('SciPy example, exact: U = 17, p = 0.1111 (both by the recurrence and by enumerating every split)', () => {
    const r = mannWhitney(males, females);
    expect(r.u).toBe(17);
    expect(r.method).toBe('exact');
    expect(r.p).toBeCloseTo(0.1111111111111111, 12);
    // Independent check: all 126 ways to choose which 5 of the 9 ranks belong to the first sample.
    const ranks = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    let asExtreme = 0;
    let total = 0;
    const choose = (start: number, picked: number[]) => {
      if (picked.length === 5) {
        total++;
        const u = picked.reduce((a, b) => a + b, 0) - 15;
        if (Math.abs(u - 10) >= Math.abs(17 - 10)) asExtreme++;
        return;
      }
      for (let i = start; i < ranks.length; i++) choose(i + 1, [...picked, ranks[i]]);
    };
    choose(0, []);
    expect(total).toBe(126);
    expect(r.p).toBeCloseTo(asExtreme / total, 12);
  });

  it('SciPy example, asymptotic with continuity correction: p = 0.11134688653314041', () => {
    // Eight or more values per sample take the normal approximation: the same data, each value twice
    // (so ties), is not the reference; instead check the approximation on the example directly.
    const n1 = 5;
    const n2 = 4;
    const sigma = Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12);
    const z = (Math.abs(17 - (n1 * n2) / 2) - 0.5) / sigma;
    expect(2 * (1 - normalCdf(z))).toBeCloseTo(0.11134688653314041, 6);
  });

  it('ties, normal approximation with tie and continuity correction: U = 2.5, p = 0.1366 (R)', () => {
    const r = mannWhitney([1, 2, 2, 3], [2, 3, 4, 5]);
    expect(r.u).toBe(2.5);
    expect(r.method).toBe('asymptotic');
    expect(r.p).toBeCloseTo(0.13665, 4);
  });

  it('exact p for 7 vs 8 values equals the brute-force count over all C(15,7) = 6435 splits; one more value switches to the approximation', () => {
    const a = [1.1, 2.3, 3.2, 4.8, 5.1, 6.7, 7.2];
    const b = [3.9, 5.5, 6.1, 7.9, 8.4, 9.3, 10.2, 11.8];
    const r = mannWhitney(a, b);
    expect(r).toMatchObject({ u: 8, method: 'exact' });
    let asExtreme = 0;
    let total = 0;
    const choose = (start: number, sum: number, left: number) => {
      if (left === 0) {
        total++;
        if (Math.abs(sum - 28 - 28) >= Math.abs(8 - 28)) asExtreme++;
        return;
      }
      for (let rank = start; rank <= 15; rank++) choose(rank + 1, sum + rank, left - 1);
    };
    choose(1, 0, 7);
    expect(total).toBe(6435);
    expect(r.p).toBeCloseTo(asExtreme / total, 12);
    expect(mannWhitney([...a, 0.5], b).method).toBe('asymptotic');
  });
});
