import { prepareSession, type Session } from './session.js';
import { chunkIndexBytes, continuousAggregates } from './timescale.js';

/** Catalog reads, each named for the question it answers. */

export interface Relation {
  oid: number;
  schema: string;
  name: string;
  /** r table, p partitioned table, m materialized view, v view, i index, … */
  relkind: string;
  estimatedRows: number;
  /** The top of its partition tree (itself when it is in none): builds on one tree lock each other. */
  treeRoot: number;
}

/**
 * Resolve a possibly unqualified name the way the user's session would: through the schemas
 * of the user's search_path, in order (pgopt's own queries run under a pinned one).
 */
export async function findRelation(c: Session, schema: string | null, name: string): Promise<Relation | null> {
  const schemas = schema ? [schema] : (await prepareSession(c)).userSchemas;
  const res = await c.query(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
            greatest(c.reltuples, 0)::float8 AS rows, coalesce(pg_partition_root(c.oid), c.oid)::int AS root
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = $2 AND n.nspname = ANY ($1::text[])
      ORDER BY array_position($1::text[], n.nspname::text) LIMIT 1`,
    [schemas, name],
  );
  const r = res.rows[0];
  return r ? { oid: r.oid, schema: r.schema, name: r.name, relkind: r.relkind, estimatedRows: r.rows, treeRoot: r.root } : null;
}

/**
 * Many names resolved in one query, each as findRelation would (an unqualified name through the
 * user's search_path, in order): the cost of resolving a pack does not grow with it.
 */
export async function findRelations(c: Session, refs: { schema: string | null; name: string }[]): Promise<(Relation | null)[]> {
  if (!refs.length) return [];
  const schemas = (await prepareSession(c)).userSchemas;
  const res = await c.query(
    `SELECT DISTINCT ON (w.ord) w.ord::int AS ord, c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
            greatest(c.reltuples, 0)::float8 AS rows, coalesce(pg_partition_root(c.oid), c.oid)::int AS root
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(schema, name, ord)
       JOIN pg_class c ON c.relname = w.name
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE (w.schema IS NOT NULL AND n.nspname = w.schema) OR (w.schema IS NULL AND n.nspname = ANY ($3::text[]))
      ORDER BY w.ord, array_position($3::text[], n.nspname::text)`,
    [refs.map((r) => r.schema), refs.map((r) => r.name), schemas],
  );
  const out: (Relation | null)[] = refs.map(() => null);
  for (const r of res.rows) {
    out[r.ord - 1] = { oid: r.oid, schema: r.schema, name: r.name, relkind: r.relkind, estimatedRows: r.rows, treeRoot: r.root };
  }
  return out;
}

/** What holds one schema-qualified name now: an index, a materialized view, or a relation of another kind. */
export interface NamedObject {
  relkind: string;
  index: IndexInfo | null;
  matview: MatviewInfo | null;
}

/** Key of `findObjects`' answer. */
export const objectKey = (schema: string, name: string): string => `${schema}\u0000${name}`;

/**
 * findIndex, findMatview and relationKindByName for many names in one query: what an assessment
 * reads for every object of a pack, at a cost that does not grow with the pack.
 */
export async function findObjects(c: Session, names: { schema: string; name: string }[]): Promise<Map<string, NamedObject>> {
  if (!names.length) return new Map();
  const res = await c.query(
    `SELECT w.schema, w.name, c.relkind::text AS relkind, c.oid::int AS oid, t.relname AS table, t.oid::int AS table_oid,
            i.indisvalid AS valid, i.indisready AS ready,
            CASE WHEN i.indexrelid IS NOT NULL THEN pg_get_indexdef(c.oid) END AS idef,
            -- A partitioned index has no storage of its own: its size is its partitions'.
            (CASE WHEN c.relkind = 'I' THEN (SELECT coalesce(sum(pg_relation_size(relid)), 0) FROM pg_partition_tree(c.oid))
                  WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) END)::float8 AS isize,
            CASE WHEN c.relkind = 'm' THEN c.relispopulated END AS populated,
            CASE WHEN c.relkind = 'm' THEN pg_get_viewdef(c.oid) END AS vdef,
            CASE WHEN c.relkind = 'm' THEN pg_total_relation_size(c.oid)::float8 END AS vsize,
            CASE WHEN c.relkind = 'm' THEN EXISTS (SELECT 1 FROM pg_index u WHERE u.indrelid = c.oid AND u.indisunique AND u.indisvalid
                                                      AND u.indpred IS NULL AND u.indexprs IS NULL) END AS has_unique
       FROM unnest($1::text[], $2::text[]) AS w(schema, name)
       JOIN pg_namespace n ON n.nspname = w.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.name
       LEFT JOIN pg_index i ON i.indexrelid = c.oid
       LEFT JOIN pg_class t ON t.oid = i.indrelid`,
    [names.map((x) => x.schema), names.map((x) => x.name)],
  );
  const out = new Map<string, NamedObject>();
  const views = new Map<number, string>();
  for (const r of res.rows) {
    const index: IndexInfo | null =
      r.idef === null
        ? null
        : {
            oid: r.oid,
            table: r.table,
            tableOid: r.table_oid,
            valid: r.valid,
            ready: r.ready,
            definition: r.idef,
            sizeBytes: r.isize,
            partitioned: r.relkind === 'I',
          };
    const matview: MatviewInfo | null =
      r.relkind === 'm'
        ? { oid: r.oid, populated: r.populated, definition: r.vdef, sizeBytes: r.vsize, hasUniqueIndex: r.has_unique }
        : null;
    out.set(objectKey(r.schema, r.name), { relkind: r.relkind, index, matview });
    if (r.relkind === 'v') views.set(r.oid, objectKey(r.schema, r.name));
  }
  // A view of the name may be a TimescaleDB continuous aggregate: then it stands as the pack's view.
  for (const [oid, agg] of await continuousAggregates(c, [...views.keys()])) out.get(views.get(oid)!)!.matview = agg;
  return out;
}

/** Where an unqualified CREATE of the user's puts its object; null when the search_path names no existing schema. */
export async function currentSchema(c: Session): Promise<string | null> {
  return (await prepareSession(c)).userCurrentSchema;
}

export interface IndexInfo {
  oid: number;
  table: string;
  tableOid: number;
  valid: boolean;
  ready: boolean;
  definition: string;
  sizeBytes: number;
  /** An index of a partitioned table (relkind 'I'): it cannot be dropped CONCURRENTLY. */
  partitioned: boolean;
}

export async function findIndex(c: Session, schema: string, name: string): Promise<IndexInfo | null> {
  const res = await c.query(
    `SELECT i.indexrelid::int AS oid, t.relname AS table, t.oid::int AS table_oid, i.indisvalid AS valid,
            i.indisready AS ready, pg_get_indexdef(i.indexrelid) AS def, ic.relkind = 'I' AS partitioned,
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
  if (!r) return null;
  return {
    oid: r.oid,
    table: r.table,
    tableOid: r.table_oid,
    valid: r.valid,
    ready: r.ready,
    definition: r.def,
    // A hypertable's root index holds no rows: its size is its chunk indexes'.
    sizeBytes: r.size + (await chunkIndexBytes(c, r.table_oid, r.oid)),
    partitioned: r.partitioned,
  };
}

export interface MatviewInfo {
  oid: number;
  populated: boolean;
  definition: string;
  sizeBytes: number;
  hasUniqueIndex: boolean;
  /** A TimescaleDB continuous aggregate (a view TimescaleDB materializes and refreshes). */
  continuous?: boolean;
}

export async function findMatview(c: Session, schema: string, name: string): Promise<MatviewInfo | null> {
  const res = await c.query(
    `SELECT c.oid::int AS oid, c.relkind::text AS relkind, c.relispopulated AS populated, pg_get_viewdef(c.oid) AS def,
            pg_total_relation_size(c.oid)::float8 AS size,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                       AND i.indpred IS NULL AND i.indexprs IS NULL) AS has_unique
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('m', 'v')`,
    [schema, name],
  );
  const r = res.rows[0];
  if (!r) return null;
  // A view counts only as a TimescaleDB continuous aggregate.
  if (r.relkind === 'v') return (await continuousAggregates(c, [r.oid])).get(r.oid) ?? null;
  return { oid: r.oid, populated: r.populated, definition: r.def, sizeBytes: r.size, hasUniqueIndex: r.has_unique };
}

/** Where a relation is now, found by oid: after ALTER … RENAME or SET SCHEMA its oid stays. */
export async function relationByOid(c: Session, oid: number): Promise<{ schema: string; name: string; relkind: string } | null> {
  const res = await c.query(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid`,
    [oid],
  );
  return res.rows[0] ?? null;
}

/** Whatever else holds this name in the schema (a table, a view, an index of another kind). */
export async function relationKindByName(c: Session, schema: string, name: string): Promise<string | null> {
  const res = await c.query(
    `SELECT c.relkind::text AS k FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, name],
  );
  return res.rows[0]?.k ?? null;
}

export interface SessionInfo {
  pid: number;
  /** Where the session runs, when not on the server pgopt is connected to (a Citus worker: ":57102"). */
  node?: string;
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
export async function longTransactions(c: Session, minAgeSeconds: number): Promise<SessionInfo[]> {
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
export async function lockHolders(c: Session, relationOid: number): Promise<(SessionInfo & { mode: string })[]> {
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

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a pg row is untyped; this is where it gets its type
const toSession = (r: any): SessionInfo => ({
  pid: r.pid,
  user: r.usename,
  applicationName: r.application_name,
  state: r.state,
  ageSeconds: Math.round(r.age),
  query: r.query,
});

/** One relation, sequence or the schema itself in pgopt's registry schema, with who may change it. */
export interface RegistryPart {
  /** 'schema', or the relation's name. */
  name: string;
  /** pg_class.relkind ('r' table, 'S' sequence, …); 'schema' for the schema. */
  relkind: string;
  owner: string;
  ownerTrusted: boolean;
  /** Grants of a writing privilege (on the relation, or on one of its columns: `UPDATE (object_oid)`) to PUBLIC or to a role the current user does not trust. */
  untrustedGrants: { grantee: string; privilege: string }[];
}

export interface RegistryFacts {
  currentUser: string;
  /** Null when schema `pgopt` does not exist. */
  parts: RegistryPart[] | null;
}

/**
 * Who owns schema `pgopt` and everything in it, and who else may write there. A role is
 * trusted when it is the current user, a role the current user is a member of (through
 * pg_auth_members, not the implicit "superuser is a member of everything"), or a superuser.
 */
export async function registryFacts(c: Session, schema: string): Promise<RegistryFacts> {
  const res = await c.query(
    `WITH RECURSIVE mine(oid) AS (
        SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user
        UNION SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN mine ON m.member = mine.oid),
      trusted AS (SELECT oid FROM mine UNION SELECT oid FROM pg_catalog.pg_roles WHERE rolsuper),
      ns AS (SELECT oid, nspowner, nspacl FROM pg_catalog.pg_namespace WHERE nspname = $1),
      parts AS (
        SELECT 'schema'::text AS name, 'schema'::text AS relkind, ns.nspowner AS owner,
               (SELECT coalesce(array_agg(CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END || ':' || g.privilege_type), '{}')
                  FROM pg_catalog.aclexplode(ns.nspacl) g
                 WHERE g.privilege_type = 'CREATE' AND g.grantee NOT IN (SELECT oid FROM trusted)) AS grants
          FROM ns
        UNION ALL
        SELECT c.relname::text, c.relkind::text, c.relowner,
               (SELECT coalesce(array_agg(CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END || ':' || g.privilege_type), '{}')
                  FROM pg_catalog.aclexplode(c.relacl) g
                 WHERE g.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES', 'USAGE')
                   AND g.grantee NOT IN (SELECT oid FROM trusted))
               -- A column grant writes as surely as a table grant: UPDATE (object_oid) redirects a rollback.
               || (SELECT coalesce(array_agg(CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee)::text END || ':'
                                             || g.privilege_type || ' (' || pg_catalog.quote_ident(a.attname) || ')'), '{}')
                     FROM pg_catalog.pg_attribute a, pg_catalog.aclexplode(a.attacl) g
                    WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL AND NOT a.attisdropped
                      AND g.privilege_type IN ('INSERT', 'UPDATE', 'REFERENCES') AND g.grantee NOT IN (SELECT oid FROM trusted))
          FROM pg_catalog.pg_class c JOIN ns ON c.relnamespace = ns.oid)
     SELECT current_user::text AS me, p.name, p.relkind, pg_catalog.pg_get_userbyid(p.owner)::text AS owner,
            p.owner IN (SELECT oid FROM trusted) AS owner_trusted, p.grants
       FROM (SELECT 1) one LEFT JOIN parts p ON true
      ORDER BY p.relkind = 'schema' DESC, p.name`,
    [schema],
  );
  const me = res.rows[0].me as string;
  const rows = res.rows.filter((r) => r.name !== null);
  if (!rows.some((r) => r.relkind === 'schema')) return { currentUser: me, parts: null };
  // A role name may hold ':', the privilege never does: split at the last one.
  const grant = (g: string) => ({ grantee: g.slice(0, g.lastIndexOf(':')), privilege: g.slice(g.lastIndexOf(':') + 1) });
  const parts = rows.map((r): RegistryPart => ({
    name: r.name,
    relkind: r.relkind,
    owner: r.owner,
    ownerTrusted: r.owner_trusted,
    untrustedGrants: (r.grants as string[]).map(grant),
  }));
  return { currentUser: me, parts };
}

/** Every usable (valid) index on a table with the server's rendering of its definition. */
export async function indexDefinitionsOn(c: Session, table: string): Promise<{ name: string; def: string }[]> {
  return (await indexDefinitionsOnTables(c, [table])).get(table) ?? [];
}

/** The valid indexes on each of these tables (qualified names), in one read. */
export async function indexDefinitionsOnTables(c: Session, tables: string[]): Promise<Map<string, { name: string; def: string }[]>> {
  const out = new Map<string, { name: string; def: string }[]>(tables.map((t) => [t, []]));
  if (!tables.length) return out;
  const r = await raceTolerant(c, () =>
    c.query(
      `SELECT t.rel AS "table", ic.relname AS name, pg_catalog.pg_get_indexdef(i.indexrelid) AS def
         FROM pg_catalog.unnest($1::text[]) AS t(rel)
         JOIN pg_catalog.pg_index i ON i.indrelid = pg_catalog.to_regclass(t.rel)
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indisvalid AND i.indisready`,
      [tables],
    ),
  );
  for (const row of r.rows) out.get(row.table)!.push({ name: row.name, def: row.def });
  return out;
}

/**
 * pg_get_indexdef reads the catalog caches, which can already miss an index another session is
 * dropping while this query's snapshot still lists it ("cache lookup failed for attribute 1 of
 * relation N", seen when two advise runs share a table). Outside a transaction the read is simply
 * asked again; inside one the error stands (the transaction is already aborted).
 */
async function raceTolerant<T>(c: Session, read: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await read();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (i >= attempts || c.transactionDepth > 0 || e.code !== 'XX000' || !/cache lookup failed/.test(e.message ?? '')) throw err;
      await new Promise((r) => setTimeout(r, 50 * i));
    }
  }
}

export interface TableActivity {
  /** pg_class.reltuples (0 when never analyzed). */
  rows: number;
  /** Inserts + updates + deletes since the statistics were reset. */
  writes: number;
  /** Sequential + index scans since then. */
  reads: number;
  indexes: number;
}

/** Size and read/write activity of a table (pg_stat_user_tables), or null when it does not exist. */
/** Rows, writes, reads and index count of each of these tables (qualified names) the catalog has, in one read. */
export async function tableActivities(c: Session, tables: string[]): Promise<Map<string, TableActivity>> {
  if (!tables.length) return new Map();
  const r = await c.query(
    `SELECT t.rel AS "table", greatest(c.reltuples, 0)::float8 AS rows,
            coalesce(st.n_tup_ins + st.n_tup_upd + st.n_tup_del, 0)::float8 AS writes,
            coalesce(st.seq_scan + coalesce(st.idx_scan, 0), 0)::float8 AS reads,
            (SELECT count(*) FROM pg_catalog.pg_index WHERE indrelid = c.oid)::int AS indexes
       FROM pg_catalog.unnest($1::text[]) AS t(rel)
       JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.rel)
       LEFT JOIN pg_catalog.pg_stat_user_tables st ON st.relid = c.oid`,
    [tables],
  );
  return new Map(r.rows.map(({ table, ...activity }) => [table as string, activity as TableActivity]));
}

/** Of these relations (qualified names), those never analyzed, by hand or by autovacuum: they have no statistics. */
export async function neverAnalyzed(c: Session, relations: string[]): Promise<Set<string>> {
  if (!relations.length) return new Set();
  const r = await c.query(
    `SELECT r.rel FROM pg_catalog.unnest($1::text[]) AS r(rel)
       JOIN pg_catalog.pg_stat_all_tables st ON st.relid = pg_catalog.to_regclass(r.rel)
      WHERE st.last_analyze IS NULL AND st.last_autoanalyze IS NULL`,
    [relations],
  );
  return new Set(r.rows.map((row) => row.rel as string));
}

/** format_type of a table's column, or null. */
export async function columnType(c: Session, table: string, column: string): Promise<string | null> {
  const r = await c.query(
    `SELECT pg_catalog.format_type(atttypid, atttypmod) AS t FROM pg_catalog.pg_attribute WHERE attrelid = pg_catalog.to_regclass($1) AND attname = $2`,
    [table, column],
  );
  return r.rows[0]?.t ?? null;
}

/** pg_stats.n_distinct of a column (negative: a fraction of the rows), or null before ANALYZE. */
export async function columnDistinct(c: Session, schema: string, table: string, column: string): Promise<number | null> {
  const r = await c.query(
    `SELECT n_distinct::float8 AS n FROM pg_catalog.pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3`,
    [schema, table, column],
  );
  return r.rows[0]?.n ?? null;
}

/** Advisory lock key: one apply or rollback at a time per database. */
export const RUN_LOCK = { classid: 0x70676f70 /* 'pgop' */, objid: 1 } as const;

/** Who holds pgopt's run lock in this database, if anyone. */
export interface LockHolder {
  pid: number;
  applicationName: string;
  user: string;
  clientAddr: string | null;
  since: string;
}

export async function findRunLockHolder(client: Session): Promise<LockHolder | null> {
  const res = await client.query(
    `SELECT a.pid, a.application_name, a.usename, a.client_addr::text AS client_addr,
            to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') AS since
       FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
      LIMIT 1`,
    [RUN_LOCK.classid, RUN_LOCK.objid],
  );
  const r = res.rows[0];
  return r ? { pid: r.pid, applicationName: r.application_name, user: r.usename, clientAddr: r.client_addr, since: r.since } : null;
}

export interface Partition {
  oid: number;
  schema: string;
  name: string;
  relkind: string;
}

/** The direct partitions of a partitioned table, by name. */
export async function partitionsOf(c: Session, tableOid: number): Promise<Partition[]> {
  const r = await c.query(
    `SELECT p.oid::int AS oid, n.nspname AS schema, p.relname AS name, p.relkind::text AS relkind
       FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhrelid JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
      WHERE i.inhparent = $1 ORDER BY p.relname`,
    [tableOid],
  );
  return r.rows;
}

export interface IndexOnTable {
  oid: number;
  valid: boolean;
  /** The partitioned index it is attached to, if any. */
  attachedTo: number | null;
}

/**
 * The index of that name *on that table*: an application's index that happens to carry the
 * name pgopt would choose, on some other table, is never taken for pgopt's.
 */
export async function findIndexOn(c: Session, schema: string, name: string, tableOid: number): Promise<IndexOnTable | null> {
  const r = await c.query(
    `SELECT ic.oid::int AS oid, i.indisvalid AS valid, (SELECT inhparent::int FROM pg_catalog.pg_inherits WHERE inhrelid = ic.oid) AS "attachedTo"
       FROM pg_catalog.pg_class ic JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace JOIN pg_catalog.pg_index i ON i.indexrelid = ic.oid
      WHERE n.nspname = $1 AND ic.relname = $2 AND i.indrelid = $3::oid`,
    [schema, name, tableOid],
  );
  return r.rows[0] ?? null;
}

/** An index by oid: where it is, its relkind (I: partitioned) and its table's oid. */
export async function indexByOid(c: Session, oid: number): Promise<{ schema: string; name: string; kind: string; table: number } | null> {
  const r = await c.query(
    `SELECT n.nspname AS schema, ic.relname AS name, ic.relkind::text AS kind, i.indrelid::int AS "table"
       FROM pg_catalog.pg_class ic JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace JOIN pg_catalog.pg_index i ON i.indexrelid = ic.oid
      WHERE ic.oid = $1::oid`,
    [oid],
  );
  return r.rows[0] ?? null;
}

/** The oid of a relation by its qualified, quoted name, or null. */
export async function relationOid(c: Session, qualifiedName: string): Promise<number | null> {
  const res = await c.query('SELECT pg_catalog.to_regclass($1)::oid::int AS oid', [qualifiedName]);
  return res.rows[0]?.oid ?? null;
}

/**
 * Each relation's size in blocks, by oid, from its files (not from statistics, which a table never
 * analyzed lacks): a partitioned table's is the sum of its partitions'.
 */
export async function relationBlocks(c: Session, oids: number[]): Promise<Map<number, number>> {
  if (!oids.length) return new Map();
  const res = await c.query(
    `SELECT c.oid::int AS oid,
            (CASE WHEN c.relkind = 'p'
                  THEN (SELECT coalesce(sum(pg_catalog.pg_relation_size(t.relid)), 0) FROM pg_catalog.pg_partition_tree(c.oid) AS t)
                  ELSE pg_catalog.pg_relation_size(c.oid) END)::float8 / pg_catalog.current_setting('block_size')::float8 AS blocks
       FROM pg_catalog.unnest($1::oid[]) AS o(oid) JOIN pg_catalog.pg_class c ON c.oid = o.oid`,
    [oids],
  );
  return new Map(res.rows.map((r) => [r.oid as number, Math.ceil(r.blocks as number)]));
}

/** Each relation's partition key as the server renders it, by qualified name (null: not partitioned, or not there). */
export async function partitionKeys(c: Session, qualifiedNames: string[]): Promise<Map<string, string | null>> {
  if (!qualifiedNames.length) return new Map();
  const res = await c.query(
    'SELECT r.name, pg_catalog.pg_get_partkeydef(pg_catalog.to_regclass(r.name)) AS key FROM pg_catalog.unnest($1::text[]) AS r(name)',
    [qualifiedNames],
  );
  return new Map(res.rows.map((r) => [r.name as string, (r.key as string | null) ?? null]));
}

/** Indexes' definitions as the server renders them, by qualified name (missing: no such index). */
export async function indexDefinitions(c: Session, qualifiedNames: string[]): Promise<Map<string, string>> {
  if (!qualifiedNames.length) return new Map();
  const res = await c.query(
    `SELECT r.name, pg_catalog.pg_get_indexdef(pg_catalog.to_regclass(r.name)) AS def
       FROM pg_catalog.unnest($1::text[]) AS r(name) WHERE pg_catalog.to_regclass(r.name) IS NOT NULL`,
    [qualifiedNames],
  );
  return new Map(res.rows.map((r) => [r.name as string, r.def as string]));
}

/** What decides which write probes a table can take (bench --writes). */
export interface WriteTargetFacts {
  kind: string;
  /** The table's owner: the probes run with its rights, never the caller's. */
  owner: string;
  /** Owners of partitions other than the table's owner: their triggers and expressions would run as the wrong role. */
  otherOwners: string[];
  /** Another table references it, or one of its partitions. */
  referenced: boolean;
  /** A user trigger on the table or on any of its partitions, at any depth. */
  triggers: boolean;
  identityAlways: boolean;
  /** Columns a write may set: not generated. */
  cols: string[];
  /** Identity columns: an update may not set them. */
  identity: string[];
  /** Columns of a unique index or exclusion constraint: another row's value would conflict. */
  keyed: string[];
}

export async function writeTargetFacts(c: Session, rel: string): Promise<WriteTargetFacts | null> {
  // A write to a partitioned table lands in its partitions: their triggers and owners count too.
  const tree = `(SELECT c.oid UNION SELECT t.relid FROM pg_catalog.pg_partition_tree(c.oid) t)`;
  const r = await c.query(
    `SELECT c.relkind::text AS kind, pg_catalog.pg_get_userbyid(c.relowner)::text AS owner,
            array(SELECT DISTINCT pg_catalog.pg_get_userbyid(p.relowner)::text FROM pg_catalog.pg_class p
                   WHERE p.oid IN ${tree} AND p.relowner <> c.relowner) AS "otherOwners",
            EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE confrelid IN ${tree} AND contype = 'f') AS referenced,
            EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid IN ${tree} AND NOT tgisinternal) AS triggers,
            EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND attidentity = 'a') AS "identityAlways",
            array(SELECT attname::text FROM pg_catalog.pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum) AS cols,
            array(SELECT attname::text FROM pg_catalog.pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND attidentity <> '') AS identity,
            -- Expression and predicate columns are found through pg_depend, plain ones through indkey.
            array(SELECT DISTINCT a.attname::text
                    FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum > 0
                   WHERE i.indrelid = c.oid AND (i.indisunique OR i.indisexclusion)
                     AND (a.attnum = ANY (i.indkey)
                          OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                                      WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                                        AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid
                                        AND d.refobjsubid = a.attnum))) AS keyed
       FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)`,
    [rel],
  );
  return (r.rows[0] as WriteTargetFacts | undefined) ?? null;
}

/** A digest of every user table's estimated size: two bench runs that saw different data differ here. */
export async function tableSizesDigest(c: Session): Promise<string> {
  // Sizes rounded to 2 significant digits: ANALYZE's estimates move a little between runs.
  const res = await c.query(
    `SELECT coalesce(md5(string_agg(n.nspname || '.' || c.relname || ':' ||
              CASE WHEN c.reltuples <= 0 THEN '0' ELSE round(c.reltuples::numeric, 1 - length(floor(c.reltuples)::bigint::text))::text END,
              ',' ORDER BY n.nspname, c.relname)), '') AS h
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgopt') AND n.nspname NOT LIKE 'pg_%'`,
  );
  return String(res.rows[0].h).slice(0, 16);
}

/** A function a view's query calls, with what decides whether pgopt may run it. */
export interface ViewCall {
  /** `schema.name(argtypes)`, as regprocedure prints it. */
  signature: string;
  volatile: boolean;
  owner: string;
  /** Owned by a superuser, the current user, or a role it is a member of (pg_auth_members): code the caller already trusts. */
  ownerTrusted: boolean;
}

const RULE_CALLS = /:(?:funcid|opfuncid|aggfnoid|winfnoid) (\d+)/g;
const RULE_RELATIONS = /:relid (\d+)/g;

/**
 * A materialized view runs its query at apply and at every refresh, as the role that runs them:
 * every function it calls, through the plain views it reads too (their functions run as the
 * caller, not as their owner). Read from the catalog after the dry run made the view, as the
 * server resolved them. pg_depend cannot tell (it records no dependency on built-in functions
 * such as setval), so they are read from the rules' query trees: function, operator, aggregate
 * and window calls, and the relations each reads.
 */
export async function viewCalls(c: Session, view: string): Promise<ViewCall[]> {
  const oids = new Set<string>();
  const seen = new Set<string>();
  let next = [(await c.query(`SELECT pg_catalog.to_regclass($1)::oid AS o`, [view])).rows[0].o as string];
  while (next.length) {
    next.forEach((o) => seen.add(String(o)));
    const rules = await c.query(`SELECT ev_action::text AS tree FROM pg_catalog.pg_rewrite WHERE ev_class = ANY ($1::oid[])`, [next]);
    const rels = new Set<string>();
    for (const r of rules.rows) {
      for (const m of (r.tree as string).matchAll(RULE_CALLS)) oids.add(m[1]);
      for (const m of (r.tree as string).matchAll(RULE_RELATIONS)) if (!seen.has(m[1])) rels.add(m[1]);
    }
    const views = await c.query(`SELECT oid::text AS o FROM pg_catalog.pg_class WHERE oid = ANY ($1::oid[]) AND relkind = 'v'`, [
      [...rels],
    ]);
    next = views.rows.map((r) => r.o as string);
  }
  if (!oids.size) return [];
  const res = await c.query(
    `WITH RECURSIVE mine(oid) AS (
        SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user
        UNION SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN mine ON m.member = mine.oid)
     SELECT p.oid::regprocedure::text AS signature, p.provolatile = 'v' AS volatile, pg_catalog.pg_get_userbyid(p.proowner)::text AS owner,
            (p.proowner IN (SELECT oid FROM mine) OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid = p.proowner)) AS "ownerTrusted"
       FROM pg_catalog.pg_proc p WHERE p.oid = ANY ($1::oid[]) ORDER BY 1`,
    [[...oids]],
  );
  return res.rows as ViewCall[];
}

export const currentUser = async (c: Session): Promise<string> => (await c.query('SELECT current_user AS u')).rows[0].u as string;

/** A table's owner, and whether the current user acts as it (a member of the owning role). */
export async function tableOwnership(c: Session, table: string): Promise<TableOwnership | null> {
  return (await tableOwnerships(c, [table])).get(table) ?? null;
}

export interface TableOwnership {
  owner: string;
  mine: boolean;
}

/** The owner of each of these tables (qualified names) the catalog has, in one read. */
export async function tableOwnerships(c: Session, tables: string[]): Promise<Map<string, TableOwnership>> {
  if (!tables.length) return new Map();
  const r = await c.query(
    `SELECT t.rel AS "table", pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') AS mine,
            pg_catalog.pg_get_userbyid(c.relowner) AS owner
       FROM pg_catalog.unnest($1::text[]) AS t(rel) JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.rel)`,
    [tables],
  );
  return new Map(r.rows.map((row) => [row.table as string, { owner: row.owner as string, mine: row.mine as boolean }]));
}

export const canCreateIn = async (c: Session, schema: string): Promise<boolean> =>
  (await c.query(`SELECT pg_catalog.has_schema_privilege($1, 'CREATE') AS ok`, [schema])).rows[0].ok;

/** CREATE on the current database: what creating schema pgopt needs. */
export const canCreateSchemas = async (c: Session): Promise<boolean> =>
  (await c.query(`SELECT pg_catalog.has_database_privilege(current_database(), 'CREATE') AS ok`)).rows[0].ok;

/** USAGE on schema pgopt and SELECT on each of its tables: all that status and verify need. */
export const canReadRegistry = async (c: Session): Promise<boolean> =>
  (
    await c.query(
      `SELECT pg_catalog.has_schema_privilege('pgopt', 'USAGE')
              AND pg_catalog.bool_and(pg_catalog.has_table_privilege(c.oid, 'SELECT')) AS ok
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'pgopt' AND c.relkind = 'r'`,
    )
  ).rows[0].ok !== false;

export const canWriteRegistry = async (c: Session): Promise<boolean> =>
  (
    await c.query(
      `SELECT pg_catalog.has_table_privilege('pgopt.objects', 'INSERT, UPDATE, DELETE') AND pg_catalog.has_table_privilege('pgopt.events', 'INSERT') AS ok`,
    )
  ).rows[0].ok;

/** A table's columns and their types (format_type), for resolving a query's column references. */
export async function tableColumns(c: Session, oid: number): Promise<Map<string, string>> {
  const r = await c.query(
    `SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_catalog.pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [oid],
  );
  return new Map(r.rows.map((x) => [x.name as string, x.type as string]));
}

/** What a table's statistics say of its columns, for choosing an index kind. */
export interface ColumnStatistics {
  /** Columns with at most `most` distinct values: an enum type, or so by n_distinct (a fraction of the rows when negative). */
  fewValued: Set<string>;
  /** Columns whose order on disk follows their values: |correlation| at least `correlation`. */
  correlated: Set<string>;
  /** The table's size in 8 kB pages, as of its last VACUUM or ANALYZE. */
  pages: number;
  /** The most rows one value of a column matches: its most common value's, or an average value's when none is common. */
  mostRows: Map<string, number>;
  /**
   * The rows a value outside the most common ones matches, as the planner estimates it (eqsel): the
   * rows the common values and NULLs leave, over the distinct values left.
   */
  typicalRows: Map<string, number>;
}

/** Without statistics (never analyzed) only enums count as few-valued, and nothing as correlated. */
export async function columnStatistics(c: Session, oid: number, most: number, correlation: number): Promise<ColumnStatistics> {
  const r = await c.query(
    `SELECT a.attname AS name, c.relpages::float8 AS pages,
            (t.typtype = 'e'
             OR (s.n_distinct > 0 AND s.n_distinct <= $2)
             OR (s.n_distinct < 0 AND -s.n_distinct * GREATEST(c.reltuples, 0) <= $2)) IS TRUE AS few,
            (abs(s.correlation) >= $3) IS TRUE AS correlated,
            CASE WHEN c.reltuples > 0 THEN
              GREATEST(coalesce(s.most_common_freqs[1], 0) * c.reltuples,
                       (1 - s.null_frac) * c.reltuples
                         / NULLIF(CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples ELSE s.n_distinct END, 0))::float8
            END AS most_rows,
            ((1 - s.null_frac - coalesce((SELECT sum(f) FROM unnest(s.most_common_freqs) f), 0)) * c.reltuples
               / NULLIF(CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * c.reltuples ELSE s.n_distinct END
                        - coalesce(cardinality(s.most_common_freqs), 0), 0))::float8 AS typical_rows
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_catalog.pg_stats s
         ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname AND s.inherited = (c.relkind = 'p')
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`,
    [oid, most, correlation],
  );
  const named = (key: string) => new Set(r.rows.filter((x) => x[key]).map((x) => x.name as string));
  const rows = (key: string) => new Map(r.rows.filter((x) => Number(x[key]) > 0).map((x) => [x.name as string, Number(x[key])]));
  return {
    fewValued: named('few'),
    correlated: named('correlated'),
    pages: Number(r.rows[0]?.pages ?? 0),
    mostRows: rows('most_rows'),
    typicalRows: rows('typical_rows'),
  };
}

/** A relation's bytes with its indexes and TOAST (pg_total_relation_size), or null when it does not exist. */
export async function totalRelationSize(c: Session, schema: string, name: string): Promise<number | null> {
  const r = await c.query(
    `SELECT pg_catalog.pg_total_relation_size(c.oid)::float8 AS b
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, name],
  );
  return r.rows[0] ? Number(r.rows[0].b) : null;
}

/** A view's query as the server keeps it, every name in it schema-qualified (read under pgopt's pinned search_path). */
export async function viewDefinition(c: Session, oid: number): Promise<string> {
  return (await c.query(`SELECT pg_catalog.pg_get_viewdef($1::pg_catalog.oid) AS def`, [oid])).rows[0].def as string;
}

/** The schema pg_trgm is installed in (its operator classes are named qualified), or null. */
export async function trigramSchema(c: Session): Promise<string | null> {
  const r = await c.query(
    `SELECT n.nspname AS schema FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`,
  );
  return r.rows[0]?.schema ?? null;
}

/**
 * The partitioned indexes above each named partition index, through every level (a plan names only
 * the partition's index). Names, as a plan gives them; a name two schemas share counts for both.
 */
export async function partitionedIndexesOf(c: Session, names: string[]): Promise<string[]> {
  const r = await c.query(
    `SELECT DISTINCT a.relname AS name
       FROM pg_catalog.pg_class i
       CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(i.oid) AS up(relid)
       JOIN pg_catalog.pg_class a ON a.oid = up.relid
      WHERE i.relname = ANY($1::text[]) AND i.relkind = 'i' AND i.relispartition AND a.oid <> i.oid`,
    [names],
  );
  return r.rows.map((x) => x.name as string);
}

/** The schema HypoPG is installed in (its functions are called qualified with it), or null. */
export async function hypopgSchema(c: Session): Promise<string | null> {
  const r = await c.query(
    `SELECT n.nspname AS schema FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'`,
  );
  return r.rows[0]?.schema ?? null;
}

/** Whether HypoPG can be installed here (the server has its files). */
export async function hypopgAvailable(c: Session): Promise<boolean> {
  return extensionAvailable(c, 'hypopg');
}

/** Whether the server has an extension's files, so CREATE EXTENSION can install it. */
export async function extensionAvailable(c: Session, name: string): Promise<boolean> {
  const r = await c.query(`SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = $1`, [name]);
  return r.rows.length > 0;
}

/** An index and, for a partitioned one, every index of its partitions: each with its table. */
export async function indexTree(c: Session, indexOid: number): Promise<{ oid: number; name: string; tableOid: number; leaf: boolean }[]> {
  const r = await c.query(
    `SELECT t.relid::int AS oid, ic.relname AS name, i.indrelid::int AS table_oid, t.isleaf AS leaf
       FROM pg_catalog.pg_partition_tree($1::oid::regclass) t
       JOIN pg_catalog.pg_index i ON i.indexrelid = t.relid
       JOIN pg_catalog.pg_class ic ON ic.oid = t.relid
      ORDER BY t.level, ic.relname`,
    [indexOid],
  );
  if (r.rows.length) return r.rows.map((row) => ({ oid: row.oid, name: row.name, tableOid: row.table_oid, leaf: row.leaf }));
  // pg_partition_tree lists nothing for an index outside any partition tree: it is its own tree.
  const self = await c.query(
    `SELECT ic.relname AS name, i.indrelid::int AS table_oid FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indexrelid = $1::oid`,
    [indexOid],
  );
  return self.rows.map((row) => ({ oid: indexOid, name: row.name, tableOid: row.table_oid, leaf: true }));
}

/**
 * Where every sequence the caller may read stands (pg_sequences.last_value; null before its first
 * nextval or without the privilege to read it). A ROLLBACK does not undo nextval: comparing two
 * readings tells which sequences a workload moved, however it called them (a serial default, a wrapper).
 */
export async function sequencePositions(c: Session): Promise<Map<string, string | null>> {
  const r = await c.query(
    `SELECT pg_catalog.quote_ident(schemaname) || '.' || pg_catalog.quote_ident(sequencename) AS name, last_value::text AS v
       FROM pg_catalog.pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'pgopt')`,
  );
  return new Map(r.rows.map((row) => [row.name as string, row.v as string | null]));
}

/** The sequences that moved between two readings, and by how much (a sequence that decreased or cycled counts by its new position). */
export function sequencesMoved(before: Map<string, string | null>, after: Map<string, string | null>): { sequence: string; by: number }[] {
  const out: { sequence: string; by: number }[] = [];
  for (const [name, v] of after) {
    const was = before.get(name) ?? null;
    if (v === null || v === was) continue;
    const by = was === null ? Number(v) : Number(BigInt(v) - BigInt(was));
    out.push({ sequence: name, by });
  }
  return out;
}
