import type { Session } from '../db/session.js';
import { readStatementCounters, statStatementsInfo } from '../db/stat-statements.js';
import { withTransaction } from '../db/scoped.js';
import type { Cumulative } from './windows.js';

/** Snapshots of production's counters, kept in the registry (pgopt.snapshots and its two tables). */

export type SnapshotMoment = 'manual' | 'apply-start' | 'apply-end';

export interface Snapshot {
  id: number;
  takenAt: Date;
  label: string | null;
  pack: string | null;
  moment: SnapshotMoment;
  /** pg_postmaster_start_time() then: a later one means the server restarted in between. */
  serverStarted: Date;
  /** Since when pg_stat_statements counted (its last reset, or the server's start). */
  statementsSince: Date;
  dealloc: number | null;
}

export interface StatementAt extends Cumulative {
  queryid: string;
  role: string;
  query: string;
  /** When this entry started counting (pg_stat_statements 1.11+), else null: a later one means it was reset or evicted. */
  since: Date | null;
}

/**
 * Store pg_stat_statements' counters for this database and every index's scans, in one
 * transaction. Null where pg_stat_statements is not installed (nothing to keep).
 */
export async function takeSnapshot(
  c: Session,
  o: { label?: string | null; pack?: string | null; moment: SnapshotMoment },
): Promise<Snapshot | null> {
  const info = await statStatementsInfo(c);
  if (!info) return null;
  const rows = await readStatementCounters(c, info);
  return withTransaction(c, async () => {
    const s = await c.query(
      `INSERT INTO pgopt.snapshots (label, pack, moment, server_started, statements_since, dealloc)
       VALUES ($1, $2, $3, pg_catalog.pg_postmaster_start_time(), $4, $5) RETURNING *`,
      [o.label ?? null, o.pack ?? null, o.moment, info.since, info.dealloc],
    );
    const id = s.rows[0].id;
    await c.query(
      `INSERT INTO pgopt.snapshot_statements (snapshot_id, queryid, role_name, query, calls, total_ms, stddev_ms, rows, shared_blocks, stats_since)
       SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::timestamptz[]) AS u
       ON CONFLICT DO NOTHING`,
      [
        id,
        rows.map((r) => r.queryid),
        rows.map((r) => r.role),
        rows.map((r) => r.query),
        rows.map((r) => r.calls),
        rows.map((r) => r.totalMs),
        rows.map((r) => r.stddevMs),
        rows.map((r) => r.rows),
        rows.map((r) => r.sharedHit + r.sharedRead),
        rows.map((r) => r.since),
      ],
    );
    await c.query(
      `INSERT INTO pgopt.snapshot_indexes (snapshot_id, schema_name, index_name, idx_scan)
       SELECT $1, schemaname, indexrelname, idx_scan FROM pg_catalog.pg_stat_user_indexes ON CONFLICT DO NOTHING`,
      [id],
    );
    return toSnapshot(s.rows[0]);
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a pg row is untyped; this is where it gets its type
const toSnapshot = (r: any): Snapshot => ({
  id: Number(r.id),
  takenAt: r.taken_at,
  label: r.label,
  pack: r.pack,
  moment: r.moment,
  serverStarted: r.server_started,
  statementsSince: r.statements_since,
  dealloc: r.dealloc,
});

/** Every snapshot, oldest first. */
export async function listSnapshots(c: Session): Promise<Snapshot[]> {
  return (await c.query(`SELECT * FROM pgopt.snapshots ORDER BY id`)).rows.map(toSnapshot);
}

export async function statementsAt(c: Session, id: number): Promise<StatementAt[]> {
  const r = await c.query(
    `SELECT queryid, role_name, query, calls, total_ms, stddev_ms, rows, shared_blocks, stats_since FROM pgopt.snapshot_statements WHERE snapshot_id = $1`,
    [id],
  );
  return r.rows.map((x) => ({
    queryid: x.queryid,
    role: x.role_name,
    query: x.query,
    calls: x.calls,
    totalMs: x.total_ms,
    stddevMs: x.stddev_ms,
    rows: x.rows,
    sharedBlocks: x.shared_blocks,
    since: x.stats_since,
  }));
}

export async function indexScansAt(c: Session, id: number): Promise<Map<string, number>> {
  const r = await c.query(`SELECT schema_name, index_name, idx_scan FROM pgopt.snapshot_indexes WHERE snapshot_id = $1`, [id]);
  return new Map(r.rows.map((x) => [`${x.schema_name}.${x.index_name}`, x.idx_scan as number]));
}

/** The counters now, as a snapshot not stored: the end of an "after" window that runs to now. */
export async function currentCounters(
  c: Session,
): Promise<{ statements: StatementAt[]; indexes: Map<string, number>; serverStarted: Date; since: Date; dealloc: number | null } | null> {
  const info = await statStatementsInfo(c);
  if (!info) return null;
  const rows = await readStatementCounters(c, info);
  const idx = await c.query(`SELECT schemaname, indexrelname, idx_scan::float8 AS scans FROM pg_catalog.pg_stat_user_indexes`);
  const started = await c.query(`SELECT pg_catalog.pg_postmaster_start_time() AS t`);
  return {
    statements: rows.map((r) => ({ ...r, sharedBlocks: r.sharedHit + r.sharedRead })),
    indexes: new Map(idx.rows.map((x) => [`${x.schemaname}.${x.indexrelname}`, x.scans as number])),
    serverStarted: started.rows[0].t,
    since: info.since,
    dealloc: info.dealloc,
  };
}
