/**
 * What the planner alone says about a statement whose $n have no values: its generic plan, the
 * plan PostgreSQL itself uses for a prepared statement once custom plans stop paying. It is read as
 * `PREPARE`, then `EXPLAIN EXECUTE` with every $n NULL under `plan_cache_mode = force_generic_plan`
 * (PostgreSQL 12+): a generic plan never looks at the values, so the NULLs are not folded into it,
 * where binding them to `EXPLAIN (GENERIC_PLAN)` would be (measured: a Result with a false filter).
 * Nothing runs but planning, under the user's search_path, as bench runs the statement.
 */
import { withRolledBackTransaction } from './scoped.js';
import { asUser, type Session } from './session.js';
import type pg from 'pg';

/** A plan as the planner estimates it: what advise compares with and without an index. */
export interface PlannedCost {
  /** The planner's total cost estimate. */
  cost: number;
  /** The indexes the plan reads. */
  indexes: string[];
}

export type GenericPlan = PlannedCost;

/** The part of an EXPLAIN (FORMAT JSON) plan node read here. */
export interface PlanNode {
  'Total Cost'?: number;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const PREPARED = 'pgopt_generic_plan';

export async function genericPlan(c: Session, sql: string, paramCount: number, timeoutMs = 30_000): Promise<GenericPlan> {
  await prepare(c, sql, paramCount);
  try {
    const args = paramCount ? `(${Array(paramCount).fill('NULL').join(', ')})` : '';
    const res = await withRolledBackTransaction(
      c,
      async () => {
        await c.query('SET LOCAL plan_cache_mode = force_generic_plan');
        return asUser(c, () => c.query(`EXPLAIN (FORMAT JSON) EXECUTE ${PREPARED}${args}`));
      },
      { readOnly: true, timeoutMs },
    );
    return plannedCost((res.rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0].Plan);
  } finally {
    await c.query(`DEALLOCATE ${PREPARED}`).catch(() => {});
  }
}

/**
 * PREPARE infers each $n's type from where it stands; one whose place takes any type (an argument of
 * jsonb_build_object, say, where pg_stat_statements put $n for a literal key) has none, and the
 * server names it (42P18, "… parameter $2", the number as written in any language): it is declared
 * text, as the literal it replaced was, and the rest stay `unknown` (inferred).
 */
async function prepare(c: Session, sql: string, paramCount: number): Promise<void> {
  const types: string[] = Array(paramCount).fill('unknown');
  for (;;) {
    const declared = paramCount ? ` (${types.join(', ')})` : '';
    try {
      // The extended protocol: the server accepts exactly the one statement pgopt's parser saw.
      await asUser(c, () => c.query({ text: `PREPARE ${PREPARED}${declared} AS ${sql}`, queryMode: 'extended' } as pg.QueryConfig));
      return;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const k = e.code === '42P18' ? Number(/\$(\d+)/.exec(e.message ?? '')?.[1]) : NaN;
      if (!(k >= 1 && k <= paramCount) || types[k - 1] === 'text') throw err;
      types[k - 1] = 'text';
    }
  }
}

/** An EXPLAIN (FORMAT JSON) plan's total cost and the indexes it reads. */
export function plannedCost(plan: PlanNode): PlannedCost {
  const indexes: string[] = [];
  const walk = (n: PlanNode) => {
    if (typeof n['Index Name'] === 'string') indexes.push(n['Index Name']);
    for (const child of n.Plans ?? []) walk(child);
  };
  walk(plan);
  return { cost: Number(plan['Total Cost']), indexes };
}
