import { qualify } from '../db/scoped.js';
import type { ObjectKind } from '../pack/types.js';

/** The statement that undoes an object, unless the pack overrides it with `-- pgopt:rollback`. */
export function derivedRollback(kind: ObjectKind, schema: string, name: string, concurrently = true): string[] {
  return kind === 'index'
    ? [`DROP INDEX ${concurrently ? 'CONCURRENTLY ' : ''}IF EXISTS ${qualify(schema, name)}`]
    : [`DROP MATERIALIZED VIEW IF EXISTS ${qualify(schema, name)}`];
}
