/**
 * Evidence before a drop, predicted by the planner: every workload query is planned with the
 * drops hidden (HypoPG 1.4's hypopg_hide_index, this session only) and compared with its plan as
 * it stands. Without HypoPG 1.4, a plan that reads a drop vetoes it: nothing can say what the
 * planner would do instead. A plan that reads none of the drops is the same plan without them.
 */
import { quoteIdent } from '../db/ident.js';
import type { Session } from '../db/session.js';
import { estimate, type PlannedQuery } from '../advise/hypopg.js';
import { sameIndexName } from '../bench/plan-summary.js';
import type { PlannedCost } from '../db/generic-plan.js';
import type { IndexFact } from '../db/index-facts.js';
import { queryVerdicts, type PlanChange } from './predict.js';

export type { PlanChange } from './predict.js';

export interface Prediction {
  /** The drops the plans keep needing, with the queries that need each. */
  vetoed: Map<number, PlanChange[]>;
  /** Per kept drop: the queries whose plan read it, and what the plan costs without it. */
  switched: Map<number, PlanChange[]>;
  /** hypopg_hide_index was there to ask. */
  hidden: boolean;
}

const readsIndex = (p: PlannedCost, ix: IndexFact): boolean => p.indexes.some((n) => sameIndexName(n, ix.name));

async function hideAll(c: Session, hypopg: string, drops: IndexFact[]): Promise<void> {
  await c.query(`SELECT ${quoteIdent(hypopg)}.hypopg_unhide_all_indexes()`);
  for (const ix of drops) await c.query(`SELECT ${quoteIdent(hypopg)}.hypopg_hide_index($1::oid)`, [ix.oid]);
}

async function plans(c: Session, queries: PlannedQuery[], timeoutMs: number): Promise<Map<string, PlannedCost>> {
  const out = new Map<string, PlannedCost>();
  for (const q of queries) out.set(q.name, await estimate(c, q, timeoutMs));
  return out;
}

/**
 * Hide every drop still proposed, plan again, and take back the drops a query needs; repeat until
 * the plans with the remaining drops hidden are all acceptable. Hidden together, as they will be gone together.
 */
export async function predictDrops(
  c: Session,
  hypopg: string | null,
  drops: IndexFact[],
  queries: PlannedQuery[],
  timeoutMs: number,
): Promise<Prediction> {
  const before = await plans(c, queries, timeoutMs);
  const vetoed = new Map<number, PlanChange[]>();
  if (!hypopg) return { vetoed: vetoWithoutHiding(drops, before), switched: new Map(), hidden: false };
  let left = drops;
  try {
    for (;;) {
      await hideAll(c, hypopg, left);
      const after = await plans(c, queries, timeoutMs);
      const verdicts = queryVerdicts(before, after, (p) => left.filter((ix) => readsIndex(p, ix)).map((ix) => ix.oid));
      const newly = [...verdicts.needed.entries()];
      for (const [oid, changes] of newly) vetoed.set(oid, changes);
      if (!newly.length) return { vetoed, switched: verdicts.switched, hidden: true };
      left = left.filter((ix) => !verdicts.needed.has(ix.oid));
    }
  } finally {
    await c.query(`SELECT ${quoteIdent(hypopg)}.hypopg_unhide_all_indexes()`);
  }
}

function vetoWithoutHiding(drops: IndexFact[], before: Map<string, PlannedCost>): Map<number, PlanChange[]> {
  const out = new Map<number, PlanChange[]>();
  for (const ix of drops) {
    const readers = [...before.entries()].filter(([, p]) => readsIndex(p, ix));
    if (readers.length)
      out.set(
        ix.oid,
        readers.map(([query, p]) => ({ query, costBefore: p.cost, costAfter: null })),
      );
  }
  return out;
}

/** Where hypopg_hide_index is (HypoPG 1.4 or later), else null. */
export async function hidingSchema(c: Session): Promise<string | null> {
  const res = await c.query(
    `SELECT n.nspname AS s FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE p.proname = 'hypopg_hide_index' LIMIT 1`,
  );
  return (res.rows[0]?.s as string | undefined) ?? null;
}
