/**
 * Statements and their bind values from a PostgreSQL server log: `log_min_duration_statement` (or
 * `log_statement`) lines `execute <name>: <statement>` with `DETAIL:  parameters: $1 = '…', …`, in
 * the stderr, csvlog and jsonlog formats. Pure: the caller reads the file.
 */
import type { Node } from '@pgsql/types';
import { fingerprintSync } from 'libpg-query';
import { tryParse } from '../sql/parse.js';
import { walk } from '../sql/tree.js';

export interface LoggedStatement {
  statement: string;
  /** $1…$n as the server printed them; null is SQL NULL. */
  params: (string | null)[];
}

/** `duration: 1.2 ms  execute <unnamed>: SELECT …`, or `execute S_1: …` (log_statement), or a bind. */
const EXECUTE = /^(?:duration: [\d.]+ ms\s+)?(?:execute|bind) [^:]*: ([\s\S]+)$/;

/** `$1 = 'a''b', $2 = NULL`: the values, or null when one was cut short (log_parameter_max_length) or the text is not that. */
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
      if (text.startsWith('...', i)) return null;
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

/** Every logged execution with its bind values. */
export function readServerLog(text: string): LoggedStatement[] {
  return messages(text).flatMap(({ message, detail }) => {
    const m = EXECUTE.exec(message.trim());
    const params = m && detail ? parseParameters(detail) : null;
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

/** The constants and $n of a tree, in the parser's order. */
function slots(tree: Node): { param: number | null; value: string | null }[] {
  const out: { param: number | null; value: string | null }[] = [];
  walk(tree, (key, v) => {
    if (key === 'ParamRef') out.push({ param: typeof v.number === 'number' ? v.number : null, value: null });
    if (key === 'A_Const') {
      const c = v as {
        ival?: { ival?: number };
        fval?: { fval?: string };
        sval?: { sval?: string };
        boolval?: { boolval?: boolean };
        isnull?: boolean;
      };
      const value = c.isnull
        ? null
        : c.sval
          ? (c.sval.sval ?? '')
          : c.fval
            ? (c.fval.fval ?? '')
            : c.boolval
              ? String(!!c.boolval.boolval)
              : String(c.ival?.ival ?? 0);
      out.push({ param: null, value });
    }
  });
  return out;
}

/**
 * The values of the normalized statement's $1…$count in one logged execution: its trees are the
 * same but for constants, so the k-th constant-or-parameter of one is the k-th of the other. A
 * logged constant where the normalized text has $n is that $n's value. Null when they do not line up.
 */
export function alignValues(normalized: Node, logged: LoggedStatement, count: number): (string | null)[] | null {
  const tree = tryParse(logged.statement);
  if (!tree || tree.length !== 1) return null;
  const a = slots(normalized);
  const b = slots(tree[0]);
  if (a.length !== b.length) return null;
  const values: (string | null | undefined)[] = Array.from({ length: count }, () => undefined);
  for (const [k, s] of a.entries()) {
    if (s.param === null) continue;
    const other = b[k];
    const v = other.param !== null ? logged.params[other.param - 1] : other.value;
    if (v === undefined) return null;
    values[s.param - 1] = v;
  }
  return values.some((v) => v === undefined) ? null : (values as (string | null)[]);
}
