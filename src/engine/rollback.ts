import type pg from 'pg';
import { parseSync } from 'libpg-query';
import { ensureParser } from '../pack/load-pack.js';
import { randomUUID } from 'node:crypto';
import { PgoptError } from '../errors.js';
import { findIndex, findMatview } from '../db/catalog.js';
import { displayName, withAdvisoryLock } from '../db/scoped.js';
import { indexShape, queryShape } from './definition.js';
import { failure, lockPolicy } from './objects.js';
import { withLockRetry } from './locks.js';
import { deleteRow, logEvent, readRows, setRowState, type RegistryRow } from './registry.js';
import type { RunOptions } from './run-options.js';

export const ROLLBACK_OUTCOMES = ['dropped', 'kept', 'already-gone', 'failed', 'not-run'] as const;
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

/**
 * Is the object now in the catalog the one pgopt created? Same oid, or (after a
 * REINDEX CONCURRENTLY, which swaps oids) the same definition. Anything else was put
 * there by someone else and is not ours to drop.
 */
async function isOurs(c: pg.Client, r: RegistryRow): Promise<{ exists: boolean; ours: boolean }> {
  const live = r.kind === 'index' ? await findIndex(c, r.schema, r.name) : await findMatview(c, r.schema, r.name);
  if (!live) return { exists: false, ours: true };
  if (r.objectOid === null || live.oid === r.objectOid) return { exists: true, ours: true };
  if (!r.catalogDefinition) return { exists: true, ours: false };
  try {
    const shape = r.kind === 'index' ? indexShape : queryShape;
    return { exists: true, ours: shape(live.definition) === shape(r.catalogDefinition) };
  } catch {
    return { exists: true, ours: false };
  }
}

/** Drop what pgopt created for a pack, newest first; never pre-existing or other packs' objects. */
export async function rollbackPack(c: pg.Client, packName: string, o: RollbackOptions): Promise<RollbackResult> {
  const runId = randomUUID();
  await ensureParser();
  return withAdvisoryLock(c, o.waitMs, async () => {
    await c.query('SET lock_timeout = 0');
    let rows = (await readRows(c, packName)).sort((a, b) => b.ordinal - a.ordinal);
    if (o.only) {
      rows = rows.filter((r) => matchesOnly(r, o.only!));
      if (!rows.length) throw new PgoptError('input', `--only ${o.only}: pack "${packName}" has no such object in the registry`);
    }
    const result: RollbackResult = { pack: packName, runId, objects: [] };
    if (!rows.length) return result;
    await logEvent(c, { runId, pack: packName, action: 'rollback', outcome: 'started' });
    for (const r of rows) {
      const res: RollbackObjectResult = { object: displayName(r.schema, r.name), kind: r.kind, outcome: 'not-run', durationMs: 0, reason: '' };
      result.objects.push(res);
      if (result.error) continue;
      const t0 = performance.now();
      try {
        await rollbackObject(c, r, o, res);
      } catch (err) {
        res.outcome = 'failed';
        result.error = err instanceof PgoptError ? err : failure(err, `dropping ${res.object}`);
        res.reason = result.error.message;
        await setRowState(c, packName, r.schema, r.name, 'applied').catch(() => {});
      }
      res.durationMs = Math.round(performance.now() - t0);
      await logEvent(c, { runId, pack: packName, action: 'rollback', object: res.object, outcome: res.outcome, durationMs: res.durationMs, detail: res.reason ? { reason: res.reason } : undefined });
    }
    await logEvent(c, { runId, pack: packName, action: 'rollback', outcome: result.error ? 'failed' : 'finished' });
    return result;
  });
}

async function rollbackObject(c: pg.Client, r: RegistryRow, o: RollbackOptions, res: RollbackObjectResult): Promise<void> {
  if (r.preExisting) {
    await deleteRow(c, r.pack, r.schema, r.name);
    res.outcome = 'kept';
    res.reason = 'pre-existing: not created by this pack';
    return;
  }
  const { exists, ours } = await isOurs(c, r);
  if (!exists) {
    await deleteRow(c, r.pack, r.schema, r.name);
    res.outcome = 'already-gone';
    return;
  }
  if (!ours) {
    throw new PgoptError('check', `${res.object} was replaced outside pgopt by a different object; not dropping it`, {
      hint: 'drop it by hand if it is not wanted; its registry row is kept',
    });
  }
  await setRowState(c, r.pack, r.schema, r.name, 'dropping');
  o.onProgress?.({ type: 'step', message: `drop ${r.kind === 'index' ? 'index' : 'materialized view'} ${res.object}` });
  for (const sql of r.rollbackSql) {
    if (isConcurrentDrop(sql)) {
      // DROP INDEX CONCURRENTLY must run alone, outside a transaction; it blocks no reads or writes while it waits.
      await c.query(`SET statement_timeout = ${Math.max(0, Math.round(o.buildTimeoutMs))}`);
      try {
        await c.query(sql);
      } finally {
        await c.query('SET statement_timeout = 0');
      }
    } else {
      await withLockRetry(c, `dropping ${res.object}`, r.objectOid ? [r.objectOid] : [], lockPolicy(o, `dropping ${res.object}`), () => c.query(sql));
    }
  }
  await deleteRow(c, r.pack, r.schema, r.name);
  res.outcome = 'dropped';
}

/** Decided from the parse tree: a concurrent drop cannot run inside a transaction. */
function isConcurrentDrop(sql: string): boolean {
  const stmt = (parseSync(sql) as any).stmts[0]?.stmt;
  return !!stmt?.DropStmt?.concurrent;
}
