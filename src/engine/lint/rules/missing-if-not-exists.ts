import type { Rule } from '../types.js';

/** A pack file is also run by hand with psql: IF NOT EXISTS makes that safe to repeat. */
export const missingIfNotExists: Rule = (o) =>
  o.ifNotExists
    ? []
    : [
        {
          rule: 'missing-if-not-exists',
          severity: 'warning',
          message: `${o.a.object.kind === 'index' ? 'CREATE INDEX' : 'CREATE MATERIALIZED VIEW'} without IF NOT EXISTS`,
          hint: 'add IF NOT EXISTS so the file is also safe to re-run with psql (pgopt itself only builds what is missing)',
        },
      ];
