import type pg from 'pg';
import { qualify } from './ident.js';
import { PINNED_SEARCH_PATH } from './session.js';

/**
 * Citus, asked through the coordinator. A distributed table is a shell on the coordinator; its
 * rows live in shards (`<table>_<shardid>`) placed on workers, and each index of the shell is
 * built once per shard as `<index>_<shardid>`. Workers hide shards from ordinary sessions, so
 * pgopt reads them the way Citus itself does: run_command_on_placements from the coordinator.
 */

export type TableDistribution = 'distributed' | 'reference' | 'local';

export interface Topology {
  distribution: TableDistribution;
  /** The distribution column of a distributed table, else null. */
  column: string | null;
  shards: number;
  placements: number;
  /** Nodes holding placements, as host:port. */
  nodes: string[];
}

/** The installed Citus version, or null where Citus is not in this database. */
export async function citusVersion(c: pg.Client): Promise<string | null> {
  const r = await c.query(`SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'`);
  return (r.rows[0]?.extversion as string | undefined) ?? null;
}

/**
 * How Citus holds a table: distributed (hash, range or append), reference, or local (a plain
 * table, or one Citus only tracks). Null when the database has no Citus.
 */
export async function tableTopology(c: pg.Client, tableOid: number): Promise<Topology | null> {
  if (!(await citusVersion(c))) return null;
  const r = await c.query(
    `SELECT p.partmethod::text AS method, p.repmodel::text AS repmodel,
            CASE WHEN p.partkey IS NOT NULL AND p.partkey <> '' THEN pg_catalog.column_to_column_name(p.logicalrelid, p.partkey) END AS col,
            (SELECT count(*) FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid)::int AS shards,
            (SELECT count(*) FROM pg_catalog.pg_dist_shard s JOIN pg_catalog.pg_dist_placement pl USING (shardid)
              WHERE s.logicalrelid = p.logicalrelid)::int AS placements,
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
    if (row?.repmodel === 't')
      return { distribution: 'reference', column: null, shards: row.shards, placements: row.placements, nodes: row.nodes ?? [] };
    return { distribution: 'local', column: null, shards: 0, placements: 0, nodes: [] };
  }
  return { distribution: 'distributed', column: row.col, shards: row.shards, placements: row.placements, nodes: row.nodes ?? [] };
}

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

/**
 * The index `name` on every placement of every shard of the table: present, valid, and as the
 * worker renders it. One round trip: Citus runs the question on each placement in parallel.
 */
export async function placementIndexes(c: pg.Client, tableOid: number, name: string): Promise<PlacementIndex[]> {
  const hash = (await c.query(`SELECT hashtext($1)::int AS h`, [name])).rows[0].h as number;
  // Citus runs format(command, shard) on each placement: %L is the shard's name as a literal.
  // Rendered under pgopt's pinned search_path, as every definition it compares: an unpinned
  // worker session would print 'failed'::"Status" where pgopt's own reads print public."Status".
  const command = `WITH pin AS MATERIALIZED (SELECT pg_catalog.set_config('search_path', '${PINNED_SEARCH_PATH}', true))
  SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('name', ic.relname, 'valid', i.indisvalid AND i.indisready,
      'def', pg_catalog.pg_get_indexdef(i.indexrelid)))::text, '[]')
    FROM pin, pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
   WHERE i.indrelid = %L::regclass`;
  const r = await c.query(
    `SELECT nodename AS node, nodeport::int AS port, shardid::bigint::float8 AS shard, success, result,
            EXISTS (SELECT 1 FROM pg_catalog.pg_dist_node n WHERE n.nodename = r.nodename AND n.nodeport = r.nodeport AND n.groupid = 0) AS coordinator
       FROM pg_catalog.run_command_on_placements($1::oid::regclass, $2) r
      ORDER BY shardid, nodeport`,
    [tableOid, command],
  );
  return r.rows.map((row) => {
    const wanted = shardObjectName(name, row.shard, hash);
    if (!row.success) throw new Error(`reading shard ${row.shard} on ${row.node}:${row.port}: ${row.result}`);
    const found = (JSON.parse(row.result) as { name: string; valid: boolean; def: string }[]).find((i) => i.name === wanted);
    return {
      shardId: row.shard,
      node: row.node,
      port: row.port,
      coordinator: row.coordinator,
      name: wanted,
      present: !!found,
      valid: !!found?.valid,
      definition: found?.def ?? null,
    };
  });
}

/**
 * Drop the shard indexes of `name` wherever they are left, each on its own node and concurrently:
 * what a failed distributed build leaves once its coordinator index is gone.
 */
export async function dropPlacementIndexes(c: pg.Client, tableOid: number, schema: string, name: string): Promise<number> {
  const left = (await placementIndexes(c, tableOid, name)).filter((p) => p.present);
  for (const p of left) {
    const r = await c.query(
      `SELECT success, result FROM pg_catalog.master_run_on_worker(ARRAY[$1]::text[], ARRAY[$2]::int[], ARRAY[$3]::text[], false)`,
      [p.node, p.port, `DROP INDEX CONCURRENTLY IF EXISTS ${qualify(schema, p.name)}`],
    );
    if (!r.rows[0]?.success) throw new Error(`dropping ${p.name} on ${p.node}:${p.port}: ${r.rows[0]?.result}`);
  }
  return left.length;
}

/** An index's or table's size summed over every shard placement (pg_relation_size of a shell is ~0). */
export async function citusRelationSize(c: pg.Client, oid: number): Promise<number | null> {
  try {
    return Number((await c.query(`SELECT pg_catalog.citus_relation_size($1::oid::regclass)::float8 AS s`, [oid])).rows[0].s);
  } catch {
    return null;
  }
}
