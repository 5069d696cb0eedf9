import { qualify } from '../db/ident.js';
import type { ObjectKind } from '../pack/types.js';
export { checkRollbackOverride, type RollbackChoice } from '../pack/rollback-override.js';

/**
 * What undoes an object. pgopt never executes SQL it reads back from the database: the drop is
 * derived from what pgopt knows (kind, schema, name, whether the index is partitioned), and a
 * pack's `-- pgopt:rollback` override only chooses how (CONCURRENTLY or not), after it is
 * re-parsed and found to be exactly a drop of that one object.
 */
export interface DropPlan {
  sql: string;
  /** DROP INDEX CONCURRENTLY runs alone, outside a transaction. */
  concurrently: boolean;
}

/**
 * The drop for an object, built from its name: CONCURRENTLY for an index unless the caller
 * asks otherwise or the index is partitioned (PostgreSQL cannot drop those concurrently).
 */
export function dropStatement(
  kind: ObjectKind,
  schema: string,
  name: string,
  o: { concurrently: boolean; partitioned: boolean },
): DropPlan {
  if (kind === 'matview') return { sql: `DROP MATERIALIZED VIEW IF EXISTS ${qualify(schema, name)}`, concurrently: false };
  const concurrently = o.concurrently && !o.partitioned;
  return { sql: `DROP INDEX ${concurrently ? 'CONCURRENTLY ' : ''}IF EXISTS ${qualify(schema, name)}`, concurrently };
}
