/**
 * Materialized views for aggregate queries: where no index can help (a report that aggregates a
 * million rows per call), the query's groups computed once, at the grain the query filters on.
 * Pure: from the query's parse tree to the view, its unique key (what REFRESH … CONCURRENTLY
 * needs) and the rewritten query the application would send. Whether the rewrite returns the same
 * rows, and is faster, is measured by the caller.
 *
 * The rule that keeps the rewrite exact: every group of the query is one row of the view. The
 * view groups by the query's own keys plus each column the query compares with a parameter
 * (`project_id = $1`), so once that parameter is fixed, the view's rows are the query's groups,
 * and every aggregate (a percentile, a count of distinct values) is read as it was computed. A
 * range on a column the query groups by day (`created_at >= …` beside `date_trunc('day',
 * created_at)`) becomes a range on that day; that holds when the bound falls on a day's start,
 * which the caller's comparison of rows checks rather than assumes.
 */
import type { ColumnRef, Node, ResTarget, SelectStmt, SortBy } from '@pgsql/types';
import { deparseSync } from 'pgsql-deparser';
import { quoteIdent } from '../db/ident.js';
import { nodeAs, walk } from '../sql/tree.js';

export interface ViewCandidate {
  /** The workload query it serves. */
  query: string;
  schema: string;
  name: string;
  /** CREATE MATERIALIZED VIEW IF NOT EXISTS … AS SELECT …: the query's groups at the view's grain. */
  viewSql: string;
  /** The unique index on the grain, which REFRESH MATERIALIZED VIEW CONCURRENTLY requires. */
  keySql: string;
  keyName: string;
  /** The query the application sends instead, reading the view (same $n). */
  rewrite: string;
  /** The view's grain: the query's group keys and the columns it compares with a parameter. */
  grain: string[];
}

export type ViewProposal = { ok: true; view: ViewCandidate } | { ok: false; reason: string };

const RANGE_OPS = new Set(['>=', '<']);
const opName = (name: Node[] | undefined): string => nodeAs(name?.[name.length - 1], 'String')?.sval ?? '';
const sql = (n: Node): string => deparseSync(n).trim();
const ref = (column: string): Node => ({ ColumnRef: { fields: [{ String: { sval: column } }] } });
const refuse = (reason: string): ViewProposal => ({ ok: false, reason });

function conjuncts(n: Node | undefined): Node[] {
  if (!n) return [];
  const b = nodeAs(n, 'BoolExpr');
  if (b?.boolop === 'AND_EXPR') return (b.args ?? []).flatMap(conjuncts);
  return [n];
}

/** What `fn` finds anywhere under the nodes. */
function has(nodes: unknown, keys: string[]): boolean {
  let found = false;
  walk(nodes, (key) => {
    if (keys.includes(key)) found = true;
  });
  return found;
}

/** `base` as a plain lower-case name (`fallback` when nothing is left), suffixed _2, _3… until not taken. */
function uniqueName(base: string, fallback: string, taken: (name: string) => boolean): string {
  const plain = base.toLowerCase().replace(/[^a-z0-9_]+/g, '_') || fallback;
  let name = plain;
  for (let k = 2; taken(name); k++) name = `${plain}_${k}`;
  return name;
}

/** A name for each output column: its alias, its column's name, its function's name, else col<i>; unique. */
function outputNames(items: ResTarget[]): string[] {
  const seen = new Set<string>();
  return items.map((t, i) => {
    const col = nodeAs(t.val, 'ColumnRef');
    const fn = nodeAs(t.val, 'FuncCall');
    const base = t.name ?? nodeAs(col?.fields?.at(-1), 'String')?.sval ?? nodeAs(fn?.funcname?.at(-1), 'String')?.sval ?? `col${i + 1}`;
    const name = uniqueName(base, `col${i + 1}`, (n) => seen.has(n));
    seen.add(name);
    return name;
  });
}

/** The view's columns, by the SQL of what each holds. */
class ViewColumns {
  readonly items: ResTarget[];
  readonly names: string[];
  constructor(items: ResTarget[]) {
    this.items = items.map((t) => ({ ...t }));
    this.names = outputNames(items);
    this.items.forEach((t, i) => (t.name = this.names[i]));
  }
  /** The column holding `n`, added (hidden from the rewrite's output) when the query does not select it. */
  holding(n: Node, hint: string): string {
    const text = sql(n);
    const i = this.items.findIndex((t) => t.val && sql(t.val) === text);
    if (i >= 0) return this.names[i];
    const name = uniqueName(hint, 'key', (n) => this.names.includes(n));
    this.items.push({ name, val: n });
    this.names.push(name);
    return name;
  }
}

/** The expression a GROUP BY item stands for (`GROUP BY 1` names the first output column). */
function groupExpr(g: Node, items: ResTarget[]): Node | null {
  const pos = nodeAs(g, 'A_Const')?.ival?.ival;
  if (pos !== undefined) return items[pos - 1]?.val ?? null;
  return g;
}

const columnName = (n: Node): string => nodeAs((n as { ColumnRef: ColumnRef }).ColumnRef.fields?.at(-1), 'String')?.sval ?? 'key';

/** `col = …`, `col IN (…)`, `col = ANY (…)` with a value no column of the query's rows decides. */
function equalityColumn(conj: Node): Node | null {
  const e = nodeAs(conj, 'A_Expr');
  if (!e?.lexpr || !e.rexpr) return null;
  const eq = (e.kind === 'AEXPR_OP' && opName(e.name) === '=') || e.kind === 'AEXPR_IN' || e.kind === 'AEXPR_OP_ANY';
  if (!eq) return null;
  for (const [side, other] of [
    [e.lexpr, e.rexpr],
    [e.rexpr, e.lexpr],
  ] as const) {
    if (nodeAs(side, 'ColumnRef') && !has([other], ['ColumnRef', 'SubLink'])) return side;
    if (e.kind !== 'AEXPR_OP') break;
  }
  return null;
}

/** `col >= …` or `col < …` where the query groups by date_trunc(…, col): the bucket column holds it. */
function bucketRange(conj: Node, buckets: Map<string, string>): { column: Node; bucket: string } | null {
  const e = nodeAs(conj, 'A_Expr');
  if (e?.kind !== 'AEXPR_OP' || !RANGE_OPS.has(opName(e.name)) || !e.lexpr || !e.rexpr) return null;
  if (!nodeAs(e.lexpr, 'ColumnRef') || has([e.rexpr], ['ColumnRef', 'SubLink'])) return null;
  const bucket = buckets.get(sql(e.lexpr));
  return bucket ? { column: e.lexpr, bucket } : null;
}

/** Replace, in a copy of `conj`, the column `column` by the view's column `name`. */
function onView(conj: Node, column: Node, name: string): Node {
  const copy = structuredClone(conj);
  const target = sql(column);
  walk(copy, (key, value) => {
    if (key !== 'ColumnRef' || sql({ ColumnRef: value as ColumnRef }) !== target) return;
    (value as ColumnRef).fields = [{ String: { sval: name } }];
  });
  return copy;
}

/** date_trunc(unit, col[, zone]) group keys, by the SQL of their column: the buckets a range can be read on. */
function bucketsOf(keys: { expr: Node; column: string }[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of keys) {
    const fn = nodeAs(k.expr, 'FuncCall');
    const name = nodeAs(fn?.funcname?.at(-1), 'String')?.sval;
    const arg = fn?.args?.[1];
    if (name === 'date_trunc' && arg && nodeAs(arg, 'ColumnRef')) out.set(sql(arg), k.column);
  }
  return out;
}

/** Functions whose value moves with time or chance: a condition on them is the query's, never the view's. */
const MOVING = new Set([
  'now',
  'clock_timestamp',
  'statement_timestamp',
  'transaction_timestamp',
  'timeofday',
  'random',
  'current_setting',
]);

function callsClock(n: Node): boolean {
  let moving = false;
  walk([n], (key, value) => {
    if (key === 'FuncCall' && MOVING.has(nodeAs((value as { funcname?: Node[] }).funcname?.at(-1), 'String')?.sval ?? '')) moving = true;
  });
  return moving;
}

function windowed(nodes: unknown): boolean {
  let found = false;
  walk(nodes, (key, value) => {
    if (key === 'FuncCall' && (value as { over?: unknown }).over) found = true;
  });
  return found;
}

function shapeRefusal(s: SelectStmt): string | null {
  if (s.op && s.op !== 'SETOP_NONE') return 'a set operation';
  if (s.withClause) return 'a WITH clause';
  if (!s.groupClause?.length) return 'no GROUP BY';
  if (s.distinctClause?.length) return 'DISTINCT';
  if (s.windowClause?.length || windowed(s.targetList)) return 'a window function';
  if (s.lockingClause?.length) return 'a locking clause';
  if (has([s.targetList, s.groupClause, s.havingClause, s.fromClause], ['ParamRef'])) return 'a $n outside WHERE';
  if (has([s.whereClause], ['SubLink'])) return 'a subquery in WHERE';
  return null;
}

/** The ORDER BY of the rewrite: positions stay (the query's columns come first), expressions become view columns. */
function rewriteOrder(sorts: Node[] | undefined, items: ResTarget[], names: string[]): Node[] | null {
  const out: Node[] = [];
  for (const n of sorts ?? []) {
    const s = nodeAs(n, 'SortBy') as SortBy | undefined;
    if (!s?.node) return null;
    if (nodeAs(s.node, 'A_Const')?.ival) {
      out.push(n);
      continue;
    }
    const text = sql(s.node);
    const i = items.findIndex((t) => (t.val && sql(t.val) === text) || (nodeAs(s.node, 'ColumnRef') && t.name && text === t.name));
    if (i < 0) return null;
    out.push({ SortBy: { ...s, node: ref(names[i]) } });
  }
  return out;
}

interface Placed {
  /** Conditions with no value from outside: the view's own WHERE. */
  fixed: Node[];
  /** Conditions on a value or the clock, moved onto the view's columns: the rewrite's WHERE. */
  atQueryTime: Node[];
  /** Columns compared with a value that the query does not group by: the view groups by them too. */
  grainAdded: Node[];
  /** The key leads with what the rewrite looks up: the columns compared with a value, then the ranges. */
  lookedUp: string[];
}

/** Each WHERE condition in the view, or in the rewrite on the view's columns; a string says why neither can take one. */
function placeConditions(where: Node | undefined, cols: ViewColumns, keys: { expr: Node; column: string }[]): Placed | string {
  const buckets = bucketsOf(keys);
  const p: Placed = { fixed: [], atQueryTime: [], grainAdded: [], lookedUp: [] };
  for (const conj of conjuncts(where)) {
    if (!has([conj], ['ParamRef', 'SQLValueFunction']) && !callsClock(conj)) {
      p.fixed.push(conj);
      continue;
    }
    const column = equalityColumn(conj);
    if (column) {
      const name = cols.holding(column, columnName(column));
      if (!keys.some((k) => k.column === name)) {
        keys.push({ expr: column, column: name });
        p.grainAdded.push(column);
      }
      p.atQueryTime.push(onView(conj, column, name));
      p.lookedUp.unshift(name);
      continue;
    }
    const range = bucketRange(conj, buckets);
    if (!range)
      return `a condition the view cannot hold (${sql(conj)}): only a column = value, or a range on a column grouped by date_trunc`;
    p.atQueryTime.push(onView(conj, range.column, range.bucket));
    p.lookedUp.push(range.bucket);
  }
  return p;
}

/** The group keys, each held by a view column. */
function groupKeys(s: SelectStmt, original: ResTarget[], cols: ViewColumns): { expr: Node; column: string }[] | null {
  const keys: { expr: Node; column: string }[] = [];
  for (const g of s.groupClause ?? []) {
    const expr = groupExpr(g, original);
    if (!expr) return null;
    keys.push({ expr, column: cols.holding(expr, 'group_key') });
  }
  return keys;
}

/**
 * The view for one aggregate query, or why there is none. `schema` is where the view goes (its main
 * table's schema); the caller names the tables, this only reshapes the query.
 */
export function proposeView(query: string, tree: Node, schema: string): ViewProposal {
  const s = nodeAs(tree, 'SelectStmt');
  if (!s) return refuse('not a SELECT');
  const shape = shapeRefusal(s);
  if (shape) return refuse(`${shape}: no view gives the same rows`);
  const original = (s.targetList ?? []).map((t) => nodeAs(t, 'ResTarget')!).filter(Boolean);
  if (original.some((t) => !t.val || has([t.val], ['A_Star']))) return refuse('a * in the select list');
  const cols = new ViewColumns(original);
  const keys = groupKeys(s, original, cols);
  if (!keys) return refuse('a GROUP BY position beyond the select list');
  const placed = placeConditions(s.whereClause, cols, keys);
  if (typeof placed === 'string') return refuse(placed);
  const order = rewriteOrder(s.sortClause, original, cols.names);
  if (!order) return refuse('an ORDER BY on something the query does not select');
  const name = `${query
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .slice(0, 50)}_mv`;
  const grain = [...new Set([...placed.lookedUp, ...keys.map((k) => k.column)])];
  return { ok: true, view: viewStatements({ query, schema, name, grain }, s, original, cols, placed, order) };
}

function viewStatements(
  v: Pick<ViewCandidate, 'query' | 'schema' | 'name' | 'grain'>,
  s: SelectStmt,
  original: ResTarget[],
  cols: ViewColumns,
  placed: Placed,
  order: Node[],
): ViewCandidate {
  const view: SelectStmt = {
    targetList: cols.items.map((t) => ({ ResTarget: t })),
    fromClause: s.fromClause,
    whereClause: and(placed.fixed),
    groupClause: [...(s.groupClause ?? []), ...placed.grainAdded],
    havingClause: s.havingClause,
    limitOption: 'LIMIT_OPTION_DEFAULT',
    op: 'SETOP_NONE',
  };
  const rewrite: SelectStmt = {
    targetList: original.map((_, i) => ({ ResTarget: { val: ref(cols.names[i]) } })),
    fromClause: [{ RangeVar: { schemaname: v.schema, relname: v.name, inh: true, relpersistence: 'p' } }],
    whereClause: and(placed.atQueryTime),
    sortClause: order.length ? order : undefined,
    limitCount: s.limitCount,
    limitOffset: s.limitOffset,
    limitOption: s.limitOption ?? 'LIMIT_OPTION_DEFAULT',
    op: 'SETOP_NONE',
  };
  const qualified = `${quoteIdent(v.schema)}.${quoteIdent(v.name)}`;
  const keyName = `${v.name.slice(0, 55)}_key`;
  return {
    ...v,
    viewSql: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified} AS\n${sql({ SelectStmt: view })}`,
    keySql: `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(keyName)} ON ${qualified} (${v.grain.map(quoteIdent).join(', ')})`,
    keyName,
    rewrite: sql({ SelectStmt: rewrite }),
  };
}

function and(nodes: Node[]): Node | undefined {
  if (!nodes.length) return undefined;
  return nodes.length === 1 ? nodes[0] : { BoolExpr: { boolop: 'AND_EXPR', args: nodes } };
}
