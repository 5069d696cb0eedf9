import type { Rule } from '../types.js';

/** From this many indexes on a write-heavy table, the write cost deserves a look. */
export const WRITE_HEAVY_INDEXES = 8;

/** Said once per table (on the pack's first index there): every index slows every write. */
export const writeHeavyTable: Rule = (o, facts) => {
  const table = o.key?.table;
  const stats = table ? facts.tables.get(table) : undefined;
  if (!table || !stats || stats.writes <= stats.reads || !o.a.table) return [];
  const packOnTable = facts.objects.filter((b) => b.key?.table === table);
  if (packOnTable[0] !== o) return [];
  const names = new Set([...facts.existing.filter((e) => e.table === table).map((e) => e.name), ...packOnTable.map((b) => b.key!.name)]);
  if (names.size < WRITE_HEAVY_INDEXES) return [];
  return [
    {
      rule: 'write-heavy-table',
      severity: 'warning',
      message: `${o.a.table.schema}.${o.a.table.name} takes more writes than reads and will carry ${names.size} indexes: each one slows every insert and update`,
      hint: 'measure the write cost (pgopt bench before/after) and keep only indexes a query needs',
    },
  ];
};
