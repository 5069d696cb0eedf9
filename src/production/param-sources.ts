import type { A_Expr, ColumnRef, Node, SelectStmt } from '@pgsql/types';
import { resolveColumn, scopeOf, type Scope, type TableFacts, type TableLookup } from '../advise/candidates.js';
import { nodeAs, walk, type AnyNode } from '../sql/tree.js';

/**
 * Where a real value for each $n of a normalized statement can come from, read off its parse tree:
 * the column it is compared with (`col = $1`, `lower(col) = lower($1)`, `col IN ($1, $2)`,
 * `col BETWEEN $1 AND $2`, `SET col = $1`, `INSERT (col) VALUES ($1)`), or its place in a
 * LIMIT or OFFSET. pg_stat_statements replaced every constant with $n, so each has one of these
 * or none. Pure: the tables come from `lookup`.
 */
export type ParamSource =
  | { kind: 'column'; table: TableFacts; column: string }
  | { kind: 'limit' }
  | { kind: 'offset' }
  /** Bind values the server logged for this statement (capture --log). */
  | { kind: 'log'; sets: number }
  /** Constants pg_qualstats saw production compare a column with ($n of a LIMIT or OFFSET keep theirs). */
  | { kind: 'qualstats'; values: number }
  | { kind: 'none' };

const paramNumber = (n: unknown): number | null => {
  const p = nodeAs(n as Node, 'ParamRef');
  return p && typeof p.number === 'number' ? p.number : null;
};

/** The $n inside an expression (a cast, a function call around it). */
function paramsIn(n: unknown): number[] {
  const out: number[] = [];
  const direct = paramNumber(n);
  if (direct !== null) return [direct];
  walk(n, (key, value) => {
    if (key === 'ParamRef' && typeof value.number === 'number') out.push(value.number);
  });
  return out;
}

function columnsIn(n: unknown): ColumnRef[] {
  const out: ColumnRef[] = [];
  const direct = nodeAs(n as Node, 'ColumnRef');
  if (direct) return [direct];
  walk(n, (key, value) => {
    if (key === 'ColumnRef') out.push(value as ColumnRef);
  });
  return out;
}

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '~~', '~~*', '!~~', '!~~*']);

/** A comparison whose sides hold values of one type (not arithmetic, not `= ANY` of an array). */
function comparesValues(e: A_Expr): boolean {
  const op = (e.name ?? []).map((n) => nodeAs(n, 'String')?.sval).pop() ?? '';
  switch (e.kind) {
    case 'AEXPR_OP':
    case 'AEXPR_LIKE':
    case 'AEXPR_ILIKE':
      return COMPARISONS.has(op);
    case 'AEXPR_IN':
    case 'AEXPR_DISTINCT':
    case 'AEXPR_NOT_DISTINCT':
    case 'AEXPR_BETWEEN':
    case 'AEXPR_NOT_BETWEEN':
    case 'AEXPR_BETWEEN_SYM':
    case 'AEXPR_NOT_BETWEEN_SYM':
      return true;
    default:
      return false;
  }
}

/** `left op right`, `left IN (…)`, `left BETWEEN a AND b`: the params of one side take the other side's one column. */
function fromComparison(e: A_Expr, scope: Scope, out: Map<number, ParamSource>): void {
  if (!comparesValues(e)) return;
  const right = nodeAs(e.rexpr, 'List')?.items ?? (e.rexpr ? [e.rexpr] : []);
  const sides: [unknown, unknown][] = [
    [e.lexpr, right],
    [right, e.lexpr],
  ];
  for (const [params, other] of sides) {
    const cols = columnsIn(other);
    if (cols.length !== 1 || paramsIn(other).length) continue;
    const at = resolveColumn(cols[0], scope);
    if (!at) continue;
    for (const p of paramsIn(params)) if (!out.has(p)) out.set(p, { kind: 'column', table: at.table, column: at.column });
  }
}

function visitExpressions(exprs: unknown, scope: Scope, lookup: TableLookup, out: Map<number, ParamSource>): void {
  walk(exprs, (key, value) => {
    if (key === 'A_Expr') fromComparison(value as A_Expr, scope, out);
    if (key === 'SubLink') {
      const sub = nodeAs((value as AnyNode).subselect as Node, 'SelectStmt');
      if (sub) visitSelect(sub, scope, lookup, out);
    }
  });
}

function visitSelect(s: SelectStmt, parent: Scope | null, lookup: TableLookup, out: Map<number, ParamSource>): void {
  if (s.op && s.op !== 'SETOP_NONE') {
    if (s.larg) visitSelect(s.larg, parent, lookup, out);
    if (s.rarg) visitSelect(s.rarg, parent, lookup, out);
    return;
  }
  const ctes = new Set(parent?.ctes);
  for (const cte of s.withClause?.ctes ?? []) {
    const c = nodeAs(cte, 'CommonTableExpr');
    if (c?.ctename) ctes.add(c.ctename);
    const q = nodeAs(c?.ctequery, 'SelectStmt');
    if (q) visitSelect(q, parent, lookup, out);
  }
  const { scope, joinQuals, nested } = scopeOf(s.fromClause, lookup, parent, ctes);
  for (const sub of nested) visitSelect(sub, parent, lookup, out);
  visitExpressions([s.whereClause, s.havingClause, joinQuals, s.targetList], scope, lookup, out);
  for (const [slot, kind] of [
    [s.limitCount, 'limit'],
    [s.limitOffset, 'offset'],
  ] as const) {
    const p = paramNumber(slot);
    if (p !== null && !out.has(p)) out.set(p, { kind });
  }
}

function visitWrite(stmt: Node, lookup: TableLookup, out: Map<number, ParamSource>): void {
  const u = nodeAs(stmt, 'UpdateStmt');
  const d = nodeAs(stmt, 'DeleteStmt');
  const i = nodeAs(stmt, 'InsertStmt');
  const rel = u?.relation ?? d?.relation ?? i?.relation;
  if (!rel) return;
  const { scope } = scopeOf([{ RangeVar: rel }, ...(u?.fromClause ?? []), ...(d?.usingClause ?? [])], lookup, null, new Set());
  const table = scope.tables[0];
  if (u && table)
    for (const t of u.targetList ?? []) {
      const rt = nodeAs(t, 'ResTarget');
      const p = paramNumber(rt?.val);
      if (rt?.name && p !== null && table.columns.has(rt.name) && !out.has(p)) out.set(p, { kind: 'column', table, column: rt.name });
    }
  if (i && table) {
    const cols = (i.cols ?? []).map((c) => nodeAs(c, 'ResTarget')?.name ?? '');
    for (const row of nodeAs(i.selectStmt, 'SelectStmt')?.valuesLists ?? [])
      (nodeAs(row, 'List')?.items ?? []).forEach((v, k) => {
        const p = paramNumber(v);
        if (p !== null && cols[k] && table.columns.has(cols[k]) && !out.has(p)) out.set(p, { kind: 'column', table, column: cols[k] });
      });
  }
  visitExpressions([u?.whereClause, d?.whereClause], scope, lookup, out);
}

/** The source of $1..$count, in order. */
export function paramSources(stmt: Node, count: number, lookup: TableLookup): ParamSource[] {
  const out = new Map<number, ParamSource>();
  const sel = nodeAs(stmt, 'SelectStmt');
  if (sel) visitSelect(sel, null, lookup, out);
  else visitWrite(stmt, lookup, out);
  return Array.from({ length: count }, (_, k) => out.get(k + 1) ?? { kind: 'none' });
}
