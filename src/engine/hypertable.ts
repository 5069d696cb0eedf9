import { displayName, qualify } from '../db/ident.js';
import { rewriteIndexSql } from '../pack/rewrite.js';
import { findIndexOn } from '../db/catalog.js';
import { chunkIndexes, type ChunkIndex } from '../db/timescale.js';
import type { Session } from '../db/session.js';
import { createParentOnly, dropBuilt, partitionIndexName, type PartitionedBuild } from './partitioned.js';

/**
 * Indexes on TimescaleDB hypertables. TimescaleDB refuses CREATE INDEX CONCURRENTLY on a
 * hypertable, and a plain build holds a ShareLock on every chunk for the whole build, which blocks
 * all writes. The way that never blocks writes (shared/timescaledb/NOTES.md 3a): the root index ON
 * ONLY the hypertable (no rows, a moment's lock), then CREATE INDEX CONCURRENTLY on each chunk.
 * TimescaleDB takes a chunk index that matches the root's structure as the root's, and gives
 * every chunk created after the root its own. The root's indisvalid says nothing about coverage:
 * only every chunk's matching, valid index does (judgeChunks).
 */

/** How many times the chunks are listed again for ones created meanwhile before the build gives up on them. */
const MAX_PASSES = 5;

/** The chunks that still lack a valid index matching the root. */
export const uncovered = (rows: ChunkIndex[]) => rows.filter((r) => !r.index?.valid);

/**
 * Build index `name` on hypertable `tableOid`, chunk by chunk. What is already there is kept: a
 * chunk with a valid matching index is skipped, an INVALID one is dropped and built again. So the
 * same call repairs a root with holes (a chunk index dropped by hand, a per-chunk build that died).
 */
export async function buildHypertableIndex(
  c: Session,
  schema: string,
  name: string,
  tableOid: number,
  relation: string,
  b: PartitionedBuild & { onChunk?: (done: number, total: number, chunk: string) => void },
): Promise<void> {
  const root = await createParentOnly(c, schema, name, tableOid, relation, b);
  // Chunks created after the root get its index from TimescaleDB; those listed before it was there
  // are built here. A chunk created between the root and the listing is caught by the next pass.
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const todo = uncovered(await chunkIndexes(c, tableOid, root.oid));
    if (!todo.length) return;
    let done = 0;
    for (const { chunk, index } of todo) {
      b.onChunk?.(done++, todo.length, chunk.name);
      if (index) await b.concurrent(`DROP INDEX CONCURRENTLY IF EXISTS ${qualify(index.schema, index.name)}`, index.schema, index.name);
      const childName = partitionIndexName(name, chunk.name);
      await b.concurrent(
        rewriteIndexSql(b.sql, { name: childName, relation: qualify(chunk.schema, chunk.name), concurrently: true }),
        chunk.schema,
        childName,
      );
      const made = await findIndexOn(c, chunk.schema, childName, chunk.oid);
      if (made) b.built.push(made.oid);
    }
  }
  throw new Error(`chunks of ${relation} kept appearing without ${displayName(schema, name)} after ${MAX_PASSES} passes`);
}

/**
 * Drop a hypertable's index without blocking writes: each chunk index CONCURRENTLY (TimescaleDB
 * refuses DROP INDEX CONCURRENTLY on the root), then the root, whose plain DROP then has no chunk
 * index left to take with it and holds its lock for a moment, under lock_timeout.
 */
export async function dropHypertableIndex(
  c: Session,
  schema: string,
  name: string,
  tableOid: number,
  b: Pick<PartitionedBuild, 'blocking' | 'concurrent'>,
): Promise<void> {
  const root = await findIndexOn(c, schema, name, tableOid);
  if (!root) return;
  await dropChunkIndexes(c, tableOid, root.oid, b.concurrent);
  await b.blocking(`dropping ${displayName(schema, name)}`, [tableOid], () => c.query(`DROP INDEX IF EXISTS ${qualify(schema, name)}`));
}

/** Every chunk index matching the root, dropped concurrently. */
export async function dropChunkIndexes(
  c: Session,
  tableOid: number,
  rootOid: number,
  concurrent: (sql: string, schema: string, name: string) => Promise<unknown>,
): Promise<void> {
  for (const { index } of await chunkIndexes(c, tableOid, rootOid)) {
    if (index) await concurrent(`DROP INDEX CONCURRENTLY IF EXISTS ${qualify(index.schema, index.name)}`, index.schema, index.name);
  }
}

/**
 * After a failed build: drop exactly what this run built, chunk indexes first (concurrently), the
 * root last (TimescaleDB refuses to drop it concurrently; with its chunk indexes gone its plain
 * drop holds its lock for a moment and takes nothing else along).
 */
export function dropBuiltOnHypertable(
  c: Session,
  tableOid: number,
  built: number[],
  b: Pick<PartitionedBuild, 'blocking' | 'concurrent'>,
): Promise<void> {
  return dropBuilt(c, [...built].reverse(), b, (idx) => idx.table === tableOid);
}
