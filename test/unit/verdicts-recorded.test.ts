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
const recorded = JSON.parse(readFileSync(new URL('../../fixtures/verdicts/recorded.json', import.meta.url), 'utf8')) as { cases: RecordedCase[] };

describe('the verdict rule on recorded runs', () => {
  const aa = recorded.cases.filter((c) => c.kind === 'A/A');
  const ab = recorded.cases.filter((c) => c.kind === 'A/B');

  it('holds both kinds of case, from every schema', () => {
    expect(aa.length).toBeGreaterThanOrEqual(20);
    expect(ab.length).toBeGreaterThanOrEqual(20);
    expect(new Set(recorded.cases.map((c) => c.schema)).size).toBeGreaterThanOrEqual(3);
  });

  it.each(aa.map((c) => [`${c.schema}/${c.name}`, c] as const))('same state, under a CPU burst: %s is never called faster or slower', (_label, c) => {
    expect(['unchanged', 'inconclusive']).toContain(compareQuery(c.name, c.before, c.after).verdict);
  });

  // The target is every one called (issue 8, still open): today a change of 2× under a drift of
  // about as much is inconclusive. It is never "unchanged", and at least 9 in 10 are called.
  it.each(ab.filter((c) => Math.max(c.truth, 1 / c.truth) >= 2).map((c) => [`${c.schema}/${c.name} (true ${c.truth.toFixed(1)}×)`, c] as const))(
    'a real change of 2× or more: %s is called in its direction, or inconclusive with its reason',
    (_label, c) => {
      const q = compareQuery(c.name, c.before, c.after);
      if (q.verdict === 'inconclusive') expect(q.reason).toMatch(/re-run/);
      else expect(q.verdict).toBe(c.truth > 1 ? 'faster' : 'slower');
    },
  );

  it('at least 90% of the recorded real changes of 2× or more are called in their direction', () => {
    const big = ab.filter((c) => Math.max(c.truth, 1 / c.truth) >= 2);
    const called = big.filter((c) => compareQuery(c.name, c.before, c.after).verdict === (c.truth > 1 ? 'faster' : 'slower'));
    expect(called.length / big.length).toBeGreaterThanOrEqual(0.9);
  });

  it('a real change is never called in the wrong direction', () => {
    for (const c of ab) expect(compareQuery(c.name, c.before, c.after).verdict).not.toBe(c.truth > 1 ? 'slower' : 'faster');
  });
});
