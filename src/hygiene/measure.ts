/**
 * Evidence before a drop, measured (--measure): the workload benched as it stands, then again with
 * the drops really gone, inside one transaction that is rolled back. bench's verdict rule decides;
 * a query it calls slower keeps the drops its plan read. The DROPs hold ACCESS EXCLUSIVE on their
 * tables until the rollback: a staging copy's business, or a primary's without traffic.
 */
import { compareRuns, type Comparison } from '../bench/compare.js';
import { usesIndex } from '../bench/plan-summary.js';
import { runBench, type BenchOptions, type BenchResult } from '../bench/runner.js';
import type { Workload } from '../bench/workload.js';
import type { IndexFact } from '../db/index-facts.js';
import { qualify } from '../db/ident.js';
import { withHeldTransaction } from '../db/scoped.js';
import type { Session } from '../db/session.js';
import { PgoptError } from '../errors.js';

export interface MeasuredChange {
  query: string;
  beforeMs: number;
  afterMs: number;
}

export interface Measurement {
  /** Drop (oid) → the queries bench called slower without it. */
  needed: Map<number, MeasuredChange[]>;
  /** Slower queries whose plan read none of the drops: reported, never blamed on one. */
  unattributed: MeasuredChange[];
  comparison: Comparison;
}

const change = (c: Comparison['queries'][number]): MeasuredChange => ({
  query: c.name,
  beforeMs: c.before!.median,
  afterMs: c.after!.median,
});

/** Which drops each slower query needs: pure, on the two runs and their comparison. */
export function slowerNeeds(
  before: BenchResult,
  comparison: Comparison,
  drops: Pick<IndexFact, 'oid' | 'name'>[],
): Omit<Measurement, 'comparison'> {
  const needed = new Map<number, MeasuredChange[]>();
  const unattributed: MeasuredChange[] = [];
  for (const q of comparison.queries.filter((x) => x.verdict === 'slower' && x.before && x.after)) {
    const plan = before.queries.find((b) => b.name === q.name)?.plan;
    const read = plan ? drops.filter((ix) => usesIndex(plan, ix.name)) : [];
    if (!read.length) unattributed.push(change(q));
    for (const ix of read) needed.set(ix.oid, [...(needed.get(ix.oid) ?? []), change(q)]);
  }
  return { needed, unattributed };
}

export async function measureDrops(
  c: Session,
  workload: Workload,
  drops: IndexFact[],
  bench: BenchOptions,
  lockTimeoutMs: number,
): Promise<Measurement> {
  const before = await runBench(c, workload, bench);
  const after = await withHeldTransaction(c, async () => {
    await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
    for (const ix of drops) {
      await c.query(`DROP INDEX ${qualify(ix.schema, ix.name)}`).catch((err: Error) => {
        throw new PgoptError('database', `--measure could not drop ${ix.schema}.${ix.name} inside its transaction: ${err.message}`, {
          hint: 'the table is in use (its ACCESS EXCLUSIVE lock waited past --lock-timeout); measure on a staging copy, or when it is quiet',
        });
      });
    }
    return runBench(c, workload, bench);
  });
  const comparison = compareRuns(before, after);
  return { ...slowerNeeds(before, comparison, drops), comparison };
}
