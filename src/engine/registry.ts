import { PGOPT_VERSION } from '../version.js';
import { PgoptError } from '../errors.js';
import { canReadRegistry, registryFacts, type RegistryFacts, type RegistryPart } from '../db/catalog.js';
import { displayIdent } from '../db/ident.js';
import { prepareSession, repeatedQuery, type Session } from '../db/session.js';
import { withTransaction } from '../db/scoped.js';

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
  /** The indexed table's oid when the row was written: an index of the same name on a recreated table is not ours. */
  tableOid: number | null;
  ordinal: number;
  state: RowState;
  statement: string;
  fingerprint: string;
  catalogDefinition: string | null;
  /** A pack's `-- pgopt:rollback` text, never executed: re-checked at rollback (rollback-sql.ts). Empty: derived. */
  rollbackSql: string[];
  objectOid: number | null;
  preExisting: boolean;
  appliedAt: string | null;
  appliedBy: string | null;
  durationMs: number | null;
  pgoptVersion: string;
}

/** pg_stat_statements' counters and index scans at one moment (registry version 3): what impact compares. */
const SNAPSHOT_DDL = `
CREATE TABLE IF NOT EXISTS pgopt.snapshots (
  id bigserial PRIMARY KEY,
  taken_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  label text,
  pack text,
  moment text NOT NULL CHECK (moment IN ('manual', 'apply-start', 'apply-end')),
  server_started timestamptz NOT NULL,
  statements_since timestamptz,
  dealloc float8,
  by_user text NOT NULL DEFAULT current_user
);
CREATE TABLE IF NOT EXISTS pgopt.snapshot_statements (
  snapshot_id bigint NOT NULL REFERENCES pgopt.snapshots ON DELETE CASCADE,
  queryid text NOT NULL,
  role_name text NOT NULL,
  query text NOT NULL,
  calls float8 NOT NULL,
  total_ms float8 NOT NULL,
  stddev_ms float8 NOT NULL,
  rows float8 NOT NULL,
  shared_blocks float8 NOT NULL,
  stats_since timestamptz,
  PRIMARY KEY (snapshot_id, queryid, role_name)
);
CREATE TABLE IF NOT EXISTS pgopt.snapshot_indexes (
  snapshot_id bigint NOT NULL REFERENCES pgopt.snapshots ON DELETE CASCADE,
  schema_name text NOT NULL,
  index_name text NOT NULL,
  idx_scan float8 NOT NULL,
  PRIMARY KEY (snapshot_id, schema_name, index_name)
);
`;

/**
 * Indexes a pack dropped that it did not create (registry version 4): their full definition,
 * taken before the drop, is what rollback builds again. Never executed as read: rollback
 * checks it is one CREATE INDEX of that name on that table first (drop-registry.ts).
 */
const DROPPED_DDL = `
CREATE TABLE IF NOT EXISTS pgopt.dropped (
  pack text NOT NULL,
  schema_name text NOT NULL,
  index_name text NOT NULL,
  table_name text NOT NULL,
  table_oid oid,
  ordinal int NOT NULL,
  state text NOT NULL CHECK (state IN ('dropping', 'dropped')),
  definition text NOT NULL,
  was_valid boolean NOT NULL,
  tablespace text,
  comment text,
  size_bytes float8,
  dropped_at timestamptz,
  dropped_by text NOT NULL DEFAULT current_user,
  duration_ms numeric,
  pgopt_version text NOT NULL,
  PRIMARY KEY (pack, schema_name, index_name)
);
`;

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
  table_oid oid,
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
CREATE TABLE IF NOT EXISTS pgopt.meta (key text PRIMARY KEY, value text NOT NULL);
${SNAPSHOT_DDL}
${DROPPED_DDL}
COMMENT ON SCHEMA pgopt IS 'pgopt registry: objects applied by optimization packs and the event log';
REVOKE ALL ON SCHEMA pgopt FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pgopt FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgopt FROM PUBLIC;
`;

/**
 * The registry's shape, as a number kept in pgopt.meta. A registry without pgopt.meta is version 1
 * (pgopt before versions). Every later version has one upgrade step, run in place on first
 * contact by a run that writes (under the run lock); a registry newer than this pgopt is refused.
 */
export const REGISTRY_VERSION = 4;

/** Step `to` upgrades a registry of version `to - 1`. Each is idempotent and runs in one transaction. */
export const REGISTRY_UPGRADES: { to: number; why: string; sql: string }[] = [
  {
    to: 2,
    why: 'table_oid: an index of the same name on a recreated table is not ours; pgopt.meta: the registry version',
    sql: `ALTER TABLE pgopt.objects ADD COLUMN IF NOT EXISTS table_oid oid;
          CREATE TABLE IF NOT EXISTS pgopt.meta (key text PRIMARY KEY, value text NOT NULL);
          REVOKE ALL ON pgopt.meta FROM PUBLIC;`,
  },
  {
    to: 3,
    why: 'snapshots of pg_stat_statements and index scans, for impact',
    sql: `${SNAPSHOT_DDL}
          REVOKE ALL ON ALL TABLES IN SCHEMA pgopt FROM PUBLIC;
          REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgopt FROM PUBLIC;`,
  },
  {
    to: 4,
    why: 'dropped: the indexes a drop pack removed, with what rollback builds again',
    sql: `${DROPPED_DDL}
          REVOKE ALL ON pgopt.dropped FROM PUBLIC;`,
  },
];

const setVersion = (c: Session, v: number) =>
  c.query(`INSERT INTO pgopt.meta (key, value) VALUES ('registry_version', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [
    String(v),
  ]);

/** The version of the registry in the database (1 when it predates versions). */
export async function registryVersion(c: Session): Promise<number> {
  // Two statements: a query naming pgopt.meta fails to parse where the table does not exist.
  const has = await c.query(`SELECT pg_catalog.to_regclass('pgopt.meta') IS NOT NULL AS ok`);
  if (!has.rows[0].ok) return 1;
  const r = await c.query(`SELECT value FROM pgopt.meta WHERE key = 'registry_version'`);
  return r.rows[0]?.value ? Number(r.rows[0].value) : 1;
}

/** A registry this pgopt does not know how to read: a newer pgopt wrote it. */
export function newerRegistry(version: number): PgoptError | null {
  if (version <= REGISTRY_VERSION) return null;
  return new PgoptError(
    'input',
    `the registry in this database (schema ${REGISTRY_SCHEMA}) is version ${version}, written by a newer pgopt; this pgopt (${PGOPT_VERSION}) knows versions up to ${REGISTRY_VERSION}`,
    {
      hint: 'use the pgopt version that wrote it, or a newer one; nothing was changed',
    },
  );
}

/** The relations pgopt's registry is made of: a schema `pgopt` without them is not pgopt's. */
const REGISTRY_TABLES = ['objects', 'events'] as const;

const RELKIND_NAMES: Record<string, string> = {
  r: 'table',
  S: 'sequence',
  i: 'index',
  v: 'view',
  m: 'materialized view',
  f: 'foreign table',
  p: 'partitioned table',
  c: 'type',
};

/**
 * Why the registry in the database cannot be trusted, or null. Whoever can write it decides
 * what pgopt believes it created, so it must be owned by the current user, a role it is a
 * member of, or a superuser, and grant no writing privilege to anyone else.
 */
export function registryDistrust(f: RegistryFacts): { problem: string; fix: string } | null {
  if (!f.parts) return null;
  const me = f.currentUser;
  const label = (x: RegistryPart) =>
    x.relkind === 'schema' ? `schema ${REGISTRY_SCHEMA}` : `${RELKIND_NAMES[x.relkind] ?? 'relation'} ${REGISTRY_SCHEMA}.${x.name}`;
  const foreign = f.parts.find((x) => !x.ownerTrusted);
  if (foreign) {
    return {
      problem: `${label(foreign)} is owned by role "${foreign.owner}", which is not ${me}, a role ${me} is a member of, or a superuser`,
      fix: `inspect schema ${REGISTRY_SCHEMA}, then drop it (DROP SCHEMA ${REGISTRY_SCHEMA} CASCADE) or have a superuser give it and everything in it to a trusted role (ALTER SCHEMA / ALTER TABLE / ALTER SEQUENCE … OWNER TO ${me})`,
    };
  }
  const granted = f.parts.find((x) => x.untrustedGrants.length);
  if (granted) {
    const g = granted.untrustedGrants;
    const privileges = [...new Set(g.map((x) => x.privilege))].join(', ');
    const grantees = [...new Set(g.map((x) => x.grantee))];
    const target =
      granted.relkind === 'schema'
        ? `SCHEMA ${REGISTRY_SCHEMA}`
        : `${granted.relkind === 'S' ? 'SEQUENCE' : 'TABLE'} ${REGISTRY_SCHEMA}.${granted.name}`;
    return {
      problem: `${label(granted)} grants ${privileges} to ${grantees.join(', ')}, which ${me} does not trust: they could rewrite what pgopt believes it created`,
      fix: `REVOKE ${privileges} ON ${target} FROM ${grantees.map((x) => (x === 'PUBLIC' ? x : `"${x}"`)).join(', ')}`,
    };
  }
  const missing = REGISTRY_TABLES.find((t) => !f.parts!.some((x) => x.name === t && x.relkind === 'r'));
  if (missing) {
    return {
      problem: `schema ${REGISTRY_SCHEMA} exists but is not pgopt's registry: it has no table ${REGISTRY_SCHEMA}.${missing}`,
      fix: `pgopt does not adopt a schema it did not create; rename or drop schema ${REGISTRY_SCHEMA} (DROP SCHEMA ${REGISTRY_SCHEMA} CASCADE if it is empty)`,
    };
  }
  return null;
}

/**
 * Whether the registry exists, after checking it can be trusted: every read and write of the
 * registry comes through here first. Throws (exit 3) for a registry another role controls.
 */
export async function registryExists(c: Session): Promise<boolean> {
  if (c.registryTrusted) return true;
  await prepareSession(c);
  const facts = await registryFacts(c, REGISTRY_SCHEMA);
  const distrust = registryDistrust(facts);
  if (distrust) {
    throw new PgoptError('database', `refusing to use the registry: ${distrust.problem}`, { hint: distrust.fix });
  }
  const exists = facts.parts !== null;
  if (!exists) return false;
  if (!(await canReadRegistry(c))) throw unreadableRegistry(facts);
  const newer = newerRegistry(await registryVersion(c));
  if (newer) throw newer;
  c.registryTrusted = true;
  return true;
}

/** A registry this role may not read: name its owner and the grants that fix it (status and verify need only these). */
function unreadableRegistry(facts: RegistryFacts): PgoptError {
  const owner = facts.parts!.find((p) => p.relkind === 'schema')!.owner;
  const me = displayIdent(facts.currentUser);
  return new PgoptError('database', `role ${facts.currentUser} cannot read the registry: schema ${REGISTRY_SCHEMA} belongs to ${owner}`, {
    hint:
      `as ${owner} or a superuser: GRANT USAGE ON SCHEMA pgopt TO ${me}; GRANT SELECT ON ALL TABLES IN SCHEMA pgopt TO ${me};` +
      ` apply and rollback also need INSERT, UPDATE, DELETE ON pgopt.objects and INSERT ON pgopt.events`,
  });
}

/** Bring an older registry to REGISTRY_VERSION, one step at a time, each step with its version row. */
async function upgradeRegistry(c: Session): Promise<void> {
  const from = await registryVersion(c);
  for (const step of REGISTRY_UPGRADES.filter((u) => u.to > from && u.to <= REGISTRY_VERSION)) {
    await withTransaction(c, async () => {
      await c.query(step.sql);
      await setVersion(c, step.to);
    });
  }
}

/** Created on first use, under the run lock so two first runs cannot race; no one else may write it. */
export async function ensureRegistry(c: Session): Promise<void> {
  if (await registryExists(c)) return upgradeRegistry(c);
  await withTransaction(c, async () => {
    await c.query(DDL);
    await setVersion(c, REGISTRY_VERSION);
  });
  // Check what was created, as any later run will (a concurrent creator could have won the race).
  if (!(await registryExists(c))) throw new PgoptError('database', `the registry schema ${REGISTRY_SCHEMA} was not created`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a pg row is untyped; this is where it gets its type
const toRow = (r: any): RegistryRow => ({
  pack: r.pack,
  schema: r.schema_name,
  name: r.object_name,
  kind: r.kind,
  table: r.table_name,
  tableOid: r.table_oid === null || r.table_oid === undefined ? null : Number(r.table_oid),
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

/**
 * A note a run leaves in pgopt.meta for the runs after it: a change it made outside any pack
 * (advise's pg_trgm), written before the change, so that the next run can undo it when this one
 * is killed first. `value` names the run.
 */
export async function leaveNote(c: Session, key: string, value: string): Promise<void> {
  await ensureRegistry(c);
  await c.query(`INSERT INTO pgopt.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [key, value]);
}

export async function readNote(c: Session, key: string): Promise<string | null> {
  if (!(await registryExists(c))) return null;
  const r = await c.query(`SELECT value FROM pgopt.meta WHERE key = $1`, [key]);
  return (r.rows[0]?.value as string | undefined) ?? null;
}

/** Removes the note `value` left (another run's note under the same key stays). */
export async function removeNote(c: Session, key: string, value: string): Promise<void> {
  if (!(await registryExists(c))) return;
  await c.query(`DELETE FROM pgopt.meta WHERE key = $1 AND value = $2`, [key, value]);
}

/** All rows, or one pack's; empty when the registry was never created. */
export async function readRows(c: Session, pack?: string): Promise<RegistryRow[]> {
  if (!(await registryExists(c))) return [];
  const res = await c.query(`SELECT * FROM pgopt.objects WHERE $1::text IS NULL OR pack = $1 ORDER BY pack, ordinal`, [pack ?? null]);
  return res.rows.map(toRow);
}

export type NewRow = Omit<RegistryRow, 'appliedAt' | 'appliedBy' | 'pgoptVersion'>;

/** Writes go only to a registry that exists and was found trustworthy on this connection. */
async function assertRegistry(c: Session): Promise<void> {
  if (!(await registryExists(c))) throw new PgoptError('database', `the registry (schema ${REGISTRY_SCHEMA}) does not exist`);
}

/** A registry row is written whole: its insert, and the update of every column when one of that name is there. */
const INSERT_OBJECT = `INSERT INTO pgopt.objects (pack, schema_name, object_name, kind, table_name, ordinal, state, statement,
        fingerprint, catalog_definition, rollback_sql, object_oid, pre_existing, applied_at, applied_by, duration_ms, pgopt_version, table_oid)`;
const REPLACE_OBJECT = `ON CONFLICT (pack, schema_name, object_name) DO UPDATE SET
        kind = EXCLUDED.kind, table_name = EXCLUDED.table_name, ordinal = EXCLUDED.ordinal, state = EXCLUDED.state,
        statement = EXCLUDED.statement, fingerprint = EXCLUDED.fingerprint, catalog_definition = EXCLUDED.catalog_definition,
        rollback_sql = EXCLUDED.rollback_sql, object_oid = EXCLUDED.object_oid, pre_existing = EXCLUDED.pre_existing,
        applied_at = EXCLUDED.applied_at, applied_by = EXCLUDED.applied_by, duration_ms = EXCLUDED.duration_ms,
        pgopt_version = EXCLUDED.pgopt_version, table_oid = EXCLUDED.table_oid`;

/** $1–$6 of both writes of a row: which object of which pack it is. */
const rowIdentity = (row: Pick<NewRow, 'pack' | 'schema' | 'name' | 'kind' | 'table' | 'ordinal'>) =>
  [row.pack, row.schema, row.name, row.kind, row.table, row.ordinal] as const;

export async function upsertRow(c: Session, row: NewRow): Promise<void> {
  await assertRegistry(c);
  await repeatedQuery(
    c,
    'upsert_object',
    `${INSERT_OBJECT}
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,
             CASE WHEN $7 = 'applied' THEN clock_timestamp() END, CASE WHEN $7 = 'applied' THEN current_user END, $14, $15, $16)
     ${REPLACE_OBJECT}`,
    [
      ...rowIdentity(row),
      row.state,
      row.statement,
      row.fingerprint,
      row.catalogDefinition,
      row.rollbackSql,
      row.objectOid,
      row.preExisting,
      row.durationMs,
      PGOPT_VERSION,
      row.tableOid,
    ],
  );
}

/**
 * The applied row of an object this run built, with what the catalog shows of it (its oid, the
 * server's rendering, its table) read by the same statement, and the build's event: one round trip
 * per object built, and the row and its event commit together.
 */
export async function recordBuilt(
  c: Session,
  row: Omit<NewRow, 'state' | 'catalogDefinition' | 'objectOid' | 'tableOid' | 'preExisting'>,
  event: EventInput,
): Promise<void> {
  await assertRegistry(c);
  await repeatedQuery(
    c,
    'record_built',
    `WITH live AS (
        SELECT c.oid, CASE WHEN c.relkind IN ('m', 'v') THEN pg_catalog.pg_get_viewdef(c.oid) ELSE pg_catalog.pg_get_indexdef(c.oid) END AS def,
               (SELECT i.indrelid FROM pg_catalog.pg_index i WHERE i.indexrelid = c.oid) AS table_oid
          FROM pg_catalog.pg_class c
         WHERE c.oid = pg_catalog.to_regclass(pg_catalog.quote_ident($2) || '.' || pg_catalog.quote_ident($3))
           -- v: a TimescaleDB continuous aggregate, which pgopt tracks as a materialized view
           AND c.relkind = ANY (CASE WHEN $4 = 'matview' THEN '{m,v}' ELSE '{i,I}' END::"char"[])
     ), event AS (
        INSERT INTO pgopt.events (run_id, pack, action, object, outcome, duration_ms, detail, pgopt_version)
        VALUES ($12, $1, $13, $14, $15, $16, $17, $11)
     )
     ${INSERT_OBJECT}
     SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::int, 'applied', $7::text, $8::text, live.def, $9::text[], live.oid,
            false, clock_timestamp(), current_user, $10::numeric, $11::text, live.table_oid
       FROM (VALUES (1)) AS one (x) LEFT JOIN live ON true
     ${REPLACE_OBJECT}`,
    [
      ...rowIdentity(row),
      row.statement,
      row.fingerprint,
      row.rollbackSql,
      row.durationMs,
      PGOPT_VERSION,
      event.runId,
      event.action,
      event.object ?? null,
      event.outcome,
      event.durationMs ?? null,
      event.detail === undefined ? null : JSON.stringify(event.detail),
    ],
  );
}

export async function setRowState(c: Session, pack: string, schema: string, name: string, state: RowState): Promise<void> {
  await assertRegistry(c);
  await c.query(`UPDATE pgopt.objects SET state = $4 WHERE pack = $1 AND schema_name = $2 AND object_name = $3`, [
    pack,
    schema,
    name,
    state,
  ]);
}

export async function deleteRow(c: Session, pack: string, schema: string, name: string): Promise<void> {
  await assertRegistry(c);
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
/**
 * Append to the event log. The log is a record, never a reason to fail: false when it could not be
 * written (no registry yet, or a role that may only read it).
 */
export async function logEvent(c: Session, e: EventInput): Promise<boolean> {
  if (!(await registryExists(c))) return false;
  return c
    .query(
      `INSERT INTO pgopt.events (run_id, pack, action, object, outcome, duration_ms, detail, pgopt_version)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
      [
        e.runId,
        e.pack,
        e.action,
        e.object ?? null,
        e.outcome,
        e.durationMs ?? null,
        e.detail === undefined ? null : JSON.stringify(e.detail),
        PGOPT_VERSION,
      ],
    )
    .then(
      () => true,
      () => false,
    );
}

/**
 * Many events in one statement: what a run found nothing to do about (skipped objects) is written
 * once at its end, so a no-op apply costs the same for 2 objects or 2,000. Events that record work
 * (a build, a failure) are written as they happen (logEvent), so a crash cannot lose them.
 */
export async function logEvents(c: Session, events: EventInput[]): Promise<boolean> {
  if (!events.length || !(await registryExists(c))) return false;
  return c
    .query(
      `INSERT INTO pgopt.events (run_id, pack, action, object, outcome, duration_ms, detail, pgopt_version)
       SELECT e.run_id, e.pack, e.action, e.object, e.outcome, e.duration_ms, e.detail, $2
         FROM pg_catalog.jsonb_to_recordset($1::jsonb)
              AS e(run_id text, pack text, action text, object text, outcome text, duration_ms numeric, detail jsonb)`,
      [
        JSON.stringify(
          events.map((e) => ({
            run_id: e.runId,
            pack: e.pack,
            action: e.action,
            object: e.object ?? null,
            outcome: e.outcome,
            duration_ms: e.durationMs ?? null,
            detail: e.detail ?? null,
          })),
        ),
        PGOPT_VERSION,
      ],
    )
    .then(
      () => true,
      () => false,
    );
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

export async function recentEvents(c: Session, limit: number, pack?: string): Promise<EventRow[]> {
  if (!(await registryExists(c))) return [];
  const res = await c.query(`SELECT * FROM pgopt.events WHERE $2::text IS NULL OR pack = $2 ORDER BY id DESC LIMIT $1`, [
    limit,
    pack ?? null,
  ]);
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
export async function forgetVanishedObjects(c: Session): Promise<number> {
  if (!(await registryExists(c))) return 0;
  const res = await c.query(
    `DELETE FROM pgopt.objects WHERE to_regclass(quote_ident(schema_name) || '.' || quote_ident(object_name)) IS NULL`,
  );
  return res.rowCount ?? 0;
}
