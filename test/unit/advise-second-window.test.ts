import { describe, expect, it } from 'vitest';
import { undecidedQueries, withSecondWindow } from '../../src/advise/second-window.js';
import type { Comparison, QueryComparison } from '../../src/bench/compare.js';
import type { BenchResult } from '../../src/bench/runner.js';

const judged = (name: string, verdict: QueryComparison['verdict']) => ({ name, verdict }) as QueryComparison;
const run = (medians: Record<string, number>) =>
  ({ queries: Object.entries(medians).map(([name, median]) => ({ name, median })) }) as unknown as BenchResult;
const medians = (r: BenchResult) => Object.fromEntries(r.queries.map((q) => [q.name, (q as unknown as { median: number }).median]));

describe('the pack-alone measurement: a second window for what the first could not decide', () => {
  it('measures again only the undecided queries, never one already called faster, slower or unchanged', () => {
    const first = {
      queries: [
        judged('a', 'faster'),
        judged('b', 'inconclusive'),
        judged('c', 'slower'),
        judged('d', 'unchanged'),
        judged('e', 'inconclusive'),
      ],
    } as Comparison;
    expect([...undecidedQueries(first)]).toEqual(['b', 'e']);
  });
  it('the second window stands whatever it says: a query measured slower the second time is not given the first window back', () => {
    const merged = withSecondWindow(run({ a: 1, b: 20, e: 5 }), run({ b: 60, e: 2 }));
    expect(medians(merged)).toEqual({ a: 1, b: 60, e: 2 });
  });
});
