import type { A_Const, Node } from '@pgsql/types';
import type { QualConstant } from '../db/qualstats.js';
import { tryParse } from '../sql/parse.js';
import { nodeAs } from '../sql/tree.js';
import { fitsCommentLine } from '../sql/comment.js';
import type { ParamSource } from './param-sources.js';

/**
 * Value sets for a statement's $n from the constants pg_qualstats saw production compare columns
 * with. Pure. pg_qualstats records each constant (or bind value) with its byte offset in the
 * statement's text; where pg_stat_statements' text holds `$n` at that offset, the constant is
 * that parameter's. A statement whose constants pg_stat_statements replaced has another text
 * length, so offsets that miss a `$n` are not guessed at.
 *
 * pg_qualstats keeps each predicate's constants apart, not the sets one execution used: the k-th
 * set takes each parameter's k-th most frequent value (a parameter with fewer values repeats its
 * own), so bench runs production's commonest values first. Null when some $n has neither a
 * constant nor a place of its own (LIMIT, OFFSET, as `assumed` gives), or none has a constant.
 */
export function qualstatsValueSets(
  query: string,
  sources: ParamSource[],
  constants: QualConstant[],
  o: { sets: number; assumed: { limit: number; offset: number } },
): (string | null)[][] | null {
  const text = Buffer.from(query, 'utf8');
  const values = new Map<number, (string | null)[]>();
  for (const k of constants) {
    const n = paramAt(text, k.position);
    const v = n !== null && n <= sources.length ? constantText(k.value) : undefined;
    if (v === undefined || (v !== null && !fitsCommentLine(v))) continue;
    const list = values.get(n!) ?? [];
    if (!list.includes(v)) list.push(v);
    values.set(n!, list);
  }
  if (!values.size) return null;
  const columns: (string | null)[][] = [];
  for (let n = 1; n <= sources.length; n++) {
    const kind = sources[n - 1].kind;
    const own = values.get(n) ?? (kind === 'limit' ? [String(o.assumed.limit)] : kind === 'offset' ? [String(o.assumed.offset)] : null);
    if (!own) return null;
    columns.push(own);
  }
  const count = Math.min(o.sets, Math.max(...columns.map((c) => c.length)));
  return Array.from({ length: count }, (_, k) => columns.map((c) => c[k % c.length]));
}

/** The number of the `$n` at a byte offset of the text, or null where something else is there. */
function paramAt(text: Buffer, offset: number): number | null {
  if (text[offset] !== 0x24) return null; // '$'
  let end = offset + 1;
  while (end < text.length && text[end] >= 0x30 && text[end] <= 0x39) end++;
  return end > offset + 1 ? Number(text.subarray(offset + 1, end).toString('latin1')) : null;
}

/**
 * The value of a constant as pg_qualstats renders it (`28::integer`, `'a b'::text`, `NULL::text`),
 * read with PostgreSQL's parser: its text, null for NULL, undefined when it is not one constant.
 */
export function constantText(rendered: string): string | null | undefined {
  const tree = tryParse(`SELECT ${rendered}`);
  const select = tree?.length === 1 ? nodeAs(tree[0], 'SelectStmt') : undefined;
  const targets = select?.targetList ?? [];
  if (targets.length !== 1) return undefined;
  let value = nodeAs(targets[0], 'ResTarget')?.val as Node | undefined;
  const cast = nodeAs(value, 'TypeCast');
  if (cast) value = cast.arg as Node | undefined;
  const negated = nodeAs(value, 'A_Expr');
  if (negated && !negated.lexpr && negated.name?.length === 1 && nodeAs(negated.name[0], 'String')?.sval === '-') {
    const v = constOf(nodeAs(negated.rexpr as Node, 'A_Const'));
    return typeof v === 'string' && /^[0-9.]/.test(v) ? `-${v}` : undefined;
  }
  return constOf(nodeAs(value, 'A_Const'));
}

function constOf(k: A_Const | undefined): string | null | undefined {
  if (!k) return undefined;
  if (k.isnull) return null;
  if (k.ival) return String(k.ival.ival ?? 0);
  if (k.fval) return k.fval.fval;
  if (k.sval) return k.sval.sval ?? '';
  if (k.boolval) return String(k.boolval.boolval ?? false);
  if (k.bsval) return k.bsval.bsval;
  return undefined;
}
