/**
 * The second window of each trial round and of the pack-alone measurement (advise.ts,
 * measureAgainIfInconclusive): pure, so the rule is tested without a server. Only a query the
 * first window could not decide is measured again, and the second measurement stands whatever it
 * says: re-measuring a query until it says `faster` would multiply the verdict rule's false-faster
 * rate by the number of tries; this way it is at most doubled.
 */
import type { Comparison } from '../bench/compare.js';
import type { BenchResult } from '../bench/runner.js';

/** The queries the first window could not decide: the only ones measured again. */
export const undecidedQueries = (first: Comparison): Set<string> =>
  new Set(first.queries.filter((q) => q.verdict === 'inconclusive').map((q) => q.name));

/** The run with each query the second window measured replaced by that measurement. */
export function withSecondWindow(first: BenchResult, again: BenchResult): BenchResult {
  return { ...first, queries: first.queries.map((q) => again.queries.find((a) => a.name === q.name) ?? q) };
}
