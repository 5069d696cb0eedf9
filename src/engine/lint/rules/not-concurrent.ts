import type { Rule } from '../types.js';

/** Run by psql, a plain CREATE INDEX on a table with rows blocks its writes for the whole build. */
export const notConcurrent: Rule = (o, facts) => {
  const stats = o.key ? facts.tables.get(o.key.table) : undefined;
  if (!o.key || o.a.object.writtenConcurrently || !stats || stats.rows <= 0) return [];
  return [
    {
      rule: 'not-concurrent',
      severity: 'warning',
      message: `CREATE INDEX without CONCURRENTLY on ${o.key.table} (${Math.round(stats.rows).toLocaleString('en-US')} rows): run by psql it would block writes for the whole build`,
      hint: 'write CONCURRENTLY; pgopt apply builds it concurrently either way',
    },
  ];
};
