/**
 * Statements and their bind values from a PostgreSQL server log: `log_min_duration_statement` (or
 * `log_statement`) lines `execute <name>: <statement>` with `DETAIL:  parameters: $1 = '…', …`, in
 * the stderr, csvlog and jsonlog formats. Pure: the caller reads the file.
 */
import type { Node } from '@pgsql/types';
import { fingerprintSync } from 'libpg-query';
import { tryParse } from '../sql/parse.js';
import { nodeAs, walk, type AnyNode } from '../sql/tree.js';

export interface LoggedStatement {
  statement: string;
  /** $1…$n as the server printed them; null is SQL NULL. */
  params: (string | null)[];
}

/**
 * `duration: 1.2 ms  execute <unnamed>: SELECT …`, or `execute S_1: …` (log_statement), or a bind;
 * or `statement: …`, a simple-protocol query, which has no bind values.
 */
const EXECUTE = /^(?:duration: [\d.]+ ms\s+)?(?:(?:execute|bind) [^:]*|statement): ([\s\S]+)$/;

/** `$1 = 'a''b', $2 = NULL`: the values, or null when one may have been cut short (log_parameter_max_length) or the text is not that. */
export function parseParameters(detail: string): (string | null)[] | null {
  const m = /^parameters: ([\s\S]*)$/i.exec(detail.trim());
  if (!m) return null;
  const text = m[1];
  const out: (string | null)[] = [];
  let i = 0;
  while (i < text.length) {
    const head = /^\$(\d+) = /.exec(text.slice(i));
    if (!head || Number(head[1]) !== out.length + 1) return null;
    i += head[0].length;
    if (text.startsWith('NULL', i)) {
      out.push(null);
      i += 4;
    } else {
      if (text[i] !== "'") return null;
      let v = '';
      for (i++; i < text.length; i++) {
        if (text[i] !== "'") {
          v += text[i];
          continue;
        }
        if (text[i + 1] !== "'") break;
        v += "'";
        i++;
      }
      if (text[i] !== "'") return null;
      i++;
      // log_parameter_max_length cuts a value and ends it '…...' inside its quotes: a value that ends
      // so may be cut short, and a set with one is left out rather than bench run with a wrong value.
      if (v.endsWith('...')) return null;
      out.push(v);
    }
    if (text.startsWith(', ', i)) i += 2;
    else if (i < text.length) return null;
  }
  return out;
}

/** RFC 4180 records (csvlog): quoted fields may hold commas, quotes and newlines. */
function csvRecords(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const endField = () => {
    row.push(field);
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted && ch === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (ch === '"') quoted = !quoted;
    else if (quoted || (ch !== ',' && ch !== '\n' && ch !== '\r')) field += ch;
    else if (ch === ',') endField();
    else if (ch === '\n') {
      endField();
      rows.push(row);
      row = [];
    }
  }
  if (field || row.length) {
    endField();
    rows.push(row);
  }
  return rows;
}

/** message and detail pairs, whatever the format. */
function messages(text: string): { message: string; detail: string }[] {
  const first = text.trimStart();
  if (first.startsWith('{')) {
    return text
      .split('\n')
      .filter((l) => l.trim().startsWith('{'))
      .flatMap((l) => {
        try {
          const o = JSON.parse(l) as { message?: string; detail?: string };
          return [{ message: o.message ?? '', detail: o.detail ?? '' }];
        } catch {
          return [];
        }
      });
  }
  // csvlog: log_time first, error_severity 12th, message 14th, detail 15th.
  if (/^\d{4}-\d\d-\d\d [\d:.]+ \w+,/.test(first)) return csvRecords(text).map((r) => ({ message: r[13] ?? '', detail: r[14] ?? '' }));
  return stderrMessages(text);
}

/** stderr: `<prefix>LOG:  …` with tab-indented continuation lines, the DETAIL line right after it. */
function stderrMessages(text: string): { message: string; detail: string }[] {
  const out: { message: string; detail: string }[] = [];
  let last: { message: string; detail: string } | null = null;
  let into: 'message' | 'detail' | null = null;
  for (const line of text.split('\n')) {
    const m = /(LOG|DETAIL|STATEMENT|ERROR|HINT|CONTEXT|WARNING|NOTICE|FATAL): {2}(.*)$/.exec(line);
    if (line.startsWith('\t') && last && into) {
      last[into] += '\n' + line.slice(1);
    } else if (m?.[1] === 'LOG') {
      last = { message: m[2], detail: '' };
      out.push(last);
      into = 'message';
    } else if (m?.[1] === 'DETAIL' && last) {
      last.detail = m[2];
      into = 'detail';
    } else {
      into = null;
    }
  }
  return out;
}

/**
 * Every logged execution with its bind values. One without a DETAIL line bound none: its text alone
 * still tells which constants the application wrote. A DETAIL that is no full list of values (cut
 * short by log_parameter_max_length) leaves the execution out.
 */
export function readServerLog(text: string): LoggedStatement[] {
  return messages(text).flatMap(({ message, detail }) => {
    const m = EXECUTE.exec(message.trim());
    const params = m ? (detail.trim() ? parseParameters(detail) : []) : null;
    return m && params ? [{ statement: m[1], params }] : [];
  });
}

/** A statement's shape without its constants and parameter numbers (pg_query's fingerprint). */
export const shapeOf = (sql: string): string | null => {
  try {
    return fingerprintSync(sql);
  } catch {
    return null;
  }
};

/** A constant as a statement's text wrote it: its kind decides how it is written back into SQL. */
export type WrittenConstant =
  | { kind: 'string' | 'number' | 'bool' | 'null'; value: string | null }
  /** The constants of an IN list that pg_stat_statements (PostgreSQL 18) squashed into one $n. */
  | { kind: 'list'; value: string; items: WrittenConstant[] };

type Item = { param: number | null; constant: WrittenConstant | null };
/** A constant or $n, or the items of an IN list (which PostgreSQL 18's pg_stat_statements may squash into one $n). */
type Slot = Item | { list: Item[] };

function constantOf(c: {
  ival?: { ival?: number };
  fval?: { fval?: string };
  sval?: { sval?: string };
  boolval?: { boolval?: boolean };
  isnull?: boolean;
}): WrittenConstant {
  if (c.isnull) return { kind: 'null', value: null };
  if (c.sval) return { kind: 'string', value: c.sval.sval ?? '' };
  if (c.fval) return { kind: 'number', value: c.fval.fval ?? '' };
  if (c.boolval) return { kind: 'bool', value: String(!!c.boolval.boolval) };
  return { kind: 'number', value: String(c.ival?.ival ?? 0) };
}

const itemOf = (key: string, v: AnyNode): Item | null =>
  key === 'ParamRef'
    ? { param: typeof v.number === 'number' ? v.number : null, constant: null }
    : key === 'A_Const'
      ? { param: null, constant: constantOf(v as Parameters<typeof constantOf>[0]) }
      : null;

/** The constants and $n of a tree in the parser's order, those of one IN list together. */
function slots(tree: Node): Slot[] {
  const inList = new Map<AnyNode, Item[]>();
  walk(tree, (key, v) => {
    const items = key === 'A_Expr' && v.kind === 'AEXPR_IN' ? nodeAs(v.rexpr as Node, 'List')?.items : undefined;
    if (!items) return;
    const list: Item[] = [];
    walk(items, (k, x) => itemOf(k, x) && inList.set(x, list));
  });
  const out: Slot[] = [];
  walk(tree, (key, v) => {
    const item = itemOf(key, v);
    if (!item) return;
    const list = inList.get(v);
    if (!list) return out.push(item);
    if (!list.length) out.push({ list });
    list.push(item);
  });
  return out;
}

/** One logged execution, lined up with the normalized statement. */
export interface AlignedExecution {
  /** The value of each $n (null for a squashed IN list's $n: its constants are in `constants`). */
  values: (string | null)[];
  /** Where the logged text wrote a constant in place of the normalized $n (not a bind value): that constant. */
  constants: (WrittenConstant | null)[];
}

/** A normalized IN ($n) that stands for the logged list of constants: PostgreSQL 18 squashed it. */
function squashedList(a: Item[], b: Item[]): WrittenConstant | null {
  if (a.length !== 1 || a[0].param === null || b.length < 2 || b.some((x) => !x.constant)) return null;
  const items = b.map((x) => x.constant!);
  return { kind: 'list', value: JSON.stringify(items), items };
}

/** The normalized statement's items and the logged ones, pair by pair (a squashed list as one pair); null where they differ. */
function pairs(a: Slot[], b: Slot[]): [Item, Item | WrittenConstant][] | null {
  if (a.length !== b.length) return null;
  const out: [Item, Item | WrittenConstant][] = [];
  for (const [k, s] of a.entries()) {
    const o = b[k];
    if ('list' in s !== 'list' in o) return null;
    if (!('list' in s) || !('list' in o)) {
      out.push([s as Item, o as Item]);
      continue;
    }
    const squashed = squashedList(s.list, o.list);
    if (squashed) out.push([s.list[0], squashed]);
    else if (s.list.length === o.list.length) s.list.forEach((x, i) => out.push([x, o.list[i]]));
    else return null;
  }
  return out;
}

/**
 * The values of the normalized statement's $1…$count in one logged execution: its trees are the
 * same but for constants, so the k-th constant-or-parameter of one is the k-th of the other (an IN
 * list that PostgreSQL 18 squashed into one $n takes the logged list whole). A logged constant where
 * the normalized text has $n is that $n's value. Null when they do not line up.
 */
export function alignExecution(normalized: Node, logged: LoggedStatement, count: number): AlignedExecution | null {
  const tree = tryParse(logged.statement);
  if (!tree || tree.length !== 1) return null;
  const lined = pairs(slots(normalized), slots(tree[0]));
  if (!lined) return null;
  const values: (string | null | undefined)[] = Array.from({ length: count }, () => undefined);
  const constants: (WrittenConstant | null)[] = Array.from({ length: count }, () => null);
  for (const [s, other] of lined) {
    if (s.param === null) continue;
    const constant = 'kind' in other ? other : other.constant;
    const v = constant ? (constant.kind === 'list' ? null : constant.value) : logged.params[(other as Item).param! - 1];
    if (v === undefined) return null;
    values[s.param - 1] = v;
    if (constant) constants[s.param - 1] = constant;
  }
  return values.some((v) => v === undefined) ? null : { values: values as (string | null)[], constants };
}
