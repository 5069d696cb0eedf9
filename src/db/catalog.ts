import type pg from 'pg';

/** Catalog reads, each named for the question it answers. */

export interface Relation {
  oid: number;
  schema: string;
  name: string;
  /** r table, p partitioned table, m materialized view, v view, i index, … */
  relkind: string;
  estimatedRows: number;
}

/** Resolve a possibly unqualified name the way the server would (search_path). */
export async function findRelation(c: pg.Client, schema: string | null, name: string): Promise<Relation | null> {
  const res = await c.query(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
            greatest(c.reltuples, 0)::float8 AS rows
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [schema ? `${quote(schema)}.${quote(name)}` : quote(name)],
  );
  const r = res.rows[0];
  return r ? { oid: r.oid, schema: r.schema, name: r.name, relkind: r.relkind, estimatedRows: r.rows } : null;
}

export async function currentSchema(c: pg.Client): Promise<string> {
  const res = await c.query('SELECT current_schema() AS s');
  if (!res.rows[0].s) throw new Error('no schema is selected: search_path is empty');
  return res.rows[0].s;
}

export interface IndexInfo {
  oid: number;
  table: string;
  tableOid: number;
  valid: boolean;
  ready: boolean;
  definition: string;
  sizeBytes: number;
}

export async function findIndex(c: pg.Client, schema: string, name: string): Promise<IndexInfo | null> {
  const res = await c.query(
    `SELECT i.indexrelid::int AS oid, t.relname AS table, t.oid::int AS table_oid, i.indisvalid AS valid,
            i.indisready AS ready, pg_get_indexdef(i.indexrelid) AS def,
            -- A partitioned index has no storage of its own: its size is its partitions'.
            (CASE WHEN ic.relkind = 'I' THEN (SELECT coalesce(sum(pg_relation_size(relid)), 0) FROM pg_partition_tree(i.indexrelid))
                  ELSE pg_relation_size(i.indexrelid) END)::float8 AS size
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = ic.relnamespace
       JOIN pg_class t ON t.oid = i.indrelid
      WHERE n.nspname = $1 AND ic.relname = $2`,
    [schema, name],
  );
  const r = res.rows[0];
  return r
    ? { oid: r.oid, table: r.table, tableOid: r.table_oid, valid: r.valid, ready: r.ready, definition: r.def, sizeBytes: r.size }
    : null;
}

export interface MatviewInfo {
  oid: number;
  populated: boolean;
  definition: string;
  sizeBytes: number;
  hasUniqueIndex: boolean;
}

export async function findMatview(c: pg.Client, schema: string, name: string): Promise<MatviewInfo | null> {
  const res = await c.query(
    `SELECT c.oid::int AS oid, c.relispopulated AS populated, pg_get_viewdef(c.oid) AS def,
            pg_total_relation_size(c.oid)::float8 AS size,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                       AND i.indpred IS NULL AND i.indexprs IS NULL) AS has_unique
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'm'`,
    [schema, name],
  );
  const r = res.rows[0];
  return r ? { oid: r.oid, populated: r.populated, definition: r.def, sizeBytes: r.size, hasUniqueIndex: r.has_unique } : null;
}

/** Whatever else holds this name in the schema (a table, a view, an index of another kind). */
export async function relationKindByName(c: pg.Client, schema: string, name: string): Promise<string | null> {
  const res = await c.query(
    `SELECT c.relkind::text AS k FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, name],
  );
  return res.rows[0]?.k ?? null;
}

export interface SessionInfo {
  pid: number;
  user: string;
  applicationName: string;
  state: string;
  ageSeconds: number;
  query: string;
}

/**
 * Transactions a concurrent index build will have to wait for: every open transaction
 * in this database older than `minAgeSeconds`, other than our own.
 */
export async function longTransactions(c: pg.Client, minAgeSeconds: number): Promise<SessionInfo[]> {
  const res = await c.query(
    `SELECT pid, usename, application_name, state,
            extract(epoch FROM now() - xact_start)::float8 AS age, left(query, 200) AS query
       FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
        AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)
        AND now() - xact_start > make_interval(secs => $1)
      ORDER BY xact_start`,
    [minAgeSeconds],
  );
  return res.rows.map(toSession);
}

/** Sessions holding a granted lock on a relation (who made our lock wait time out). */
export async function lockHolders(c: pg.Client, relationOid: number): Promise<(SessionInfo & { mode: string })[]> {
  const res = await c.query(
    `SELECT a.pid, a.usename, a.application_name, a.state, l.mode,
            extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::float8 AS age, left(a.query, 200) AS query
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.relation = $1 AND l.granted AND a.pid <> pg_backend_pid()
      ORDER BY a.xact_start`,
    [relationOid],
  );
  return res.rows.map((r) => ({ ...toSession(r), mode: r.mode }));
}

const toSession = (r: any): SessionInfo => ({
  pid: r.pid,
  user: r.usename,
  applicationName: r.application_name,
  state: r.state,
  ageSeconds: Math.round(r.age),
  query: r.query,
});

const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
