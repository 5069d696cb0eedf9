/** The rule that judges an index for a statement with no values to run it with: pure, tested without a server. */
import { sameIndexName } from '../bench/plan-summary.js';
import type { GenericPlan } from '../db/generic-plan.js';
import type { WorkloadQuery } from '../bench/workload.js';
import type { QueryEffect } from './select.js';

/**
 * How far the estimate must fall before it counts: a generic plan's cost is an average over values
 * it does not know, so only a large drop says more than the estimate's own error. On the 95 (index,
 * query) pairs measured, an index the plan read but that made no query faster lowered the cost 1.03×
 * at most, and every prediction of 4.1× or more was a real win, with none in between: 2 is the
 * middle of that gap on a log scale, any threshold from 1.5 to 4 erring the same there.
 */
export const GENERIC_COST_RATIO = 2;

/**
 * The rule (pure): an index makes a value-less statement faster when the generic plan with it reads
 * it and costs at most 1/GENERIC_COST_RATIO of the plan without it. Measured on both errors against
 * bench's verdict with real values (BENCHMARKS.md, "The generic plan as a witness").
 */
export function predictsFaster(before: GenericPlan, after: GenericPlan, index: string): boolean {
  return after.indexes.some((i) => sameIndexName(i, index)) && after.cost * GENERIC_COST_RATIO <= before.cost;
}

/**
 * What an index built for real did to a query advise cannot run, as an effect beside the measured
 * ones; null where the generic plan does not read the index. The time is production's mean, and
 * that mean over the cost ratio: the ratio was below the measured speedup in 17 of the 20 wins
 * behind the rule (up to 3.3× above it in the other 3), so the estimate leans low.
 */
export function estimatedEffect(
  q: Pick<WorkloadQuery, 'name' | 'productionMeanMs' | 'callsPerHour'>,
  index: string,
  before: GenericPlan,
  after: GenericPlan,
): QueryEffect | null {
  if (!after.indexes.some((i) => sameIndexName(i, index))) return null;
  const ratio = before.cost / Math.max(after.cost, 1e-9);
  const mean = q.productionMeanMs ?? 0;
  return {
    query: q.name,
    beforeMs: mean,
    afterMs: mean / ratio,
    verdict: predictsFaster(before, after, index) ? 'faster' : 'unchanged',
    speedup: ratio,
    reason: `no values to run it with: its generic plan's cost ${before.cost.toFixed(1)} → ${after.cost.toFixed(1)}`,
    estimated: true,
    ...(q.callsPerHour !== undefined ? { callsPerHour: q.callsPerHour } : {}),
  };
}
