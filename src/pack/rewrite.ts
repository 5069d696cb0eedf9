import { quoteIdent } from '../db/ident.js';
import type { Node } from '@pgsql/types';
import { nodeAs, nodeType, type NodeType } from '../sql/tree.js';
import { isComment, scanTokens, type Token } from '../sql/source-text.js';

/**
 * Rewrites of pack statements, done on PostgreSQL's own tokens so everything after the
 * relation (columns, opclasses, INCLUDE, WITH, WHERE, dollar quotes, comments) is kept
 * byte for byte as the DBA wrote it.
 */

const kw = (t: Token | undefined, word: string) => !!t && t.keywordName !== 'NO_KEYWORD' && t.text.toUpperCase() === word;

interface IndexHead {
  unique: boolean;
  /** byte offset where the relation name starts and ends */
  relStart: number;
  relEnd: number;
  only: boolean;
  /** byte offset of the text after the relation (USING … / column list) */
  restStart: number;
}

function code(sql: string): { tokens: Token[]; buf: Buffer } {
  return { tokens: scanTokens(sql).filter((t) => !isComment(t)), buf: Buffer.from(sql, 'utf8') };
}

function readIndexHead(tokens: Token[]): IndexHead {
  let i = 0;
  const expect = (word: string) => {
    if (!kw(tokens[i], word)) throw new Error(`unexpected token "${tokens[i]?.text}" in CREATE INDEX`);
    i++;
  };
  expect('CREATE');
  const unique = kw(tokens[i], 'UNIQUE');
  if (unique) i++;
  expect('INDEX');
  if (kw(tokens[i], 'CONCURRENTLY')) i++;
  if (kw(tokens[i], 'IF') && kw(tokens[i + 1], 'NOT') && kw(tokens[i + 2], 'EXISTS')) i += 3;
  if (!kw(tokens[i], 'ON')) i++; // the index name
  expect('ON');
  const only = kw(tokens[i], 'ONLY');
  if (only) i++;
  const relStart = tokens[i].start;
  let relEnd = tokens[i].end;
  i++;
  while (tokens[i]?.text === '.' && tokens[i + 1]) {
    relEnd = tokens[i + 1].end;
    i += 2;
  }
  return { unique, relStart, relEnd, only, restStart: tokens[i]?.start ?? relEnd };
}

export interface IndexRewrite {
  name: string;
  /** Replacement relation text (already quoted); the original when omitted. */
  relation?: string;
  concurrently: boolean;
  ifNotExists?: boolean;
  /** ON ONLY: the index of a partitioned table alone, its partitions' indexes attached later. */
  only?: boolean;
}

/** CREATE INDEX with a given name, relation and CONCURRENTLY choice, the rest unchanged. */
export function rewriteIndexSql(sql: string, rw: IndexRewrite): string {
  const { tokens, buf } = code(sql);
  const head = readIndexHead(tokens);
  const relation = rw.relation ?? buf.subarray(head.relStart, head.relEnd).toString('utf8');
  const rest = buf.subarray(head.restStart).toString('utf8');
  return [
    'CREATE',
    head.unique ? 'UNIQUE' : '',
    'INDEX',
    rw.concurrently ? 'CONCURRENTLY' : '',
    rw.ifNotExists ? 'IF NOT EXISTS' : '',
    quoteIdent(rw.name),
    'ON',
    head.only || rw.only ? 'ONLY' : '',
    relation,
    rest,
  ]
    .filter(Boolean)
    .join(' ');
}

/**
 * The parts of CREATE MATERIALIZED VIEW: the head up to AS, the query, and whether it
 * ends WITH [NO] DATA. Used to create the view empty during the dry run.
 */
export function splitMatviewSql(sql: string): { head: string; query: string; withData: boolean } {
  const { tokens, buf } = code(sql);
  let depth = 0;
  let asAt = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    else if (depth === 0 && kw(t, 'AS')) {
      asAt = i;
      break;
    }
  }
  if (asAt < 0) throw new Error('CREATE MATERIALIZED VIEW without AS');
  let end = tokens.length;
  let withData = true;
  const last = tokens[end - 1]?.text === ';' ? end - 1 : end;
  end = last;
  if (kw(tokens[end - 1], 'DATA') && kw(tokens[end - 2], 'NO') && kw(tokens[end - 3], 'WITH')) {
    withData = false;
    end -= 3;
  } else if (kw(tokens[end - 1], 'DATA') && kw(tokens[end - 2], 'WITH')) {
    end -= 2;
  }
  const head = buf.subarray(0, tokens[asAt].start).toString('utf8').trim();
  const query = buf
    .subarray(tokens[asAt].end, tokens[end - 1].end)
    .toString('utf8')
    .trim();
  return { head, query, withData };
}

const NAMEDATALEN = 64;

/** Truncate to PostgreSQL's identifier limit without splitting a UTF-8 character. */
function truncateBytes(s: string, max: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
}

const lastString = (list: Node[] | undefined): string | null => {
  let out: string | null = null;
  for (const x of list ?? []) out = nodeAs(x, 'String')?.sval ?? out;
  return out;
};

const MINMAX: Record<string, string> = { IS_GREATEST: 'greatest', IS_LEAST: 'least' };
type Figured = { name: string | null; strength: number };
const NONE: Figured = { name: null, strength: 0 };
const named = (name: string | null): Figured => (name ? { name, strength: 2 } : NONE);
/** Expressions PostgreSQL names by their kind alone. */
const KIND_NAMES: Partial<Record<NodeType, string>> = {
  A_ArrayExpr: 'array',
  RowExpr: 'row',
  CoalesceExpr: 'coalesce',
  GroupingFunc: 'grouping',
};

/**
 * The column name PostgreSQL figures for an index expression (FigureColnameInternal in
 * parse_target.c): 2 = a name the expression clearly has, 1 = a fallback (a cast's type, "case"),
 * 0 = none (the index column is then "expr").
 */
function figureColname(node: Node | undefined): Figured {
  if (!node) return NONE;
  const kindName = KIND_NAMES[nodeType(node)];
  if (kindName) return named(kindName);
  const column = nodeAs(node, 'ColumnRef');
  if (column) return named(lastString(column.fields));
  const ind = nodeAs(node, 'A_Indirection');
  if (ind) return lastString(ind.indirection) ? named(lastString(ind.indirection)) : figureColname(ind.arg);
  const call = nodeAs(node, 'FuncCall');
  if (call) return { name: lastString(call.funcname), strength: 2 };
  const expr = nodeAs(node, 'A_Expr');
  if (expr) return expr.kind === 'AEXPR_NULLIF' ? named('nullif') : NONE;
  const cast = nodeAs(node, 'TypeCast');
  if (cast) {
    const inner = figureColname(cast.arg);
    return inner.strength <= 1 && cast.typeName ? { name: lastString(cast.typeName.names), strength: 1 } : inner;
  }
  const collate = nodeAs(node, 'CollateClause');
  if (collate) return figureColname(collate.arg);
  const kase = nodeAs(node, 'CaseExpr');
  if (kase) {
    const inner = figureColname(kase.defresult);
    return inner.strength <= 1 ? { name: 'case', strength: 1 } : inner;
  }
  const minmax = nodeAs(node, 'MinMaxExpr');
  return minmax ? named(MINMAX[minmax.op ?? ''] ?? null) : NONE;
}

/**
 * Index column names as PostgreSQL chooses them for an unnamed index (ChooseIndexColumnNames):
 * a column's name, else the name figured from the expression, else "expr"; a name equal to an
 * earlier one gets 1, 2, … appended (`lower`, `lower1`). INCLUDE columns count too.
 */
export function indexColumnNames(elems: Node[]): string[] {
  const out: string[] = [];
  for (const el of elems.map((e) => nodeAs(e, 'IndexElem') ?? {})) {
    const orig: string = el.indexcolname ?? el.name ?? (el.expr ? figureColname(el.expr).name : null) ?? 'expr';
    let cur = orig;
    for (let i = 1; out.includes(cur); i++) cur = truncateBytes(orig, NAMEDATALEN - 1 - String(i).length) + String(i);
    out.push(cur);
  }
  return out;
}

/**
 * The name PostgreSQL would give an unnamed index (ChooseIndexName): table, columns
 * ("expr" or the function name for expressions), "idx". pgopt writes it explicitly so
 * apply, verify and rollback agree on it whatever else exists.
 */
export function defaultIndexName(table: string, columns: string[]): string {
  const addition = truncateBytes(columns.join('_'), NAMEDATALEN - 1);
  const label = 'idx';
  let name1 = table;
  let name2 = addition;
  const overhead = label.length + 2 + (name2 ? 0 : -1);
  const avail = NAMEDATALEN - 1 - overhead;
  // Like makeObjectName: shorten the longer part first until both fit.
  while (Buffer.byteLength(name1) + Buffer.byteLength(name2) > avail) {
    if (Buffer.byteLength(name1) > Buffer.byteLength(name2)) name1 = truncateBytes(name1, Buffer.byteLength(name1) - 1);
    else name2 = truncateBytes(name2, Buffer.byteLength(name2) - 1);
  }
  return [name1, name2, label].filter(Boolean).join('_');
}

/** CREATE MATERIALIZED VIEW under another name, WITH NO DATA: the dry run's cheap stand-in. */
export function rewriteMatviewSql(sql: string, relation: string): string {
  const { head, query } = splitMatviewSql(sql);
  const { tokens, buf } = code(head);
  let i = 0;
  while (i < tokens.length && !kw(tokens[i], 'VIEW')) i++;
  i++;
  if (kw(tokens[i], 'IF') && kw(tokens[i + 1], 'NOT') && kw(tokens[i + 2], 'EXISTS')) i += 3;
  let j = i + 1;
  while (tokens[j]?.text === '.' && tokens[j + 1]) j += 2;
  const after = tokens[j] ? buf.subarray(tokens[j].start).toString('utf8') : '';
  return `CREATE MATERIALIZED VIEW ${relation} ${after} AS ${query} WITH NO DATA`;
}
