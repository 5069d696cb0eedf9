import { ginDefaultColumns } from '../keys.js';
import { columnKey, type Rule } from '../types.js';

/** The default jsonb_ops indexes every key too; containment alone is served by the smaller jsonb_path_ops. */
export const ginJsonbOps: Rule = (o, facts) => {
  if (!o.index || !o.key || o.a.object.method !== 'gin') return [];
  return ginDefaultColumns(o.index)
    .filter((col) => facts.columnTypes.get(columnKey(o.key!.table, col)) === 'jsonb')
    .map((col) => ({
      rule: 'gin-jsonb-ops' as const,
      severity: 'warning' as const,
      message: `GIN on ${col} with the default jsonb_ops: it also indexes every key for ?, ?| and ?&`,
      hint: 'if only containment (@>) is queried, use jsonb_path_ops: smaller and faster',
    }));
};
