import { createHash } from 'node:crypto';
import { displayName, qualify } from '../db/ident.js';
import { rewriteIndexSql } from '../pack/rewrite.js';
import { findIndexOn, indexByOid, partitionsOf } from '../db/catalog.js';
import type { Session } from '../db/session.js';

/**
 * Indexes on partitioned tables. PostgreSQL cannot build them CONCURRENTLY, and a plain build
 * blocks writes to every partition for the whole build. The documented way, done here:
 * create the index ON ONLY the partitioned table (no data, a moment's SHARE lock), build each
 * partition's index CONCURRENTLY, and ATTACH it; once every partition has one, the parent
 * index turns valid by itself. Sub-partitioned partitions get the same treatment.
 */

/** A partition's index name: stable across runs (a rerun finds what a crashed run built), at most 63 bytes. */
export function partitionIndexName(index: string, partition: string): string {
  const full = `${index}_${partition}`;
  if (Buffer.byteLength(full) <= 63) return full;
  const cut = (s: string, bytes: number) => {
    let out = s;
    while (Buffer.byteLength(out) > bytes) out = out.slice(0, -1);
    return out;
  };
  return `${cut(index, 30)}_${cut(partition, 22)}_${createHash('md5').update(full).digest('hex').slice(0, 8)}`;
}

export interface PartitionedBuild {
  sql: string;
  /** Runs a blocking statement under lock_timeout with retries (the caller's lock policy). */
  blocking: (what: string, lockOids: number[], fn: () => Promise<unknown>) => Promise<unknown>;
  /** Builds one partition's index concurrently (progress, build timeout, INVALID cleanup). */
  concurrent: (sql: string, schema: string, name: string) => Promise<void>;
  /** Oids of the indexes this run created, in order: after a failure, exactly these are dropped. */
  built: number[];
}

/**
 * The parent's own index, ON ONLY its table (no rows: a moment's SHARE lock, under the caller's
 * lock policy); recorded as built only when this call made it. Shared by partitioned tables and
 * TimescaleDB hypertables (hypertable.ts).
 */
export async function createParentOnly(
  c: Session,
  schema: string,
  name: string,
  tableOid: number,
  relation: string,
  b: Pick<PartitionedBuild, 'sql' | 'blocking' | 'built'>,
): Promise<{ oid: number }> {
  const parentSql = rewriteIndexSql(b.sql, { name, relation, concurrently: false, ifNotExists: true, only: true });
  const before = await findIndexOn(c, schema, name, tableOid);
  await b.blocking(`creating ${displayName(schema, name)} on ${relation} alone`, [tableOid], () => c.query(parentSql));
  const parent = await findIndexOn(c, schema, name, tableOid);
  // IF NOT EXISTS is silent when the name is taken by an index elsewhere: that is a conflict, not ours.
  if (!parent) throw new Error(`index ${displayName(schema, name)} was not created: the name is taken by another relation`);
  if (!before) b.built.push(parent.oid);
  return parent;
}

/**
 * Build index `name` (in `schema`) on the partitioned table `tableOid`, per partition. What is
 * already there from a run that died (an attached partition index) is kept; an INVALID one is
 * rebuilt.
 */
export async function buildPartitionedIndex(
  c: Session,
  schema: string,
  name: string,
  tableOid: number,
  relation: string,
  b: PartitionedBuild,
): Promise<void> {
  const parent = await createParentOnly(c, schema, name, tableOid, relation, b);
  for (const p of await partitionsOf(c, tableOid)) {
    if (p.relkind === 'f') continue; // foreign partitions hold no index
    const childName = partitionIndexName(name, p.name);
    const rel = qualify(p.schema, p.name);
    let child = await findIndexOn(c, p.schema, childName, p.oid);
    if (child?.attachedTo === parent.oid) continue;
    if (p.relkind === 'p') {
      await buildPartitionedIndex(c, p.schema, childName, p.oid, rel, b);
    } else {
      if (child && !child.valid) {
        await b.concurrent(`DROP INDEX CONCURRENTLY IF EXISTS ${qualify(p.schema, childName)}`, p.schema, childName);
        child = null;
      }
      if (!child) {
        await b.concurrent(rewriteIndexSql(b.sql, { name: childName, relation: rel, concurrently: true }), p.schema, childName);
        const made = await findIndexOn(c, p.schema, childName, p.oid);
        if (made) b.built.push(made.oid);
      }
    }
    await b.blocking(`attaching ${displayName(p.schema, childName)} to ${displayName(schema, name)}`, [tableOid, p.oid], () =>
      c.query(`ALTER INDEX ${qualify(schema, name)} ATTACH PARTITION ${qualify(p.schema, childName)}`),
    );
  }
}

/**
 * Drop an index of a partitioned table: DROP INDEX (CONCURRENTLY is not possible) takes the
 * parent's and partitions' locks for a moment, under lock_timeout; the attached partition
 * indexes go with it. Partition indexes a failed run built but never attached are dropped
 * concurrently. Only indexes on the very partitions named as pgopt names them are touched.
 */
export async function dropPartitionedIndex(
  c: Session,
  schema: string,
  name: string,
  tableOid: number,
  b: Pick<PartitionedBuild, 'blocking' | 'concurrent'>,
): Promise<void> {
  const oids: number[] = [];
  const walk = async (oid: number, indexSchema: string, index: string) => {
    const found = await findIndexOn(c, indexSchema, index, oid);
    if (found) oids.push(found.oid);
    for (const p of await partitionsOf(c, oid)) {
      const childName = partitionIndexName(index, p.name);
      if (p.relkind === 'p') await walk(p.oid, p.schema, childName);
      else {
        const child = await findIndexOn(c, p.schema, childName, p.oid);
        if (child) oids.push(child.oid);
      }
    }
  };
  await walk(tableOid, schema, name);
  await dropBuilt(c, oids, b);
}

/**
 * Drop these indexes, by oid wherever they are now, in order: parents first, since dropping a
 * partitioned index takes its attached ones along (those are then gone and skipped). After a
 * failed build these are exactly the indexes that run created. `blocking` names the ones that
 * cannot be dropped concurrently (by default a partitioned table's).
 */
export async function dropBuilt(
  c: Session,
  built: number[],
  b: Pick<PartitionedBuild, 'blocking' | 'concurrent'>,
  blocking: (idx: { kind: string; table: number }) => boolean = (idx) => idx.kind === 'I',
): Promise<void> {
  let firstError: unknown = null;
  for (const oid of built) {
    try {
      const idx = await indexByOid(c, oid);
      if (!idx) continue;
      if (blocking(idx))
        await b.blocking(`dropping ${displayName(idx.schema, idx.name)}`, [idx.table], () =>
          c.query(`DROP INDEX IF EXISTS ${qualify(idx.schema, idx.name)}`),
        );
      else await b.concurrent(`DROP INDEX CONCURRENTLY IF EXISTS ${qualify(idx.schema, idx.name)}`, idx.schema, idx.name);
    } catch (err) {
      firstError ??= err;
    }
  }
  if (firstError) throw firstError;
}
