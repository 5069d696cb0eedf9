import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadModule, parseSync } from 'libpg-query';
import { inputError, PgoptError } from '../errors.js';
import { hashTree, rangeVarRef, relationsRead, statementLabel, stripLayout } from './ast.js';
import { defaultIndexName } from './rewrite.js';
import { checkRollbackOverride } from './rollback-override.js';
import { isComment, scanTokens, SourceText, type Token } from './source-text.js';
import type { Pack, PackObject, PackStatement, RelationRef, StatementKind } from './types.js';

let parserReady: Promise<void> | null = null;
/** libpg-query is WebAssembly: load it once, lazily, so `pgopt --version` stays fast. */
export const ensureParser = (): Promise<void> => (parserReady ??= loadModule());

/** Parse SQL text, turning a syntax error into file:line:column. */
export function parseSql(src: SourceText): { stmts: any[] } {
  try {
    return parseSync(src.text) as { stmts: any[] };
  } catch (err: any) {
    const pos = err?.sqlDetails?.cursorPosition;
    const loc = typeof pos === 'number' ? src.locationOfChar(pos) : { file: src.file, line: 1 };
    throw inputError(`syntax error: ${err?.sqlDetails?.message ?? err?.message ?? String(err)}`, loc);
  }
}

/** Pack files in file-name order. */
export function packFiles(path: string): string[] {
  if (!existsSync(path)) throw inputError(`pack not found: ${path}`);
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path)
      .filter((f) => f.endsWith('.sql'))
      .sort()
      .map((f) => join(path, f));
    if (files.length === 0) throw inputError(`pack directory ${path} holds no .sql files`);
    return files;
  }
  return [path];
}

export const packNameOf = (path: string): string => basename(path.replace(/\/+$/, '')).replace(/\.sql$/i, '');

/** Drops the pack may write for its own objects ("DROP INDEX IF EXISTS x" before "CREATE INDEX x"). */
const DROPPABLE = new Set(['OBJECT_INDEX', 'OBJECT_MATVIEW']);
const REFUSED_SETTINGS = new Set(['role', 'session_authorization']);

interface Classified {
  kind: StatementKind;
  references: RelationRef[];
  refusal?: string;
}

function classify(nodeType: string, node: Record<string, any>): Classified {
  switch (nodeType) {
    case 'IndexStmt':
      return { kind: 'create-index', references: [rangeVarRef(node.relation)] };
    case 'CreateTableAsStmt':
      if (node.objtype === 'OBJECT_MATVIEW') return { kind: 'create-matview', references: relationsRead(node.query) };
      return { kind: 'unsafe', references: [], refusal: 'CREATE TABLE AS creates a table, not an optimization object' };
    case 'VacuumStmt': {
      const full = (node.options ?? []).some((o: any) => o.DefElem?.defname === 'full');
      const rels = (node.rels ?? []).map((r: any) => rangeVarRef(r.VacuumRelation.relation));
      if (full) return { kind: 'unsafe', references: rels, refusal: 'VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock' };
      return { kind: 'analyze', references: rels };
    }
    case 'CommentStmt':
      return { kind: 'comment', references: [] };
    case 'VariableSetStmt':
      if (REFUSED_SETTINGS.has(String(node.name ?? '').toLowerCase()))
        return { kind: 'unsafe', references: [], refusal: `SET ${node.name} changes who pgopt acts as` };
      if (node.kind === 'VAR_SET_MULTI') return { kind: 'unsafe', references: [], refusal: 'SET TRANSACTION has no meaning in a pack' };
      return { kind: 'set', references: [] };
    case 'RefreshMatViewStmt':
      return { kind: 'refresh', references: [] };
    case 'DropStmt':
      if (DROPPABLE.has(node.removeType)) return { kind: 'drop-own', references: [] };
      break;
  }
  return { kind: 'unsafe', references: [], refusal: `${statementLabel(nodeType, node)} is not an additive optimization` };
}

function indexColumnNames(node: Record<string, any>): string[] {
  const elems = [...(node.indexParams ?? []), ...(node.indexIncludingParams ?? [])];
  return elems.map((e: any) => {
    const el = e.IndexElem;
    if (el.name) return el.name as string;
    const fn = el.expr?.FuncCall?.funcname;
    if (fn) return fn[fn.length - 1].String.sval as string;
    return 'expr';
  });
}

function buildObject(kind: StatementKind, node: Record<string, any>, statement: PackStatement): PackObject | undefined {
  const fingerprint = hashTree(stripLayout(node, new Set(['concurrent', 'if_not_exists'])));
  if (kind === 'create-index') {
    const table = rangeVarRef(node.relation);
    const name: string = node.idxname ?? defaultIndexName(table.name, indexColumnNames(node));
    return {
      kind: 'index',
      schema: table.schema,
      name,
      nameDerived: !node.idxname,
      table,
      unique: !!node.unique,
      method: node.accessMethod ?? 'btree',
      writtenConcurrently: !!node.concurrent,
      fingerprint,
      rollbackOverride: null,
      statement,
    };
  }
  if (kind === 'create-matview') {
    const rel = rangeVarRef(node.into.rel);
    return {
      kind: 'matview',
      schema: rel.schema,
      name: rel.name,
      nameDerived: false,
      table: null,
      unique: false,
      method: null,
      writtenConcurrently: false,
      fingerprint,
      rollbackOverride: null,
      statement,
    };
  }
  return undefined;
}

const DIRECTIVE = /^--\s*pgopt:([a-z-]+)\s?(.*)$/;

interface Directive {
  name: string;
  body: string;
  start: number;
  end: number;
}

/** `-- pgopt:rollback <sql>` lines, continued by the `--` lines right under them. */
function readDirectives(src: SourceText, tokens: Token[]): Directive[] {
  const out: Directive[] = [];
  const comments = tokens.filter((t) => t.tokenName === 'SQL_COMMENT');
  for (let i = 0; i < comments.length; i++) {
    const m = DIRECTIVE.exec(comments[i].text);
    if (!m) continue;
    const d: Directive = { name: m[1], body: m[2], start: comments[i].start, end: comments[i].end };
    let line = src.position(comments[i].start).line;
    while (i + 1 < comments.length && src.position(comments[i + 1].start).line === line + 1 && !DIRECTIVE.test(comments[i + 1].text)) {
      i++;
      line++;
      d.body += '\n' + comments[i].text.replace(/^--\s?/, '');
      d.end = comments[i].end;
    }
    out.push(d);
  }
  return out;
}

function applyRollbackDirective(src: SourceText, d: Directive, statements: PackStatement[], ends: number[]): void {
  const loc = src.location(d.start);
  let owner = -1;
  for (let i = 0; i < statements.length; i++) if (ends[i] <= d.start) owner = i;
  const stmt = statements[owner];
  if (!stmt?.object) throw inputError('-- pgopt:rollback must follow the CREATE INDEX or CREATE MATERIALIZED VIEW it undoes', loc);
  const body = new SourceText(src.file, d.body);
  let parsed: { stmts: any[] };
  try {
    parsed = parseSync(d.body) as { stmts: any[] };
  } catch (err: any) {
    throw inputError(`syntax error in -- pgopt:rollback: ${err?.sqlDetails?.message ?? err?.message}`, loc);
  }
  if (parsed.stmts.length === 0) throw inputError('-- pgopt:rollback is empty', loc);
  const sqls: string[] = [];
  for (const s of parsed.stmts) {
    const start = s.stmt_location ?? 0;
    sqls.push(body.slice(start, s.stmt_len ? start + s.stmt_len : body.bytes.length).trim());
  }
  const checked = checkRollbackOverride(sqls, stmt.object.kind, stmt.object.schema, stmt.object.name);
  if ('refused' in checked) {
    throw inputError(`-- pgopt:rollback may only drop ${stmt.object.name}, the object it follows, and nothing with it: ${checked.refused}`, loc);
  }
  stmt.object.rollbackOverride = sqls;
}

function loadFile(file: string, offset: number): PackStatement[] {
  const src = new SourceText(file, readFileSync(file, 'utf8'));
  const parsed = parseSql(src);
  const tokens = scanTokens(src.text);
  const code = tokens.filter((t) => !isComment(t));
  const statements: PackStatement[] = [];
  const ends: number[] = [];
  for (const raw of parsed.stmts) {
    const from = raw.stmt_location ?? 0;
    const to = raw.stmt_len ? from + raw.stmt_len : src.bytes.length;
    // stmt_location points just past the previous semicolon; the statement starts at its first token.
    const first = code.find((t) => t.start >= from && t.start < to);
    const start = first ? first.start : from;
    const location = src.location(start);
    const [nodeType, node] = Object.entries(raw.stmt)[0] as [string, Record<string, any>];
    if (nodeType === 'TransactionStmt') {
      throw inputError(
        'transaction control (BEGIN/COMMIT) is not allowed in a pack: pgopt runs each statement itself, and concurrent index builds cannot run inside a transaction block',
        location,
      );
    }
    const c = classify(nodeType, node);
    const statement: PackStatement = {
      ordinal: offset + statements.length,
      kind: c.kind,
      sql: src.slice(start, to).trim(),
      location,
      ast: raw.stmt,
      references: c.references,
      refusal: c.refusal,
    };
    statement.object = buildObject(c.kind, node, statement);
    statements.push(statement);
    ends.push(to);
  }
  for (const d of readDirectives(src, tokens)) {
    if (d.name !== 'rollback') throw inputError(`unknown directive "pgopt:${d.name}" (known: pgopt:rollback)`, src.location(d.start));
    applyRollbackDirective(src, d, statements, ends);
  }
  return statements;
}

export interface LoadPackOptions {
  /** Pack name; defaults to the file or directory name. */
  name?: string;
  /** Let statements that are not additive optimizations through (--allow-unsafe). */
  allowUnsafe?: boolean;
}

/**
 * Read and parse a pack. Everything that can be known without a database is checked here,
 * so a bad pack fails before pgopt connects.
 */
export async function loadPack(path: string, opts: LoadPackOptions = {}): Promise<Pack> {
  await ensureParser();
  const files = packFiles(path);
  const statements: PackStatement[] = [];
  for (const f of files) statements.push(...loadFile(f, statements.length));
  if (statements.length === 0) throw inputError(`pack ${path} holds no SQL statements`);
  const objects: PackObject[] = [];
  const seen = new Map<string, PackStatement>();
  for (const s of statements) {
    if (s.kind === 'unsafe' && !opts.allowUnsafe) {
      throw new PgoptError('input', `refused: ${s.refusal}`, {
        location: s.location,
        hint: 'packs may only add indexes and materialized views; pass --allow-unsafe to run it anyway',
      });
    }
    if (!s.object) continue;
    const prior = seen.get(s.object.name);
    if (prior) {
      throw inputError(`${s.object.name} is created twice (first at line ${prior.location.line} of ${prior.location.file})`, s.location);
    }
    seen.set(s.object.name, s);
    objects.push(s.object);
  }
  const own = new Set(objects.map((o) => o.name));
  for (const s of statements) {
    if (s.kind === 'drop-own' || s.kind === 'refresh') {
      const node = Object.values(s.ast)[0] as Record<string, any>;
      const names: string[] =
        s.kind === 'refresh'
          ? [node.relation.relname]
          : (node.objects ?? []).map((o: any) => {
              const items = o.List.items;
              return items[items.length - 1].String.sval;
            });
      const foreign = names.find((n) => !own.has(n));
      if (foreign && !opts.allowUnsafe) {
        const what = s.kind === 'refresh' ? 'REFRESH' : 'DROP';
        throw new PgoptError('input', `refused: ${what} of ${foreign}, which this pack does not create`, {
          location: s.location,
          hint: 'a pack may only drop or refresh its own objects; pass --allow-unsafe to run it anyway',
        });
      }
    }
  }
  return { name: opts.name ?? packNameOf(path), source: path, files, statements, objects };
}

