/**
 * Which proven indexes to keep: pure, so the rule is tested without a server. A trial index is
 * proven when a query that used it was judged faster by the verdict rule (the same rule bench
 * prints); selection then keeps the most time saved per byte, within the budget.
 */
import { MIN_DIFF_MS, type QueryComparison, type Verdict } from '../bench/compare.js';
import type { Candidate } from './candidates.js';

export interface QueryEffect {
  query: string;
  beforeMs: number;
  afterMs: number;
  verdict: Verdict;
  speedup: number | null;
  /** Why the verdict is what it is, when that is not plain. */
  reason: string;
  /** How often production runs the query (a captured workload's `-- calls-per-hour:`). */
  callsPerHour?: number;
  /**
   * Not measured: the query has no values to run it with (`-- values-from: none`). Its verdict is the
   * generic plan's (predictsFaster), its times production's mean and that mean over the cost ratio.
   */
  estimated?: boolean;
  /**
   * The other trial indexes the same plan read: a join whose indexes were built together was
   * measured with all of them, and its saving is theirs together, never one's alone.
   */
  with?: string[];
}

export type TrialOutcome = 'kept' | 'no-gain' | 'unused' | 'over-budget' | 'covered' | 'invalid' | 'screened-out' | 'not-tried';

export interface Trial {
  candidate: Candidate;
  name: string;
  sql: string;
  /** HypoPG's estimates per query (planner cost before → with the hypothetical index), when screened. */
  predicted: { query: string; costBefore: number; costAfter: number; used: boolean }[] | null;
  sizeBytes: number | null;
  /** The queries whose plan used this index in the trial, with their measured change. */
  effects: QueryEffect[];
  outcome: TrialOutcome;
  reason: string;
}

export interface Budget {
  maxIndexes: number;
  maxSizeBytes: number;
}

/**
 * Whether a round-two variant (covering, or with the ORDER BY keys) earns its extra bytes on a query,
 * against its plain index: significantly faster, and by at least MIN_DIFF_MS an execution. The
 * verdict rule calls a smaller change faster when the buffers show it (an index-only scan's), which
 * proves the change, not that it is worth bytes: a covering variant is often several times its plain index.
 */
export const variantPays = (vsPlain: Pick<QueryComparison, 'verdict' | 'before' | 'after'>): boolean =>
  vsPlain.verdict === 'faster' && !!vsPlain.before && !!vsPlain.after && vsPlain.before.median - vsPlain.after.median >= MIN_DIFF_MS;

/** Why a round-two variant did not replace its plain index, from the comparisons with it of the queries that read the variant. */
export function variantShortfall(read: Pick<QueryComparison, 'verdict' | 'before' | 'after'>[], plain: string): string {
  if (!read.length) return `no plan read it beside ${plain}, which is smaller`;
  const small = read.find((q) => q.verdict === 'faster' && q.before && q.after);
  if (!small) return `not significantly faster than ${plain}, which is smaller`;
  const ms = (small.before!.median - small.after!.median).toFixed(3);
  return `faster than ${plain} by only ${ms} ms an execution: under ${MIN_DIFF_MS} ms does not pay for its extra bytes`;
}

/** Time the trial index saved (ms per execution, summed over the queries it made faster). */
export const savedMs = (t: Trial): number =>
  t.effects.filter((e) => e.verdict === 'faster').reduce((s, e) => s + Math.max(0, e.beforeMs - e.afterMs), 0);

/**
 * What selection ranks by: time saved weighed by how often production runs each query, where the
 * workload says (ms per hour); a query without a rate counts once. A 5 ms win on a report run
 * hourly loses to a 1 ms win on a lookup run a thousand times an hour.
 */
export const weighedSaving = (t: Trial): number =>
  t.effects.filter((e) => e.verdict === 'faster').reduce((s, e) => s + Math.max(0, e.beforeMs - e.afterMs) * (e.callsPerHour ?? 1), 0);

export const fasterQueries = (t: Trial): string[] => t.effects.filter((e) => e.verdict === 'faster').map((e) => e.query);

/**
 * Mark each measured trial kept, no-gain or over-budget. Greedy by time saved per byte: an index
 * that only serves queries already served by a kept one adds writes and bytes for nothing, so
 * of two serving the same queries the better per byte (usually the smaller) stays.
 */
export function selectTrials(trials: Trial[], budget: Budget): Trial[] {
  const measured = trials.filter((t) => t.outcome === 'not-tried' && t.sizeBytes !== null);
  for (const t of measured) {
    if (!t.effects.length) Object.assign(t, { outcome: 'unused', reason: 'no query of the workload used it' });
    else if (!fasterQueries(t).length) Object.assign(t, { outcome: 'no-gain', reason: 'no query it served was significantly faster' });
  }
  const proven = measured
    .filter((t) => t.outcome === 'not-tried')
    .sort((a, b) => weighedSaving(b) / (b.sizeBytes! + 1) - weighedSaving(a) / (a.sizeBytes! + 1));
  const served = new Set<string>();
  const kept: Trial[] = [];
  for (const t of proven) {
    if (t.outcome !== 'not-tried') continue;
    const adds = fasterQueries(t).filter((q) => !served.has(q));
    if (!adds.length) {
      Object.assign(t, { outcome: 'no-gain', reason: 'its queries are served by a kept index that saves more per byte' });
      continue;
    }
    const group = [t, ...partners(t, trials).filter((p) => p.outcome !== 'kept')];
    const over = overBudget(kept, group, budget);
    if (over) {
      Object.assign(t, { outcome: 'over-budget', reason: over });
      continue;
    }
    for (const g of group)
      Object.assign(g, { outcome: 'kept', reason: g === t ? '' : `read together with ${t.name} by ${adds.join(', ')}` });
    kept.push(...group);
    for (const q of group.flatMap(fasterQueries)) served.add(q);
  }
  return trials;
}

/** The trial indexes a faster plan of `t` read alongside it: measured together, kept together. */
function partners(t: Trial, trials: Trial[]): Trial[] {
  const names = new Set(t.effects.filter((e) => e.verdict === 'faster').flatMap((e) => e.with ?? []));
  return trials.filter((x) => x !== t && names.has(x.name) && x.sizeBytes !== null);
}

function overBudget(kept: Trial[], group: Trial[], budget: Budget): string | null {
  if (kept.length + group.length > budget.maxIndexes) return '--max-indexes reached';
  const bytes = [...kept, ...group].reduce((s, x) => s + (x.sizeBytes ?? 0), 0);
  return bytes > budget.maxSizeBytes ? '--max-size reached' : null;
}
