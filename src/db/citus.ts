import { qualify } from './ident.js';
import { extensionVersion, PINNED_SEARCH_PATH, type Session } from './session.js';
import { checkedWorkerSql, hexText, hexTextArray } from './worker-sql.js';
import type { SessionInfo } from './catalog.js';

/**
 * Citus, asked through the coordinator. A distributed table is a shell on the coordinator; its
 * rows live in shards (`<table>_<shardid>`) placed on workers, and each index of the shell is
 * built once per shard as `<index>_<shardid>`. Workers hide shards from ordinary sessions, so
 * pgopt reads them the way Citus itself does: from the coordinator, over Citus's own connections
 * to each node (master_run_on_worker), which see the shards.
 */

export type TableDistribution = 'distributed' | 'reference' | 'local';

export interface Topology {
  distribution: TableDistribution;
  /** The distribution column of a distributed table, else null. */
  column: string | null;
  shards: number;
  /** Nodes holding placements, as host:port. */
  nodes: string[];
}

/** The installed Citus version, or null where Citus is not in this database. */
export const citusVersion = (c: Session): Promise<string | null> => extensionVersion(c, 'citus');

/**
 * How Citus holds a table: distributed (hash, range or append), reference, or local (a plain
 * table, or one Citus only tracks). Null when the database has no Citus.
 */
export async function tableTopology(c: Session, tableOid: number): Promise<Topology | null> {
  if (!(await citusVersion(c))) return null;
  const r = await c.query(
    `SELECT p.partmethod::text AS method, p.repmodel::text AS repmodel,
            CASE WHEN p.partkey IS NOT NULL AND p.partkey <> '' THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END AS col,
            (SELECT count(*) FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid)::int AS shards,
            (SELECT array_agg(DISTINCT n.nodename || ':' || n.nodeport ORDER BY n.nodename || ':' || n.nodeport)
               FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_dist_placement pl USING (shardid)
               JOIN pg_catalog.pg_dist_node n ON n.groupid = pl.groupid
              WHERE s.logicalrelid = p.logicalrelid AND n.noderole = 'primary') AS nodes
       FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1::oid`,
    [tableOid],
  );
  const row = r.rows[0];
  if (!row || row.method === 'n') {
    // 'n' with replication 't' is a reference table; without, a local table Citus tracks.
    if (row?.repmodel === 't') return { distribution: 'reference', column: null, shards: row.shards, nodes: row.nodes ?? [] };
    return { distribution: 'local', column: null, shards: 0, nodes: [] };
  }
  return { distribution: 'distributed', column: row.col, shards: row.shards, nodes: row.nodes ?? [] };
}

/** A distributed or reference table: its indexes live on shards, which pgopt must read and clean. */
export const onShards = (t: Topology | null | undefined): t is Topology => !!t && t.distribution !== 'local';

/** One index as it stands on one shard placement. */
export interface PlacementIndex {
  shardId: number;
  node: string;
  port: number;
  /** The coordinator holds placements of reference tables too. */
  coordinator: boolean;
  /** The shard index's name, as Citus names it for this shard. */
  name: string;
  present: boolean;
  valid: boolean;
  definition: string | null;
}

/**
 * Citus names an object's shard `<name>_<shardid>`; a name that would pass NAMEDATALEN is clipped
 * and given an 8-digit hash of the full name (AppendShardIdToName). `hash` is hashtext(name).
 */
export function shardObjectName(name: string, shardId: number, hash: number): string {
  const suffix = `_${shardId}`;
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length < 64 - suffix.length) return name + suffix;
  let cut = Math.min(bytes.length, 64 - suffix.length - 10);
  // Clip on a character boundary, as pg_mbcliplen does.
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--;
  return `${bytes.subarray(0, cut).toString('utf8')}_${(hash >>> 0).toString(16).padStart(8, '0')}${suffix}`;
}

/** One shard placement of a table, with every index it has there. */
export interface ShardPlacement {
  shardId: number;
  node: string;
  port: number;
  /** The coordinator holds placements of reference tables too. */
  coordinator: boolean;
  indexes: { name: string; valid: boolean; definition: string }[];
}

/** Every placement of every shard of the table, with its indexes as the worker has them. */
export async function shardPlacements(c: Session, tableOid: number): Promise<ShardPlacement[]> {
  const placements = await placementsOf(c, tableOid);
  const results = await onEachNode(c, placements, indexesOnNodeSql);
  return placements.map(({ relation, ...p }) => {
    const found = JSON.parse(results.get(`${p.node}:${p.port}`)!) as { shard: string; name: string; valid: boolean; def: string }[];
    return { ...p, indexes: found.filter((i) => i.shard === relation).map((i) => ({ name: i.name, valid: i.valid, definition: i.def })) };
  });
}

type Placement = Omit<ShardPlacement, 'indexes'> & { relation: string };

async function placementsOf(c: Session, tableOid: number): Promise<Placement[]> {
  const r = await c.query(
    `SELECT s.shardid::float8 AS shard, pg_catalog.shard_name(s.logicalrelid, s.shardid, false) AS relation,
            n.nodename AS node, n.nodeport::int AS port, n.groupid = 0 AS coordinator
       FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_dist_placement p USING (shardid)
       JOIN pg_catalog.pg_dist_node n ON n.groupid = p.groupid AND n.noderole = 'primary'
      WHERE s.logicalrelid = $1::oid ORDER BY s.shardid, n.nodeport`,
    [tableOid],
  );
  return r.rows.map((row) => ({
    shardId: row.shard,
    node: row.node,
    port: row.port,
    coordinator: row.coordinator,
    relation: row.relation,
  }));
}

/**
 * One command per node about the shard relations it holds, all nodes in parallel
 * (master_run_on_worker): a placement per connection (run_command_on_placements) costs about a
 * second for 32 shards. Returns each node's one-value result, by "host:port".
 */
async function onEachNode(c: Session, placements: Placement[], sql: (relations: string[]) => string): Promise<Map<string, string>> {
  const nodes = [...new Map(placements.map((p) => [`${p.node}:${p.port}`, p])).values()];
  if (!nodes.length) return new Map();
  const commands = nodes.map((n) => sql(placements.filter((p) => p.node === n.node && p.port === n.port).map((p) => p.relation)));
  const res = await runOnWorkers(c, nodes, commands, true);
  const out = new Map<string, string>();
  for (const row of res) {
    if (!row.success) throw new Error(`reading the shards on ${row.node}:${row.port}: ${row.result}`);
    out.set(`${row.node}:${row.port}`, row.result);
  }
  return out;
}

/**
 * Rows, writes and reads of a distributed or reference table, from its shards: the coordinator's
 * own copy is empty and never scanned. A reference table's copies are alike: the largest counts.
 */
export async function shardActivity(
  c: Session,
  tableOid: number,
  reference: boolean,
): Promise<{ rows: number; writes: number; reads: number } | null> {
  const placements = await placementsOf(c, tableOid);
  if (!placements.length) return null;
  const results = [...(await onEachNode(c, placements, activityOnNodeSql)).values()].map(
    (r) => JSON.parse(r) as { rows: number; writes: number; reads: number },
  );
  const total = (k: 'rows' | 'writes' | 'reads') =>
    reference ? Math.max(...results.map((r) => Number(r[k]))) : results.reduce((s, r) => s + Number(r[k]), 0);
  return { rows: total('rows'), writes: total('writes'), reads: total('reads') };
}

/**
 * One call of master_run_on_worker: each command goes to its node. Every command is checked first
 * (checkedWorkerSql): it must mean the same whatever the worker's search_path and
 * standard_conforming_strings, which the database owner sets.
 */
async function runOnWorkers(
  c: Session,
  nodes: { node: string; port: number }[],
  commands: string[],
  parallel: boolean,
): Promise<{ node: string; port: number; success: boolean; result: string }[]> {
  const checked = await Promise.all(commands.map(checkedWorkerSql));
  const res = await c.query(
    `SELECT node_name AS node, node_port AS port, success, result
       FROM pg_catalog.master_run_on_worker($1::text[], $2::int[], $3::text[], $4)`,
    [nodes.map((n) => n.node), nodes.map((n) => n.port), checked, parallel],
  );
  return res.rows;
}

/** pg_catalog's operator, spelled so that no other schema's can be chosen. */
const op = (o: string) => `OPERATOR(pg_catalog.${o})`;

/** Shard relations named as the worker resolves them (to_regclass of a hex-carried name). */
const shardsFrom = (relations: string[]) =>
  `pg_catalog.unnest(${hexTextArray(relations)}) AS r(shard)
    JOIN pg_catalog.pg_class c ON c.oid ${op('=')} pg_catalog.to_regclass(r.shard)::pg_catalog.oid`;

export function activityOnNodeSql(relations: string[]): string {
  return `SELECT pg_catalog.json_build_object('rows', coalesce(pg_catalog.sum(greatest(c.reltuples, 0)), 0),
      'writes', coalesce(pg_catalog.sum(st.n_tup_ins ${op('+')} st.n_tup_upd ${op('+')} st.n_tup_del), 0),
      'reads', coalesce(pg_catalog.sum(st.seq_scan ${op('+')} coalesce(st.idx_scan, 0)), 0))::pg_catalog.text
    FROM ${shardsFrom(relations)}
    LEFT JOIN pg_catalog.pg_stat_user_tables st ON st.relid ${op('=')} c.oid`;
}

export function distinctOnNodeSql(relation: string, column: string): string {
  return `SELECT coalesce((SELECT s.n_distinct::pg_catalog.text FROM pg_catalog.pg_stats s
      WHERE pg_catalog.to_regclass(pg_catalog.quote_ident(s.schemaname) ${op('||')} '.' ${op('||')} pg_catalog.quote_ident(s.tablename))::pg_catalog.oid
            ${op('=')} pg_catalog.to_regclass(${hexText(relation)})::pg_catalog.oid
        AND s.attname ${op('=')} ${hexText(column)}::pg_catalog.name), '')`;
}

/** n_distinct of a column as the first shard's statistics have it (the coordinator's copy has none). */
export async function shardColumnDistinct(c: Session, tableOid: number, column: string): Promise<number | null> {
  const [first] = await placementsOf(c, tableOid);
  if (!first) return null;
  const results = await onEachNode(c, [first], ([relation]) => distinctOnNodeSql(relation, column));
  const v = results.values().next().value;
  return v ? Number(v) : null;
}

/**
 * The indexes of these shard relations on one node. Rendered under pgopt's pinned search_path,
 * as every definition it compares: an unpinned session prints 'failed'::"Status" where pgopt's
 * own reads print public."Status". to_regclass, so a shard missing on its node is no error.
 */
export function indexesOnNodeSql(relations: string[]): string {
  return `WITH pin AS MATERIALIZED (SELECT pg_catalog.set_config('search_path', '${PINNED_SEARCH_PATH}', true))
  SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('shard', r.shard, 'name', ic.relname,
           'valid', i.indisvalid AND i.indisready, 'def', pg_catalog.pg_get_indexdef(i.indexrelid)))::pg_catalog.text, '[]')
    FROM pin, ${shardsFrom(relations)}
    JOIN pg_catalog.pg_index i ON i.indrelid ${op('=')} c.oid
    JOIN pg_catalog.pg_class ic ON ic.oid ${op('=')} i.indexrelid`;
}

/** hashtext() of each name: what Citus hashes a clipped shard name with. */
export async function nameHashes(c: Session, names: string[]): Promise<Map<string, number>> {
  const r = await c.query(`SELECT n, pg_catalog.hashtext(n)::int AS h FROM pg_catalog.unnest($1::text[]) AS n`, [names]);
  return new Map(r.rows.map((row) => [row.n as string, row.h as number]));
}

/** The index `name` as it stands on each placement (pure: from what shardPlacements read). */
export function indexOnPlacements(placements: ShardPlacement[], name: string, hash: number): PlacementIndex[] {
  return placements.map((p) => {
    const wanted = shardObjectName(name, p.shardId, hash);
    const found = p.indexes.find((i) => i.name === wanted);
    return {
      shardId: p.shardId,
      node: p.node,
      port: p.port,
      coordinator: p.coordinator,
      name: wanted,
      present: !!found,
      valid: !!found?.valid,
      definition: found?.definition ?? null,
    };
  });
}

/**
 * Drop the shard indexes of `name` wherever they are left, each on its own node and concurrently:
 * what a failed distributed build leaves once its coordinator index is gone.
 */
export async function dropPlacementIndexes(c: Session, tableOid: number, schema: string, name: string): Promise<number> {
  const hash = (await nameHashes(c, [name])).get(name)!;
  const left = indexOnPlacements(await shardPlacements(c, tableOid), name, hash).filter((p) => p.present);
  for (const p of left) {
    // A quoted identifier reads the same with standard_conforming_strings on or off.
    const [r] = await runOnWorkers(c, [p], [`DROP INDEX CONCURRENTLY IF EXISTS ${qualify(schema, p.name)}`], false);
    if (!r?.success) throw new Error(`dropping ${p.name} on ${p.node}:${p.port}: ${r?.result}`);
  }
  return left.length;
}

/** An index's or table's size summed over every shard placement (pg_relation_size of a shell is ~0). */
export async function citusRelationSize(c: Session, oid: number): Promise<number | null> {
  try {
    return Number((await c.query(`SELECT pg_catalog.citus_relation_size($1::oid::regclass)::float8 AS s`, [oid])).rows[0].s);
  } catch {
    return null;
  }
}

/**
 * Open transactions older than `minAgeSeconds` on the workers, in this database: a distributed
 * concurrent build waits for them on each shard's node, where the coordinator cannot see them.
 * Citus's own connections are left out (they come and go with every distributed statement).
 */
export async function workerLongTransactions(c: Session, minAgeSeconds: number): Promise<SessionInfo[]> {
  const nodes = (
    await c.query(
      `SELECT nodename AS node, nodeport::int AS port FROM pg_catalog.pg_dist_node
        WHERE groupid <> 0 AND isactive AND noderole = 'primary' ORDER BY nodeport`,
    )
  ).rows as { node: string; port: number }[];
  if (!nodes.length) return [];
  const sql = longTransactionsOnNodeSql(minAgeSeconds);
  const rows = await runOnWorkers(
    c,
    nodes,
    nodes.map(() => sql),
    true,
  );
  return rows
    .filter((row) => row.success)
    .flatMap((row) =>
      (JSON.parse(row.result) as SessionInfo[]).map((s) => ({
        ...s,
        node: `${['127.0.0.1', 'localhost'].includes(row.node) ? '' : row.node}:${row.port}`,
      })),
    );
}

/** The open transactions of one worker's sessions in this database, older than `minAgeSeconds`. */
export function longTransactionsOnNodeSql(minAgeSeconds: number): string {
  const age = `(pg_catalog.now() ${op('-')} xact_start)`;
  return `SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('pid', pid, 'user', usename,
      'applicationName', application_name, 'state', state,
      'ageSeconds', pg_catalog.round(pg_catalog.date_part('epoch', ${age})), 'query', pg_catalog.left(query, 200)) ORDER BY xact_start)::pg_catalog.text, '[]')
    FROM pg_catalog.pg_stat_activity
   WHERE datname ${op('=')} pg_catalog.current_database() AND pid ${op('<>')} pg_catalog.pg_backend_pid() AND xact_start IS NOT NULL
     AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL) AND application_name ${op('!~~')} 'citus%'
     AND ${age} ${op('>')} pg_catalog.make_interval(0, 0, 0, 0, 0, 0, ${Number(minAgeSeconds)}::pg_catalog.float8)`;
}
