import { readFileSync, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { createHash } from 'node:crypto';
import type { Node } from '@pgsql/types';
import { inputError, type SourceLocation } from '../errors.js';
import { nonTransactionalCalls } from './workload-rules.js';
import { ensureParser, parseAt, parseFile, type SqlStatement } from '../sql/parse.js';
import { highestParam, nodeAs, stripLayout, walk } from '../sql/tree.js';
import type { SourceText, Token } from '../sql/source-text.js';

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
  /**
   * The query and its params run with this role's rights (queryAsRole), never the caller's: the
   * write probes pgopt generates against another role's table, and a captured statement another
   * role ran in production (`-- run-as:`).
   */
  runAs?: string;
  /** How often production runs it (`-- calls-per-hour:`, written by capture): time saved is weighed by it. */
  callsPerHour?: number;
  /**
   * `-- values-from: none`: capture found no values for its $n. bench cannot run it; advise judges an
   * index for it by the planner's generic plan, and weighs what it saves by `productionMeanMs`.
   */
  planOnly?: boolean;
  /** Its mean execution time in production (`-- mean-ms:`, written by capture). */
  productionMeanMs?: number;
}

export interface Workload {
  name: string;
  source: string;
  queries: WorkloadQuery[];
  /** Hash of the workload's meaning (parse trees and directives), for comparing baselines. */
  checksum: string;
}

export const DIRECTIVES = ['name', 'params', 'when-exists', 'expect', 'calls-per-hour', 'run-as', 'values-from', 'mean-ms'] as const;
const DIRECTIVE = /^--\s*(name|params|when-exists|expect|calls-per-hour|run-as|values-from|mean-ms):\s*(.*)$/;

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

const WRITES = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/** A SELECT without locking clauses, SELECT INTO or data-modifying WITH: it can run READ ONLY. */
function isReadOnly(stmt: Node): boolean {
  const sel = nodeAs(stmt, 'SelectStmt');
  if (!sel) return false;
  if (sel.lockingClause?.length || sel.intoClause) return false;
  let writes = false;
  walk(sel.withClause, (key) => {
    if (WRITES.has(key)) writes = true;
  });
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
        throw inputError(
          `unknown directive "${c.text
            .replace(/^--\s*/, '')
            .split(':')[0]
            .trim()}:" (did you mean "-- ${meant}:"?)`,
          loc,
          'directives are lower case: name, params, when-exists, expect; other comment lines describe the query',
        );
      }
      description.push(text.trim());
    }
    lastLine = loc.line;
  }
  return { directives, description };
}

/** The `-- params:` query: one read-only SELECT (or VALUES) that changes nothing ROLLBACK cannot undo. */
function checkParams(params: Directive): void {
  const stmts = parseAt(params.value, params.location, 'params');
  try {
    if (stmts.length !== 1 || !nodeAs(stmts[0], 'SelectStmt')) throw new Error('must be a single SELECT (or VALUES)');
    if (!isReadOnly(stmts[0]))
      throw new Error('must only read: no data-modifying WITH, SELECT INTO or FOR UPDATE (it runs in a read-only transaction)');
  } catch (err) {
    throw inputError(`params: ${(err as Error).message}`, params.location);
  }
  refuseNonTransactional(stmts[0], 'params', params.location);
}

/** One statement of the file with the directives in the comments above it. */
interface Entry {
  name: Directive;
  whenExists: string | null;
  params: Directive | null;
  callsPerHour: Directive | null;
  runAs: Directive | null;
  /** `-- values-from: none`. */
  noValues: Directive | null;
  meanMs: Directive | null;
  description: string[];
  form: QueryForm;
  expectations: Expectation[];
}

function readEntry(src: SourceText, raw: SqlStatement): Entry {
  const { directives, description } = readDirectives(src, raw.comments);
  const get = (key: string) => directives.filter((d) => d.key === key);
  const name = get('name')[0];
  if (!name) throw inputError('query without a name: put "-- name: <id>" above it', raw.location);
  if (!/^[A-Za-z0-9_.-]+$/.test(name.value))
    throw inputError(`query name "${name.value}" may only hold letters, digits, _ . -`, name.location);
  if (get('name').length > 1) throw inputError('two "-- name:" lines above one query', get('name')[1].location);
  refuseNonTransactional(raw.node, `query "${name.value}"`, raw.location);
  const whenExists = get('when-exists')[0]?.value ?? null;
  const form: QueryForm = {
    sql: raw.sql,
    location: raw.location,
    whenExists,
    readOnly: isReadOnly(raw.node),
    paramCount: highestParam(raw.node),
  };
  const params = get('params')[0] ?? null;
  if (params) checkParams(params);
  const expectations = get('expect').map((d) => parseExpectation(d.value, d.location));
  const callsPerHour = get('calls-per-hour')[0] ?? null;
  if (callsPerHour && !/^\d+(\.\d+)?(e[+-]?\d+)?$/i.test(callsPerHour.value))
    throw inputError(`calls-per-hour must be a number of calls, not "${callsPerHour.value}"`, callsPerHour.location);
  const runAs = get('run-as')[0] ?? null;
  if (runAs && !runAs.value) throw inputError('run-as needs a role name', runAs.location);
  const noValues = get('values-from')[0] ?? null;
  if (noValues && noValues.value !== 'none')
    throw inputError(`values-from: the one value is "none", not "${noValues.value}"`, noValues.location);
  if (noValues && params) throw inputError('"-- values-from: none" and a "-- params:" query contradict each other', noValues.location);
  // advise plans such a query as the caller: another role's statement would plan with the caller's rights.
  if (noValues && runAs)
    throw inputError('"-- values-from: none" cannot go with "-- run-as:": give it a "-- params:" query', noValues.location);
  const meanMs = get('mean-ms')[0] ?? null;
  if (meanMs && !/^\d+(\.\d+)?(e[+-]?\d+)?$/i.test(meanMs.value))
    throw inputError(`mean-ms must be a number of milliseconds, not "${meanMs.value}"`, meanMs.location);
  return { name, whenExists, params, description, form, expectations, callsPerHour, runAs, noValues, meanMs };
}

/** A second entry of one name: the form used once `when-exists` names an object that exists. */
function addAlternative(existing: WorkloadQuery, e: Entry): void {
  const name = e.name.value;
  if (!e.whenExists)
    throw inputError(`query "${name}" is named twice; an alternative form needs "-- when-exists: <object>"`, e.name.location);
  if (existing.forms.some((f) => f.whenExists === e.whenExists))
    throw inputError(`query "${name}" has two forms for ${e.whenExists}`, e.form.location);
  if (e.params)
    throw inputError('an alternative form shares the parameters of the query it replaces: remove its "-- params:"', e.params.location);
  const own = e.callsPerHour ?? e.runAs ?? e.noValues ?? e.meanMs;
  if (own) throw inputError(`an alternative form shares the "-- ${own.key}:" of the query it replaces: remove it`, own.location);
  existing.forms.push(e.form);
  existing.expectations.push(...e.expectations);
}

function firstForm(e: Entry): WorkloadQuery {
  const name = e.name.value;
  if (e.whenExists) throw inputError(`"-- when-exists:" on the first form of "${name}": the raw form comes first`, e.form.location);
  if (e.form.paramCount > 0 && !e.params && !e.noValues)
    throw inputError(`query "${name}" uses $${e.form.paramCount} but has no "-- params:" query`, e.form.location);
  const description = e.description.filter(Boolean).join(' ');
  return {
    name,
    description,
    params: e.params?.value ?? null,
    paramsLocation: e.params?.location ?? null,
    forms: [e.form],
    expectations: e.expectations,
    ...(e.runAs ? { runAs: e.runAs.value } : {}),
    ...(e.callsPerHour ? { callsPerHour: Number(e.callsPerHour.value) } : {}),
    ...(e.noValues ? { planOnly: true } : {}),
    ...(e.meanMs ? { productionMeanMs: Number(e.meanMs.value) } : {}),
  };
}

/** Hash of what the workload means (parse trees and directives, not layout), to compare baselines. */
function workloadChecksum(queries: WorkloadQuery[], trees: Map<QueryForm, Node>): string {
  const meaning = queries.map((q) => ({
    n: q.name,
    p: q.params,
    ...(q.runAs ? { r: q.runAs } : {}),
    ...(q.planOnly ? { v: 'none' } : {}),
    f: q.forms.map((f) => [f.whenExists, [JSON.stringify(stripLayout(trees.get(f)))]]),
  }));
  return createHash('sha256').update(JSON.stringify(meaning)).digest('hex').slice(0, 16);
}

/** Parse a workload file: named queries, their parameters, alternative forms and expectations. */
export async function loadWorkload(path: string): Promise<Workload> {
  await ensureParser();
  if (!existsSync(path)) throw inputError(`workload not found: ${path}`);
  const parsed = parseFile(path, readFileSync(path, 'utf8'));
  const queries: WorkloadQuery[] = [];
  const trees = new Map<QueryForm, Node>();
  for (const raw of parsed.statements) {
    const entry = readEntry(parsed.src, raw);
    trees.set(entry.form, raw.node);
    const existing = queries.find((q) => q.name === entry.name.value);
    if (existing) addAlternative(existing, entry);
    else queries.push(firstForm(entry));
  }
  if (queries.length === 0) throw inputError(`workload ${path} holds no queries`);
  return { name: basename(path).replace(/\.sql$/i, ''), source: path, queries, checksum: workloadChecksum(queries, trees) };
}
