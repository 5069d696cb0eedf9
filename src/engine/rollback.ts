import { ensureParser } from '../sql/parse.js';
import { prepareSession, requireWritable, type Session } from '../db/session.js';
import { randomUUID } from 'node:crypto';
import { PgoptError } from '../errors.js';
import { isHypertable } from '../db/timescale.js';
import { dropChunkIndexes } from './hypertable.js';
import { findIndex, findMatview, relationByOid } from '../db/catalog.js';
import { withStatementTimeout } from '../db/scoped.js';
import { withAdvisoryLock } from '../db/run-lock.js';
import { displayName } from '../db/ident.js';
import { sweepShardLeftovers } from './distributed.js';
import { checkRollbackOverride, dropStatement, type RollbackChoice } from './rollback-sql.js';
import { indexShape, queryShape } from './definition.js';
import { failure } from './failure.js';
import { lockPolicy, runLockOptions, withLockRetry } from './locks.js';
import { deleteRow, logEvent, readRows, setRowState, type RegistryRow } from './registry.js';
import { readDroppedRows, type DroppedRow } from './drop-registry.js';
import { restoreDropped, type RestoreOutcome } from './drops.js';
import type { RunOptions } from './run-options.js';

export const ROLLBACK_OUTCOMES = ['dropped', 'restored', 'already-back', 'left-out', 'kept', 'already-gone', 'failed', 'not-run'] as const;
export type RollbackOutcome = (typeof ROLLBACK_OUTCOMES)[number];

export interface RollbackObjectResult {
  object: string;
  kind: 'index' | 'matview';
  outcome: RollbackOutcome;
  durationMs: number;
  reason: string;
}

export interface RollbackResult {
  pack: string;
  runId: string;
  objects: RollbackObjectResult[];
  error?: PgoptError;
}

export interface RollbackOptions extends RunOptions {
  /** Roll back one object (name or schema.name). */
  only?: string;
}

const matchesOnly = (r: RegistryRow, only: string) => only === r.name || only === `${r.schema}.${r.name}`;

/** Where the object a registry row names is now, and whether it is still the one pgopt created. */
type Whereabouts =
  { state: 'gone' } | { state: 'ours'; partitioned: boolean; oid: number } | { state: 'renamed'; now: string } | { state: 'replaced' };

/**
 * Found by oid first: a renamed or moved object keeps its oid, and dropping by the recorded
 * name would then hit nothing (or someone else's object). Failing that, by name: the same
 * name, table and definition is ours after a REINDEX CONCURRENTLY (which swaps oids); an
 * index of that name on another table (or on a table dropped and recreated) is not.
 */
async function locate(c: Session, r: RegistryRow): Promise<Whereabouts> {
  const byOid = r.objectOid === null ? null : await relationByOid(c, r.objectOid);
  const wantKinds = r.kind === 'index' ? ['i', 'I'] : ['m'];
  if (byOid && wantKinds.includes(byOid.relkind) && (byOid.schema !== r.schema || byOid.name !== r.name)) {
    return { state: 'renamed', now: displayName(byOid.schema, byOid.name) };
  }
  const live = r.kind === 'index' ? await findIndex(c, r.schema, r.name) : await findMatview(c, r.schema, r.name);
  if (!live) return { state: 'gone' };
  const partitioned = 'partitioned' in live && live.partitioned;
  if (r.objectOid === null || live.oid === r.objectOid) return { state: 'ours', partitioned, oid: live.oid };
  if (!r.catalogDefinition) return { state: 'replaced' };
  if ('tableOid' in live && live.tableOid !== r.tableOid) return { state: 'replaced' };
  try {
    const shape = r.kind === 'index' ? indexShape : queryShape;
    return shape(live.definition) === shape(r.catalogDefinition) ? { state: 'ours', partitioned, oid: live.oid } : { state: 'replaced' };
  } catch {
    return { state: 'replaced' };
  }
}

/**
 * The registry is data, not code: a row whose rollback text is not exactly a drop of its own
 * object was altered by someone, and nothing of the rollback may run.
 */
function checkRows(rows: RegistryRow[]): Map<RegistryRow, RollbackChoice | null> {
  const out = new Map<RegistryRow, RollbackChoice | null>();
  for (const r of rows) {
    if (!r.rollbackSql.length) {
      out.set(r, null);
      continue;
    }
    const choice = checkRollbackOverride(r.rollbackSql, r.kind, r.schema, r.name);
    if ('refused' in choice) {
      const name = displayName(r.schema, r.name);
      throw new PgoptError(
        'input',
        `registry row for ${name} was altered: its rollback is not a drop of ${name} (${choice.refused}); nothing was run`,
        {
          hint: `inspect pgopt.objects (pack "${r.pack}"); pgopt never executes SQL read from the database`,
        },
      );
    }
    out.set(r, choice);
  }
  return out;
}

/** Drop what pgopt created for a pack, newest first; never pre-existing or other packs' objects. */
export async function rollbackPack(c: Session, packName: string, o: RollbackOptions): Promise<RollbackResult> {
  const runId = randomUUID();
  await ensureParser();
  await prepareSession(c);
  await requireWritable(c);
  return withAdvisoryLock(c, runLockOptions(o), async () => {
    await c.query('SET lock_timeout = 0');
    let rows = (await readRows(c, packName)).sort((a, b) => b.ordinal - a.ordinal);
    let dropped = (await readDroppedRows(c, packName)).sort((a, b) => b.ordinal - a.ordinal);
    if (o.only) {
      rows = rows.filter((r) => matchesOnly(r, o.only!));
      dropped = dropped.filter((r) => o.only === r.name || o.only === `${r.schema}.${r.name}`);
      if (!rows.length && !dropped.length)
        throw new PgoptError('input', `--only ${o.only}: pack "${packName}" has no such object in the registry`);
    }
    const result: RollbackResult = { pack: packName, runId, objects: [] };
    if (!rows.length && !dropped.length) return result;
    const choices = checkRows(rows);
    await logEvent(c, { runId, pack: packName, action: 'rollback', outcome: 'started' });
    // What the pack dropped comes back first: a query never finds neither the old index nor the new.
    for (const r of dropped) await rollbackDrop(c, r, o, result);
    for (const r of rows) {
      const res: RollbackObjectResult = {
        object: displayName(r.schema, r.name),
        kind: r.kind,
        outcome: 'not-run',
        durationMs: 0,
        reason: '',
      };
      result.objects.push(res);
      if (result.error) continue;
      const t0 = performance.now();
      try {
        await rollbackObject(c, r, choices.get(r) ?? null, o, res);
      } catch (err) {
        res.outcome = 'failed';
        const e = err instanceof PgoptError ? err : failure(err, `dropping ${res.object}`, o.signal);
        result.error = e;
        res.reason = e.message;
        await setRowState(c, packName, r.schema, r.name, 'applied').catch(() => {});
      }
      res.durationMs = Math.round(performance.now() - t0);
      await logEvent(c, {
        runId,
        pack: packName,
        action: 'rollback',
        object: res.object,
        outcome: res.outcome,
        durationMs: res.durationMs,
        detail: res.reason ? { reason: res.reason } : undefined,
      });
    }
    await logEvent(c, { runId, pack: packName, action: 'rollback', outcome: result.error ? 'failed' : 'finished' });
    return result;
  });
}

const RESTORED: Record<RestoreOutcome, string> = {
  restored: 'rebuilt as recorded when the pack dropped it',
  'already-back': 'already there as recorded',
  'left-out': 'was an INVALID leftover when dropped: it never served a query, so it is not built again',
};

async function rollbackDrop(c: Session, r: DroppedRow, o: RollbackOptions, result: RollbackResult): Promise<void> {
  const res: RollbackObjectResult = { object: displayName(r.schema, r.name), kind: 'index', outcome: 'not-run', durationMs: 0, reason: '' };
  result.objects.push(res);
  if (result.error) return;
  const t0 = performance.now();
  try {
    res.outcome = await restoreDropped(c, r, o);
    res.reason = RESTORED[res.outcome as RestoreOutcome];
  } catch (err) {
    res.outcome = 'failed';
    result.error = err instanceof PgoptError ? err : failure(err, `rebuilding ${res.object}`, o.signal);
    res.reason = result.error.message;
  }
  res.durationMs = Math.round(performance.now() - t0);
  const detail = res.reason ? { reason: res.reason } : undefined;
  await logEvent(c, {
    runId: result.runId,
    pack: r.pack,
    action: 'rollback',
    object: res.object,
    outcome: res.outcome,
    durationMs: res.durationMs,
    detail,
  });
}

async function rollbackObject(
  c: Session,
  r: RegistryRow,
  choice: RollbackChoice | null,
  o: RollbackOptions,
  res: RollbackObjectResult,
): Promise<void> {
  if (r.preExisting) {
    await deleteRow(c, r.pack, r.schema, r.name);
    res.outcome = 'kept';
    res.reason = 'pre-existing: not created by this pack';
    return;
  }
  const where = await locate(c, r);
  if (where.state === 'gone') {
    if (r.kind === 'index') await sweepShardLeftovers(c, r.tableOid, r.schema, r.name);
    await deleteRow(c, r.pack, r.schema, r.name);
    res.outcome = 'already-gone';
    return;
  }
  if (where.state === 'renamed') {
    throw new PgoptError('check', `${res.object} was renamed to ${where.now} outside pgopt; not dropping it`, {
      hint: `rename it back and run rollback again, or drop ${where.now} by hand if it is not wanted; its registry row is kept`,
    });
  }
  if (where.state === 'replaced') {
    throw new PgoptError('check', `${res.object} was replaced outside pgopt by a different object; not dropping it`, {
      hint: 'drop it by hand if it is not wanted; its registry row is kept',
    });
  }
  const tableOid = r.kind === 'index' ? ((await findIndex(c, r.schema, r.name))?.tableOid ?? null) : null;
  const hypertable = tableOid !== null && (await isHypertable(c, tableOid));
  const drop = dropStatement(r.kind, r.schema, r.name, {
    concurrently: choice ? choice.concurrently : o.concurrently,
    // TimescaleDB refuses DROP INDEX CONCURRENTLY on a hypertable's root: its chunk indexes go
    // concurrently first (below), and the root's plain drop then holds its lock for a moment.
    partitioned: where.partitioned || hypertable,
  });
  await setRowState(c, r.pack, r.schema, r.name, 'dropping');
  o.onProgress?.({ type: 'step', message: `drop ${r.kind === 'index' ? 'index' : 'materialized view'} ${res.object}` });
  if (hypertable && (choice ? choice.concurrently : o.concurrently)) {
    await dropChunkIndexes(c, tableOid, where.oid, (sql) => withStatementTimeout(c, o.buildTimeoutMs, () => c.query(sql)));
  }
  if (drop.concurrently) {
    // DROP INDEX CONCURRENTLY must run alone, outside a transaction; it blocks no reads or writes while it waits.
    await withStatementTimeout(c, o.buildTimeoutMs, () => c.query(drop.sql));
  } else {
    await withLockRetry(c, `dropping ${res.object}`, [where.oid], lockPolicy(o, `dropping ${res.object}`), () => c.query(drop.sql));
  }
  // Citus: nothing of the index may stay on any worker.
  await sweepShardLeftovers(c, tableOid, r.schema, r.name);
  await deleteRow(c, r.pack, r.schema, r.name);
  res.outcome = 'dropped';
}
