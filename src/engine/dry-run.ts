import { randomBytes } from 'node:crypto';
import { PgoptError } from '../errors.js';
import { canCreateIn, indexDefinitions, partitionKeys, relationOid, viewCalls, type ViewCall } from '../db/catalog.js';
import { withRolledBackTransaction } from '../db/scoped.js';
import { displayName, qualify } from '../db/ident.js';
import { PINNED_SEARCH_PATH, prepareSession, runOneStatement, type Session } from '../db/session.js';
import { translatePgError } from '../db/pg-errors.js';
import { rewriteIndexSql, rewriteMatviewSql, splitMatviewSql } from '../pack/rewrite.js';
import type { Pack, PackObject, PackStatement } from '../pack/types.js';

/**
 * The dry run: the pack's CREATE statements in a transaction that is rolled back, indexes on
 * empty clones of their tables, views WITH NO DATA. The server itself thus validates columns,
 * opclasses and expressions, and renders the definition verify compares against.
 */
export async function dryRun(
  c: Session,
  pack: Pack,
  schemaOf: Map<PackObject, string>,
  tables: Map<PackObject, { schema: string; name: string }>,
  live: Map<PackObject, { oid: number } | null>,
  recorded: Map<PackObject, string>,
): Promise<Map<PackObject, string>> {
  const out = new Map<PackObject, string>(recorded);
  const run: DryRunState = {
    conn: new DryConnection(c, (await prepareSession(c)).userSearchPath),
    tag: randomBytes(4).toString('hex'),
    readOnlyViews: new Set(),
    cloneOf: new Map(),
    columnsOf: new Map(),
    keys: new Map(),
    rendered: new Map(),
  };
  const steps = async () => {
    await c.query(`SET LOCAL lock_timeout = '5s'`);
    const indexed = pack.objects.filter((o) => o.kind === 'index' && !recorded.has(o)).map((o) => tables.get(o)!);
    run.keys = await partitionKeys(c, [...new Set(indexed.map((t) => qualify(t.schema, t.name)))]);
    for (const s of pack.statements) {
      const o = s.object;
      if (s.kind === 'set') await run.conn.asUser(s, s.sql);
      if (!o || recorded.has(o)) continue;
      if (o.kind === 'matview') out.set(o, await dryMatview(run, pack, s, schemaOf.get(o)!, !!live.get(o)));
      else await dryIndex(run, s, tables.get(o)!);
    }
    // Every index's rendering in one read, while the clones still exist.
    const defs = await run.conn.asPgopt((s) =>
      indexDefinitions(
        s,
        [...run.rendered.values()].map((n) => `pg_temp.${n}`),
      ),
    );
    for (const [o, name] of run.rendered) out.set(o, defs.get(`pg_temp.${name}`) ?? '');
  };
  await withRolledBackTransaction(c, steps, { timeoutMs: 60_000 });
  return out;
}

interface DryRunState {
  conn: DryConnection;
  /** Names the dry run's temporary objects apart from anything else in the session. */
  tag: string;
  /** Views of the pack this role cannot create (a read-only verify): rendered as temporary views. */
  readOnlyViews: Set<string>;
  /** Each table's clone, made the first time one of its indexes is dry-run. */
  cloneOf: Map<string, string>;
  /** A pack's continuous aggregate, made under a dry name: its columns come from its query's temporary view. */
  columnsOf: Map<string, string>;
  /** Each indexed table's partition key (null: not partitioned, or a view the pack makes). */
  keys: Map<string, string | null>;
  /** The dry index of each object, read back at the end. */
  rendered: Map<PackObject, string>;
}

/**
 * The dry run's connection. Pack statements run under the user's search_path, pgopt's own reads
 * under its pinned one, and the path changes only when the next statement needs the other one
 * (set_config local to the transaction, undone by its ROLLBACK): a run of 200 indexes costs a
 * round trip each, not five. After a pack SET the path is unknown, and both sides set it again.
 */
class DryConnection {
  private path: 'user' | 'pinned' | 'unknown' = 'pinned';

  constructor(
    private readonly c: Session,
    private readonly userPath: string,
  ) {}

  /** One pack statement (or a stand-in for one): its errors are the pack's, at its line. */
  async asUser(s: PackStatement, sql: string, clone?: { name: string; for: string }): Promise<void> {
    await this.setPath('user');
    try {
      await runOneStatement(this.c, sql);
    } catch (err) {
      throw packError(s, err, clone);
    } finally {
      if (s.kind === 'set') this.path = 'unknown';
    }
  }

  async asPgopt<T>(fn: (c: Session) => Promise<T>): Promise<T> {
    await this.setPath('pinned');
    return fn(this.c);
  }

  private async setPath(want: 'user' | 'pinned'): Promise<void> {
    if (this.path === want) return;
    await this.c.query(`SELECT pg_catalog.set_config('search_path', $1, true)`, [want === 'user' ? this.userPath : PINNED_SEARCH_PATH]);
    this.path = want;
  }
}

/** A dry-run statement the server refused, as an error of the pack at the statement's line. */
function packError(s: PackStatement, err: unknown, clone?: { name: string; for: string }): PgoptError {
  const t = translatePgError(err, 'the server rejects this statement');
  // `clone`: the dry run's stand-in, named in errors by the table it stands for.
  const message = clone ? t.message.replaceAll(`"${clone.name}"`, clone.for).replaceAll(clone.name, clone.for) : t.message;
  // A missing privilege is the database saying no, not a bad pack.
  const kind = (err as { code?: string })?.code === '42501' ? 'database' : 'input';
  return new PgoptError(kind, message, { location: s.location, hint: t.hint, cause: err });
}

/**
 * A pack index built on an empty temporary clone of its table: one clone per table, made the
 * first time one of its indexes is dry-run. A partitioned table's clone is partitioned the same
 * way, so the server applies its rules (a UNIQUE index must include the partition key) here
 * rather than half-way through apply.
 */
async function dryIndex(run: DryRunState, s: PackStatement, t: { schema: string; name: string }): Promise<void> {
  const o = s.object!;
  const table = qualify(t.schema, t.name);
  // An index on a pack view that is not there and cannot be made here: nothing to render it on.
  const columns = run.columnsOf.get(table) ?? table;
  if (columns === table && run.readOnlyViews.has(`${t.schema}.${t.name}`) && !(await run.conn.asPgopt((c) => relationOid(c, table))))
    return;
  let clone = run.cloneOf.get(table);
  const stands = () => ({ name: clone!, for: displayName(t.schema, t.name) });
  if (!clone) {
    clone = `pgopt_dry_${run.tag}_t${run.cloneOf.size}`;
    run.cloneOf.set(table, clone);
    const key = run.keys.get(table);
    await run.conn.asUser(s, `CREATE TEMP TABLE ${clone} (LIKE ${columns})${key ? ` PARTITION BY ${key}` : ''}`);
  }
  const index = `pgopt_dry_${run.tag}_${s.ordinal}`;
  await run.conn.asUser(s, rewriteIndexSql(s.sql, { name: index, relation: `pg_temp.${clone}`, concurrently: false }), stands());
  run.rendered.set(o, index);
}

/**
 * The server's rendering of a pack view. Later statements may index or read it, so it is made
 * (empty) under its own name; a role without CREATE there (a read-only verify) renders the query
 * as a temporary view instead: pg_get_viewdef renders both the same way. Where the view exists
 * already, the dry run's stands beside it under a name of its own.
 */
async function dryMatview(run: DryRunState, pack: Pack, s: PackStatement, schema: string, exists: boolean): Promise<string> {
  const o = s.object!;
  const dryName = `pgopt_dry_${run.tag}_${s.ordinal}`;
  const readOnly = !(await run.conn.asPgopt((c) => canCreateIn(c, schema)));
  if (readOnly) run.readOnlyViews.add(`${schema}.${o.name}`);
  const rel = readOnly ? `pg_temp.${dryName}` : qualify(schema, exists ? dryName : o.name);
  if (o.continuous) {
    run.columnsOf.set(qualify(schema, o.name), `pg_temp.${dryName}_q`);
    return dryContinuous(run, pack, s, readOnly ? null : qualify(schema, dryName), `pg_temp.${dryName}_q`);
  }
  await run.conn.asUser(s, readOnly ? `CREATE TEMP VIEW ${rel} AS ${splitMatviewSql(s.sql).query}` : rewriteMatviewSql(s.sql, rel));
  return run.conn.asPgopt(async (c) => {
    const res = await c.query(`SELECT pg_catalog.pg_get_viewdef(pg_catalog.to_regclass($1)) AS d`, [rel]);
    if (!pack.allowUnsafe) refuseUnsafeCalls(s, await viewCalls(c, rel));
    return res.rows[0].d as string;
  });
}

/**
 * A continuous aggregate: TimescaleDB itself checks it, created WITH NO DATA under a dry name
 * (where this role may create), and its query is rendered as the server renders the aggregate's
 * own (its direct view's pg_get_viewdef), which verify compares with.
 */
async function dryContinuous(run: DryRunState, pack: Pack, s: PackStatement, asAggregate: string | null, query: string): Promise<string> {
  if (asAggregate) await run.conn.asUser(s, rewriteMatviewSql(s.sql, asAggregate));
  await run.conn.asUser(s, `CREATE TEMP VIEW ${query} AS ${splitMatviewSql(s.sql).query}`);
  return run.conn.asPgopt(async (c) => {
    const res = await c.query(`SELECT pg_catalog.pg_get_viewdef(pg_catalog.to_regclass($1)) AS d`, [query]);
    if (!pack.allowUnsafe) refuseUnsafeCalls(s, await viewCalls(c, query));
    return res.rows[0].d as string;
  });
}

/**
 * What a materialized view may call without --allow-unsafe: no VOLATILE function (it could change
 * the database at every build and refresh), and nothing owned by a role the caller does not trust.
 * A volatility label is the owner's word: a function marked STABLE may still write, and pgopt runs
 * it with the caller's rights. Trusted owners: a superuser, the caller, a role the caller is a member of.
 */
function refuseUnsafeCalls(s: PackStatement, calls: ViewCall[]): void {
  const refuse = (what: string, hint: string) => {
    throw new PgoptError('input', `refused: the materialized view ${what}`, { location: s.location, hint });
  };
  const foreign = calls.filter((f) => !f.ownerTrusted);
  if (foreign.length) {
    refuse(
      `calls ${foreign.map((f) => `${f.signature} (owned by ${f.owner})`).join(', ')}, code another role wrote, which would run with your rights at every build and refresh`,
      'have a trusted role own those functions, or pass --allow-unsafe if you have read them',
    );
  }
  const volatile = calls.filter((f) => f.volatile).map((f) => f.signature);
  if (volatile.length) {
    refuse(
      `calls VOLATILE function(s) ${volatile.join(', ')}, which may change the database at every build and refresh`,
      'use only STABLE or IMMUTABLE functions in a view, or pass --allow-unsafe to run it anyway',
    );
  }
}
