/**
 * Index candidates read from a query's parse tree, the way the planner can use an index:
 * equality (and IN, = ANY) columns lead, then one range column or the ORDER BY of a LIMITed
 * query; constant predicates make partial indexes; expressions the query filters on make
 * expression indexes; jsonb and array containment make GIN with the operator class the operator
 * needs. Pure: the tables' columns come in as data, nothing here asks the server.
 */
import type { ColumnRef, Node, SelectStmt, SortBy } from '@pgsql/types';
import { deparseSync } from 'pgsql-deparser';
import { nodeAs, walk, type AnyNode } from '../sql/tree.js';
import { quoteIdent } from '../db/ident.js';

export interface TableFacts {
  schema: string;
  name: string;
  /** Column name → format_type. */
  columns: Map<string, string>;
  /**
   * Columns with at most FEW_VALUES distinct values (an enum, or so by the table's statistics): a
   * literal compared with one is a fixed filter of the application (`status = 'open'`), worth a
   * partial index. Any other literal is one value among many, written inline, and is treated as a
   * parameter: a partial index on `id = 1` serves no other id. A boolean column is always one.
   */
  fewValued?: Set<string>;
  /**
   * Columns whose order on disk follows their values (|pg_stats.correlation| ≥ BRIN_CORRELATION):
   * an append-only time column. With `pages`, what a BRIN candidate needs.
   */
  correlated?: Set<string>;
  /** The table's size in 8 kB pages (pg_class.relpages). */
  pages?: number;
  /** The most rows one value of a column matches, by the statistics (see sortPays). */
  mostRows?: Map<string, number>;
  /** The rows a value outside the most common ones matches, by the planner's estimate (see sortPays). */
  typicalRows?: Map<string, number>;
}

/** What the database offers beyond core PostgreSQL: pg_trgm's schema where it is installed. */
export interface DatabaseFacts {
  trigramSchema?: string | null;
}

/** A column this correlated with its place on disk is what BRIN summarizes well (1 is perfect order). */
export const BRIN_CORRELATION = 0.95;
/** BRIN pays only where a btree would be large: 10 MB of table (1,280 pages of 8 kB) or more. */
export const BRIN_MIN_PAGES = 1280;

/** At most this many distinct values makes a column's literal a fixed filter (see TableFacts.fewValued). */
export const FEW_VALUES = 10;

/** A value with at most this many rows is found by its column alone: keys after it filter a handful of rows. */
export const FEW_ROWS = 10;

/** PostgreSQL's INDEX_MAX_KEYS as built by default: an index of more keys (and INCLUDE columns) is refused. */
export const INDEX_MAX_KEYS = 32;

/** This many rows sort in microseconds: a query without a LIMIT that reads no more gains nothing from index order. */
export const SORT_FEW_ROWS = 100;

/** Finds a table as the query names it (schema or null, name); undefined for anything else (a CTE, a view). */
export type TableLookup = (schema: string | null, name: string) => TableFacts | undefined;

export interface KeyPart {
  /** SQL of the column or expression, unqualified (as an index definition writes it). */
  sql: string;
  desc?: boolean;
  /** NULLS FIRST/LAST when the query asks for the other than the direction's default. */
  nulls?: 'first' | 'last';
  opclass?: string;
}

export interface Candidate {
  table: { schema: string; name: string };
  method: 'btree' | 'gin' | 'brin';
  keys: KeyPart[];
  include: string[];
  /** Partial-index predicate, SQL; null for a full index. */
  where: string | null;
  /** The workload queries it is meant for. */
  queries: string[];
  /** What in the queries it answers, for the pack's comments. */
  why: string;
  /**
   * The keys of the index this one adds ORDER BY keys to, where only the statistics' heaviest values
   * would need them (sortPays: 'measure'): tried in round two against that index, and kept only
   * when significantly faster with the workload's own values.
   */
  widens?: KeyPart[];
}

type Pred =
  | { kind: 'eq' | 'join'; table: TableFacts; key: KeyPart }
  | { kind: 'range'; table: TableFacts; key: KeyPart; column: string | null }
  | { kind: 'or'; table: TableFacts; arms: KeyPart[][] }
  | { kind: 'pattern'; table: TableFacts; key: KeyPart; prefix: boolean; infix: boolean; opclass: string }
  | { kind: 'literal'; table: TableFacts; sql: string; key: KeyPart | null; nullKey?: KeyPart }
  | { kind: 'gin'; table: TableFacts; key: KeyPart; op: string };

/** The tables a query block can name, by the names it uses, and the blocks around it. */
export interface Scope {
  byName: Map<string, TableFacts>;
  tables: TableFacts[];
  parent: Scope | null;
  ctes: Set<string>;
  /** How the block's tables were found: a subquery's own tables are found the same way. */
  lookup: TableLookup;
}

const EQ_OPS = new Set(['=']);
const RANGE_OPS = new Set(['<', '>', '<=', '>=']);
/** jsonb: @> is served by jsonb_path_ops (smaller, faster); the key-existence operators need jsonb_ops. */
const JSONB_OPCLASS: Record<string, string> = { '@>': 'jsonb_path_ops', '?': 'jsonb_ops', '?|': 'jsonb_ops', '?&': 'jsonb_ops' };
const ARRAY_GIN_OPS = new Set(['@>', '&&', '<@']);

const opName = (name: Node[] | undefined): string => nodeAs(name?.[name.length - 1], 'String')?.sval ?? '';

/** Column references as the index writes them: the table's alias dropped. */
function unqualified(n: Node): Node {
  const copy = structuredClone(n);
  walk(copy, (key, value) => {
    if (key !== 'ColumnRef') return;
    const fields = (value as ColumnRef).fields ?? [];
    if (fields.length > 1) (value as ColumnRef).fields = fields.slice(-1);
  });
  return copy;
}

const sqlOf = (n: Node): string => deparseSync(unqualified(n)).trim();

interface Resolved {
  table: TableFacts;
  column: string;
  /** 0: this query block; more: an enclosing one (a correlated reference, a constant here). */
  level: number;
}

export function resolveColumn(ref: ColumnRef, scope: Scope, level = 0): Resolved | null {
  const fields = (ref.fields ?? []).map((f) => nodeAs(f, 'String')?.sval);
  if (fields.some((f) => f === undefined)) return null; // t.*
  const column = fields[fields.length - 1]!;
  if (fields.length >= 2) {
    const t = scope.byName.get(fields[fields.length - 2]!);
    if (t && t.columns.has(column)) return { table: t, column, level };
  } else {
    const owners = scope.tables.filter((t) => t.columns.has(column));
    if (owners.length === 1) return { table: owners[0], column, level };
    if (owners.length > 1) return null; // ambiguous: the server would refuse it too
  }
  return scope.parent ? resolveColumn(ref, scope.parent, level + 1) : null;
}

/** The one table of this block whose columns `n` reads (outer references count as constants), or null. */
function ownTable(n: Node, scope: Scope): TableFacts | null {
  const found = new Set<TableFacts>();
  let unknown = false;
  walk([n], (key, value) => {
    if (key === 'SubLink') unknown = true;
    if (key !== 'ColumnRef') return;
    const r = resolveColumn(value as ColumnRef, scope);
    if (!r) unknown = true;
    else if (r.level === 0) found.add(r.table);
  });
  return !unknown && found.size === 1 ? [...found][0] : null;
}

/**
 * A value fixed for one execution: a literal, a $n, an outer reference, a stable function of those,
 * or an uncorrelated scalar or ARRAY subquery, which the server runs once (an InitPlan) and uses
 * as it would a bind value (`col = (SELECT …)`, `col = ANY (ARRAY(SELECT …))`).
 */
function isConstant(n: Node, scope: Scope): boolean {
  // A subquery's columns are its own, judged by onceOnly: not this block's.
  const inner = new Set<AnyNode>();
  walk([n], (key, value) => key === 'SubLink' && walk(value, (k, v) => k === 'ColumnRef' && inner.add(v)));
  let constant = true;
  walk([n], (key, value) => {
    if (key === 'SubLink' && !onceOnly(value as AnyNode, scope)) constant = false;
    if (key === 'ColumnRef' && !inner.has(value)) {
      const r = resolveColumn(value as ColumnRef, scope);
      if (!r || r.level === 0) constant = false;
    }
  });
  return constant;
}

/** A scalar or ARRAY subquery that reads only its own tables: the server evaluates it once per execution. */
function onceOnly(link: AnyNode, scope: Scope): boolean {
  if (link.subLinkType !== 'EXPR_SUBLINK' && link.subLinkType !== 'ARRAY_SUBLINK') return false;
  const sub = nodeAs(link.subselect as Node, 'SelectStmt');
  return !!sub && uncorrelated(sub, scope);
}

/**
 * Every column the subquery names is one of its own FROM list's tables (no parent scope to fall
 * back on); a nested subquery, a set operation or a table pgopt does not know counts as correlated.
 */
function uncorrelated(sub: SelectStmt, scope: Scope): boolean {
  if (sub.op && sub.op !== 'SETOP_NONE') return false;
  const own = scopeOf(sub.fromClause, scope.lookup, null, scope.ctes);
  let named = 0;
  walk(sub.fromClause, (key) => key === 'RangeVar' && named++);
  // A CTE, a view or a table pgopt does not know: its columns cannot be told from an outer block's.
  if (own.nested.length || own.scope.tables.length !== named) return false;
  let ok = true;
  walk([sub.targetList, sub.whereClause, sub.groupClause, sub.havingClause, sub.sortClause, own.joinQuals], (key, value) => {
    if (key === 'SubLink') ok = false;
    if (key === 'ColumnRef' && !resolveColumn(value as ColumnRef, own.scope)) ok = false;
  });
  return ok;
}

/** A literal, fixed in the query's text: what a partial index's predicate can name. */
function isLiteral(n: Node): boolean {
  let literal = true;
  walk([n], (key) => {
    if (key === 'ParamRef' || key === 'ColumnRef' || key === 'SubLink' || key === 'FuncCall') literal = false;
  });
  return literal;
}

const isPlainColumn = (n: Node) => !!nodeAs(n, 'ColumnRef');

/**
 * What an index can hold: a value of one row. A window function, an aggregate written as one (`*`,
 * DISTINCT, FILTER, ORDER BY or WITHIN GROUP in its call) or a subquery is not: the server refuses
 * such a key, and no index could order or find by it. (A plain-looking aggregate such as sum(x) is
 * caught where it can occur, in a grouped block's ORDER BY, and by the server's dry run.)
 */
function indexable(n: Node): boolean {
  let ok = true;
  walk([n], (key, value) => {
    if (key === 'SubLink') ok = false;
    if (
      key === 'FuncCall' &&
      (value.over || value.agg_star || value.agg_distinct || value.agg_filter || value.agg_order || value.agg_within_group)
    )
      ok = false;
  });
  return ok;
}

/** Index keys the grammar takes bare: a column, a function call (COALESCE is one); anything else, `a::text` too, needs parentheses. */
const BARE_KEYS = ['ColumnRef', 'FuncCall', 'CoalesceExpr', 'MinMaxExpr'];

function keyFor(n: Node): KeyPart {
  const sql = sqlOf(n);
  return { sql: BARE_KEYS.some((k) => k in n) ? sql : `(${sql})` };
}

function columnType(n: Node, t: TableFacts, scope: Scope): string | null {
  const ref = nodeAs(n, 'ColumnRef');
  if (!ref) return null;
  const r = resolveColumn(ref, scope);
  return r && r.table === t ? (t.columns.get(r.column) ?? null) : null;
}

function classifyOp(e: NonNullable<ReturnType<typeof nodeAs<'A_Expr'>>>, conj: Node, scope: Scope): Pred[] {
  const op = opName(e.name);
  const [l, r] = [e.lexpr, e.rexpr];
  if (!l || !r) return [];
  const out: Pred[] = [];
  for (const [side, other] of [
    [l, r],
    [r, l],
  ] as const) {
    const t = ownTable(side, scope);
    if (!t || !indexable(side)) continue;
    if (e.kind === 'AEXPR_OP' && JSONB_OPCLASS[op] && side === l && columnType(side, t, scope) === 'jsonb' && isConstant(other, scope)) {
      out.push({ kind: 'gin', table: t, key: { ...keyFor(side), opclass: JSONB_OPCLASS[op] }, op });
      continue;
    }
    if (
      e.kind === 'AEXPR_OP' &&
      ARRAY_GIN_OPS.has(op) &&
      side === l &&
      columnType(side, t, scope)?.endsWith('[]') &&
      isConstant(other, scope)
    ) {
      out.push({ kind: 'gin', table: t, key: keyFor(side), op });
      continue;
    }
    const pattern = side === l ? patternPred(e, side, other, t, scope) : null;
    if (pattern) {
      out.push(pattern);
      break;
    }
    const otherTable = ownTable(other, scope);
    if (e.kind === 'AEXPR_OP' && EQ_OPS.has(op) && otherTable && otherTable !== t && isPlainColumn(side)) {
      out.push({ kind: 'join', table: t, key: keyFor(side) });
      continue;
    }
    if (!isConstant(other, scope)) continue;
    const literal = isLiteral(other) && fixedFilter(side, t, scope);
    if ((e.kind === 'AEXPR_OP' && EQ_OPS.has(op)) || e.kind === 'AEXPR_IN' || e.kind === 'AEXPR_OP_ANY') {
      out.push(literal ? { kind: 'literal', table: t, sql: sqlOf(conj), key: keyFor(side) } : { kind: 'eq', table: t, key: keyFor(side) });
    } else if ((e.kind === 'AEXPR_OP' && RANGE_OPS.has(op)) || e.kind === 'AEXPR_BETWEEN' || e.kind === 'AEXPR_NOT_BETWEEN') {
      out.push({ kind: 'range', table: t, key: keyFor(side), column: plainColumn(side, t, scope) });
    }
    break;
  }
  return out;
}

/** The table's own column `n` names, unqualified, or null for anything else. */
function plainColumn(n: Node, t: TableFacts, scope: Scope): string | null {
  const ref = nodeAs(n, 'ColumnRef');
  const r = ref ? resolveColumn(ref, scope) : null;
  return r && r.table === t ? r.column : null;
}

const LIKE_OPS = new Set(['~~', '~~*']);
const REGEX_OPS = new Set(['~', '~*']);

/**
 * `col LIKE 'abc%'`: a btree with the pattern operator class finds a prefix under any collation
 * (a plain btree only under C). `ILIKE`, `LIKE '%abc%'` and regular expressions: pg_trgm's GIN,
 * where the pattern has three characters in a row to look up. A `$n` pattern may be either.
 */
function patternPred(
  e: NonNullable<ReturnType<typeof nodeAs<'A_Expr'>>>,
  side: Node,
  other: Node,
  t: TableFacts,
  scope: Scope,
): Pred | null {
  const op = opName(e.name);
  const like = (e.kind === 'AEXPR_LIKE' || e.kind === 'AEXPR_ILIKE') && LIKE_OPS.has(op);
  if ((!like && !(e.kind === 'AEXPR_OP' && REGEX_OPS.has(op))) || !isConstant(other, scope) || !indexable(side)) return null;
  const type = nodeAs(side, 'ColumnRef') ? columnType(side, t, scope) : 'text';
  if (type !== 'text' && !type?.startsWith('character varying')) return null;
  const text = isLiteral(other) ? stringConstant(other) : null;
  const runs = text === null ? 3 : Math.max(0, ...text.split(/[%_\\]+/).map((x) => x.length));
  return {
    kind: 'pattern',
    table: t,
    key: keyFor(side),
    prefix: op === '~~' && (text === null || /^[^%_\\]/.test(text)),
    infix: runs >= 3,
    opclass: type === 'text' ? 'text_pattern_ops' : 'varchar_pattern_ops',
  };
}

/** A string literal's text, through casts; null when it is not one. */
function stringConstant(n: Node): string | null {
  const cast = nodeAs(n, 'TypeCast');
  if (cast?.arg) return stringConstant(cast.arg);
  return nodeAs(n, 'A_Const')?.sval?.sval ?? null;
}

/** A column of few values (a status, a flag): a literal compared with it is a fixed filter, not one value of many. */
function fixedFilter(n: Node, t: TableFacts, scope: Scope): boolean {
  const column = plainColumn(n, t, scope);
  return column !== null && (t.columns.get(column) === 'boolean' || !!t.fewValued?.has(column));
}

/** `col IN (SELECT …)` with a subquery that reads only its own tables: an equality, as the executor runs it. */
function inSubquery(conj: Node, scope: Scope): Pred[] {
  const link = nodeAs(conj, 'SubLink');
  const op = opName(link?.operName);
  if (link?.subLinkType !== 'ANY_SUBLINK' || !link.testexpr || (op && op !== '=')) return [];
  const sub = nodeAs(link.subselect, 'SelectStmt');
  const t = ownTable(link.testexpr, scope);
  if (!sub || !t || !indexable(link.testexpr) || !uncorrelated(sub, scope)) return [];
  return [{ kind: 'eq', table: t, key: keyFor(link.testexpr) }];
}

/** What one conjunct of a WHERE or JOIN … ON offers an index. */
function classify(conj: Node, scope: Scope): Pred[] {
  const or = nodeAs(conj, 'BoolExpr');
  if (or?.boolop === 'OR_EXPR') return orArms(or.args ?? [], scope);
  const e = nodeAs(conj, 'A_Expr');
  if (e) return classifyOp(e, conj, scope);
  if (nodeAs(conj, 'SubLink')) return inSubquery(conj, scope);
  const nt = nodeAs(conj, 'NullTest');
  if (nt?.arg) {
    const t = ownTable(nt.arg, scope);
    // An index finds IS NULL, but the planner does not count it as an equality for ordering: it is a key only alone.
    const nullKey = nt.nulltesttype === 'IS_NULL' && indexable(nt.arg) ? keyFor(nt.arg) : undefined;
    return t ? [{ kind: 'literal', table: t, sql: sqlOf(conj), key: null, nullKey }] : [];
  }
  const bt = nodeAs(conj, 'BooleanTest');
  const not = nodeAs(conj, 'BoolExpr');
  const boolArg = bt?.arg ?? (not?.boolop === 'NOT_EXPR' ? not.args?.[0] : undefined) ?? (nodeAs(conj, 'ColumnRef') ? conj : undefined);
  if (boolArg && isPlainColumn(boolArg)) {
    const t = ownTable(boolArg, scope);
    if (t && columnType(boolArg, t, scope) === 'boolean') return [{ kind: 'literal', table: t, sql: sqlOf(conj), key: null }];
  }
  return [];
}

/**
 * `a = $1 OR b = $2`: the planner can answer each arm with its own index and OR the bitmaps
 * (BitmapOr), if every arm has one on the same table; an arm without leaves only a Seq Scan.
 */
function orArms(args: Node[], scope: Scope): Pred[] {
  const arms = args.map((a) => conjuncts(a).flatMap((c) => classify(c, scope)));
  const tables = new Set(arms.flatMap((preds) => preds.map((p) => p.table)));
  if (tables.size !== 1) return [];
  const keys = arms.map((preds) =>
    preds.flatMap((p) => (p.kind === 'eq' || p.kind === 'range' || (p.kind === 'literal' && p.key) ? [p.key!] : [])).slice(0, 1),
  );
  return keys.every((k) => k.length) ? [{ kind: 'or', table: [...tables][0], arms: keys }] : [];
}

function conjuncts(n: Node | undefined): Node[] {
  if (!n) return [];
  const b = nodeAs(n, 'BoolExpr');
  if (b?.boolop === 'AND_EXPR') return (b.args ?? []).flatMap(conjuncts);
  return [n];
}

/** The tables of a FROM list by the names the query uses, and the conditions of its joins. */
export function scopeOf(from: Node[] | undefined, lookup: TableLookup, parent: Scope | null, ctes: Set<string>) {
  const scope: Scope = { byName: new Map(), tables: [], parent, ctes, lookup };
  const joinQuals: Node[] = [];
  const nested: SelectStmt[] = [];
  const visit = (n: Node) => {
    const rv = nodeAs(n, 'RangeVar');
    if (rv) {
      if (!rv.schemaname && ctes.has(rv.relname ?? '')) return;
      const t = lookup(rv.schemaname ?? null, rv.relname ?? '');
      if (!t) return;
      scope.tables.push(t);
      scope.byName.set(rv.alias?.aliasname ?? rv.relname ?? '', t);
      return;
    }
    const j = nodeAs(n, 'JoinExpr');
    if (j) {
      if (j.larg) visit(j.larg);
      if (j.rarg) visit(j.rarg);
      joinQuals.push(...conjuncts(j.quals));
      return;
    }
    const sub = nodeAs(nodeAs(n, 'RangeSubselect')?.subquery, 'SelectStmt');
    if (sub) nested.push(sub);
  };
  for (const n of from ?? []) visit(n);
  return { scope, joinQuals, nested };
}

interface QueryBlockPlan {
  preds: Pred[];
  order: { table: TableFacts; keys: KeyPart[] } | null;
  /** The rows the block returns at most (LIMIT plus OFFSET), 'all' without a LIMIT, null when a parameter sets it. */
  wanted: number | 'all' | null;
  /** Columns of each table the block reads (for INCLUDE), or null when it reads `*`. */
  reads: Map<TableFacts, Set<string> | null>;
}

/**
 * What an ORDER BY or GROUP BY item sorts by: `1` is the first output column, and a bare name that
 * is an output column's alias is that column's expression.
 */
function outputExpr(n: Node, stmt: SelectStmt): Node {
  const items = (stmt.targetList ?? []).map((t) => nodeAs(t, 'ResTarget'));
  const pos = nodeAs(n, 'A_Const')?.ival?.ival;
  if (pos !== undefined) return items[pos - 1]?.val ?? n;
  const fields = nodeAs(n, 'ColumnRef')?.fields;
  const name = fields?.length === 1 ? nodeAs(fields[0], 'String')?.sval : undefined;
  const aliased = name ? items.find((t) => t?.name === name) : undefined;
  return aliased?.val ?? n;
}

function orderOf(stmt: SelectStmt, scope: Scope): QueryBlockPlan['order'] {
  if (!stmt.sortClause?.length) return null;
  const sorts = stmt.sortClause
    .map((s) => nodeAs(s, 'SortBy'))
    .filter((s): s is SortBy => !!s && !!s.node)
    .map((s) => ({ ...s, node: outputExpr(s.node!, stmt) }));
  // A grouped block sorts groups, not rows: only its group keys can come ordered from an index.
  const groupKeys = new Set((stmt.groupClause ?? []).map((g) => sqlOf(outputExpr(g, stmt))));
  if (sorts.some((s) => !indexable(s.node!) || (groupKeys.size && !groupKeys.has(sqlOf(s.node!))))) return null;
  const tables = new Set(sorts.map((s) => ownTable(s.node!, scope)));
  if (tables.size !== 1 || tables.has(null)) return null;
  const keys = sorts.map((s) => {
    const desc = s.sortby_dir === 'SORTBY_DESC';
    const nulls: KeyPart['nulls'] =
      s.sortby_nulls === 'SORTBY_NULLS_FIRST' ? 'first' : s.sortby_nulls === 'SORTBY_NULLS_LAST' ? 'last' : undefined;
    // The default is NULLS LAST ascending and NULLS FIRST descending: name it only when it differs.
    const differs = nulls && (desc ? nulls === 'last' : nulls === 'first');
    return { ...keyFor(s.node!), desc: desc || undefined, nulls: differs ? nulls : undefined };
  });
  return { table: [...tables][0]!, keys };
}

const constantInt = (n: Node): number | null => {
  const c = nodeAs(n, 'A_Const');
  return c?.ival ? (c.ival.ival ?? 0) : null;
};

function wantedOf(stmt: SelectStmt): QueryBlockPlan['wanted'] {
  if (!stmt.limitCount || nodeAs(stmt.limitCount, 'A_Const')?.isnull) return 'all';
  const count = constantInt(stmt.limitCount);
  const offset = stmt.limitOffset ? constantInt(stmt.limitOffset) : 0;
  return count === null || offset === null ? null : count + offset;
}

function readsOf(stmt: SelectStmt, scope: Scope): QueryBlockPlan['reads'] {
  const reads = new Map<TableFacts, Set<string> | null>(scope.tables.map((t) => [t, new Set<string>()]));
  walk([stmt.targetList, stmt.whereClause, stmt.sortClause, stmt.groupClause, stmt.fromClause], (key, value) => {
    if (key !== 'ColumnRef') return;
    const fields = (value as ColumnRef).fields ?? [];
    if (fields.some((f) => nodeAs(f, 'A_Star'))) {
      const owner = fields.length > 1 ? scope.byName.get(nodeAs(fields[0], 'String')?.sval ?? '') : undefined;
      for (const t of owner ? [owner] : scope.tables) reads.set(t, null);
      return;
    }
    const r = resolveColumn(value as ColumnRef, scope);
    if (r && r.level === 0) reads.get(r.table)?.add(r.column);
  });
  return reads;
}

/** Every SELECT block of a statement: set operations, CTEs, subqueries in FROM and in expressions. */
function blocksOf(stmt: Node, lookup: TableLookup): QueryBlockPlan[] {
  const out: QueryBlockPlan[] = [];
  const visitSelect = (s: SelectStmt, parent: Scope | null, ctes: Set<string>) => {
    if (s.op && s.op !== 'SETOP_NONE') {
      if (s.larg) visitSelect(s.larg, parent, ctes);
      if (s.rarg) visitSelect(s.rarg, parent, ctes);
      return;
    }
    const names = new Set(ctes);
    for (const cte of s.withClause?.ctes ?? []) {
      const c = nodeAs(cte, 'CommonTableExpr');
      if (c?.ctename) names.add(c.ctename);
      const q = nodeAs(c?.ctequery, 'SelectStmt');
      if (q) visitSelect(q, parent, names);
    }
    const { scope, joinQuals, nested } = scopeOf(s.fromClause, lookup, parent, names);
    for (const n of nested) visitSelect(n, parent, names);
    const preds = [...conjuncts(s.whereClause), ...joinQuals].flatMap((c) => classify(c, scope));
    out.push({ preds, order: orderOf(s, scope), wanted: wantedOf(s), reads: readsOf(s, scope) });
    walk([s.whereClause, s.targetList], (key, value) => {
      if (key !== 'SubLink') return;
      const sub = nodeAs((value as AnyNode).subselect as Node, 'SelectStmt');
      if (sub) visitSelect(sub, scope, names);
    });
  };
  const sel = nodeAs(stmt, 'SelectStmt');
  if (sel) visitSelect(sel, null, new Set());
  for (const w of [nodeAs(stmt, 'UpdateStmt'), nodeAs(stmt, 'DeleteStmt')]) {
    if (!w?.relation) continue;
    const { scope } = scopeOf([{ RangeVar: w.relation }], lookup, null, new Set());
    out.push({ preds: conjuncts(w.whereClause).flatMap((c) => classify(c, scope)), order: null, wanted: 'all', reads: new Map() });
  }
  return out;
}

const sameKey = (a: KeyPart, b: KeyPart) => a.sql === b.sql;
const uniqueKeys = (keys: KeyPart[]) => keys.filter((k, i) => keys.findIndex((o) => sameKey(o, k)) === i);

function btree(t: TableFacts, query: string, keys: KeyPart[], where: string | null, why: string, include: string[] = []): Candidate {
  const fit = uniqueKeys(keys).slice(0, INDEX_MAX_KEYS);
  return {
    table: { schema: t.schema, name: t.name },
    method: 'btree',
    keys: fit,
    include: include.slice(0, INDEX_MAX_KEYS - fit.length),
    where,
    queries: [query],
    why,
  };
}

/** Whether a key is the plain column `c`, as an index definition writes it (quoted where it must be). */
const isColumn = (k: KeyPart, c: string) => k.sql === c || k.sql === quoteIdent(c);
const names = (keys: KeyPart[], c: string) => keys.some((k) => isColumn(k, c));

/**
 * INCLUDE the few other columns the query reads, for an index-only scan. The ORDER BY columns left
 * out of the keys (see sortPays) come on top of those few: with them as keys they were covered.
 */
function includeFor(reads: Set<string> | null | undefined, keys: KeyPart[], unsorted: KeyPart[] = []): string[] {
  if (!reads) return [];
  const sortedBy = [...reads].filter((c) => !names(keys, c) && names(unsorted, c));
  const rest = [...reads].filter((c) => !names(keys, c) && !sortedBy.includes(c));
  return rest.length <= 3 && rest.length + sortedBy.length > 0 ? [...sortedBy, ...rest] : [];
}

/**
 * ORDER BY keys after the equalities pay only when a key value has more rows than the query returns
 * (or, without a LIMIT, more than SORT_FEW_ROWS): else the query reads that value's every row either
 * way, and sorting them is cheap. Without them the index is far smaller: a value's entries are
 * deduplicated into one, where a sort key makes every entry distinct. 'measure': the most common
 * value has that many rows but one outside the most common values has not, so which values the
 * application sends decides, and the statistics cannot tell (a few stars' followers among users
 * followed by 7).
 */
export function sortPays(t: TableFacts, eq: KeyPart[], wanted: QueryBlockPlan['wanted']): 'yes' | 'no' | 'measure' {
  if (!eq.length || wanted === null) return 'yes';
  const limit = wanted === 'all' ? SORT_FEW_ROWS : wanted;
  const most = eq.flatMap((k) => rowsOf(t.mostRows, k) ?? []);
  if (!most.length) return 'yes';
  if (Math.min(...most) <= limit) return 'no';
  const typical = eq.flatMap((k) => rowsOf(t.typicalRows, k) ?? []);
  return typical.length && Math.min(...typical) <= limit ? 'measure' : 'yes';
}

const rowsOf = (m: Map<string, number> | undefined, k: KeyPart): number | undefined => [...(m ?? [])].find(([c]) => isColumn(k, c))?.[1];
const mostRowsOf = (t: TableFacts, k: KeyPart): number | undefined => rowsOf(t.mostRows, k);

/** The index with the ORDER BY keys, to try against `narrower` (the same without them) where sortPays says 'measure'. */
function widened(t: TableFacts, query: string, narrower: Candidate | undefined, sorted: KeyPart[]): Candidate[] {
  if (!narrower) return [];
  const wide = btree(t, query, [...narrower.keys, ...sorted], null, 'ORDER BY … LIMIT, for the values with many rows');
  return wide.keys.length > narrower.keys.length ? [{ ...wide, widens: narrower.keys }] : [];
}

/**
 * The equalities an index needs: all of them, or the one column whose every value has at most
 * FEW_ROWS rows (an external id, a child's parent). The others then filter a handful of rows, and
 * one column's index serves every query that looks that column up, whatever else it asks.
 */
export function equalityKeys(t: TableFacts, eq: KeyPart[]): KeyPart[] {
  const ranked = eq.map((k) => ({ k, n: mostRowsOf(t, k) ?? Infinity })).sort((a, b) => a.n - b.n);
  return eq.length > 1 && ranked[0].n <= FEW_ROWS ? [ranked[0].k] : eq;
}

function tableCandidates(query: string, t: TableFacts, block: QueryBlockPlan, db: DatabaseFacts): Candidate[] {
  const mine = block.preds.filter((p) => p.table === t);
  const eq = equalityKeys(
    t,
    mine.filter((p) => p.kind === 'eq').map((p) => (p as { key: KeyPart }).key),
  );
  const literals = mine.filter((p): p is Extract<Pred, { kind: 'literal' }> => p.kind === 'literal');
  // A range after an equality of a handful of rows a value filters those rows; it needs no key.
  const narrow = eq.some((k) => (mostRowsOf(t, k) ?? Infinity) <= FEW_ROWS);
  const range = narrow ? undefined : (mine.find((p) => p.kind === 'range') as { key: KeyPart } | undefined);
  // Without a LIMIT too: reading a large table in index order can beat sorting it (PgHero's cases at
  // 200,000 rows: 111 → 21 ms); the trial measures which the planner takes.
  const sorted = block.order?.table === t ? block.order.keys : null;
  const pays = sorted ? sortPays(t, eq, block.wanted) : 'no';
  const order = pays === 'yes' ? sorted : null;
  const tails: KeyPart[][] = [order, range ? [range.key] : null].filter((x): x is KeyPart[] => !!x);
  if (!tails.length) tails.push([]);
  const out: Candidate[] = [];
  const fixedKeys = literals.flatMap((l) => (l.key ? [l.key] : []));
  const alone = !eq.length && !fixedKeys.length && !range && !order;
  const literalKeys = alone ? literals.flatMap((l) => (l.nullKey ? [l.nullKey] : [])) : fixedKeys;
  for (const tail of tails) {
    const what = [eq.length && 'equality', literalKeys.length && 'constant', tail === order ? 'ORDER BY … LIMIT' : tail.length && 'range']
      .filter(Boolean)
      .join(', ');
    if (eq.length + literalKeys.length + tail.length) {
      const keys = [...eq, ...literalKeys, ...tail];
      out.push(btree(t, query, keys, null, what));
      const include = includeFor(block.reads.get(t), uniqueKeys(keys), order ? [] : (sorted ?? []));
      if (include.length) out.push(btree(t, query, keys, null, `${what}, index-only`, include));
    }
    // Keyed on what else the query looks up; else on a fixed filter's own column (the open rows of a status), never on IS NULL's.
    const partialKeys = eq.length + tail.length ? [...eq, ...tail] : fixedKeys.slice(0, 1);
    if (literals.length && partialKeys.length) {
      const where = literals.map((l) => l.sql).join(' AND ');
      out.push(btree(t, query, partialKeys, where, `partial on ${where}`));
    }
  }
  for (const g of mine.filter((p): p is Extract<Pred, { kind: 'gin' }> => p.kind === 'gin')) {
    out.push({
      table: { schema: t.schema, name: t.name },
      method: 'gin',
      keys: [g.key],
      include: [],
      where: null,
      queries: [query],
      why: `${g.op} containment`,
    });
  }
  for (const j of mine.filter((p) => p.kind === 'join')) out.push(btree(t, query, [(j as { key: KeyPart }).key], null, 'join key'));
  for (const o of mine.filter((p): p is Extract<Pred, { kind: 'or' }> => p.kind === 'or'))
    out.push(...o.arms.map((keys) => btree(t, query, keys, null, 'one arm of an OR (BitmapOr)')));
  const narrower = pays === 'measure' && !range ? out.find((c) => !c.include.length && !c.where) : undefined;
  return [
    ...out,
    ...widened(t, query, narrower, sorted ?? []),
    ...patternCandidates(query, t, mine, eq, db),
    ...brinCandidates(query, t, mine),
  ];
}

function patternCandidates(query: string, t: TableFacts, mine: Pred[], eq: KeyPart[], db: DatabaseFacts): Candidate[] {
  return mine.flatMap((p) => {
    if (p.kind !== 'pattern') return [];
    const out: Candidate[] = [];
    if (p.prefix) out.push(btree(t, query, [...eq, { ...p.key, opclass: p.opclass }], null, 'LIKE prefix'));
    if (p.infix && db.trigramSchema) {
      const opclass = `${quoteIdent(db.trigramSchema)}.gin_trgm_ops`;
      out.push({ ...btree(t, query, [{ ...p.key, opclass }], null, 'pattern match (pg_trgm)'), method: 'gin' });
    }
    return out;
  });
}

/** A range on an append-only column of a large table: BRIN, a few pages where a btree takes thousands. */
function brinCandidates(query: string, t: TableFacts, mine: Pred[]): Candidate[] {
  if ((t.pages ?? 0) < BRIN_MIN_PAGES) return [];
  const columns = new Set(mine.flatMap((p) => (p.kind === 'range' && p.column && t.correlated?.has(p.column) ? [p.key.sql] : [])));
  return [...columns].map((sql) => ({ ...btree(t, query, [{ sql }], null, 'range on a column in disk order'), method: 'brin' as const }));
}

/** Candidates for one workload query (its parse tree), before merging across queries. */
export function candidatesForQuery(query: string, stmt: Node, lookup: TableLookup, db: DatabaseFacts = {}): Candidate[] {
  return blocksOf(stmt, lookup).flatMap((block) => {
    const tables = new Set([...block.preds.map((p) => p.table), ...(block.order ? [block.order.table] : [])]);
    return [...tables].flatMap((t) => tableCandidates(query, t, block, db));
  });
}

export const keyText = (k: KeyPart): string =>
  `${k.sql}${k.opclass ? ` ${k.opclass}` : ''}${k.desc ? ' DESC' : ''}${k.nulls ? ` NULLS ${k.nulls.toUpperCase()}` : ''}`;

const identity = (c: Candidate) => JSON.stringify([c.table, c.method, c.keys.map(keyText), c.include, c.where]);

/**
 * One candidate per distinct index, serving every query that asked for it; a btree whose keys
 * lead another's (same table, same predicate, no INCLUDE) is served by the longer one, so one
 * index serves several queries rather than one index per query.
 */
export function mergeCandidates(all: Candidate[]): Candidate[] {
  const byId = new Map<string, Candidate>();
  for (const c of all) {
    const id = identity(c);
    const known = byId.get(id);
    if (!known) byId.set(id, { ...c, queries: [...c.queries] });
    else {
      known.queries = [...new Set([...known.queries, ...c.queries])];
      // Another query wants it outright: it is tried in round one.
      if (!c.widens) delete known.widens;
    }
  }
  const merged = [...byId.values()];
  return merged.filter((a) => {
    const wider = merged.find((b) => b !== a && leads(a, b));
    if (wider) wider.queries = [...new Set([...wider.queries, ...a.queries])];
    return !wider;
  });
}

/** Whether `b` serves `a`'s queries in its place; never one tried against `a` in round two (widens). */
function leads(a: Candidate, b: Candidate): boolean {
  return (
    !b.widens &&
    a.method === 'btree' &&
    b.method === 'btree' &&
    a.where === b.where &&
    a.include.length === 0 &&
    b.include.length === 0 &&
    JSON.stringify(a.table) === JSON.stringify(b.table) &&
    a.keys.length < b.keys.length &&
    a.keys.every((k, i) => keyText(k) === keyText(b.keys[i]))
  );
}
