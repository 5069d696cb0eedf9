import { PgoptError } from '../errors.js';
import { quoteIdent } from './ident.js';
import type { Session } from './session.js';

/** Catalog questions about pg_stat_statements (extension versions 1.8, PostgreSQL 13, to 1.12, PostgreSQL 18). */

export interface StatStatementsInfo {
  version: string;
  /** The schema the extension was created in: its view is read there, schema-qualified. */
  schema: string;
  /** Statements evicted since the last reset (pg_stat_statements_info.dealloc, 1.9+); null on 1.8. */
  dealloc: number | null;
  /** When the counters were last reset (1.9+), else when the server started: the start of what they count. */
  since: Date;
  sinceIsServerStart: boolean;
  /** The caller may read other roles' statement text (superuser, pg_read_all_stats). */
  readsAllText: boolean;
}

/** One entry: a normalized statement of one role in one database, with its cumulative counters. */
export interface StatementCounters {
  queryid: string;
  role: string;
  /** Normalized text ($n where constants were); `<insufficient privilege>` for another role's without pg_read_all_stats. */
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  /** Population standard deviation of the execution times, as pg_stat_statements keeps it. */
  stddevMs: number;
  rows: number;
  sharedHit: number;
  sharedRead: number;
  /** When this entry started counting (1.11+: stats_since), else null (then the extension's reset time). */
  since: Date | null;
}

/** The extension as this database has it, or null where it is not created here. Throws where it is created but not loaded. */
export async function statStatementsInfo(c: Session): Promise<StatStatementsInfo | null> {
  const ext = await c.query(
    `SELECT e.extversion AS version, n.nspname AS schema,
            pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
              OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS all_text
       FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
      WHERE e.extname = 'pg_stat_statements'`,
  );
  if (!ext.rows.length) return null;
  const { version, schema, all_text } = ext.rows[0];
  const info = await readInfo(c, schema, version);
  return { version, schema, readsAllText: all_text, ...info };
}

async function readInfo(
  c: Session,
  schema: string,
  version: string,
): Promise<Pick<StatStatementsInfo, 'dealloc' | 'since' | 'sinceIsServerStart'>> {
  const hasInfo = versionAtLeast(version, 1, 9);
  const sql = hasInfo
    ? `SELECT dealloc::float8 AS dealloc, coalesce(stats_reset, pg_catalog.pg_postmaster_start_time()) AS since, stats_reset IS NULL AS at_start
         FROM ${quoteIdent(schema)}.pg_stat_statements_info`
    : `SELECT NULL::float8 AS dealloc, pg_catalog.pg_postmaster_start_time() AS since, true AS at_start`;
  try {
    const r = (await c.query(sql)).rows[0];
    return { dealloc: r.dealloc, since: r.since, sinceIsServerStart: r.at_start };
  } catch (err) {
    throw notLoaded(err);
  }
}

/** Every entry of the current database (top-level statements where the version tells them apart). */
export async function readStatementCounters(c: Session, info: StatStatementsInfo): Promise<StatementCounters[]> {
  // to_jsonb reads the columns a version has and leaves out those it has not (toplevel 1.9+, stats_since 1.11+).
  const sql = `SELECT s.queryid::text AS queryid, r.rolname AS role, s.query, s.calls::float8 AS calls,
                      s.total_exec_time AS total, s.mean_exec_time AS mean, s.stddev_exec_time AS stddev,
                      s.rows::float8 AS rows, s.shared_blks_hit::float8 AS hit, s.shared_blks_read::float8 AS read,
                      (pg_catalog.to_jsonb(s) ->> 'stats_since')::timestamptz AS since
                 FROM ${quoteIdent(info.schema)}.pg_stat_statements s
                 LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid
                WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
                  AND coalesce((pg_catalog.to_jsonb(s) ->> 'toplevel')::boolean, true)`;
  let rows;
  try {
    rows = (await c.query(sql)).rows;
  } catch (err) {
    throw notLoaded(err);
  }
  return rows.map((r) => ({
    queryid: r.queryid,
    role: r.role ?? '(dropped role)',
    query: r.query ?? '<insufficient privilege>',
    calls: r.calls,
    totalMs: r.total,
    meanMs: r.mean,
    stddevMs: r.stddev,
    rows: r.rows,
    sharedHit: r.hit,
    sharedRead: r.read,
    since: r.since,
  }));
}

const versionAtLeast = (v: string, major: number, minor: number): boolean => {
  const [a, b] = v.split('.').map(Number);
  return a > major || (a === major && b >= minor);
};

function notLoaded(err: unknown): PgoptError {
  const msg = (err as Error).message ?? String(err);
  if (/shared_preload_libraries/.test(msg)) {
    return new PgoptError('database', 'pg_stat_statements is created in this database but the server has not loaded it', {
      cause: err,
      hint: "add pg_stat_statements to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements') and restart the server",
    });
  }
  return new PgoptError('database', `reading pg_stat_statements: ${msg}`, { cause: err });
}
