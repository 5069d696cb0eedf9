/**
 * Screening with HypoPG: the planner's estimate of each query with a hypothetical index, using
 * the workload's own parameter values, without building anything. Hypothetical indexes live in
 * this session only and are reset after each candidate. HypoPG models btree (not GIN): those go
 * straight to the trial.
 */
import { quoteIdent } from '../db/ident.js';
import { withRolledBackTransaction } from '../db/scoped.js';
import { asUser, runOneStatement, type Session } from '../db/session.js';
import { hypotheticalSql } from './index-sql.js';
import { genericPlan, plannedCost, type PlanNode, type PlannedCost } from '../db/generic-plan.js';
import type { Trial } from './select.js';
import { readParams } from '../bench/runner.js';
import type { Workload } from '../bench/workload.js';

export interface PlannedQuery {
  name: string;
  sql: string;
  params: unknown[];
  /** No values (`-- values-from: none`): estimated by its generic plan. */
  planOnly?: boolean;
  paramCount?: number;
}

/**
 * The planner's estimate ranks the candidates; it screens out only one no query's plan would use.
 * A 10% bar on the estimate dropped real wins on cached data, where the cost model (random_page_cost
 * and all) undervalues what the index saves, and the rest of advise measures rather than predicts.
 */

/** The planner's estimate of one query as this session sees the indexes (hypothetical and hidden ones included). */
export async function estimate(c: Session, q: PlannedQuery, timeoutMs: number): Promise<PlannedCost> {
  // No values to plan with (`-- values-from: none`): the generic plan sees the hypothetical index as well.
  if (q.planOnly) return genericPlan(c, q.sql, q.paramCount ?? 0, timeoutMs);
  const r = await asUser(c, () =>
    withRolledBackTransaction(c, () => runOneStatement(c, `EXPLAIN (FORMAT JSON) ${q.sql}`, q.params), { readOnly: true, timeoutMs }),
  );
  return plannedCost(r.rows[0]['QUERY PLAN'][0].Plan as PlanNode);
}

/** Fill each btree trial's `predicted`, and mark screened-out those no query's plan would use. */
export async function screenWithHypopg(
  c: Session,
  schema: string,
  trials: Trial[],
  queries: Map<string, PlannedQuery>,
  timeoutMs: number,
): Promise<void> {
  const baseline = new Map<string, number>();
  for (const q of queries.values()) baseline.set(q.name, (await estimate(c, q, timeoutMs)).cost);
  // A candidate for a query not planned here (another role's) is not screened: its trial decides.
  const screenable = (t: Trial) => t.candidate.queries.every((n) => queries.has(n));
  for (const t of trials.filter((x) => x.outcome === 'not-tried' && x.candidate.method === 'btree' && screenable(x))) {
    // The definition names the user's operators and types as the query does (ltree's =, citext's): their search_path.
    const h = await asUser(c, () =>
      c.query(`SELECT indexname FROM ${quoteIdent(schema)}.hypopg_create_index($1)`, [hypotheticalSql(t.candidate)]),
    );
    const hypo = h.rows[0].indexname as string;
    try {
      t.predicted = [];
      for (const name of t.candidate.queries) {
        const e = await estimate(c, queries.get(name)!, timeoutMs);
        t.predicted.push({ query: name, costBefore: baseline.get(name)!, costAfter: e.cost, used: e.indexes.includes(hypo) });
      }
    } finally {
      await c.query(`SELECT ${quoteIdent(schema)}.hypopg_reset()`);
    }
    if (!t.predicted.some((p) => p.used)) Object.assign(t, { outcome: 'screened-out', reason: 'HypoPG: no query plan would use it' });
  }
}

/** Predicted cost saved, relative per query and summed: how trials are ranked. */
export const predictedGain = (t: Trial): number =>
  (t.predicted ?? []).filter((p) => p.used).reduce((s, p) => s + Math.max(0, 1 - p.costAfter / Math.max(p.costBefore, 1e-9)), 0);

/** Each workload query of this role with its first parameter set: what the planner is asked about. */
export async function plannedQueries(c: Session, workload: Workload, timeoutMs: number): Promise<Map<string, PlannedQuery>> {
  const out = new Map<string, PlannedQuery>();
  // Planning evaluates code (a constant-folded function, an inlined SQL function) and the params query
  // reads with these rights: another role's statement (-- run-as) is not planned here at all.
  for (const q of workload.queries.filter((x) => !x.runAs)) {
    const params = q.params ? ((await readParams(c, q.params, timeoutMs)).rows[0] as unknown[]) : [];
    const form = q.forms[0];
    out.set(q.name, { name: q.name, sql: form.sql, params: params ?? [], planOnly: q.planOnly, paramCount: form.paramCount });
  }
  return out;
}
