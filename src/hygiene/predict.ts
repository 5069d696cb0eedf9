/**
 * When a predicted plan says a query needs an index: pure, on the planner's estimates before and
 * after the drops are hidden (test/unit/hygiene-rules.test.ts).
 */
import type { PlannedCost } from '../db/generic-plan.js';

/**
 * A query whose estimated cost rises by more than this with the drops hidden needs the drops its
 * plan read. Below it is what another index serving the same keys costs more: a wider twin of a
 * redundant index reads a few more pages (measured: see BENCHMARKS.md, "Hygiene").
 */
export const NEEDED_RISE = 0.1;

export interface PlanChange {
  query: string;
  costBefore: number;
  /** null: not asked (no HypoPG 1.4 to hide the index). */
  costAfter: number | null;
}

export interface QueryVerdicts {
  /** Drop (oid) → the queries that need it. */
  needed: Map<number, PlanChange[]>;
  /** Drop (oid) → the queries that read it and are served as well without it. */
  switched: Map<number, PlanChange[]>;
}

const push = (m: Map<number, PlanChange[]>, oid: number, c: PlanChange) => m.set(oid, [...(m.get(oid) ?? []), c]);

export function queryVerdicts(
  before: Map<string, PlannedCost>,
  after: Map<string, PlannedCost>,
  dropsRead: (p: PlannedCost) => number[],
): QueryVerdicts {
  const out: QueryVerdicts = { needed: new Map(), switched: new Map() };
  for (const [query, b] of before) {
    const a = after.get(query);
    if (!a) continue;
    const change = { query, costBefore: b.cost, costAfter: a.cost };
    const risen = a.cost > b.cost * (1 + NEEDED_RISE);
    for (const oid of dropsRead(b)) push(risen ? out.needed : out.switched, oid, change);
  }
  return out;
}
