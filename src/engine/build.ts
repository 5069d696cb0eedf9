import { findIndex, longTransactions, relationOid, type SessionInfo } from '../db/catalog.js';
import { PgoptError } from '../errors.js';
import { withStatementTimeout } from '../db/scoped.js';
import { displayName, qualify } from '../db/ident.js';
import { asUser, asUserForBuild, runOneStatement, type Session } from '../db/session.js';
import { rewriteIndexSql } from '../pack/rewrite.js';
import type { Assessment } from './assess.js';
import { describeSessions, lockPolicy, withLockRetry } from './locks.js';
import { failure } from './failure.js';
import { backendPid } from '../db/session.js';
import type { RunOptions } from './run-options.js';
import { sweepShardLeftovers } from './distributed.js';
import { onShards, workerLongTransactions } from '../db/citus.js';
import { buildPartitionedIndex, dropBuilt, dropPartitionedIndex, type PartitionedBuild } from './partitioned.js';
import { buildHypertableIndex, dropBuiltOnHypertable, dropHypertableIndex } from './hypertable.js';
import { materializationOf } from '../db/timescale.js';

/** Building and dropping single objects, with the timeouts and locks each needs. */

/**
 * statement_timeout for one long step. lock_timeout is 0 on purpose: a concurrent build
 * waits for every older transaction in the database, and lock_timeout would cancel it for
 * any of them while the wait itself blocks nobody.
 */
async function withBuildTimeout<T>(c: Session, o: RunOptions, fn: () => Promise<T>): Promise<T> {
  await c.query('SET lock_timeout = 0');
  return withStatementTimeout(c, o.buildTimeoutMs, fn);
}

/** DROP INDEX CONCURRENTLY IF EXISTS: never takes a lock the application would queue behind. */
export async function dropIndexConcurrently(c: Session, schema: string, name: string, o: RunOptions): Promise<void> {
  await withBuildTimeout(c, o, () => c.query(`DROP INDEX CONCURRENTLY IF EXISTS ${qualify(schema, name)}`));
}

/**
 * Name the transactions older than --long-transaction-seconds (X) a build is about to wait for.
 * With `o.quietUntil` (apply's lanes share one), a look at time T asks for those older than X/2:
 * none proves none can be older than X before T + X/2, since such a transaction would have been
 * open at T and older than X/2 then. A run of quick builds thus looks once per X/2, not once per
 * build (a look at pg_stat_activity costs about a millisecond).
 */
export async function warnAboutLongTransactions(c: Session, a: Assessment, o: RunOptions): Promise<void> {
  const sessions = await transactionsOlderThan(c, o.longTransactionSeconds, o.quietUntil);
  // A distributed build also waits on each worker, for transactions the coordinator cannot see.
  if (onShards(a.table?.topology)) sessions.push(...(await workerLongTransactions(c, o.longTransactionSeconds).catch(() => [])));
  if (sessions.length) o.onProgress?.({ type: 'waiting-for-transactions', object: a.qualifiedName, sessions });
}

async function transactionsOlderThan(c: Session, seconds: number, quiet?: { ms: number }): Promise<SessionInfo[]> {
  const now = performance.now();
  if (!quiet) return longTransactions(c, seconds).catch(() => []);
  if (now < quiet.ms) return [];
  const near = await longTransactions(c, seconds / 2).catch(() => null);
  if (near && !near.length) quiet.ms = now + (seconds / 2) * 1000;
  return (near ?? []).filter((s) => s.ageSeconds > seconds);
}

/**
 * Build one index. Concurrently: alone, outside any transaction, and a failed build's
 * INVALID leftover is dropped so it is not maintained on every write for nothing.
 * Otherwise: inside `inTransaction`, under lock_timeout with retries.
 */
export async function buildIndex(
  c: Session,
  a: Assessment,
  o: RunOptions,
  inTransaction: (fn: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const sql = rewriteIndexSql(a.object.statement.sql, { name: a.object.name, concurrently: o.concurrently });
  const what = `building index ${a.qualifiedName}`;
  if (!o.concurrently) {
    const tableOid = (await findTableOid(c, a)) ?? 0;
    await withLockRetry(c, what, [tableOid], lockPolicy(o, what), () =>
      inTransaction(async () => {
        await asUser(c, () => runOneStatement(c, sql));
      }),
    ).catch((err) => {
      throw failure(err, what, o.signal);
    });
    return;
  }
  await warnAboutLongTransactions(c, a, o);
  if (a.table?.partitioned) return buildOnPartitions(c, a, o, inTransaction);
  if (a.table?.hypertable) return buildOnChunks(c, a, o, inTransaction);
  const distributed = onShards(a.table?.topology);
  // Only a distributed build needs the table itself (the watch reads its shards).
  const tableOid = distributed ? await findTableOid(c, a) : null;
  const stopWatch = o.watch?.(
    backendPid(c),
    a.qualifiedName,
    'index',
    distributed && tableOid ? { tableOid, index: a.object.name } : undefined,
  );
  try {
    // A shard index of this name without its coordinator index would fail the build on its shard.
    if (distributed) await sweepShardLeftovers(c, tableOid, a.schema, a.object.name);
    await buildConcurrently(c, o, sql, a.schema, a.object.name);
  } catch (err) {
    throw await buildFailure(c, err, what, o);
  } finally {
    stopWatch?.();
  }
}

/**
 * One CREATE INDEX CONCURRENTLY. A failed one leaves an INVALID index that every write would
 * maintain for nothing: it is dropped at once — only when this statement made it (a new oid),
 * never an index of that name that was there before.
 */
export async function buildConcurrently(c: Session, o: RunOptions, sql: string, schema: string, name: string): Promise<void> {
  // Only its oid: whatever is there already is never this statement's leftover. Undefined: the
  // build never started, so nothing can be its leftover.
  let before: number | null | undefined;
  try {
    await asUserForBuild(c, o.buildTimeoutMs, qualify(schema, name), (existing) => {
      before = existing;
      return runOneStatement(c, sql);
    });
  } catch (err) {
    if (before === undefined) throw err;
    const left = await findIndex(c, schema, name).catch(() => null);
    if (left && !left.valid && left.oid !== before) {
      await dropLeftover(c, schema, name, o, err);
      // On Citus the coordinator's drop reaches the shards; any shard it missed is dropped on its node.
      await sweepShardLeftovers(c, left.tableOid, schema, name).catch(() => {});
    }
    throw err;
  }
}

/**
 * A concurrent drop waits for the same older transactions the build waited for, so the cleanup
 * of an INVALID leftover gets a short bound of its own. A leftover that stays is never silent:
 * the error says which index, and which sessions its drop waits for (LeftoverIndex).
 */
export const CLEANUP_TIMEOUT_MS = 5_000;

async function dropLeftover(c: Session, schema: string, name: string, o: RunOptions, cause: unknown): Promise<void> {
  const bound = { ...o, buildTimeoutMs: o.buildTimeoutMs > 0 ? Math.min(o.buildTimeoutMs, CLEANUP_TIMEOUT_MS) : CLEANUP_TIMEOUT_MS };
  // Cleanup runs even after Ctrl-C; its own failure never replaces the first error, it adds to it.
  const dropped = await dropIndexConcurrently(c, schema, name, bound).then(
    () => true,
    () => false,
  );
  if (dropped) return;
  const blockers = await longTransactions(c, 0).catch(() => []);
  throw new LeftoverIndex(displayName(schema, name), blockers, cause);
}

/** A failed build whose INVALID index could not be dropped at once: the next apply drops it. */
export class LeftoverIndex extends Error {
  constructor(
    readonly index: string,
    readonly blockers: SessionInfo[],
    readonly original: unknown,
  ) {
    super(
      `left the INVALID index ${index}: its DROP INDEX CONCURRENTLY waits for ${blockers.length ? describeSessions(blockers) : 'an older transaction'}; the next apply drops and rebuilds it`,
    );
  }
}

/**
 * Why a concurrent build failed, in the user's terms: which flag ran out and what it waited
 * for, and any INVALID index it had to leave behind.
 */
async function buildFailure(c: Session, err: unknown, what: string, o: RunOptions): Promise<PgoptError> {
  const leftover = err instanceof LeftoverIndex ? err : null;
  const cause = leftover ? leftover.original : err;
  let e = failure(cause, what, o.signal);
  if ((cause as { code?: string })?.code === '57014' && !o.signal?.aborted && o.buildTimeoutMs > 0) {
    const waited = leftover?.blockers ?? (await longTransactions(c, 0).catch(() => []));
    const during = waited.length ? ` while waiting for ${describeSessions(waited)}` : '';
    e = new PgoptError('database', `${what}: --build-timeout ${formatMs(o.buildTimeoutMs)} reached${during}`, {
      cause,
      hint: 'end those transactions, or raise --build-timeout',
    });
  }
  if (!leftover) return e;
  return new PgoptError(e.kind, `${e.message}; ${leftover.message}`, {
    cause,
    hint: e.hint,
    details: { leftover: leftover.index, blockers: leftover.blockers },
  });
}

const formatMs = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}min` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

function partitionSteps(
  c: Session,
  a: Assessment,
  o: RunOptions,
  inTransaction: (fn: () => Promise<void>) => Promise<void>,
): PartitionedBuild {
  return {
    sql: a.object.statement.sql,
    blocking: (what, oids, fn) =>
      withLockRetry(c, what, oids, lockPolicy(o, what), () =>
        inTransaction(async () => {
          await asUser(c, fn);
        }),
      ).catch((err) => {
        throw failure(err, what, o.signal);
      }),
    concurrent: async (sql, schema, name) => {
      const stopWatch = o.watch?.(backendPid(c), `${a.qualifiedName} (${displayName(schema, name)})`, 'index');
      try {
        await buildConcurrently(c, o, sql, schema, name);
      } catch (err) {
        throw failure(err, `building ${displayName(schema, name)} for ${a.qualifiedName}`, o.signal);
      } finally {
        stopWatch?.();
      }
    },
    built: [],
  };
}

/**
 * An index built piece by piece (per partition, per chunk). On failure it leaves nothing
 * half-built, and touches nothing this run did not build: what `build` recorded, by oid, as it was
 * made. Cleanup runs even after Ctrl-C; its own failure never replaces the first error.
 */
async function buildInPieces(
  c: Session,
  a: Assessment,
  o: RunOptions,
  inTransaction: (fn: () => Promise<void>) => Promise<void>,
  build: (steps: PartitionedBuild, tableOid: number, relation: string) => Promise<void>,
  cleanUp: (steps: PartitionedBuild, tableOid: number) => Promise<void>,
): Promise<void> {
  const { oid: tableOid, relation } = (await rowsOf(c, a))!;
  const steps = partitionSteps(c, a, o, inTransaction);
  try {
    await build(steps, tableOid, relation);
  } catch (err) {
    await cleanUp(steps, tableOid).catch(() => {});
    throw err;
  }
}

const buildOnPartitions = (c: Session, a: Assessment, o: RunOptions, inTransaction: (fn: () => Promise<void>) => Promise<void>) =>
  buildInPieces(
    c,
    a,
    o,
    inTransaction,
    (steps, tableOid, relation) => buildPartitionedIndex(c, a.schema, a.object.name, tableOid, relation, steps),
    // The parent (with what was attached) first, then any partition index never attached.
    (steps) => dropBuilt(c, [...steps.built], steps),
  );

const buildOnChunks = (c: Session, a: Assessment, o: RunOptions, inTransaction: (fn: () => Promise<void>) => Promise<void>) =>
  buildInPieces(
    c,
    a,
    o,
    inTransaction,
    (steps, tableOid, relation) =>
      buildHypertableIndex(c, a.schema, a.object.name, tableOid, relation, {
        ...steps,
        onChunk: (done, total, chunk) =>
          o.onProgress?.({ type: 'step', message: `${a.qualifiedName}: chunk ${done + 1} of ${total} (${chunk})` }),
      }),
    // Chunk indexes first, the root last.
    (steps, tableOid) => dropBuiltOnHypertable(c, tableOid, steps.built, steps),
  );

/** Drop an index pgopt is about to rebuild: concurrently, or per partition for a partitioned table. */
export async function dropForRebuild(
  c: Session,
  a: Assessment,
  o: RunOptions,
  inTransaction: (fn: () => Promise<void>) => Promise<void>,
): Promise<void> {
  if (a.table?.hypertable) {
    // A valid root with holes is repaired by building only the missing chunk indexes (the build
    // keeps what holds); an INVALID root, or a changed definition, is dropped without blocking writes.
    if (a.state === 'invalid' && a.live?.valid) return;
    return dropHypertableIndex(c, a.schema, a.object.name, (await findTableOid(c, a))!, partitionSteps(c, a, o, inTransaction));
  }
  if (a.table?.partitioned)
    return dropPartitionedIndex(c, a.schema, a.object.name, (await findTableOid(c, a))!, partitionSteps(c, a, o, inTransaction));
  await dropIndexConcurrently(c, a.schema, a.object.name, o);
  if (onShards(a.table?.topology)) await sweepShardLeftovers(c, await findTableOid(c, a), a.schema, a.object.name);
}

/** The indexed table's oid: as assess resolved it, or, for a view this run created, from its name now. */
async function findTableOid(c: Session, a: Assessment): Promise<number | null> {
  return (await rowsOf(c, a))?.oid ?? null;
}

/**
 * The relation that holds the indexed rows: the table or materialized view itself, or a
 * continuous aggregate's materialization hypertable (which a view this run created has only now).
 */
async function rowsOf(c: Session, a: Assessment): Promise<{ oid: number; relation: string } | null> {
  if (!a.table) return null;
  if (a.table.continuous) {
    const m = await materializationOf(c, a.table.schema, a.table.name);
    return m && { oid: m.oid, relation: qualify(m.schema, m.name) };
  }
  const relation = qualify(a.table.schema, a.table.name);
  const oid = a.table.oid ?? (await relationOid(c, relation));
  return oid === null ? null : { oid, relation };
}

export { findTableOid };
