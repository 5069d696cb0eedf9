import type pg from 'pg';
import { PGOPT_VERSION } from '../version.js';

/**
 * pgopt's own state lives in the target database, schema `pgopt`: one row per object a pack
 * owns and an append-only event log. Rows move building → applied → dropping → (deleted);
 * only `applied` claims that an object exists, so a crash at any point leaves a registry
 * that never claims what is not there.
 */
export const REGISTRY_SCHEMA = 'pgopt';

export const ROW_STATES = ['building', 'applied', 'dropping'] as const;
export type RowState = (typeof ROW_STATES)[number];

export interface RegistryRow {
  pack: string;
  schema: string;
  name: string;
  kind: 'index' | 'matview';
  table: string | null;
  ordinal: number;
  state: RowState;
  statement: string;
  fingerprint: string;
  catalogDefinition: string | null;
  rollbackSql: string[];
  objectOid: number | null;
  preExisting: boolean;
  appliedAt: string | null;
  appliedBy: string | null;
  durationMs: number | null;
  pgoptVersion: string;
}

const DDL = `
CREATE SCHEMA IF NOT EXISTS pgopt;
CREATE TABLE IF NOT EXISTS pgopt.objects (
  pack text NOT NULL,
  schema_name text NOT NULL,
  object_name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('index', 'matview')),
  table_name text,
  ordinal int NOT NULL,
  state text NOT NULL CHECK (state IN ('building', 'applied', 'dropping')),
  statement text NOT NULL,
  fingerprint text NOT NULL,
  catalog_definition text,
  rollback_sql text[] NOT NULL,
  object_oid oid,
  pre_existing boolean NOT NULL DEFAULT false,
  applied_at timestamptz,
  applied_by text,
  duration_ms numeric,
  pgopt_version text NOT NULL,
  PRIMARY KEY (pack, schema_name, object_name)
);
CREATE TABLE IF NOT EXISTS pgopt.events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  run_id text,
  pack text,
  action text NOT NULL,
  object text,
  outcome text NOT NULL,
  duration_ms numeric,
  detail jsonb,
  by_user text NOT NULL DEFAULT current_user,
  pgopt_version text
);
COMMENT ON SCHEMA pgopt IS 'pgopt registry: objects applied by optimization packs and the event log';
`;

export async function registryExists(c: pg.Client): Promise<boolean> {
  const res = await c.query(`SELECT to_regclass('pgopt.objects') IS NOT NULL AS ok`);
  return res.rows[0].ok;
}

/** Created on first use, under the run lock so two first runs cannot race. */
export async function ensureRegistry(c: pg.Client): Promise<void> {
  if (await registryExists(c)) return;
  await c.query('BEGIN');
  try {
    await c.query(DDL);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

const toRow = (r: any): RegistryRow => ({
  pack: r.pack,
  schema: r.schema_name,
  name: r.object_name,
  kind: r.kind,
  table: r.table_name,
  ordinal: r.ordinal,
  state: r.state,
  statement: r.statement,
  fingerprint: r.fingerprint,
  catalogDefinition: r.catalog_definition,
  rollbackSql: r.rollback_sql,
  objectOid: r.object_oid === null ? null : Number(r.object_oid),
  preExisting: r.pre_existing,
  appliedAt: r.applied_at ? new Date(r.applied_at).toISOString() : null,
  appliedBy: r.applied_by,
  durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
  pgoptVersion: r.pgopt_version,
});

/** All rows, or one pack's; empty when the registry was never created. */
export async function readRows(c: pg.Client, pack?: string): Promise<RegistryRow[]> {
  if (!(await registryExists(c))) return [];
  const res = await c.query(
    `SELECT * FROM pgopt.objects WHERE $1::text IS NULL OR pack = $1 ORDER BY pack, ordinal`,
    [pack ?? null],
  );
  return res.rows.map(toRow);
}

export type NewRow = Omit<RegistryRow, 'appliedAt' | 'appliedBy' | 'pgoptVersion'>;

export async function upsertRow(c: pg.Client, row: NewRow): Promise<void> {
  await c.query(
    `INSERT INTO pgopt.objects (pack, schema_name, object_name, kind, table_name, ordinal, state, statement,
        fingerprint, catalog_definition, rollback_sql, object_oid, pre_existing, applied_at, applied_by, duration_ms, pgopt_version)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,
             CASE WHEN $7 = 'applied' THEN clock_timestamp() END, CASE WHEN $7 = 'applied' THEN current_user END, $14, $15)
     ON CONFLICT (pack, schema_name, object_name) DO UPDATE SET
        kind = EXCLUDED.kind, table_name = EXCLUDED.table_name, ordinal = EXCLUDED.ordinal, state = EXCLUDED.state,
        statement = EXCLUDED.statement, fingerprint = EXCLUDED.fingerprint, catalog_definition = EXCLUDED.catalog_definition,
        rollback_sql = EXCLUDED.rollback_sql, object_oid = EXCLUDED.object_oid, pre_existing = EXCLUDED.pre_existing,
        applied_at = EXCLUDED.applied_at, applied_by = EXCLUDED.applied_by, duration_ms = EXCLUDED.duration_ms,
        pgopt_version = EXCLUDED.pgopt_version`,
    [
      row.pack, row.schema, row.name, row.kind, row.table, row.ordinal, row.state, row.statement, row.fingerprint,
      row.catalogDefinition, row.rollbackSql, row.objectOid, row.preExisting, row.durationMs, PGOPT_VERSION,
    ],
  );
}

export async function setRowState(c: pg.Client, pack: string, schema: string, name: string, state: RowState): Promise<void> {
  await c.query(`UPDATE pgopt.objects SET state = $4 WHERE pack = $1 AND schema_name = $2 AND object_name = $3`, [pack, schema, name, state]);
}

export async function deleteRow(c: pg.Client, pack: string, schema: string, name: string): Promise<void> {
  await c.query(`DELETE FROM pgopt.objects WHERE pack = $1 AND schema_name = $2 AND object_name = $3`, [pack, schema, name]);
}

export interface EventInput {
  runId: string;
  pack: string | null;
  action: string;
  object?: string | null;
  outcome: string;
  durationMs?: number | null;
  detail?: unknown;
}

/** Append to the event log; the log must never be the reason a run fails. */
export async function logEvent(c: pg.Client, e: EventInput): Promise<void> {
  if (!(await registryExists(c))) return;
  await c
    .query(
      `INSERT INTO pgopt.events (run_id, pack, action, object, outcome, duration_ms, detail, pgopt_version)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
      [e.runId, e.pack, e.action, e.object ?? null, e.outcome, e.durationMs ?? null, e.detail === undefined ? null : JSON.stringify(e.detail), PGOPT_VERSION],
    )
    .catch(() => {});
}

export interface EventRow {
  id: number;
  at: string;
  runId: string | null;
  pack: string | null;
  action: string;
  object: string | null;
  outcome: string;
  durationMs: number | null;
  byUser: string;
  detail: unknown;
}

export async function recentEvents(c: pg.Client, limit: number, pack?: string): Promise<EventRow[]> {
  if (!(await registryExists(c))) return [];
  const res = await c.query(
    `SELECT * FROM pgopt.events WHERE $2::text IS NULL OR pack = $2 ORDER BY id DESC LIMIT $1`,
    [limit, pack ?? null],
  );
  return res.rows.map((r) => ({
    id: Number(r.id),
    at: new Date(r.at).toISOString(),
    runId: r.run_id,
    pack: r.pack,
    action: r.action,
    object: r.object,
    outcome: r.outcome,
    durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
    byUser: r.by_user,
    detail: r.detail,
  }));
}

/**
 * After tables were dropped and reloaded (fixtures --replace), the objects on them are gone
 * with them: their rows go too, so the registry never claims what is not there.
 */
export async function forgetVanishedObjects(c: pg.Client): Promise<number> {
  if (!(await registryExists(c))) return 0;
  const res = await c.query(
    `DELETE FROM pgopt.objects WHERE to_regclass(quote_ident(schema_name) || '.' || quote_ident(object_name)) IS NULL`,
  );
  return res.rowCount ?? 0;
}
