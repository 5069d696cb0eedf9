/**
 * What hygiene reads of every index, in one catalog question, and how long the scan counters have
 * been counting. The rules that judge these facts are pure (src/hygiene/rules.ts).
 */
import type { Session } from './session.js';

/** One key position: what it indexes and how, so two indexes compare position by position. */
export interface IndexKey {
  /** The column's name, or the expression's text. */
  text: string;
  /** Column number, 0 for an expression. */
  attnum: number;
  opclass: number;
  collation: number;
  /** indoption: DESC, NULLS FIRST. */
  option: number;
}

/** What backs the index: dropping it would change what the database enforces or how it replicates. */
export interface IndexRoles {
  /** The constraint it backs (primary key, unique, exclusion), with its kind. */
  constraint: { name: string; kind: 'primary key' | 'unique' | 'exclusion' } | null;
  /** UNIQUE without a constraint: it still refuses duplicates. */
  unique: boolean;
  replicaIdentity: boolean;
  clustered: boolean;
  /** Of a partitioned table: DROP INDEX CONCURRENTLY cannot drop it. */
  partitioned: boolean;
  /** A partition's index attached to a partitioned one: it goes only with its parent. */
  attached: boolean;
}

export interface IndexFact {
  oid: number;
  schema: string;
  name: string;
  /** The table, schema-qualified and quoted as the server prints it. */
  table: string;
  tableOid: number;
  method: string;
  /** Key positions, then INCLUDE columns (`keys.length - keyCount` of them). */
  keys: IndexKey[];
  keyCount: number;
  predicate: string | null;
  roles: IndexRoles;
  valid: boolean;
  /** A concurrent build or drop is at work on it now (pg_stat_progress_create_index). */
  building: boolean;
  definition: string;
  tablespace: string | null;
  sizeBytes: number;
  /** Index scans since the counters started (a partitioned index: its partitions' sum). */
  scans: number;
  /** Rows written to its table since the counters started: what the index costs. */
  tableWrites: number;
  tableRows: number;
  tablePages: number;
  pages: number;
  fillfactor: number | null;
}

const FACTS_SQL = `
WITH ix AS (
  SELECT i.*, ic.relname, ic.relkind, ic.relpages, ic.reloptions, ic.reltablespace, n.nspname, t.oid AS toid,
         t.reltuples, t.relpages AS tpages, am.amname
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
    JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
    JOIN pg_catalog.pg_am am ON am.oid = ic.relam
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgopt') AND n.nspname !~ '^pg_toast'
     AND ($1::oid[] IS NULL OR i.indexrelid = ANY ($1::oid[]))
)
SELECT ix.indexrelid::int AS oid, ix.nspname AS schema, ix.relname AS name, ix.toid::int AS table_oid,
       ix.toid::regclass::text AS table, ix.amname AS method, ix.indnkeyatts::int AS key_count,
       ix.indkey::int2[]::int[] AS attnums, ix.indclass::oid[]::int8[] AS opclasses,
       ix.indcollation::oid[]::int8[] AS collations, ix.indoption::int2[]::int[] AS options,
       ARRAY(SELECT pg_catalog.pg_get_indexdef(ix.indexrelid, k, false) FROM generate_series(1, ix.indnatts) k) AS texts,
       pg_catalog.pg_get_expr(ix.indpred, ix.indrelid) AS predicate,
       ix.indisunique AS unique, ix.indisreplident AS replident, ix.indisclustered AS clustered,
       ix.indisvalid AS valid, ix.relkind = 'I' AS partitioned,
       EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = ix.indexrelid) AS attached,
       EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p WHERE p.index_relid = ix.indexrelid) AS building,
       con.conname AS constraint_name, con.contype AS constraint_type,
       pg_catalog.pg_get_indexdef(ix.indexrelid) AS definition,
       (SELECT spcname FROM pg_catalog.pg_tablespace s WHERE s.oid = ix.reltablespace) AS tablespace,
       (CASE WHEN ix.relkind = 'I' THEN (SELECT coalesce(sum(pg_catalog.pg_relation_size(relid)), 0) FROM pg_catalog.pg_partition_tree(ix.indexrelid))
             ELSE pg_catalog.pg_relation_size(ix.indexrelid) END)::float8 AS size,
       (CASE WHEN ix.relkind = 'I' THEN (SELECT coalesce(sum(s.idx_scan), 0) FROM pg_catalog.pg_partition_tree(ix.indexrelid) pt
                                           JOIN pg_catalog.pg_stat_all_indexes s ON s.indexrelid = pt.relid)
             ELSE (SELECT s.idx_scan FROM pg_catalog.pg_stat_all_indexes s WHERE s.indexrelid = ix.indexrelid) END)::float8 AS scans,
       (SELECT coalesce(n_tup_ins + n_tup_upd + n_tup_del, 0) FROM pg_catalog.pg_stat_all_tables s WHERE s.relid = ix.toid)::float8 AS writes,
       greatest(ix.reltuples, 0)::float8 AS table_rows, ix.tpages::float8 AS table_pages, ix.relpages::float8 AS pages,
       (SELECT split_part(o, '=', 2)::int FROM unnest(ix.reloptions) o WHERE o LIKE 'fillfactor=%') AS fillfactor
  FROM ix
  LEFT JOIN pg_catalog.pg_constraint con ON con.conindid = ix.indexrelid AND con.contype IN ('p', 'u', 'x')
 ORDER BY 2, 3`;

const CONSTRAINT_KINDS = { p: 'primary key', u: 'unique', x: 'exclusion' } as const;

type FactRow = Record<string, unknown> & { attnums: number[]; texts: string[] };

function keysOf(r: FactRow): IndexKey[] {
  return r.attnums.map((attnum, k) => ({
    text: r.texts[k],
    attnum,
    opclass: Number((r.opclasses as string[])[k] ?? 0),
    collation: Number((r.collations as string[])[k] ?? 0),
    option: Number((r.options as number[])[k] ?? 0),
  }));
}

function factOf(r: FactRow): IndexFact {
  const type = r.constraint_type as keyof typeof CONSTRAINT_KINDS | null;
  return {
    oid: r.oid as number,
    schema: r.schema as string,
    name: r.name as string,
    table: r.table as string,
    tableOid: r.table_oid as number,
    method: r.method as string,
    keys: keysOf(r),
    keyCount: r.key_count as number,
    predicate: (r.predicate as string | null) ?? null,
    roles: {
      constraint: type ? { name: r.constraint_name as string, kind: CONSTRAINT_KINDS[type] } : null,
      unique: r.unique as boolean,
      replicaIdentity: r.replident as boolean,
      clustered: r.clustered as boolean,
      partitioned: r.partitioned as boolean,
      attached: r.attached as boolean,
    },
    valid: r.valid as boolean,
    building: r.building as boolean,
    definition: r.definition as string,
    tablespace: (r.tablespace as string | null) ?? null,
    sizeBytes: r.size as number,
    scans: (r.scans as number | null) ?? 0,
    tableWrites: (r.writes as number | null) ?? 0,
    tableRows: r.table_rows as number,
    tablePages: r.table_pages as number,
    pages: r.pages as number,
    fillfactor: (r.fillfactor as number | null) ?? null,
  };
}

/** Every index outside the system schemas and pgopt's registry. */
export async function indexFacts(c: Session): Promise<IndexFact[]> {
  return (await c.query(FACTS_SQL, [null])).rows.map((r) => factOf(r as FactRow));
}

/** The same facts of the indexes named by oid. */
export async function indexFactsOf(c: Session, oids: number[]): Promise<IndexFact[]> {
  return (await c.query(FACTS_SQL, [oids])).rows.map((r) => factOf(r as FactRow));
}

/** Scan counts by `schema.name`: what a standby adds (each server counts its own scans). */
export async function indexScans(c: Session): Promise<Map<string, number>> {
  const res = await c.query(
    `SELECT schemaname AS schema, indexrelname AS name, idx_scan::float8 AS scans FROM pg_catalog.pg_stat_all_indexes
      WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'pgopt')`,
  );
  return new Map(res.rows.map((r) => [`${r.schema}.${r.name}`, r.scans as number]));
}

/**
 * Since when the counters count, as a lower bound: the last reset of this database's statistics,
 * or the server's start when that is later. A crash discards the counters at start; a clean
 * restart keeps them, so the start is the latest moment they can have begun without a reset
 * being recorded. A per-table reset (pg_stat_reset_single_table_counters) leaves no trace here.
 */
export async function countersSince(c: Session): Promise<{ since: Date; now: Date }> {
  const res = await c.query(
    `SELECT greatest(d.stats_reset, pg_catalog.pg_postmaster_start_time()) AS since, pg_catalog.now() AS now
       FROM pg_catalog.pg_stat_database d WHERE d.datname = pg_catalog.current_database()`,
  );
  return { since: res.rows[0].since as Date, now: res.rows[0].now as Date };
}

/** The column's average width in bytes by pg_stats, for the bloat estimate; null when not analyzed. */
export async function averageWidths(c: Session, tableOids: number[]): Promise<Map<string, number>> {
  if (!tableOids.length) return new Map();
  const res = await c.query(
    `SELECT c.oid::int AS toid, a.attnum::int AS attnum, s.avg_width::float8 AS width
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
       JOIN pg_catalog.pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
      WHERE c.oid = ANY($1::oid[])`,
    [tableOids],
  );
  return new Map(res.rows.map((r) => [`${r.toid}:${r.attnum}`, r.width as number]));
}

/** pgstattuple's measure of a btree's leaves, where the extension is installed: null otherwise. */
export async function leafDensity(c: Session, schema: string, oid: number): Promise<number | null> {
  const res = await c.query(`SELECT avg_leaf_density::float8 AS d FROM ${schema}.pgstatindex($1::oid::regclass)`, [oid]);
  const d = res.rows[0]?.d as number | undefined;
  return d === undefined || Number.isNaN(d) ? null : d;
}

export async function pgstattupleSchema(c: Session): Promise<string | null> {
  const res = await c.query(
    `SELECT pg_catalog.quote_ident(n.nspname) AS s FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
      WHERE e.extname = 'pgstattuple'`,
  );
  return (res.rows[0]?.s as string | undefined) ?? null;
}

/** Foreign keys whose referencing columns lead no valid index: a delete or key update on the parent scans the child. */
export interface UnindexedForeignKey {
  constraint: string;
  table: string;
  tableOid: number;
  columns: string[];
  parent: string;
  tableBytes: number;
  /** Deletes and updates on the parent since the counters started: how often the child is searched. */
  parentChanges: number;
}

export async function unindexedForeignKeys(c: Session): Promise<UnindexedForeignKey[]> {
  const res = await c.query(
    `SELECT con.conname AS constraint, con.conrelid::regclass::text AS table, con.conrelid::int AS table_oid,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns,
            con.confrelid::regclass::text AS parent, pg_catalog.pg_table_size(con.conrelid)::float8 AS bytes,
            (SELECT coalesce(n_tup_upd + n_tup_del, 0) FROM pg_catalog.pg_stat_all_tables s WHERE s.relid = con.confrelid)::float8 AS changes
       FROM pg_catalog.pg_constraint con
       JOIN pg_catalog.pg_namespace n ON n.oid = con.connamespace
      WHERE con.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgopt')
        AND NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_index i
           WHERE i.indrelid = con.conrelid AND i.indisvalid AND i.indpred IS NULL
             AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
             AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey)
      ORDER BY 2, 1`,
  );
  return res.rows.map((r) => ({
    constraint: r.constraint as string,
    table: r.table as string,
    tableOid: r.table_oid as number,
    columns: r.columns as string[],
    parent: r.parent as string,
    tableBytes: r.bytes as number,
    parentChanges: r.changes as number,
  }));
}
