import type pg from 'pg';
import { PgoptError } from '../errors.js';

/**
 * pgopt's own queries run under `search_path = pg_catalog, pg_temp`: a function or operator
 * someone planted in a schema on the user's search_path (public, say) can never be picked
 * for one of pgopt's catalog queries (the CVE-2018-1058 class; pg_dump's answer). What the
 * user wrote — pack statements, workload queries, fixture SQL — runs under the user's own
 * search_path, so its names resolve exactly as they would in the user's session.
 */
export const PINNED_SEARCH_PATH = 'pg_catalog, pg_temp';

interface SessionState {
  /** The search_path the connection had before pgopt pinned its own. */
  userSearchPath: string;
  /** The schemas that path names, as the server resolves them (pg_catalog and pg_temp included). */
  userSchemas: string[];
  /** The first existing schema of the user's path: where an unqualified CREATE puts its object. */
  userCurrentSchema: string | null;
  /** A hot standby (pg_is_in_recovery()): nothing can be created, not even in a rolled-back transaction. */
  standby: boolean;
  /** The settings pgopt pins, as the connection had them: a library caller gets them back (releaseSession). */
  before: { standardConformingStrings: string; checkInterval: string | null; statementsTrack: string | null };
  /** Session advisory locks (class, key) a run holds for its whole life: DISCARD ALL drops them, resetSession takes them again. */
  runKeys: [number, number][];
}

/**
 * One connection and what pgopt learned about it: made once where the connection is opened (or
 * around a library caller's client), handed to every core function, gone with the connection.
 * `query` is the client's own, so a core function reads `s.query(…)` as it would `client.query(…)`.
 */
export class Session {
  readonly query: pg.Client['query'];
  /** pg_backend_pid() as read when the session opened: a pooler makes up the pid the protocol gives. */
  readonly serverPid: number;
  /** What pinning the settings found (prepareSession); null until then, and again after releaseSession. */
  facts: SessionState | null = null;
  /** The registry was checked and found trustworthy (registryExists): it is not checked again. */
  registryTrusted = false;
  /** The extensions pgopt adapts to (Citus, TimescaleDB) and their versions, asked once (extensionVersion). */
  extensions: Promise<Map<string, string>> | null = null;
  /** Open transactions (withTransaction, withRolledBackTransaction): a failed statement inside one cannot simply be retried. */
  transactionDepth = 0;
  /** Roles pgopt tried to act as on this connection (cannotActAs): null where it can, else why not. */
  readonly actAs = new Map<string, string | null>();
  /**
   * Statements sent once per object may be prepared once (repeatedQuery): only on a connection
   * pgopt opened straight to the server, where they end with it. A library caller's client, or a
   * pooler's server connection that outlives ours, is left with nothing of pgopt's.
   */
  keepsPlans = false;

  constructor(
    readonly client: pg.Client,
    serverPid?: number,
  ) {
    this.query = client.query.bind(client) as pg.Client['query'];
    this.serverPid = serverPid ?? (client as unknown as { processID: number }).processID;
  }
}

/**
 * Pin pgopt's settings on a connection, once. Also standard_conforming_strings: the parser
 * pgopt checks packs with lexes string literals as the standard says, so the server must too
 * (with it off, 'x\' would end a literal one place earlier for the server than for pgopt).
 * Every call here is schema-qualified, since the user's path is still in force when it runs.
 */
export async function prepareSession(c: Session): Promise<SessionState> {
  if (c.facts) return c.facts;
  const res = await c.query(
    `SELECT pg_catalog.current_setting('search_path') AS path,
            pg_catalog.current_schemas(true)::text[] AS schemas,
            pg_catalog.current_schema()::text AS current, pg_catalog.pg_is_in_recovery() AS standby,
            pg_catalog.current_setting('standard_conforming_strings') AS scs,
            pg_catalog.current_setting('client_connection_check_interval', true) AS cci,
            pg_catalog.current_setting('pg_stat_statements.track', true) AS track`,
  );
  const state: SessionState = {
    userSearchPath: res.rows[0].path,
    userSchemas: res.rows[0].schemas,
    userCurrentSchema: res.rows[0].current,
    standby: res.rows[0].standby,
    before: { standardConformingStrings: res.rows[0].scs, checkInterval: res.rows[0].cci, statementsTrack: res.rows[0].track },
    runKeys: [],
  };
  await pin(c);
  c.facts = state;
  return state;
}

/**
 * pgopt's session settings. client_connection_check_interval (PostgreSQL 14+): if pgopt is
 * killed during a long statement (a concurrent build), the server notices the vanished client
 * within a second and cancels it, so the dead run's session ends and releases the run lock.
 * Without it the statement runs to its end holding the lock.
 * pg_stat_statements.track = none (a superuser's session; others may not set it): pgopt's own
 * statements — catalog reads, bench's measured runs, probes — stay out of the production
 * statistics capture and impact read.
 */
async function pin(c: Session): Promise<void> {
  // One round trip: repin runs between bench queries. CASE evaluates set_config only on 14+,
  // where the setting exists.
  await c.query(
    `SELECT pg_catalog.set_config('search_path', $1, false), pg_catalog.set_config('standard_conforming_strings', 'on', false),
            CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 140000
                 THEN pg_catalog.set_config('client_connection_check_interval', '1000', false) END,
            CASE WHEN pg_catalog.current_setting('pg_stat_statements.track', true) IS NOT NULL
                      AND (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
                 THEN pg_catalog.set_config('pg_stat_statements.track', 'none', false) END`,
    [PINNED_SEARCH_PATH],
  );
}

/**
 * Give a connection back as pgopt found it: the caller's search_path and the settings pgopt pinned.
 * For library callers, who pass their own client and go on using it.
 */
export async function releaseSession(c: Session): Promise<void> {
  const s = c.facts;
  if (!s) return;
  c.facts = null;
  await c.query(
    `SELECT pg_catalog.set_config('search_path', $1, false), pg_catalog.set_config('standard_conforming_strings', $2, false),
            CASE WHEN $3::text IS NOT NULL THEN pg_catalog.set_config('client_connection_check_interval', $3, false) END,
            CASE WHEN $4::text IS NOT NULL AND (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
                 THEN pg_catalog.set_config('pg_stat_statements.track', $4, false) END`,
    [s.userSearchPath, s.before.standardConformingStrings, s.before.checkInterval, s.before.statementsTrack],
  );
}

/**
 * Run `fn` on a library caller's connection and hand it back as it was. A Session pgopt opened
 * (withClient) is used as it is and stays pinned; a plain client gets a Session for this call only.
 */
export async function onBorrowedClient<T>(c: pg.Client | Session, fn: (s: Session) => Promise<T>): Promise<T> {
  if (c instanceof Session) return fn(c);
  const s = new Session(c);
  try {
    return await fn(s);
  } finally {
    await releaseSession(s).catch(() => {});
  }
}

/** The server is a hot standby (known once prepareSession has run). */
export const isStandby = (c: Session): boolean => c.facts?.standby ?? false;

/**
 * Pin pgopt's settings again after something that may have reset them (RESET ALL, DISCARD ALL,
 * a pack's SET under --allow-unsafe).
 */
export async function repin(c: Session): Promise<void> {
  if (!c.facts) return;
  await pin(c);
}

/**
 * Between workload queries: whatever session state one query left that ROLLBACK does not undo
 * (session advisory locks, temporary tables of a committed transaction, LISTEN, prepared
 * statements, settings) is discarded, so the next query starts from a fresh session.
 */
export async function resetSession(c: Session): Promise<void> {
  const keys = c.facts?.runKeys ?? [];
  // DISCARD deallocates what repeatedQuery prepared, which the client does not know.
  c.keepsPlans = false;
  await c.query(keys.length ? discardKeeping(keys) : 'DISCARD ALL');
  await repin(c);
}

/**
 * DISCARD ALL, step by step as its documentation spells it out, with the run's own keys held
 * throughout: a transaction-level lock on each bridges the moment pg_advisory_unlock_all()
 * frees the session-level one, so another advise never sees a live run without its key
 * (DISCARD ALL and then a fresh pg_advisory_lock left a gap it once saw). One message, one
 * transaction: DISCARD ALL itself is refused in a transaction block, its parts are not.
 */
function discardKeeping(keys: [number, number][]): string {
  const lock = (fn: string) => keys.map(([cls, key]) => `SELECT pg_catalog.${fn}(${cls | 0}, ${key | 0});`).join('\n');
  return [
    'BEGIN;',
    lock('pg_advisory_xact_lock'),
    'CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *;',
    'SELECT pg_catalog.pg_advisory_unlock_all();',
    'DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES;',
    lock('pg_advisory_lock'),
    'COMMIT;',
  ].join('\n');
}

/** Hold a session advisory lock for the life of a run, also across resetSession. */
export async function holdSessionLock(c: Session, cls: number, key: number): Promise<void> {
  const s = await prepareSession(c);
  await c.query('SELECT pg_catalog.pg_advisory_lock($1::int, $2::int)', [cls, key]);
  s.runKeys.push([cls, key]);
}

export async function releaseSessionLock(c: Session, cls: number, key: number): Promise<void> {
  const s = c.facts;
  if (s) s.runKeys = s.runKeys.filter(([a, b]) => a !== cls || b !== key);
  await c.query('SELECT pg_catalog.pg_advisory_unlock($1::int, $2::int)', [cls, key]);
}

/**
 * Run `fn` — which executes SQL the user wrote — under the user's search_path, then pin
 * pgopt's again. Inside a transaction that is later rolled back the setting reverts to
 * the pinned one by itself; the reset in `finally` covers every other case.
 */
export async function asUser<T>(c: Session, fn: () => Promise<T>): Promise<T> {
  const s = await prepareSession(c);
  await c.query(`SELECT pg_catalog.set_config('search_path', $1, false)`, [s.userSearchPath]);
  try {
    return await fn();
  } finally {
    await c.query(`SELECT pg_catalog.set_config('search_path', $1, false)`, [PINNED_SEARCH_PATH]).catch(() => {});
  }
}

/**
 * One concurrent build as the user: the user's search_path, a statement_timeout for the build and
 * no lock_timeout (see the build's own note), set in one round trip and undone in one. The same
 * round trip reads the oid of whatever holds the index's name already (`index`, qualified and
 * quoted; null: nothing), which `fn` gets: a failed build drops only a leftover it made itself.
 * Per object this is most of what pgopt adds to the build itself, so it is not five round trips.
 */
export async function asUserForBuild<T>(
  c: Session,
  timeoutMs: number,
  index: string,
  fn: (existing: number | null) => Promise<T>,
): Promise<T> {
  const s = await prepareSession(c);
  // The oid is read first, while pgopt's own search_path is in force (the name is qualified anyway).
  const res = await repeatedQuery(
    c,
    'build_settings',
    `SELECT pg_catalog.to_regclass($3)::oid::int AS existing, pg_catalog.set_config('lock_timeout', '0', false),
            pg_catalog.set_config('statement_timeout', $1, false), pg_catalog.set_config('search_path', $2, false)`,
    [String(Math.max(0, Math.round(timeoutMs))), s.userSearchPath, index],
  );
  try {
    return await fn((res.rows[0]?.existing as number | null) ?? null);
  } finally {
    await repeatedQuery(
      c,
      'build_settings_undone',
      `SELECT pg_catalog.set_config('search_path', $1, false), pg_catalog.set_config('statement_timeout', '0', false)`,
      [PINNED_SEARCH_PATH],
    ).catch(() => {});
  }
}

/**
 * One of pgopt's own statements that a run sends once per object (the registry rows around each
 * build): parsed and planned once per connection where the Session allows it, which halves their
 * cost (BENCHMARKS.md, "Cost per object", fifth stop).
 */
export async function repeatedQuery(c: Session, name: string, text: string, values: unknown[]): Promise<pg.QueryResult> {
  if (!c.keepsPlans) return c.query({ text, values });
  try {
    return await c.query({ name: `pgopt_${name}`, text, values });
  } catch (err) {
    // Deallocated behind the client's back (it remembers what it prepared): plain statements from now on.
    if ((err as { code?: string }).code !== '26000' || c.transactionDepth > 0) throw err;
    c.keepsPlans = false;
    return c.query({ text, values });
  }
}

/**
 * Send one statement the user wrote so the server accepts exactly one: the extended query
 * protocol parses a single statement, where the simple protocol runs whatever follows a
 * semicolon the server sees and pgopt's parser did not.
 */
export function runOneStatement(
  c: Session,
  sql: string,
  params: unknown[] = [],
  opts: { rowMode?: 'array' } = {},
): Promise<pg.QueryResult> {
  return c.query({ text: sql, values: params, queryMode: 'extended', ...opts } as pg.QueryConfig);
}

/** The server process of a connection (for progress and cancel), also behind a pooler. */
export const backendPid = (c: Session): number => c.serverPid;

/**
 * For the runs that write (apply, rollback, refresh): a standby is refused before anything runs,
 * and a role whose sessions start read-only (default_transaction_read_only) gets a session that
 * may write, as psql's `SET default_transaction_read_only = off` would.
 */
export async function requireWritable(c: Session): Promise<void> {
  if ((await prepareSession(c)).standby) {
    throw new PgoptError('database', 'this server is a read-only standby (pg_is_in_recovery() is true): nothing was changed', {
      hint: 'point --db (or --direct-url) at the primary; verify, status and bench may run here',
    });
  }
  await c.query(`SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)`);
}

/**
 * The installed version of an extension pgopt adapts to (citus, timescaledb), or null. Both are
 * read in one query, once per session: a database without them pays one round trip, not two.
 */
export function extensionVersion(c: Session, name: 'citus' | 'timescaledb'): Promise<string | null> {
  c.extensions ??= c
    .query(`SELECT extname, extversion FROM pg_catalog.pg_extension WHERE extname IN ('citus', 'timescaledb')`)
    .then((r) => new Map(r.rows.map((x) => [x.extname as string, x.extversion as string])))
    .catch((err: unknown) => {
      c.extensions = null; // asked in an aborted transaction, say: ask again next time
      throw err;
    });
  return c.extensions.then((m) => m.get(name) ?? null);
}
