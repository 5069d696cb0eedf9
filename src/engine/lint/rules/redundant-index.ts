import { isPrefix } from '../keys.js';
import type { IndexKey, Rule } from '../types.js';

/** A btree whose columns lead another btree on the same table (same predicate) adds writes and serves nothing new. */
export const redundantIndex: Rule = (o, facts) => {
  if (!o.key) return [];
  const others: IndexKey[] = [
    ...facts.existing.filter((e) => e.name !== o.a.object.name),
    ...facts.objects.filter((b) => b !== o && b.key).map((b) => b.key!),
  ];
  const wider = others.find((other) => isPrefix(o.key!, other));
  if (!wider) return [];
  return [
    {
      rule: 'redundant-index',
      severity: 'warning',
      message: `its columns are a prefix of ${wider.name} on the same table: that index already serves its queries`,
      hint: `drop this index from the pack, or keep only ${wider.name}`,
    },
  ];
};
