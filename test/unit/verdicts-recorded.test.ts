import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compareQuery } from '../../src/bench/compare.js';
import type { QueryResult } from '../../src/bench/runner.js';

/**
 * The verdict rule on real samples recorded by `npm run verdicts` (PostgreSQL, this 2-core VM):
 * same-state pairs (some under a CPU burst) and before/after pairs of index changes whose true
 * ratio came from every calm run of both states pooled. No timing here: saved runs only.
 */
interface RecordedCase {
  schema: string;
  name: string;
  kind: 'A/A' | 'A/B';
  truth: number;
  burst: boolean;
  before: QueryResult;
  after: QueryResult;
}
const recorded = JSON.parse(readFileSync(new URL('../../fixtures/verdicts/recorded.json', import.meta.url), 'utf8')) as {
  cases: RecordedCase[];
};

describe('the verdict rule on recorded runs', () => {
  const aa = recorded.cases.filter((c) => c.kind === 'A/A');
  const ab = recorded.cases.filter((c) => c.kind === 'A/B');

  it('holds both kinds of case, from every schema', () => {
    expect(aa.length).toBeGreaterThanOrEqual(20);
    expect(ab.length).toBeGreaterThanOrEqual(20);
    expect(new Set(recorded.cases.map((c) => c.schema)).size).toBeGreaterThanOrEqual(3);
  });

  it.each(aa.map((c) => [`${c.schema}/${c.name}`, c] as const))(
    'same state, under a CPU burst: %s is never called faster or slower',
    (_label, c) => {
      expect(['unchanged', 'inconclusive']).toContain(compareQuery(c.name, c.before, c.after).verdict);
    },
  );

  // Issue 8's target: every one called. The recorded pairs are each query's hardest: the largest
  // drift, and the largest drift under a CPU burst.
  it.each(
    ab.filter((c) => Math.max(c.truth, 1 / c.truth) >= 2).map((c) => [`${c.schema}/${c.name} (true ${c.truth.toFixed(1)}×)`, c] as const),
  )('a real change of 2× or more: %s is called in its direction', (_label, c) => {
    expect(compareQuery(c.name, c.before, c.after).verdict).toBe(c.truth > 1 ? 'faster' : 'slower');
  });

  it('a real change is never called in the wrong direction', () => {
    // Barely-changed queries too (a covering index 1.19× faster, measured 1.3× slower under a burst).
    for (const c of ab)
      expect(compareQuery(c.name, c.before, c.after).verdict, `${c.schema}/${c.name}`).not.toBe(c.truth > 1 ? 'slower' : 'faster');
  });
});
