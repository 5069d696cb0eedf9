import { readFileSync, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { createHash } from 'node:crypto';
import { parseSync } from 'libpg-query';
import { inputError, PgoptError, type SourceLocation } from '../errors.js';
import { nonTransactionalCalls } from './workload-rules.js';
import { ensureParser } from '../pack/load-pack.js';
import { stripLayout } from '../pack/ast.js';
import { isComment, scanTokens, SourceText, type Token } from '../pack/source-text.js';

/** A CI expectation on a query's plan or speed. */
export type Expectation =
  | { kind: 'uses-index'; index: string; text: string }
  | { kind: 'no-seq-scan'; table: string; text: string }
  | { kind: 'under-ms'; ms: number; text: string };

/** One form of a query: the raw one, or the one used once `whenExists` exists. */
export interface QueryForm {
  sql: string;
  location: SourceLocation;
  /** Object (view or index) whose existence selects this form; null for the raw form. */
  whenExists: string | null;
  /** Whether the statement only reads (SELECT without locking clauses or data-modifying CTEs). */
  readOnly: boolean;
  /** Number of $n parameters the statement uses. */
  paramCount: number;
}

export interface WorkloadQuery {
  name: string;
  description: string;
  /** SQL whose rows supply $1..$n; measured runs cycle through them. */
  params: string | null;
  paramsLocation: SourceLocation | null;
  forms: QueryForm[];
  expectations: Expectation[];
}

export interface Workload {
  name: string;
  source: string;
  queries: WorkloadQuery[];
  /** Hash of the workload's meaning (parse trees and directives), for comparing baselines. */
  checksum: string;
}

export const DIRECTIVES = ['name', 'params', 'when-exists', 'expect'] as const;
const DIRECTIVE = /^--\s*(name|params|when-exists|expect):\s*(.*)$/;

/** Edit distance with adjacent swaps (Damerau–Levenshtein, optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * A comment line is a directive only when it is exactly one (`-- name:`, lower case). One that
 * looks like a mistyped directive — the same word in other capitals, or one edit away
 * (`-- parms:`, `-- expects:`, `-- Name:`) — is an error with the directive it resembles.
 * Anything else (`-- Audit: …`, `-- See: https://…`, `-- Note: …`) describes the query.
 */
export function nearMissDirective(line: string): string | null {
  const m = /^--\s*([A-Za-z][A-Za-z_ -]{0,20}?)\s*:/.exec(line);
  if (!m || DIRECTIVE.test(line)) return null;
  const word = m[1].toLowerCase();
  return DIRECTIVES.find((d) => editDistance(word, d) <= 1) ?? null;
}

interface Directive {
  key: string;
  value: string;
  location: SourceLocation;
}

function maxParam(tree: unknown): number {
  let max = 0;
  const visit = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(visit);
    else if (n && typeof n === 'object') {
      for (const [k, v] of Object.entries(n)) {
        if (k === 'ParamRef') max = Math.max(max, (v as { number?: number }).number ?? 0);
        visit(v);
      }
    }
  };
  visit(tree);
  return max;
}

function isReadOnly(stmt: Record<string, any>): boolean {
  const sel = stmt.SelectStmt;
  if (!sel) return false;
  if (sel.lockingClause?.length || sel.intoClause) return false;
  let writes = false;
  const visit = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(visit);
    else if (n && typeof n === 'object') {
      for (const [k, v] of Object.entries(n)) {
        if (k === 'InsertStmt' || k === 'UpdateStmt' || k === 'DeleteStmt' || k === 'MergeStmt') writes = true;
        visit(v);
      }
    }
  };
  visit(sel.withClause);
  return !writes;
}

function refuseNonTransactional(tree: unknown, what: string, location: SourceLocation): void {
  const calls = nonTransactionalCalls(tree);
  if (!calls.length) return;
  throw inputError(
    `${what} calls ${calls.map((f) => `${f.name}()`).join(', ')}: ${calls[0].why}, so bench (which rolls every run back) would change things for real`,
    location,
    'bench measures only what ROLLBACK undoes; see "What bench does not undo" in the README',
  );
}

function parseExpectation(value: string, loc: SourceLocation): Expectation {
  const v = value.trim();
  let m = /^uses index\s+(\S+)$/i.exec(v);
  if (m) return { kind: 'uses-index', index: m[1], text: v };
  m = /^no seq scan on\s+(\S+)$/i.exec(v);
  if (m) return { kind: 'no-seq-scan', table: m[1], text: v };
  m = /^under\s+(\d+(?:\.\d+)?)\s*ms$/i.exec(v);
  if (m) return { kind: 'under-ms', ms: Number(m[1]), text: v };
  throw inputError(`unknown expectation "${v}" (use: uses index <name> | no seq scan on <table> | under <n> ms)`, loc);
}

/** Directives in the comments between two statements; `--` lines right under params continue it. */
function readDirectives(src: SourceText, comments: Token[]): { directives: Directive[]; description: string[] } {
  const directives: Directive[] = [];
  const description: string[] = [];
  let last: Directive | null = null;
  let lastLine = -1;
  for (const c of comments) {
    if (c.tokenName !== 'SQL_COMMENT') continue;
    const loc = src.location(c.start);
    const m = DIRECTIVE.exec(c.text);
    if (m) {
      last = { key: m[1], value: m[2].trim(), location: loc };
      directives.push(last);
    } else if (last?.key === 'params' && loc.line === lastLine + 1 && /^--\s{2,}/.test(c.text)) {
      // A newline, not a space: an inline `--` comment on a continuation line must end there.
      last.value += '\n' + c.text.replace(/^--\s*/, '');
    } else {
      last = null;
      const text = c.text.replace(/^--\s?/, '');
      const meant = nearMissDirective(c.text);
      if (meant) {
        throw inputError(`unknown directive "${c.text.replace(/^--\s*/, '').split(':')[0].trim()}:" (did you mean "-- ${meant}:"?)`, loc, 'directives are lower case: name, params, when-exists, expect; other comment lines describe the query');
      }
      description.push(text.trim());
    }
    lastLine = loc.line;
  }
  return { directives, description };
}

/** Parse a workload file: named queries, their parameters, alternative forms and expectations. */
export async function loadWorkload(path: string): Promise<Workload> {
  await ensureParser();
  if (!existsSync(path)) throw inputError(`workload not found: ${path}`);
  const src = new SourceText(path, readFileSync(path, 'utf8'));
  let parsed: { stmts: any[] };
  try {
    parsed = parseSync(src.text) as { stmts: any[] };
  } catch (err: any) {
    const pos = err?.sqlDetails?.cursorPosition;
    throw inputError(`syntax error: ${err?.sqlDetails?.message ?? err?.message}`, typeof pos === 'number' ? src.locationOfChar(pos) : { file: path, line: 1 });
  }
  const tokens = scanTokens(src.text);
  const queries: WorkloadQuery[] = [];
  let prevEnd = 0;
  for (const raw of parsed.stmts) {
    const from = raw.stmt_location ?? 0;
    const to = raw.stmt_len ? from + raw.stmt_len : src.bytes.length;
    const first = tokens.find((t) => t.start >= from && t.start < to && !isComment(t));
    const start = first ? first.start : from;
    const comments = tokens.filter((t) => isComment(t) && t.start >= prevEnd && t.start < start);
    prevEnd = to;
    const location = src.location(start);
    const { directives, description } = readDirectives(src, comments);
    const get = (key: string) => directives.filter((d) => d.key === key);
    const name = get('name')[0];
    if (!name) throw inputError('query without a name: put "-- name: <id>" above it', location);
    if (!/^[A-Za-z0-9_.-]+$/.test(name.value)) throw inputError(`query name "${name.value}" may only hold letters, digits, _ . -`, name.location);
    if (get('name').length > 1) throw inputError('two "-- name:" lines above one query', get('name')[1].location);
    const whenExists = get('when-exists')[0]?.value ?? null;
    const stmt = raw.stmt as Record<string, any>;
    refuseNonTransactional(stmt, `query "${name.value}"`, location);
    const form: QueryForm = {
      sql: src.slice(start, to).trim(),
      location,
      whenExists,
      readOnly: isReadOnly(stmt),
      paramCount: maxParam(stmt),
    };
    const params = get('params')[0] ?? null;
    if (params) {
      try {
        const p = parseSync(params.value) as { stmts: any[] };
        if (p.stmts.length !== 1 || !p.stmts[0].stmt.SelectStmt) throw new Error('must be a single SELECT (or VALUES)');
        if (!isReadOnly(p.stmts[0].stmt)) throw new Error('must only read: no data-modifying WITH, SELECT INTO or FOR UPDATE (it runs in a read-only transaction)');
        refuseNonTransactional(p.stmts[0].stmt, 'params', params.location);
      } catch (err: any) {
        if (err instanceof PgoptError) throw err;
        throw inputError(`params: ${err?.sqlDetails?.message ?? err?.message}`, params.location);
      }
    }
    const expectations = get('expect').map((d) => parseExpectation(d.value, d.location));
    const existing = queries.find((q) => q.name === name.value);
    if (existing) {
      if (!whenExists) throw inputError(`query "${name.value}" is named twice; an alternative form needs "-- when-exists: <object>"`, name.location);
      if (existing.forms.some((f) => f.whenExists === whenExists)) throw inputError(`query "${name.value}" has two forms for ${whenExists}`, location);
      if (params) throw inputError('an alternative form shares the parameters of the query it replaces: remove its "-- params:"', params.location);
      existing.forms.push(form);
      existing.expectations.push(...expectations);
      continue;
    }
    if (whenExists) throw inputError(`"-- when-exists:" on the first form of "${name.value}": the raw form comes first`, location);
    if (form.paramCount > 0 && !params) throw inputError(`query "${name.value}" uses $${form.paramCount} but has no "-- params:" query`, location);
    queries.push({
      name: name.value,
      description: description.filter(Boolean).join(' '),
      params: params?.value ?? null,
      paramsLocation: params?.location ?? null,
      forms: [form],
      expectations,
    });
  }
  if (queries.length === 0) throw inputError(`workload ${path} holds no queries`);
  const checksum = createHash('sha256')
    .update(JSON.stringify(queries.map((q) => ({ n: q.name, p: q.params, f: q.forms.map((f) => [f.whenExists, (parseSync(f.sql) as any).stmts.map((s: any) => JSON.stringify(stripLayout(s.stmt)))]) }))))
    .digest('hex')
    .slice(0, 16);
  return { name: basename(path).replace(/\.sql$/i, ''), source: path, queries, checksum };
}
