import { simpleColumns } from '../keys.js';
import type { Rule } from '../types.js';

/** REFRESH … CONCURRENTLY needs a unique index on plain columns, without a predicate. */
export const matviewNoUniqueIndex: Rule = (o, facts) => {
  // A continuous aggregate is refreshed by TimescaleDB, which needs no unique index (and allows none).
  if (o.a.object.kind !== 'matview' || o.a.object.continuous) return [];
  const onView = facts.objects.filter((b) => b.a.table?.name === o.a.object.name && b.a.table?.schema === o.a.schema);
  const usable = onView.some((b) => b.index?.unique && !b.index.whereClause && simpleColumns(b.index));
  if (usable) return [];
  return [
    {
      rule: 'matview-no-unique-index',
      severity: 'warning',
      message:
        'materialized view without a unique index on plain columns: it cannot be refreshed CONCURRENTLY, and a plain refresh blocks its readers',
      hint: 'add CREATE UNIQUE INDEX … ON the view (its grouping columns) after it',
    },
  ];
};
