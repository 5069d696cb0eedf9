import { simpleColumns } from '../keys.js';
import { columnKey, type Rule } from '../types.js';

/** Below this many distinct values, a plain btree on one column is rarely chosen. */
export const FEW_DISTINCT = 10;
/** Small tables are read whole anyway: the rule speaks from this many rows. */
export const LOW_CARDINALITY_ROWS = 10_000;

/** A plain btree on one column with a handful of values: large, and the planner rarely picks it. */
export const lowCardinality: Rule = (o, facts) => {
  const cols = o.index ? simpleColumns(o.index) : null;
  if (!o.key || !cols || cols.length !== 1 || o.a.object.method !== 'btree' || o.index?.whereClause) return [];
  const nd = facts.distinct.get(columnKey(o.key.table, cols[0]));
  const rows = facts.tables.get(o.key.table)?.rows ?? 0;
  if (nd === undefined || nd <= 0 || nd > FEW_DISTINCT || rows <= LOW_CARDINALITY_ROWS) return [];
  return [
    {
      rule: 'low-cardinality',
      severity: 'warning',
      message: `${cols[0]} has about ${Math.round(nd)} distinct values: a plain index on it is large and rarely chosen`,
      hint: `index only the rare values with a partial predicate (… WHERE ${cols[0]} IN (…)), or lead with a selective column`,
    },
  ];
};
