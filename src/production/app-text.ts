import type { Node } from '@pgsql/types';
import { quoteLiteral } from '../db/ident.js';
import { tryParse } from '../sql/parse.js';
import { highestParam, walk } from '../sql/tree.js';
import { shapeOf, type WrittenConstant } from './server-log.js';

/** The statement as the application wrote it, and which of the normalized $n each of its $n is. */
export interface AppText {
  sql: string;
  /** kept[k] is the normalized statement's number of the new $(k + 1). */
  kept: number[];
}

/** A constant as SQL: a negative number in parentheses, so `x -$1` never becomes the comment `x --5`. */
export function constantSql(c: WrittenConstant): string {
  switch (c.kind) {
    case 'null':
      return 'NULL';
    case 'bool':
      return c.value === 'true' ? 'true' : 'false';
    case 'number':
      return c.value!.startsWith('-') ? `(${c.value})` : c.value!;
    case 'list':
      return c.items.map(constantSql).join(', ');
    default:
      return quoteLiteral(c.value ?? '');
  }
}

/**
 * pg_stat_statements replaced every constant of a statement with $n. Where the server log shows the
 * application writing one as a constant (the same one in every execution read), not binding it,
 * it goes back into the text: advise then sees `status = 'failed'` (a partial index's predicate) and
 * `doc->>'code'` (an expression index's key) as the application sends them, and the other $n are
 * numbered again from $1. Rewritten at the parser's own locations of each $n (bytes), and accepted
 * only if the result parses to the same shape (fingerprint); else null, and the normalized text stands.
 */
export function restoreConstants(sql: string, tree: Node, constants: Map<number, WrittenConstant>): AppText | null {
  if (!constants.size) return null;
  const refs: { at: number; n: number }[] = [];
  walk(tree, (key, v) => {
    if (key === 'ParamRef' && typeof v.number === 'number' && typeof v.location === 'number') refs.push({ at: v.location, n: v.number });
  });
  const kept = [...new Set(refs.map((r) => r.n))].filter((n) => !constants.has(n)).sort((a, b) => a - b);
  const bytes = Buffer.from(sql, 'utf8');
  const parts: string[] = [];
  let from = 0;
  for (const r of refs.sort((a, b) => a.at - b.at)) {
    const token = `$${r.n}`;
    if (bytes.subarray(r.at, r.at + token.length).toString('utf8') !== token) return null;
    parts.push(bytes.subarray(from, r.at).toString('utf8'));
    const c = constants.get(r.n);
    parts.push(c ? constantSql(c) : `$${kept.indexOf(r.n) + 1}`);
    from = r.at + token.length;
  }
  parts.push(bytes.subarray(from).toString('utf8'));
  const out = parts.join('');
  const parsed = tryParse(out);
  if (!parsed || parsed.length !== 1 || highestParam(parsed[0]) !== kept.length) return null;
  return shapeOf(out) !== null && shapeOf(out) === shapeOf(sql) ? { sql: out, kept } : null;
}
