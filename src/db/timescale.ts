/**
 * TimescaleDB's hypertables, as pgopt needs to see them. A hypertable's rows live in chunks
 * (plain tables that inherit from it, in _timescaledb_internal); an index on it is a root index
 * plus one index per chunk. Since TimescaleDB 2.22 nothing records which chunk index belongs to
 * which root: TimescaleDB matches them by structure (_timescaledb_functions.index_matches), and so
 * does pgopt. Names of chunk indexes are never parsed.
 */
import { quoteLiteral } from './ident.js';
import { extensionVersion, type Session } from './session.js';

/** The installed TimescaleDB version, or null; asked once per session. */
export const timescaleVersion = (c: Session): Promise<string | null> => extensionVersion(c, 'timescaledb');

/** Whether this table is a hypertable (a continuous aggregate's materialization included). */
export async function isHypertable(c: Session, tableOid: number): Promise<boolean> {
  if (!(await timescaleVersion(c))) return false;
  const r = await c.query(
    `SELECT EXISTS (SELECT FROM _timescaledb_catalog.hypertable h JOIN pg_catalog.pg_namespace n ON n.nspname = h.schema_name
                     JOIN pg_catalog.pg_class t ON t.relnamespace = n.oid AND t.relname = h.table_name
                    WHERE t.oid = $1::oid) AS yes`,
    [tableOid],
  );
  return r.rows[0].yes;
}

export interface Chunk {
  oid: number;
  schema: string;
  name: string;
  /** Its rows are compressed: queries read the compressed copy, whatever indexes this chunk has. */
  compressed: boolean;
}

/** The hypertable's chunks (its children), oldest first by chunk id. */
export async function chunksOf(c: Session, tableOid: number): Promise<Chunk[]> {
  const r = await c.query(
    `SELECT k.oid::int AS oid, n.nspname AS schema, k.relname AS name,
            coalesce((SELECT ch.compressed_chunk_id IS NOT NULL FROM _timescaledb_catalog.chunk ch
                       WHERE ch.schema_name = n.nspname AND ch.table_name = k.relname), false) AS compressed
       FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class k ON k.oid = i.inhrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
      WHERE i.inhparent = $1::oid
      ORDER BY k.oid`,
    [tableOid],
  );
  return r.rows;
}

export interface ChunkIndex {
  chunk: Chunk;
  /** The chunk's index that matches the root, if any (the first, by oid). */
  index: { oid: number; schema: string; name: string; valid: boolean; sizeBytes: number } | null;
}

/**
 * For each chunk, its index matching the root index `rootOid`. index_matches raises an error on
 * indexes of unrelated tables, so it only ever sees the chunks' own indexes (a MATERIALIZED step
 * keeps the planner from pushing it into the scan of pg_index).
 */
export async function chunkIndexes(c: Session, tableOid: number, rootOid: number): Promise<ChunkIndex[]> {
  const chunks = await chunksOf(c, tableOid);
  if (!chunks.length) return [];
  const r = await c.query(
    `WITH ci AS MATERIALIZED (
       SELECT i.indrelid::int AS chunk, i.indexrelid, i.indisvalid AND i.indisready AS valid
         FROM pg_catalog.pg_index i WHERE i.indrelid = ANY($2::oid[]))
     SELECT ci.chunk, ci.indexrelid::int AS oid, n.nspname AS schema, ic.relname AS name, ci.valid,
            pg_catalog.pg_relation_size(ci.indexrelid)::bigint AS size
       FROM ci JOIN pg_catalog.pg_class ic ON ic.oid = ci.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
      WHERE _timescaledb_functions.index_matches($1::oid::regclass, ci.indexrelid::regclass)
      ORDER BY ci.indexrelid`,
    [rootOid, chunks.map((k) => k.oid)],
  );
  return chunks.map((chunk) => {
    const i = r.rows.find((x) => x.chunk === chunk.oid);
    return { chunk, index: i ? { oid: i.oid, schema: i.schema, name: i.name, valid: i.valid, sizeBytes: Number(i.size) } : null };
  });
}

/** The hypertable's partitioning columns (its time dimension, and any space dimension). */
export async function dimensionColumns(c: Session, tableOid: number): Promise<string[]> {
  const r = await c.query(
    `SELECT d.column_name::text AS col
       FROM _timescaledb_catalog.dimension d JOIN _timescaledb_catalog.hypertable h ON h.id = d.hypertable_id
       JOIN pg_catalog.pg_namespace n ON n.nspname = h.schema_name
       JOIN pg_catalog.pg_class t ON t.relnamespace = n.oid AND t.relname = h.table_name
      WHERE t.oid = $1::oid ORDER BY d.id`,
    [tableOid],
  );
  return r.rows.map((x) => x.col as string);
}

/**
 * The root indexes of the chunk indexes a plan names (a plan never names the root): each chunk
 * index of a hypertable, matched to its hypertable's indexes as TimescaleDB matches them. Names, as
 * a plan gives them.
 */
export async function rootIndexesOf(c: Session, names: string[]): Promise<string[]> {
  if (!names.length || !(await timescaleVersion(c))) return [];
  const r = await c.query(
    `WITH ci AS MATERIALIZED (
       SELECT i.indexrelid, h.inhparent AS ht
         FROM pg_catalog.pg_class x JOIN pg_catalog.pg_index i ON i.indexrelid = x.oid
         JOIN pg_catalog.pg_inherits h ON h.inhrelid = i.indrelid
         JOIN pg_catalog.pg_class t ON t.oid = h.inhparent JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
         JOIN _timescaledb_catalog.hypertable ht ON ht.schema_name = n.nspname AND ht.table_name = t.relname
        WHERE x.relname = ANY($1::text[]) AND x.relkind = 'i'),
     pairs AS MATERIALIZED (SELECT ci.indexrelid, r.indexrelid AS root FROM ci JOIN pg_catalog.pg_index r ON r.indrelid = ci.ht)
     SELECT DISTINCT rc.relname AS name FROM pairs JOIN pg_catalog.pg_class rc ON rc.oid = pairs.root
      WHERE _timescaledb_functions.index_matches(pairs.root::regclass, pairs.indexrelid::regclass)`,
    [names],
  );
  return r.rows.map((x) => x.name as string);
}

/** A continuous aggregate as pgopt tracks a materialized view. */
export interface ContinuousAggregate {
  oid: number;
  /** Refreshed at least once (its watermark moved, or it holds rows). */
  populated: boolean;
  /** Its query as the server renders it (the direct view's): what the pack's statement is compared with. */
  definition: string;
  /** Its materialization hypertable with every chunk. */
  sizeBytes: number;
  /** It is refreshed by TimescaleDB, never REFRESH … CONCURRENTLY: a unique index means nothing to it. */
  hasUniqueIndex: false;
  continuous: true;
}

/** TimescaleDB's watermark of a continuous aggregate never refreshed (the earliest time it can hold). */
const NEVER_REFRESHED = '-210866803200000000';

/** The continuous aggregates among these views (by their oid). */
export async function continuousAggregates(c: Session, viewOids: number[]): Promise<Map<number, ContinuousAggregate>> {
  if (!viewOids.length || !(await timescaleVersion(c))) return new Map();
  const r = await c.query(
    `SELECT v.oid::int AS oid,
            pg_catalog.pg_get_viewdef(pg_catalog.format('%I.%I', ca.direct_view_schema, ca.direct_view_name)::regclass) AS def,
            _timescaledb_functions.cagg_watermark(ca.mat_hypertable_id)::text <> $2 AS moved, mh.oid::int AS mat
       FROM pg_catalog.pg_class v JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
       JOIN _timescaledb_catalog.continuous_agg ca ON ca.user_view_schema = n.nspname AND ca.user_view_name = v.relname
       JOIN _timescaledb_catalog.hypertable h ON h.id = ca.mat_hypertable_id
       JOIN pg_catalog.pg_class mh ON mh.oid = pg_catalog.to_regclass(pg_catalog.format('%I.%I', h.schema_name, h.table_name))
      WHERE v.oid = ANY($1::oid[])`,
    [viewOids, NEVER_REFRESHED],
  );
  const out = new Map<number, ContinuousAggregate>();
  for (const row of r.rows) {
    const size = await c.query(
      `SELECT coalesce(sum(pg_catalog.pg_total_relation_size(x)), 0)::float8 AS size,
              EXISTS (SELECT FROM pg_catalog.pg_inherits WHERE inhparent = $1::oid) AS chunks
         FROM (SELECT $1::oid AS x UNION ALL SELECT inhrelid FROM pg_catalog.pg_inherits WHERE inhparent = $1::oid) s`,
      [row.mat],
    );
    out.set(row.oid, {
      oid: row.oid,
      populated: row.moved || size.rows[0].chunks,
      definition: row.def,
      sizeBytes: size.rows[0].size,
      hasUniqueIndex: false,
      continuous: true,
    });
  }
  return out;
}

/** Where TimescaleDB keeps a continuous aggregate's rows and indexes: its materialization hypertable. */
export interface Materialization {
  oid: number;
  schema: string;
  name: string;
}

/**
 * The materialization hypertable of the continuous aggregate `schema.name`, or null when that is no
 * continuous aggregate. An index on the aggregate lives there, in _timescaledb_internal.
 */
export async function materializationOf(c: Session, schema: string, name: string): Promise<Materialization | null> {
  if (!(await timescaleVersion(c))) return null;
  const r = await c.query(
    `SELECT t.oid::int AS oid, h.schema_name AS schema, h.table_name AS name
       FROM _timescaledb_catalog.continuous_agg ca JOIN _timescaledb_catalog.hypertable h ON h.id = ca.mat_hypertable_id
       JOIN pg_catalog.pg_namespace n ON n.nspname = h.schema_name
       JOIN pg_catalog.pg_class t ON t.relnamespace = n.oid AND t.relname = h.table_name
      WHERE ca.user_view_schema = $1 AND ca.user_view_name = $2`,
    [schema, name],
  );
  return r.rows[0] ?? null;
}

/** TimescaleDB creates every materialization hypertable here (continuous_aggs/create.c: INTERNAL_SCHEMA_NAME, not configurable). */
export const MATERIALIZATION_SCHEMA = '_timescaledb_internal';

/** Refresh a continuous aggregate through TimescaleDB: the whole range, outside any transaction block. */
export function refreshContinuousAggregateSql(qualifiedName: string): string {
  return `CALL public.refresh_continuous_aggregate(${quoteLiteral(qualifiedName)}, NULL, NULL)`;
}

/** The bytes of a root index's chunk indexes (0 for an index that is not on a hypertable). */
export async function chunkIndexBytes(c: Session, tableOid: number, rootOid: number): Promise<number> {
  if (!(await isHypertable(c, tableOid))) return 0;
  return (await chunkIndexes(c, tableOid, rootOid)).reduce((sum, r) => sum + (r.index?.sizeBytes ?? 0), 0);
}

/** The refresh policy TimescaleDB runs for a continuous aggregate, in words, or null when it has none. */
export async function refreshPolicy(c: Session, viewOid: number): Promise<string | null> {
  if (!(await timescaleVersion(c))) return null;
  const r = await c.query(
    `SELECT j.schedule_interval::text AS every, j.config->>'start_offset' AS start, j.config->>'end_offset' AS "end"
       FROM pg_catalog.pg_class v JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
       JOIN _timescaledb_catalog.continuous_agg ca ON ca.user_view_schema = n.nspname AND ca.user_view_name = v.relname
       JOIN _timescaledb_config.bgw_job j ON j.hypertable_id = ca.mat_hypertable_id AND j.proc_name = 'policy_refresh_continuous_aggregate'
      WHERE v.oid = $1::oid LIMIT 1`,
    [viewOid],
  );
  const p = r.rows[0];
  return p ? `refresh policy every ${p.every} (start_offset ${p.start ?? 'none'}, end_offset ${p.end ?? 'none'})` : null;
}

/** How plan names a hypertable's layout: "hypertable by ts: 14 chunks (2 compressed)". */
export async function describeHypertable(c: Session, tableOid: number): Promise<string> {
  const [dims, chunks] = [await dimensionColumns(c, tableOid), await chunksOf(c, tableOid)];
  const compressed = chunks.filter((k) => k.compressed).length;
  const n = `${chunks.length} ${chunks.length === 1 ? 'chunk' : 'chunks'}`;
  return `hypertable by ${dims.join(', ')}: ${n}${compressed ? ` (${compressed} compressed)` : ''}, each indexed on its own`;
}
