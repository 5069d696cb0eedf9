import { asUser, backendPid, prepareSession, requireWritable, type Session } from '../db/session.js';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { PgoptError } from '../errors.js';
import { findMatview, findRelation, type MatviewInfo } from '../db/catalog.js';
import { refreshContinuousAggregateSql } from '../db/timescale.js';
import { withStatementTimeout } from '../db/scoped.js';
import { withAdvisoryLock } from '../db/run-lock.js';
import { displayName, qualify } from '../db/ident.js';
import { failure } from './failure.js';
import { lockPolicy, runLockOptions, withLockRetry } from './locks.js';
import { ensureRegistry, logEvent, readRows } from './registry.js';
import type { RunOptions } from './run-options.js';

export interface ViewRefresh {
  view: string;
  /** CONCURRENTLY needs a unique index on plain columns and a populated view. */
  /** timescaledb: a continuous aggregate, refreshed by CALL refresh_continuous_aggregate. */
  mode: 'concurrently' | 'plain' | 'timescaledb';
  outcome: 'refreshed' | 'failed' | 'not-run';
  durationMs: number;
  rows: number | null;
  warning: string | null;
}

export interface RefreshResult {
  runId: string;
  views: ViewRefresh[];
  error?: PgoptError;
}

/**
 * Which views to refresh: a pack (path or registry name) means its views; any other argument
 * names a materialized view; nothing means every view any pack owns.
 */
export async function resolveRefreshTargets(
  c: Session,
  args: string[],
  packNameOf: (path: string) => string,
): Promise<{ schema: string; name: string }[]> {
  const rows = (await readRows(c)).filter((r) => r.kind === 'matview' && r.state === 'applied');
  if (args.length === 0) return rows.map((r) => ({ schema: r.schema, name: r.name }));
  const out: { schema: string; name: string }[] = [];
  for (const arg of args) {
    const pack = existsSync(arg) ? packNameOf(arg) : arg;
    const owned = rows.filter((r) => r.pack === pack);
    if (owned.length) {
      out.push(...owned.map((r) => ({ schema: r.schema, name: r.name })));
      continue;
    }
    if (existsSync(arg)) throw new PgoptError('input', `pack "${pack}" has no materialized view in the registry (is it applied?)`);
    const dot = arg.indexOf('.');
    const rel = await findRelation(c, dot > 0 ? arg.slice(0, dot) : null, dot > 0 ? arg.slice(dot + 1) : arg);
    const aggregate = rel?.relkind === 'v' && (await findMatview(c, rel.schema, rel.name))?.continuous;
    if (!rel || (rel.relkind !== 'm' && !aggregate))
      throw new PgoptError('input', `"${arg}" is neither an applied pack nor a materialized view`);
    out.push({ schema: rel.schema, name: rel.name });
  }
  return out.filter((t, i) => out.findIndex((u) => u.schema === t.schema && u.name === t.name) === i);
}

/** How one view is refreshed, and what the user is warned of. */
function plannedRefresh(view: string, qualified: string, mv: MatviewInfo | null): { r: ViewRefresh; sql: string } {
  const concurrently = !!mv && mv.hasUniqueIndex && mv.populated;
  const r: ViewRefresh = {
    view,
    mode: mv?.continuous ? 'timescaledb' : concurrently ? 'concurrently' : 'plain',
    outcome: 'not-run',
    durationMs: 0,
    rows: null,
    // TimescaleDB refreshes a continuous aggregate without blocking its readers.
    warning:
      concurrently || mv?.continuous
        ? null
        : mv && !mv.populated
          ? 'never populated: the first refresh cannot be concurrent (readers wait for it)'
          : 'no unique index on plain columns: refreshed without CONCURRENTLY, readers wait for it',
  };
  const sql = mv?.continuous
    ? refreshContinuousAggregateSql(qualified)
    : `REFRESH MATERIALIZED VIEW ${concurrently ? 'CONCURRENTLY ' : ''}${qualified}`;
  return { r, sql };
}

/**
 * REFRESH MATERIALIZED VIEW CONCURRENTLY where a unique index allows (readers are never
 * blocked), plain otherwise with a warning (it takes ACCESS EXCLUSIVE: readers wait). Each
 * refresh is logged with its duration and row count; `pgopt status` shows the age.
 */
export async function refreshViews(c: Session, targets: { schema: string; name: string }[], o: RunOptions): Promise<RefreshResult> {
  const runId = randomUUID();
  await prepareSession(c);
  await requireWritable(c);
  return withAdvisoryLock(c, runLockOptions(o), async () => {
    await ensureRegistry(c);
    const owners = await readRows(c);
    const result: RefreshResult = { runId, views: [] };
    for (const t of targets) {
      const view = displayName(t.schema, t.name);
      const mv = await findMatview(c, t.schema, t.name);
      const { r, sql } = plannedRefresh(view, qualify(t.schema, t.name), mv);
      result.views.push(r);
      if (result.error) continue;
      if (r.warning) o.onProgress?.({ type: 'warning', message: `${view}: ${r.warning}` });
      const t0 = performance.now();
      const stop = o.watch?.(backendPid(c), view, 'matview');
      try {
        o.onProgress?.({ type: 'step', message: `refreshing ${view}` });
        // Under the user's search_path: the view's query may call the user's functions.
        await withStatementTimeout(c, o.buildTimeoutMs, () =>
          withLockRetry(c, `refreshing ${view}`, mv ? [mv.oid] : [], lockPolicy(o, `refreshing ${view}`), () =>
            asUser(c, () => c.query(sql)),
          ),
        );
        r.outcome = 'refreshed';
        r.rows = Number((await c.query(`SELECT count(*) AS n FROM ${qualify(t.schema, t.name)}`)).rows[0].n);
      } catch (err) {
        r.outcome = 'failed';
        result.error = err instanceof PgoptError ? err : failure(err, `refreshing ${view}`, o.signal);
      } finally {
        stop?.();
        r.durationMs = Math.round(performance.now() - t0);
        await logEvent(c, {
          runId,
          pack: owners.find((x) => x.schema === t.schema && x.name === t.name)?.pack ?? null,
          action: 'refresh',
          object: view,
          outcome: r.outcome,
          durationMs: r.durationMs,
          detail: { mode: r.mode, rows: r.rows, ...(result.error && r.outcome === 'failed' ? { error: result.error.message } : {}) },
        });
      }
    }
    return result;
  });
}
