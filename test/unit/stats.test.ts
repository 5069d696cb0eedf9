import { describe, expect, it } from 'vitest';
import { mannWhitney, normalCdf, quantile, summarize } from '../../src/bench/stats.js';
import { compareQuery, decideVerdict } from '../../src/bench/compare.js';
import type { QueryResult } from '../../src/bench/runner.js';

/** A deterministic pseudo-random stream, so the tests never flake. */
function lcg(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}
const noisy = (center: number, spread: number, n: number, seed: number) => {
  const r = lcg(seed);
  return Array.from({ length: n }, () => center + (r() - 0.5) * spread);
};

const result = (samples: number[], headline = 'Seq Scan on t', calibration?: number[], buffers = 1): QueryResult =>
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
    buffers: { hit: buffers, read: 0 },
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
    expect(compareQuery('q', result(base), result(noisy(1, 0.2, 30, 5), 'Index Scan using i on t'))).toMatchObject({
      verdict: 'faster',
      planChanged: true,
    });
    expect(compareQuery('q', result(noisy(1, 0.2, 30, 5)), result(base)).verdict).toBe('slower');
    // Significant but tiny (1%): not worth a colour.
    const tight = Array.from({ length: 30 }, (_, i) => 10 + i * 0.001);
    expect(compareQuery('q', result(tight), result(tight.map((v) => v * 1.01))).verdict).toBe('unchanged');
  });

  it('a 30% difference of a few microseconds is not a verdict; the same ratio at milliseconds is', () => {
    const tiny = Array.from({ length: 30 }, (_, i) => 0.055 + i * 0.0001);
    const ix = 'Index Scan using i on t';
    expect(
      compareQuery(
        'q',
        result(tiny),
        result(
          tiny.map((v) => v * 0.7),
          ix,
        ),
      ).verdict,
    ).toBe('unchanged');
    const big = tiny.map((v) => v * 100);
    expect(
      compareQuery(
        'q',
        result(big),
        result(
          big.map((v) => v * 0.7),
          ix,
        ),
      ).verdict,
    ).toBe('faster');
    // The same 30% with the same plan and buffers: the same work, so the timing alone is the machine's.
    const same = compareQuery('q', result(big), result(big.map((v) => v * 0.7)));
    expect(same.verdict).toBe('unchanged');
    expect(same.reason).toContain('same plan and buffers in both runs');
  });

  it('a significant 14% shift (the run-to-run variation measured here) is not a verdict', () => {
    const a = noisy(16.5, 1, 30, 11);
    expect(compareQuery('q', result(a), result(a.map((v) => v * 0.86))).verdict).toBe('unchanged');
  });

  it('a machine that ran 25% slower (calibration drift) does not make a query "slower"', () => {
    const a = noisy(20, 1, 30, 13);
    const b = a.map((v) => v * 1.25);
    const seq = 'Seq Scan on t';
    expect(compareQuery('q', result(a, 'Index Scan using i on t'), result(b, seq)).verdict).toBe('slower');
    // The whole change is the machine's: no confident verdict, and the row says why.
    const drifted = compareQuery('q', result(a), result(b), 1.25);
    expect(drifted.verdict).toBe('inconclusive');
    expect(drifted.reason).toContain("the machine's speed moved 25% while this query ran; re-run");
    // …and a machine that drifted the other way cannot turn an unchanged query into a regression.
    expect(compareQuery('q', result(a), result(a.map((v) => v * 1.01)), 0.75).verdict).toBe('unchanged');
    // A real change (the plan changed) beyond margin + drift is still reported.
    expect(
      compareQuery(
        'q',
        result(a, 'Index Scan using i on t'),
        result(
          a.map((v) => v * 2),
          seq,
        ),
        1.25,
      ).verdict,
    ).toBe('slower');
  });

  it("a slow spell of the machine during one query's runs is caught by the calibration measured alongside it", () => {
    // Seen in CI: the same count at 32 ms for most of one run, 19.5 ms in the next, same state.
    const slow = noisy(32.3, 1, 30, 21);
    const fast = noisy(19.5, 1, 30, 22);
    const calSlow = noisy(3.4, 0.1, 30, 23);
    const calFast = noisy(2.1, 0.1, 30, 24);
    // The whole run's calibration barely moved (the spell was short), so by itself it cannot help;
    // the same plan and buffers (the same work) keep it from a verdict…
    expect(compareQuery('q', result(slow), result(fast), 1.02).verdict).toBe('unchanged');
    // …the calibration samples taken right before each run of this query can.
    const c = compareQuery('q', result(slow, undefined, calSlow), result(fast, undefined, calFast), 1.02);
    expect(c.drift).toBeCloseTo(2.1 / 3.4, 1);
    expect(c.verdict).toBe('inconclusive');
    // A steady machine and a changed plan: the same samples are a real change.
    expect(compareQuery('q', result(slow, undefined, calFast), result(fast, 'Index Scan using i on t', calFast), 1.5).verdict).toBe(
      'faster',
    );
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

/**
 * Recorded cases from issue 8, both of which today's rule must call faster and the old rule
 * (|after − before| / before ≥ 0.2 + |drift − 1|) called noise: a ratio of medians can never
 * exceed 1 on that scale, so once the calibration drifts 80% no speedup could be a verdict.
 */
describe('verdicts under machine drift', () => {
  const oldRule = (before: number, after: number, drift: number) => Math.abs(after - before) / before >= 0.2 + Math.abs(drift - 1);

  it('queue_next_job: 2.54 → 0.050 ms (51×), drift 1.79, Seq Scan → Index Scan, buffers 100 → 3: faster', () => {
    const before = noisy(2.54, 0.3, 30, 31);
    const after = noisy(0.05, 0.006, 30, 32);
    const calBefore = noisy(2.0, 0.1, 30, 33);
    const calAfter = noisy(3.58, 0.2, 30, 34);
    const c = compareQuery(
      'queue_next_job',
      result(before, 'Seq Scan on jobs', calBefore, 100),
      result(after, 'Index Scan using jobs_next_idx on jobs', calAfter, 3),
    );
    expect(c.drift).toBeCloseTo(1.79, 1);
    expect(c.verdict).toBe('faster');
    expect(oldRule(2.54, 0.05, 1.79)).toBe(false);
  });

  it('workflow_list: 1.57 → 0.176 ms (8.9×), drift 1.83, Seq Scan → Bitmap Heap Scan, buffers 1032 → 40: faster', () => {
    const c = compareQuery(
      'workflow_list',
      result(noisy(1.57, 0.2, 20, 41), 'Seq Scan on workflows', noisy(2, 0.1, 20, 42), 1032),
      result(noisy(0.176, 0.02, 20, 43), 'Bitmap Heap Scan on workflows', noisy(3.66, 0.2, 20, 44), 40),
    );
    expect(c.verdict).toBe('faster');
    expect(oldRule(1.57, 0.176, 1.83)).toBe(false);
  });

  it('drift widens the margin whichever way it went; buffers alone never decide', () => {
    const before = noisy(2, 0.1, 30, 51);
    const after = noisy(1.1, 0.05, 30, 52);
    const cb = noisy(2, 0.1, 30, 53);
    // Recorded by npm run verdicts: the calibration 37% faster while a CPU burst slowed a parallel
    // scan 1.3× (true ratio 1.25 the other way). A query moving against the drift is not proven,
    // with the same plan and buffers or with a plan change that made the buffers 3× fewer.
    for (const [plan, buffers] of [
      ['Seq Scan on t', 1000],
      ['Index Only Scan using i on t', 40],
    ] as const) {
      const c = compareQuery('q', result(before, 'Seq Scan on t', cb, 1000), result(after, plan, noisy(1.1, 0.05, 30, 55), buffers));
      expect(c.verdict).toBe('inconclusive');
      expect(c.reason).toMatch(/the machine's speed moved \d+% while this query ran; re-run/);
    }
    // Nor one moving with it, when nothing but the timing says the work changed (here 1.8× under an 80% drift).
    const same = compareQuery('q', result(before, 'Seq Scan on t', cb, 1000), result(after, 'Seq Scan on t', noisy(3.6, 0.1, 30, 54), 950));
    expect(same.verdict).toBe('inconclusive');
    // A parallel Seq Scan and an Index Only Scan reading 25× fewer buffers can run equally fast:
    // with a steady machine the same 1.8× is a verdict by timing, not by buffers.
    const steady = compareQuery(
      'q',
      result(before, 'Seq Scan on t', cb, 1000),
      result(after, 'Index Only Scan using i on t', noisy(2, 0.1, 30, 56), 40),
    );
    expect(steady.verdict).toBe('faster');
    expect(steady.reason).toBe('');
  });

  it('a 50× loss weighs the same as a 50× win', () => {
    const fast = noisy(0.05, 0.006, 30, 61);
    const slow = noisy(2.54, 0.3, 30, 62);
    const cal = [noisy(2, 0.1, 30, 63), noisy(3.58, 0.2, 30, 64)];
    expect(compareQuery('q', result(fast, 'Index Scan using i on t', cal[0], 3), result(slow, 'Seq Scan on t', cal[1], 100)).verdict).toBe(
      'slower',
    );
  });
});

describe('a drift that can hide a change', () => {
  // Recorded by npm run verdicts: workflow_list, true ratio 1.83×, measured 1.03× while the calibration moved 86%.
  const before = noisy(0.2, 0.04, 20, 71);
  const after = noisy(0.2, 0.04, 20, 72);
  const seq = (cal: number[], buffers = 208) => result(before, 'Seq Scan on workflows', cal, buffers);

  it('a plan change the buffers confirm is judged with the drift taken out: the slow spell hid a real win (rule 7)', () => {
    const c = compareQuery(
      'workflow_list',
      seq(noisy(2, 0.1, 20, 73)),
      result(after, 'Bitmap Heap Scan on workflows', noisy(3.72, 0.1, 20, 74), 9),
    );
    expect(c.verdict).toBe('faster');
    expect(c.reason).toMatch(
      /buffers went 208 → 9; the machine's speed moved \d+% while this query ran, and with that taken out the query ran 1\.\d× faster/,
    );
    // The rule before rule 7 could only say it might be hidden.
    const old = decideVerdict({
      beforeMedian: 0.2,
      afterMedian: 0.2,
      p: c.p!,
      pAdjusted: c.p!,
      drift: 1.86,
      planChanged: true,
      beforeBuffers: 208,
      afterBuffers: 9,
    });
    expect(old.verdict).toBe('inconclusive');
  });

  it('the drift is taken out only in the direction of the buffers: timing that shows nothing while the machine got faster stays inconclusive', () => {
    const c = compareQuery(
      'workflow_list',
      seq(noisy(3.72, 0.1, 20, 73)),
      result(after, 'Bitmap Heap Scan on workflows', noisy(2, 0.1, 20, 74), 9),
    );
    expect(c.verdict).toBe('inconclusive');
    expect(c.reason).toContain('which can hide a change');
    // More buffers and a machine that got slower: the drift can never make that a win.
    const more = compareQuery(
      'q',
      seq(noisy(2, 0.1, 20, 73), 9),
      result(after, 'Bitmap Heap Scan on workflows', noisy(3.72, 0.1, 20, 74), 208),
    );
    expect(more.verdict).not.toBe('faster');
  });

  it('the same timings with the same plan and buffers are simply unchanged', () => {
    expect(
      compareQuery('q', seq(noisy(2, 0.1, 20, 73)), result(after, 'Seq Scan on workflows', noisy(3.72, 0.1, 20, 74), 208)).verdict,
    ).toBe('unchanged');
  });

  it('fewer buffers but a slower time (a CPU burst on the serial plan) needs 2× to be called slower', () => {
    // Recorded by npm run verdicts: a covering index 1.19× faster, measured 1.3× slower under a burst the 3 ms calibration missed.
    const facts = {
      beforeMedian: 20,
      afterMedian: 26,
      p: 1e-6,
      pAdjusted: 1e-6,
      drift: 0.99,
      planChanged: true,
      beforeBuffers: 9091,
      afterBuffers: 372,
    };
    const c = decideVerdict(facts);
    expect(c.verdict).toBe('inconclusive');
    expect(c.reason).toMatch(/buffers went 9091 → 372 but the time moved the other way/);
    // Without the plan change's evidence the same timing would be a "slower" verdict.
    expect(decideVerdict({ ...facts, planChanged: false, afterBuffers: 9091 * 0.5 }).verdict).toBe('slower');
    // A real loss of 2× or more is still called, buffers or not (a parallel scan lost to a serial index scan).
    expect(decideVerdict({ ...facts, afterMedian: 45 }).verdict).toBe('slower');
  });
});
