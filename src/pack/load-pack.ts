import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadModule, parseSync } from 'libpg-query';
import { inputError, PgoptError } from '../errors.js';
import { hashTree, rangeVarRef, relationsRead, statementLabel, stripLayout } from './ast.js';
import { defaultIndexName, indexColumnNames } from './rewrite.js';
import { checkRollbackOverride } from './rollback-override.js';
import { allowedTarget, COMMENTABLE, displayRef, statementTargets, writtenCandidates, writtenSchema, type Targets } from './targets.js';
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
/**
 * Settings a pack may SET for its own builds: memory, parallelism, I/O and statistics. Anything
 * else is refused without --allow-unsafe (README, "Pack format").
 */
export const PACK_SETTINGS = [
  'maintenance_work_mem',
  'work_mem',
  'max_parallel_maintenance_workers',
  'max_parallel_workers',
  'max_parallel_workers_per_gather',
  'maintenance_io_concurrency',
  'effective_io_concurrency',
  'default_statistics_target',
  'temp_buffers',
  'synchronous_commit',
  'client_min_messages',
  'jit',
] as const;
const ALLOWED_SETTINGS = new Set<string>(PACK_SETTINGS);

/**
 * Never, not even with --allow-unsafe: who pgopt acts as; how the server lexes the pack (with
 * standard_conforming_strings off, 'x\' ends a literal one place earlier for the server than for
 * the parser pgopt checks the pack with); and search_path (pgopt resolves the pack's names before
 * anything runs, so a later SET search_path would build elsewhere than it checked).
 */
const NEVER_SETTINGS: Record<string, string> = {
  role: 'SET ROLE changes who pgopt acts as',
  session_authorization: 'SET SESSION AUTHORIZATION changes who pgopt acts as',
  standard_conforming_strings: 'standard_conforming_strings changes how the server reads string literals: pgopt keeps it on so the server runs exactly what pgopt parsed',
  backslash_quote: 'backslash_quote changes how the server reads string literals',
  search_path: 'SET search_path in a pack would make apply build elsewhere than pgopt resolved and checked; schema-qualify the pack\'s names instead',
};

interface Classified {
  kind: StatementKind;
  references: RelationRef[];
  refusal?: string;
  /** Refused even with --allow-unsafe. */
  never?: boolean;
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
      if (!rels.length) return { kind: 'unsafe', references: [], refusal: `${node.is_vacuumcmd ? 'VACUUM' : 'ANALYZE'} without a table acts on the whole database` };
      return { kind: 'analyze', references: rels };
    }
    case 'CommentStmt':
      if (!COMMENTABLE.has(node.objtype)) return { kind: 'unsafe', references: [], refusal: `COMMENT ON ${String(node.objtype).replace(/^OBJECT_/, '')} is not about the pack's objects or the tables it indexes` };
      return { kind: 'comment', references: [] };
    case 'VariableSetStmt':
      return classifySet(node);
    case 'RefreshMatViewStmt':
      return { kind: 'refresh', references: [] };
    case 'DropStmt':
      if (DROPPABLE.has(node.removeType)) return { kind: 'drop-own', references: [] };
      break;
  }
  return { kind: 'unsafe', references: [], refusal: `${statementLabel(nodeType, node)} is not an additive optimization` };
}

function classifySet(node: Record<string, any>): Classified {
  const name = String(node.name ?? '').toLowerCase();
  if (NEVER_SETTINGS[name]) return { kind: 'unsafe', references: [], refusal: NEVER_SETTINGS[name], never: true };
  if (node.kind === 'VAR_SET_MULTI') return { kind: 'unsafe', references: [], refusal: 'SET TRANSACTION has no meaning in a pack' };
  if (node.kind === 'VAR_RESET_ALL') return { kind: 'unsafe', references: [], refusal: 'RESET ALL resets more than the pack set' };
  if (!ALLOWED_SETTINGS.has(name)) {
    return { kind: 'unsafe', references: [], refusal: `SET ${name} is not one of the settings a pack may change (${PACK_SETTINGS.join(', ')})` };
  }
  return { kind: 'set', references: [] };
}

function buildObject(kind: StatementKind, node: Record<string, any>, statement: PackStatement): PackObject | undefined {
  const fingerprint = hashTree(stripLayout(node, new Set(['concurrent', 'if_not_exists'])));
  if (kind === 'create-index') {
    const table = rangeVarRef(node.relation);
    const name: string = node.idxname ?? defaultIndexName(table.name, indexColumnNames([...(node.indexParams ?? []), ...(node.indexIncludingParams ?? [])]));
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
      refusedAlways: c.never,
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

/** DROP, REFRESH, ANALYZE and COMMENT may act only on the pack's own objects (and the tables it indexes). */
function refuseForeignTargets(statements: PackStatement[], objects: PackObject[]): void {
  const candidates = writtenCandidates(objects);
  for (const s of statements) {
    const t = statementTargets(s);
    const foreign = t?.refs.find((ref) => !allowedTarget(ref, t.role, candidates));
    if (t && foreign) throw foreignTarget(s, t, foreign);
  }
}

export function foreignTarget(s: PackStatement, t: Targets, ref: RelationRef): PgoptError {
  const what = t.role === 'own-or-table' ? "one of the pack's objects or a table it indexes" : t.role === 'own-matview' ? "a materialized view this pack creates" : 'an object this pack creates';
  return new PgoptError('input', `refused: ${t.verb} ${displayRef(ref)}, which is not ${what}`, {
    location: s.location,
    hint: "a pack may only maintain its own objects and the tables it indexes; pass --allow-unsafe to run it anyway",
  });
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
    if (s.refusedAlways) {
      throw new PgoptError('input', `refused: ${s.refusal}`, { location: s.location, hint: 'not even --allow-unsafe runs this in a pack' });
    }
    if (s.kind === 'unsafe' && !opts.allowUnsafe) {
      throw new PgoptError('input', `refused: ${s.refusal}`, {
        location: s.location,
        hint: 'packs may only add indexes and materialized views; pass --allow-unsafe to run it anyway',
      });
    }
    if (!s.object) continue;
    // Keyed by the schema the pack writes (an index: its table's); assess checks again once resolved.
    const key = `${writtenSchema(s.object) ?? ''}.${s.object.name}`;
    const prior = seen.get(key);
    if (prior) {
      throw inputError(`${s.object.name} is created twice (first at line ${prior.location.line} of ${prior.location.file})`, s.location);
    }
    seen.set(key, s);
    objects.push(s.object);
  }
  if (!opts.allowUnsafe) refuseForeignTargets(statements, objects);
  return { name: opts.name ?? packNameOf(path), source: path, files, statements, objects, allowUnsafe: !!opts.allowUnsafe };
}

