/**
 * Views and CTEs the planner folds into the query, folded the same way before candidates are read:
 * `WITH cte AS (SELECT * FROM posts) SELECT … FROM cte WHERE id = 1` and a view `SELECT id AS
 * view_id FROM posts` filtered on `view_id` both filter posts.id, and an index on it serves them.
 * Only a plain projection of one table is folded (no join, grouping, DISTINCT, LIMIT, window or set
 * operation in it), and a CTE only where the planner inlines it (not MATERIALIZED). Pure: the views'
 * definitions come in as parse trees.
 */
import type { ColumnRef, CommonTableExpr, Node, RangeVar, SelectStmt } from '@pgsql/types';
import { nodeAs, walk } from '../sql/tree.js';

/** A relation the query names that is a plain projection of one table: that table, and its columns by their new names. */
interface Projection {
  base: RangeVar;
  /** Output name → the table's column; null where the projection is `*` (the same names). */
  columns: Map<string, string> | null;
}

/** View definitions by the name the query uses (`schema.name`, or `.name` unqualified). */
export type ViewDefinitions = Map<string, SelectStmt>;

const fieldName = (n: Node | undefined) => nodeAs(n, 'String')?.sval;

/** The projection a SELECT is, or null where it is more than a projection of one table. */
export function projectionOf(s: SelectStmt): Projection | null {
  const plain =
    (!s.op || s.op === 'SETOP_NONE') &&
    !s.withClause &&
    !s.groupClause?.length &&
    !s.distinctClause?.length &&
    !s.havingClause &&
    !s.limitCount &&
    !s.limitOffset &&
    !s.windowClause?.length &&
    s.fromClause?.length === 1;
  const base = plain ? nodeAs(s.fromClause![0], 'RangeVar') : undefined;
  if (!base) return null;
  const columns = new Map<string, string>();
  for (const t of s.targetList ?? []) {
    const rt = nodeAs(t, 'ResTarget');
    const fields = nodeAs(rt?.val, 'ColumnRef')?.fields ?? [];
    if (fields.some((f) => nodeAs(f, 'A_Star'))) {
      if ((s.targetList ?? []).length !== 1) return null;
      return { base, columns: null };
    }
    const column = fieldName(fields.at(-1));
    if (!rt || !column) return null;
    columns.set(rt.name ?? column, column);
  }
  return { base, columns };
}

const key = (schema: string | null | undefined, name: string) => `${schema ?? ''}.${name}`;

/** The CTEs of a statement the planner inlines (referenced once or not, but never MATERIALIZED). */
function inlinedCtes(s: SelectStmt | undefined): Map<string, Projection> {
  const out = new Map<string, Projection>();
  for (const n of s?.withClause?.ctes ?? []) {
    const cte = nodeAs(n, 'CommonTableExpr') as CommonTableExpr | undefined;
    const q = nodeAs(cte?.ctequery, 'SelectStmt');
    if (!cte?.ctename || !q || cte.ctematerialized === 'CTEMaterializeAlways' || s?.withClause?.recursive) continue;
    const p = projectionOf(q);
    if (p) out.set(key(null, cte.ctename), p);
  }
  return out;
}

/**
 * A copy of the statement with each folded relation replaced by its table (under the name the query
 * used for it) and its columns renamed to the table's; anything else as it was.
 */
export function inlineProjections(stmt: Node, views: ViewDefinitions): Node {
  const copy = structuredClone(stmt);
  const projections = new Map<string, Projection>(inlinedCtes(nodeAs(copy, 'SelectStmt')));
  for (const [name, def] of views) {
    const p = projectionOf(def);
    if (p) projections.set(name, p);
  }
  if (!projections.size) return copy;
  const renames: { alias: string; columns: Map<string, string> }[] = [];
  walk(copy, (k, value) => {
    if (k !== 'RangeVar') return;
    const rv = value as RangeVar;
    const p = projections.get(key(rv.schemaname, rv.relname ?? ''));
    if (!p) return;
    const alias = rv.alias?.aliasname ?? rv.relname!;
    Object.assign(rv, { schemaname: p.base.schemaname, relname: p.base.relname, alias: { aliasname: alias } });
    if (p.columns) renames.push({ alias, columns: p.columns });
  });
  walk(copy, (k, value) => {
    if (k !== 'ColumnRef') return;
    const fields = (value as ColumnRef).fields ?? [];
    const name = fieldName(fields.at(-1));
    const qualifier = fields.length > 1 ? fieldName(fields.at(-2)) : null;
    const r = renames.find((x) => (qualifier === null || qualifier === x.alias) && name && x.columns.has(name));
    if (r && name) fields[fields.length - 1] = { String: { sval: r.columns.get(name)! } };
  });
  return copy;
}
