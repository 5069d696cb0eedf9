import { loadModule, parseSync } from 'libpg-query';
import type { Node, RawStmt } from '@pgsql/types';
import { inputError, type SourceLocation } from '../errors.js';
import { isComment, scanTokens, SourceText, type Token } from './source-text.js';
import { nodeType, type NodeType } from './tree.js';

let parserReady: Promise<void> | null = null;
/** libpg-query is WebAssembly: load it once, lazily, so `pgopt --version` stays fast. */
export const ensureParser = (): Promise<void> => (parserReady ??= loadModule());

/** One statement of a SQL file, as PostgreSQL's parser cut it. */
export interface SqlStatement {
  /** The statement's text from its first token (no comments before it, no semicolon). */
  sql: string;
  /** Byte offsets into the file: first token, end of the statement. */
  start: number;
  end: number;
  location: SourceLocation;
  /** The parse tree, e.g. `{ IndexStmt: … }`. */
  node: Node;
  type: NodeType;
  /** Comments between the previous statement and this one. */
  comments: Token[];
}

/** A parsed file: its statements and every token (directives live in comments). */
export interface SqlFile {
  src: SourceText;
  statements: SqlStatement[];
  tokens: Token[];
}

/** What libpg-query throws on a syntax error. */
interface ParserError {
  message?: string;
  sqlDetails?: { message?: string; cursorPosition?: number };
}

/** Quoted text in a message is cut to this many characters: a 10 kB identifier must not make a 10 kB error line. */
const QUOTED_MAX = 80;
const shortenQuotes = (m: string) => m.replace(/"([^"]{80,})"/g, (_all, q: string) => `"${q.slice(0, QUOTED_MAX)}…"`);

const parserMessage = (err: unknown): string => {
  const e = (err ?? {}) as ParserError;
  const oneLine = (e.sqlDetails?.message ?? e.message ?? String(err)).replace(/\s*[\r\n]+\s*/g, ' ');
  const m = shortenQuotes(oneLine);
  return m.length > 300 ? `${m.slice(0, 300)}…` : m;
};

/** Parse text whose statements are reported at `where` (a directive's line, say). */
export function parseAt(sql: string, where: SourceLocation, what = 'syntax error'): Node[] {
  try {
    return (parseSync(sql).stmts ?? []).map((s) => s.stmt as Node);
  } catch (err) {
    throw inputError(`${what}: ${parserMessage(err)}`, where);
  }
}

/** The statements of `sql`, or null when it does not parse (the caller says what that means). */
export function tryParse(sql: string): Node[] | null {
  try {
    return (parseSync(sql).stmts ?? []).map((s) => s.stmt as Node);
  } catch {
    return null;
  }
}

/** Parse SQL that PostgreSQL itself wrote (pg_get_indexdef, pg_get_viewdef): an error there is a bug. */
export function parseTrusted(sql: string): Node {
  const first = parseSync(sql).stmts?.[0]?.stmt;
  if (!first) throw new Error(`the parser returned no statement for: ${sql}`);
  return first;
}

function scanOrNull(text: string): Token[] | null {
  try {
    return scanTokens(text);
  } catch {
    return null;
  }
}

function parseRaw(src: SourceText): RawStmt[] {
  try {
    return parseSync(src.text).stmts ?? [];
  } catch (err) {
    const pos = (err as ParserError)?.sqlDetails?.cursorPosition;
    const loc = typeof pos === 'number' ? src.locationOfChar(pos) : { file: src.file, line: 1 };
    throw inputError(`syntax error: ${parserMessage(err)}`, loc);
  }
}

/**
 * Parse a file, syntax errors as file:line:column, each statement with the comments above it. A
 * UTF-8 BOM (some editors write one) is not part of the SQL; a file of comments alone has no
 * statements (the parser would call it a syntax error).
 */
export function parseFile(file: string, text: string): SqlFile {
  const src = new SourceText(file, text.replace(/^\uFEFF/, ''));
  const tokens = scanOrNull(src.text);
  // The parser reports what the scanner chokes on (an unterminated quote) with a position.
  const raws = tokens?.every(isComment) ? [] : parseRaw(src);
  if (!tokens) throw inputError('syntax error: the SQL cannot be split into tokens', { file, line: 1 });
  // Statements and tokens both come in file order: one walk over the tokens, not one per statement.
  let next = 0;
  const statements = raws.map((raw): SqlStatement => {
    const from = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? from + raw.stmt_len : src.bytes.length;
    // stmt_location points just past the previous semicolon; the statement starts at its first token.
    const comments: Token[] = [];
    let start = from;
    for (; next < tokens.length && tokens[next].start < end; next++) {
      const t = tokens[next];
      if (!isComment(t)) {
        if (t.start >= from) {
          start = t.start;
          break;
        }
      } else comments.push(t);
    }
    while (next < tokens.length && tokens[next].start < end) next++;
    const node = raw.stmt as Node;
    return { sql: src.slice(start, end).trim(), start, end, location: src.location(start), node, type: nodeType(node), comments };
  });
  return { src, statements, tokens };
}
