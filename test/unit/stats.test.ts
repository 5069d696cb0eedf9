import { describe, expect, it } from 'vitest';
import { mannWhitney, quantile, summarize } from '../../src/bench/stats.js';
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
