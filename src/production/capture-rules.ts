import type { Node } from '@pgsql/types';
import type { StatementCounters } from '../db/stat-statements.js';
import { tryParse } from '../sql/parse.js';
import { nodeType, payloadOf, rangeVarRef, relationsRead, type RelationRef } from '../sql/tree.js';
import type { RangeVar } from '@pgsql/types';
import type { ParamSource } from './param-sources.js';
import { alignExecution, shapeOf, type LoggedStatement, type WrittenConstant } from './server-log.js';
import { quoteIdent, quoteLiteral } from '../db/ident.js';
import { fitsCommentLine } from '../sql/comment.js';

/**
 * Which pg_stat_statements entries become workload queries, and what each is called: pure rules
 * over the counters and the parse tree, testable without a server.
 */
export interface CaptureOptions {
  /** The statements with the most total execution time, at most this many. */
  top: number;
  /** Leave out statements called fewer times than this. */
  minCalls: number;
  /** INSERT, UPDATE, DELETE and MERGE too (bench runs them rolled back). */
  includeWrites: boolean;
  /** Executions read from a server log (--log): their bind values come first. */
  logged?: LoggedStatement[];
}

export const DEFAULT_CAPTURE_OPTIONS: CaptureOptions = { top: 20, minCalls: 2, includeWrites: false };

export type LeftOutReason =
  'insufficient-privilege' | 'unparsable' | 'utility' | 'writes' | 'catalog-only' | 'few-calls' | 'below-top' | 'no-values';

export const LEFT_OUT_TEXT: Record<LeftOutReason, string> = {
  'insufficient-privilege': "another role's statements, whose text this role may not read (grant it pg_read_all_stats)",
  unparsable: 'text the parser does not accept as one statement',
  utility: 'utility statements (SET, BEGIN, VACUUM, EXPLAIN, DDL …)',
  writes: 'INSERT, UPDATE, DELETE and MERGE (add --include-writes)',
  'catalog-only': 'statements on the system catalogs only (monitoring tools, pgopt itself)',
  'few-calls': 'statements called fewer than --min-calls times',
  'below-top': 'statements below the --top by total time',
  'no-values': 'statements with a $n no value could be found for',
};

export interface Chosen {
  counters: StatementCounters;
  tree: Node;
  kind: 'read' | 'write';
  relations: RelationRef[];
}

export interface Choice {
  chosen: Chosen[];
  left: Map<LeftOutReason, StatementCounters[]>;
}

const READS = new Set(['SelectStmt']);
const WRITES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);
const CATALOG_SCHEMAS = new Set(['pg_catalog', 'information_schema', 'pgopt']);

/** A system catalog, as an unqualified name resolves to one whatever the search_path (pg_catalog comes first). */
export const isCatalog = (r: RelationRef): boolean => (r.schema ? CATALOG_SCHEMAS.has(r.schema) : /^pg_/.test(r.name));

/** The relations a statement names: a write's target (a bare RangeVar in the tree) first. */
function statementRelations(tree: Node): RelationRef[] {
  const target = payloadOf(tree).relation as RangeVar | undefined;
  const read = relationsRead(tree);
  if (!target) return read;
  const t = rangeVarRef(target);
  return [t, ...read.filter((r) => r.schema !== t.schema || r.name !== t.name)];
}

type Shape = { reason: 'insufficient-privilege' | 'unparsable' | 'utility' } | Omit<Chosen, 'counters'>;

/** What a statement's text is: a read or a write and the relations it names, or why it is neither. */
function statementShape(query: string): Shape {
  if (query === '<insufficient privilege>') return { reason: 'insufficient-privilege' };
  const stmts = tryParse(query);
  if (!stmts || stmts.length !== 1) return { reason: 'unparsable' };
  const tree = stmts[0];
  const type = nodeType(tree);
  if (!READS.has(type) && !WRITES.has(type)) return { reason: 'utility' };
  return { tree, kind: READS.has(type) ? 'read' : 'write', relations: statementRelations(tree) };
}

const catalogOnly = (relations: RelationRef[]) => !relations.length || relations.every(isCatalog);

function classify(s: StatementCounters, o: CaptureOptions): { reason: LeftOutReason } | Chosen {
  const shape = statementShape(s.query);
  if ('reason' in shape) return shape;
  if (shape.kind === 'write' && !o.includeWrites) return { reason: 'writes' };
  if (catalogOnly(shape.relations)) return { reason: 'catalog-only' };
  if (s.calls < o.minCalls) return { reason: 'few-calls' };
  return { counters: s, ...shape };
}

/**
 * A statement no pack can change, known from its text: a utility statement (SET, BEGIN, DDL) or one
 * that reads only the system catalogs (monitoring tools, pgopt's own statements sent before it
 * stops tracking itself). A text this role cannot read, or cannot parse, is not known to be one.
 * Needs the parser loaded (ensureParser).
 */
export function beyondAnyPack(query: string): boolean {
  const shape = statementShape(query);
  return 'reason' in shape ? shape.reason === 'utility' : catalogOnly(shape.relations);
}

/** The statements worth capturing, heaviest first, and why every other one was left out. */
export function chooseStatements(all: StatementCounters[], o: CaptureOptions): Choice {
  const left = new Map<LeftOutReason, StatementCounters[]>();
  const leave = (reason: LeftOutReason, s: StatementCounters) => left.set(reason, [...(left.get(reason) ?? []), s]);
  const eligible: Chosen[] = [];
  for (const s of all) {
    const c = classify(s, o);
    if ('reason' in c) leave(c.reason, s);
    else eligible.push(c);
  }
  eligible.sort((a, b) => b.counters.totalMs - a.counters.totalMs);
  for (const c of eligible.slice(o.top)) leave('below-top', c.counters);
  return { chosen: eligible.slice(0, o.top), left };
}

/** queryid as 64 unsigned bits in hex: its last six digits tell statements apart in a name. */
export const shortQueryid = (queryid: string): string => BigInt.asUintN(64, BigInt(queryid)).toString(16).padStart(6, '0').slice(-6);

const VERBS: Record<string, string> = {
  SelectStmt: 'select',
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
};

/** A stable, readable workload name: verb, main table, short queryid (select_users_3fa2c1). */
export const queryName = (c: Chosen): string => nameOf(c.tree, c.relations, c.counters.queryid);

function nameOf(tree: Node, relations: RelationRef[], queryid: string): string {
  const main = relations.find((r) => !isCatalog(r)) ?? relations[0];
  const table = main.name.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'table';
  return `${VERBS[nodeType(tree)] ?? 'query'}_${table}_${shortQueryid(queryid)}`;
}

/** The name capture gives a statement (select_orders_3fa2c1), for any normalized text; statement_<id> where it does not parse. */
export function statementName(query: string, queryid: string): string {
  const stmts = tryParse(query);
  const tree = stmts?.length === 1 ? stmts[0] : null;
  const relations = tree ? statementRelations(tree) : [];
  if (!tree || !relations.length) return `statement_${shortQueryid(queryid)}`;
  return nameOf(tree, relations, queryid);
}

/** What stands in for $n where the statement gives no column: a page's conventional LIMIT and the first page. */
export const ASSUMED = { limit: 20, offset: 0 } as const;

/** What the server log holds for one statement. */
export interface LoggedValues {
  /** The distinct sets of values, at most PARAM_SETS. */
  sets: (string | null)[][];
  /** $n the application wrote as a constant, the same in every execution read (not a bind value), by number. */
  constants: Map<number, WrittenConstant>;
  /** $n that stand for a squashed IN list in some execution: no bind value can take its place, only the list itself. */
  squashed: Set<number>;
}

/** The statement's executions in the log: their distinct sets of values, and the constants the application wrote. */
export function loggedValues(c: Chosen, logged: LoggedStatement[], count: number): LoggedValues {
  const shape = shapeOf(c.counters.query);
  const seen = new Map<string, (string | null)[]>();
  // undefined: no execution read yet; null: not one same constant in all of them.
  const constants: (WrittenConstant | null | undefined)[] = Array.from({ length: count }, () => undefined);
  const squashed = new Set<number>();
  for (const l of logged) {
    if (seen.size >= PARAM_SETS) break;
    if (!shape || shapeOf(l.statement) !== shape) continue;
    const e = alignExecution(c.tree, l, count);
    // A value with a line break would end the `-- params:` comment mid-literal: that set is left out.
    if (!e || !e.values.every((x) => x === null || fitsCommentLine(x))) continue;
    seen.set(JSON.stringify(e.values), e.values);
    e.constants.forEach((k, n) => {
      if (k?.kind === 'list') squashed.add(n + 1);
      const was = constants[n];
      constants[n] = k && (was === undefined || (was && was.kind === k.kind && was.value === k.value)) ? k : null;
    });
  }
  const same = new Map<number, WrittenConstant>();
  constants.forEach((k, n) => k && same.set(n + 1, k));
  return { sets: [...seen.values()], constants: same, squashed };
}

/** A `-- params:` of literal rows, the values as the server logged them (typed by the statement, as the client's were). */
export const valuesQuery = (sets: (string | null)[][]): string =>
  `VALUES ${sets.map((row) => `(${row.map((v) => (v === null ? 'NULL' : quoteLiteral(v))).join(', ')})`).join(', ')}`;

/**
 * How many blocks each table's sample reads: four times the sets, so most sets come from blocks of
 * their own even where a column's values are clustered by insertion (a 3M-row table whose every
 * 50 consecutive rows share a value: 43–47 distinct values in 50 sets over seven seeds), and at
 * most 1.6 MB read whatever the table's size (BENCHMARKS.md, "capture's sample").
 */
const SAMPLE_BLOCKS = 200;
export const PARAM_SETS = 50;

/**
 * A `-- params:` query that draws real values from the data: per table, a sample of about
 * SAMPLE_BLOCKS blocks (SYSTEM: it reads only the blocks it picks, where BERNOULLI reads the whole
 * table to pick rows) with a fixed seed (REPEATABLE, so a before and an after run read the same
 * values), ordered by row position hashed, the columns of one row together; several tables zipped
 * by rank. A table of fewer blocks is read whole. Null when some $n has no source.
 */
export function paramsQuery(sources: ParamSource[], blocks: (t: { schema: string; name: string }) => number): string | null {
  if (sources.some((s) => s.kind === 'none')) return null;
  // The query is written on a `-- params:` line: a name with a line break in it would end the comment there.
  if (sources.some((s) => s.kind === 'column' && ![s.table.schema, s.table.name, s.column].every(fitsCommentLine))) return null;
  const tables: { key: string; schema: string; name: string; columns: string[] }[] = [];
  const select: string[] = sources.map((s, k) => {
    if (s.kind === 'limit') return `${ASSUMED.limit} AS p${k + 1}`;
    if (s.kind === 'offset') return `${ASSUMED.offset} AS p${k + 1}`;
    if (s.kind !== 'column') return 'NULL';
    const key = `${s.table.schema}.${s.table.name}`;
    let t = tables.find((x) => x.key === key);
    if (!t) tables.push((t = { key, schema: s.table.schema, name: s.table.name, columns: [] }));
    if (!t.columns.includes(s.column)) t.columns.push(s.column);
    return `s${tables.indexOf(t) + 1}.c${t.columns.indexOf(s.column) + 1} AS p${k + 1}`;
  });
  if (!tables.length) return `SELECT ${select.join(', ')}`;
  const samples = tables.map((t, i) => {
    const pct = Math.min(100, Math.max(0.0001, (100 * SAMPLE_BLOCKS) / Math.max(1, blocks(t))));
    const cols = t.columns.map((c, j) => `x.${quoteIdent(c)} AS c${j + 1}`).join(', ');
    const notNull = t.columns.map((c) => `x.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
    return (
      `(SELECT ${cols}, row_number() OVER (ORDER BY md5(x.ctid::text)) AS k FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)} AS x ` +
      `TABLESAMPLE SYSTEM (${Number(pct.toPrecision(3))}) REPEATABLE (7) WHERE ${notNull}) AS s${i + 1}`
    );
  });
  const from = samples.map((s, i) => (i === 0 ? s : `JOIN ${s} USING (k)`)).join(' ');
  return `SELECT ${select.join(', ')} FROM ${from} WHERE s1.k <= ${PARAM_SETS} ORDER BY s1.k`;
}
