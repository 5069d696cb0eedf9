import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { inputError, PgoptError } from '../errors.js';
import {
  hashTree,
  nodeAs,
  nodeType,
  payloadOf,
  rangeVarRef,
  relationsRead,
  statementLabel,
  strings,
  stripLayout,
  type NodeOf,
} from '../sql/tree.js';
import { defaultIndexName, indexColumnNames } from './rewrite.js';
import { checkRollbackOverride } from './rollback-override.js';
import { allowedTarget, COMMENTABLE, displayRef, statementTargets, writtenCandidates, writtenSchema, type Targets } from './targets.js';
import type { SourceText, Token } from '../sql/source-text.js';
import type { CreateTableAsStmt, Node } from '@pgsql/types';
import { ensureParser, parseFile, type SqlFile, type SqlStatement } from '../sql/parse.js';
import type { Pack, PackDrop, PackObject, PackStatement, RelationRef, StatementKind } from './types.js';

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

/** Pack names of advise's trial builds (`pgopt-advise-<8 hex digits>`): no other pack may take one. */
export const TRIAL_PACK_PREFIX = 'pgopt-advise-';

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
  standard_conforming_strings:
    'standard_conforming_strings changes how the server reads string literals: pgopt keeps it on so the server runs exactly what pgopt parsed',
  backslash_quote: 'backslash_quote changes how the server reads string literals',
  search_path:
    "SET search_path in a pack would make apply build elsewhere than pgopt resolved and checked; schema-qualify the pack's names instead",
};

interface Classified {
  kind: StatementKind;
  references: RelationRef[];
  refusal?: string;
  /** Refused even with --allow-unsafe. */
  never?: boolean;
  policyFor?: RelationRef;
}

function classify(node: Node): Classified {
  const type = nodeType(node);
  const payload = payloadOf(node);
  const index = nodeAs(node, 'IndexStmt');
  if (index) return { kind: 'create-index', references: [rangeVarRef(index.relation)] };
  const ctas = nodeAs(node, 'CreateTableAsStmt');
  if (ctas) {
    if (ctas.objtype === 'OBJECT_MATVIEW') return { kind: 'create-matview', references: relationsRead(ctas.query) };
    return { kind: 'unsafe', references: [], refusal: 'CREATE TABLE AS creates a table, not an optimization object' };
  }
  const vacuum = nodeAs(node, 'VacuumStmt');
  if (vacuum) return classifyVacuum(vacuum);
  const comment = nodeAs(node, 'CommentStmt');
  if (comment) {
    if (!COMMENTABLE.has(comment.objtype ?? ''))
      return {
        kind: 'unsafe',
        references: [],
        refusal: `COMMENT ON ${String(comment.objtype).replace(/^OBJECT_/, '')} is not about the pack's objects or the tables it indexes`,
      };
    return { kind: 'comment', references: [] };
  }
  const set = nodeAs(node, 'VariableSetStmt');
  if (set) return classifySet(set);
  if (type === 'RefreshMatViewStmt') return { kind: 'refresh', references: [] };
  const policy = refreshPolicyOf(node);
  if (policy) return { kind: 'cagg-policy', references: [], policyFor: policy };
  if (DROPPABLE.has(nodeAs(node, 'DropStmt')?.removeType ?? '')) return { kind: 'drop-own', references: [] };
  return { kind: 'unsafe', references: [], refusal: `${statementLabel(type, payload)} is not an additive optimization` };
}

/**
 * `SELECT add_continuous_aggregate_policy('<view>', …)` alone: a TimescaleDB refresh policy,
 * returned as the view it names (checked at load to be a continuous aggregate of the pack).
 */
function refreshPolicyOf(node: Node): RelationRef | undefined {
  const select = nodeAs(node, 'SelectStmt');
  if (!select || select.fromClause?.length || select.whereClause || select.targetList?.length !== 1) return undefined;
  const call = nodeAs(nodeAs(select.targetList[0], 'ResTarget')?.val, 'FuncCall');
  const name = strings(call?.funcname);
  if (name.at(-1) !== 'add_continuous_aggregate_policy' || name.length > 2) return undefined;
  const view = nodeAs(call?.args?.[0], 'A_Const')?.sval?.sval;
  if (!view) return undefined;
  const parts = view.split('.');
  return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { schema: null, name: view };
}

function classifyVacuum(node: NodeOf<'VacuumStmt'>): Classified {
  const full = (node.options ?? []).some((o) => nodeAs(o, 'DefElem')?.defname === 'full');
  const rels = (node.rels ?? []).map((r) => rangeVarRef(nodeAs(r, 'VacuumRelation')?.relation));
  if (full) return { kind: 'unsafe', references: rels, refusal: 'VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock' };
  if (!rels.length)
    return {
      kind: 'unsafe',
      references: [],
      refusal: `${node.is_vacuumcmd ? 'VACUUM' : 'ANALYZE'} without a table acts on the whole database`,
    };
  return { kind: 'analyze', references: rels };
}

function classifySet(node: NodeOf<'VariableSetStmt'>): Classified {
  const name = String(node.name ?? '').toLowerCase();
  if (NEVER_SETTINGS[name]) return { kind: 'unsafe', references: [], refusal: NEVER_SETTINGS[name], never: true };
  if (node.kind === 'VAR_SET_MULTI') return { kind: 'unsafe', references: [], refusal: 'SET TRANSACTION has no meaning in a pack' };
  if (node.kind === 'VAR_RESET_ALL') return { kind: 'unsafe', references: [], refusal: 'RESET ALL resets more than the pack set' };
  if (!ALLOWED_SETTINGS.has(name)) {
    return {
      kind: 'unsafe',
      references: [],
      refusal: `SET ${name} is not one of the settings a pack may change (${PACK_SETTINGS.join(', ')})`,
    };
  }
  return { kind: 'set', references: [] };
}

const OBJECT_DEFAULTS = {
  rollbackOverride: null,
  writtenConcurrently: false,
  unique: false,
  method: null,
  nameDerived: false,
  table: null,
  continuous: false,
} as const;

/** `WITH (timescaledb.continuous)` (or `= true`): a TimescaleDB continuous aggregate. */
function isContinuous(view: CreateTableAsStmt): boolean {
  return (view.into?.options ?? []).some((n) => {
    const d = nodeAs(n, 'DefElem');
    if (d?.defnamespace !== 'timescaledb' || d.defname !== 'continuous') return false;
    const v = d.arg ? (nodeAs(d.arg, 'String')?.sval ?? nodeAs(d.arg, 'Boolean')?.boolval) : true;
    return v === true || v === 'true' || v === 'on';
  });
}

function buildObject(node: Node, statement: PackStatement): PackObject | undefined {
  const fingerprint = hashTree(stripLayout(payloadOf(node), new Set(['concurrent', 'if_not_exists'])));
  const index = nodeAs(node, 'IndexStmt');
  if (index) {
    const table = rangeVarRef(index.relation);
    const name =
      index.idxname ??
      defaultIndexName(table.name, indexColumnNames([...(index.indexParams ?? []), ...(index.indexIncludingParams ?? [])]));
    const shape = {
      kind: 'index',
      schema: table.schema,
      name,
      nameDerived: !index.idxname,
      table,
      unique: !!index.unique,
      method: index.accessMethod ?? 'btree',
    } as const;
    return { ...OBJECT_DEFAULTS, ...shape, writtenConcurrently: !!index.concurrent, fingerprint, statement };
  }
  const view = nodeAs(node, 'CreateTableAsStmt');
  if (view?.objtype === 'OBJECT_MATVIEW') {
    const rel = rangeVarRef(view.into?.rel);
    return {
      ...OBJECT_DEFAULTS,
      kind: 'matview',
      schema: rel.schema,
      name: rel.name,
      fingerprint,
      statement,
      continuous: isContinuous(view),
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
  let body: SqlFile;
  try {
    body = parseFile(src.file, d.body);
  } catch (err) {
    throw inputError(
      `syntax error in -- pgopt:rollback: ${err instanceof Error ? err.message.replace(/^syntax error: /, '') : String(err)}`,
      loc,
    );
  }
  if (body.statements.length === 0) throw inputError('-- pgopt:rollback is empty', loc);
  const sqls = body.statements.map((s) => s.sql);
  const checked = checkRollbackOverride(sqls, stmt.object.kind, stmt.object.schema, stmt.object.name);
  if ('refused' in checked) {
    throw inputError(
      `-- pgopt:rollback may only drop ${stmt.object.name}, the object it follows, and nothing with it: ${checked.refused}`,
      loc,
    );
  }
  stmt.object.rollbackOverride = sqls;
}

function loadFile(file: string, offset: number): PackStatement[] {
  const parsed = parseFile(file, readFileSync(file, 'utf8'));
  const statements = parsed.statements.map((raw, i) => packStatement(raw, offset + i));
  for (const d of readDirectives(parsed.src, parsed.tokens)) {
    if (d.name !== 'rollback')
      throw inputError(`unknown directive "pgopt:${d.name}" (known: pgopt:rollback)`, parsed.src.location(d.start));
    applyRollbackDirective(
      parsed.src,
      d,
      statements,
      parsed.statements.map((s) => s.end),
    );
  }
  return statements;
}

function packStatement(raw: SqlStatement, ordinal: number): PackStatement {
  if (raw.type === 'TransactionStmt') {
    throw inputError(
      'transaction control (BEGIN/COMMIT) is not allowed in a pack: pgopt runs each statement itself, and concurrent index builds cannot run inside a transaction block',
      raw.location,
    );
  }
  const c = classify(raw.node);
  const statement: PackStatement = {
    ordinal,
    kind: c.kind,
    sql: raw.sql,
    location: raw.location,
    ast: raw.node,
    references: c.references,
    refusal: c.refusal,
    refusedAlways: c.never,
    ...(c.policyFor ? { policyFor: c.policyFor } : {}),
  };
  statement.object = buildObject(raw.node, statement);
  return statement;
}

/**
 * A DROP INDEX of an index the pack does not create is a tracked drop: apply records the index's
 * definition before dropping it, and rollback builds it again. One index per statement and no
 * CASCADE, so what rollback restores is exactly what was dropped.
 */
function trackedDrops(statements: PackStatement[], objects: PackObject[]): PackDrop[] {
  const candidates = writtenCandidates(objects);
  const out: PackDrop[] = [];
  for (const s of statements.filter((x) => x.kind === 'drop-own')) {
    const node = nodeAs(s.ast, 'DropStmt');
    const refs = statementTargets(s)?.refs ?? [];
    if (node?.removeType !== 'OBJECT_INDEX' || refs.every((r) => allowedTarget(r, 'own-object', candidates))) continue;
    if (refs.length !== 1) throw inputError('a DROP INDEX of an index the pack does not create must name exactly one index', s.location);
    if (node.behavior === 'DROP_CASCADE')
      throw inputError(
        `DROP INDEX … CASCADE would drop what depends on ${displayRef(refs[0])} too, which rollback cannot bring back`,
        s.location,
      );
    s.kind = 'drop-index';
    s.drop = { schema: refs[0].schema, name: refs[0].name, statement: s };
    out.push(s.drop);
  }
  return out;
}

/**
 * An index on a continuous aggregate of the pack. UNIQUE cannot work: TimescaleDB refuses it, and
 * a continuous aggregate is refreshed by TimescaleDB, never by REFRESH … CONCURRENTLY, which is
 * what a unique index is for on a materialized view. Any other index is built on the aggregate's
 * materialization hypertable, chunk by chunk, as on any hypertable.
 */
function refuseUniqueOnContinuous(objects: PackObject[]): void {
  const caggs = objects.filter((o) => o.continuous);
  for (const o of objects) {
    const on =
      o.kind === 'index' && caggs.find((v) => v.name === o.table?.name && (o.table.schema === null || o.table.schema === v.schema));
    if (on && o.unique) throw uniqueOnContinuous(o);
  }
}

/** Why a UNIQUE index on a continuous aggregate is refused: at load for the pack's own, at assess for one already there. */
export function uniqueOnContinuous(o: PackObject): PgoptError {
  return inputError(
    `${o.name}: a continuous aggregate cannot have a UNIQUE index (TimescaleDB refuses it); it needs none, since TimescaleDB refreshes it (CALL refresh_continuous_aggregate), never REFRESH … CONCURRENTLY`,
    o.statement.location,
    'remove this statement, or make the index non-unique: pgopt refresh refreshes the continuous aggregate through TimescaleDB',
  );
}

/** Each refresh policy goes with its continuous aggregate; one for anything else is refused. */
function attachPolicies(statements: PackStatement[], objects: PackObject[]): void {
  for (const s of statements) {
    if (s.kind !== 'cagg-policy') continue;
    const ref = s.policyFor!;
    const view = objects.find((o) => o.continuous && o.name === ref.name && (ref.schema === null || ref.schema === o.schema));
    if (!view || view.statement.ordinal > s.ordinal) {
      throw inputError(
        `add_continuous_aggregate_policy('${displayRef(ref)}'): a refresh policy in a pack must be for a continuous aggregate the pack creates before it`,
        s.location,
      );
    }
    if (view.policy) throw inputError(`${view.name} has a second refresh policy (first at line ${view.policy.location.line})`, s.location);
    view.policy = s;
  }
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
  const what =
    t.role === 'own-or-table'
      ? "one of the pack's objects or a table it indexes"
      : t.role === 'own-matview'
        ? 'a materialized view this pack creates'
        : 'an object this pack creates';
  return new PgoptError('input', `refused: ${t.verb} ${displayRef(ref)}, which is not ${what}`, {
    location: s.location,
    hint: 'a pack may only maintain its own objects and the tables it indexes; pass --allow-unsafe to run it anyway',
  });
}

export interface LoadPackOptions {
  /** Pack name; defaults to the file or directory name. */
  name?: string;
  /** Let statements that are not additive optimizations through (--allow-unsafe). */
  allowUnsafe?: boolean;
  /** advise's own trial pack: the one caller that may take a name under TRIAL_PACK_PREFIX. */
  trial?: boolean;
}

/**
 * Read and parse a pack. Everything that can be known without a database is checked here,
 * so a bad pack fails before pgopt connects.
 */
export async function loadPack(path: string, opts: LoadPackOptions = {}): Promise<Pack> {
  const name = opts.name ?? packNameOf(path);
  // advise cleans up the trial packs of runs that are gone, by this prefix: a user's pack must never look like one.
  if (name.startsWith(TRIAL_PACK_PREFIX) && !opts.trial) {
    throw inputError(`pack name "${name}" is reserved: pgopt advise names its trial builds ${TRIAL_PACK_PREFIX}…; choose another (--name)`);
  }
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
  refuseUniqueOnContinuous(objects);
  attachPolicies(statements, objects);
  const drops = trackedDrops(statements, objects);
  if (!opts.allowUnsafe) refuseForeignTargets(statements, objects);
  return { name, source: path, files, statements, objects, drops, allowUnsafe: !!opts.allowUnsafe };
}
