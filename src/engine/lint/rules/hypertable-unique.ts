import type { Rule } from '../types.js';

/**
 * TimescaleDB checks a unique index chunk by chunk, so it accepts one only when its key holds
 * every partitioning column (a duplicate can then never sit in two chunks): otherwise it refuses
 * the build (TS103). Said before anything runs, with the column to add.
 */
export const hypertableUnique: Rule = (o, facts) => {
  if (!o.index?.unique || !o.key) return [];
  const dims = facts.dimensions.get(o.key.table);
  if (!dims?.length) return [];
  const keyCols = (o.index.indexParams ?? []).map((p) => ('IndexElem' in p ? p.IndexElem.name : undefined));
  const missing = dims.filter((d) => !keyCols.includes(d));
  if (!missing.length) return [];
  return [
    {
      rule: 'hypertable-unique',
      severity: 'error',
      message: `a UNIQUE index on a hypertable must include its partitioning column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: TimescaleDB checks uniqueness chunk by chunk and refuses it (TS103)`,
      hint: `add ${missing.join(', ')} to the index key, or drop UNIQUE`,
    },
  ];
};
