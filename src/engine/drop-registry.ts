/** pgopt.dropped: the indexes drop packs removed, and what rollback builds again (registry version 4). */
import { PGOPT_VERSION } from '../version.js';
import { registryExists } from './registry.js';
import type { Session } from '../db/session.js';

export interface DroppedRow {
  pack: string;
  schema: string;
  name: string;
  table: string;
  tableOid: number | null;
  ordinal: number;
  /** 'dropping': written before the drop, so a crash at any moment leaves the definition on record. */
  state: 'dropping' | 'dropped';
  /** pg_get_indexdef under pgopt's pinned search_path: every name in it qualified. */
  definition: string;
  /** An INVALID leftover never served a query: rollback does not build it again. */
  wasValid: boolean;
  tablespace: string | null;
  comment: string | null;
  sizeBytes: number | null;
  droppedAt: string | null;
  droppedBy: string;
  durationMs: number | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a pg row is untyped; this is where it gets its type
const toRow = (r: any): DroppedRow => ({
  pack: r.pack,
  schema: r.schema_name,
  name: r.index_name,
  table: r.table_name,
  tableOid: r.table_oid === null ? null : Number(r.table_oid),
  ordinal: r.ordinal,
  state: r.state,
  definition: r.definition,
  wasValid: r.was_valid,
  tablespace: r.tablespace,
  comment: r.comment,
  sizeBytes: r.size_bytes,
  droppedAt: r.dropped_at ? new Date(r.dropped_at).toISOString() : null,
  droppedBy: r.dropped_by,
  durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
});

/** All drop rows, or one pack's; empty without a registry (or one older than version 4, read as it is). */
export async function readDroppedRows(c: Session, pack?: string): Promise<DroppedRow[]> {
  if (!(await registryExists(c))) return [];
  const exists = await c.query(`SELECT pg_catalog.to_regclass('pgopt.dropped') IS NOT NULL AS e`);
  if (!exists.rows[0].e) return [];
  const res = await c.query(`SELECT * FROM pgopt.dropped WHERE $1::text IS NULL OR pack = $1 ORDER BY pack, ordinal`, [pack ?? null]);
  return res.rows.map(toRow);
}

/** Before the drop: the definition on record first. */
export async function recordDropping(c: Session, r: Omit<DroppedRow, 'state' | 'droppedAt' | 'droppedBy' | 'durationMs'>): Promise<void> {
  await c.query(
    `INSERT INTO pgopt.dropped (pack, schema_name, index_name, table_name, table_oid, ordinal, state, definition, tablespace, comment, size_bytes, pgopt_version, was_valid)
     VALUES ($1, $2, $3, $4, $5, $6, 'dropping', $7, $8, $9, $10, $11, $12)
     ON CONFLICT (pack, schema_name, index_name) DO UPDATE SET state = 'dropping', table_name = excluded.table_name,
       table_oid = excluded.table_oid, ordinal = excluded.ordinal, definition = excluded.definition, tablespace = excluded.tablespace,
       comment = excluded.comment, size_bytes = excluded.size_bytes, pgopt_version = excluded.pgopt_version, was_valid = excluded.was_valid`,
    [
      r.pack,
      r.schema,
      r.name,
      r.table,
      r.tableOid,
      r.ordinal,
      r.definition,
      r.tablespace,
      r.comment,
      r.sizeBytes,
      PGOPT_VERSION,
      r.wasValid,
    ],
  );
}

export async function recordDropped(c: Session, pack: string, schema: string, name: string, durationMs: number | null): Promise<void> {
  await c.query(
    `UPDATE pgopt.dropped SET state = 'dropped', dropped_at = coalesce(dropped_at, now()), dropped_by = current_user, duration_ms = $4
      WHERE pack = $1 AND schema_name = $2 AND index_name = $3`,
    [pack, schema, name, durationMs],
  );
}

export async function forgetDropped(c: Session, pack: string, schema: string, name: string): Promise<void> {
  await c.query(`DELETE FROM pgopt.dropped WHERE pack = $1 AND schema_name = $2 AND index_name = $3`, [pack, schema, name]);
}
