import type pg from 'pg';
import { randomUUID } from 'node:crypto';
import { PgoptError, type SourceLocation } from '../errors.js';
import { findIndex, findMatview } from '../db/catalog.js';
import { displayName, qualify, quoteIdent, withAdvisoryLock, withTransaction } from '../db/scoped.js';
import { asUser, prepareSession, repin, runOneStatement } from '../db/session.js';
import type { Pack, PackStatement } from '../pack/types.js';
import { assessPack, type Assessment } from './assess.js';
import { backendPid, buildIndex, dropForRebuild, failure, lockPolicy } from './objects.js';
import { progressWatcher } from './watch.js';
import { withLockRetry } from './locks.js';
import { barrier, planLanes } from './lanes.js';
import { lintPack } from './lint.js';
import { ensureRegistry, logEvent, upsertRow, deleteRow } from './registry.js';
import type { RunOptions } from './run-options.js';

export const STATEMENT_OUTCOMES = ['created', 'rebuilt', 'recorded', 'ran', 'skipped', 'failed', 'not-run'] as const;
export type StatementOutcome = (typeof STATEMENT_OUTCOMES)[number];

export interface StatementResult {
  ordinal: number;
  kind: PackStatement['kind'];
  location: SourceLocation;
  object: string | null;
  outcome: StatementOutcome;
  durationMs: number;
  reason: string;
}

/** What an apply did, statement by statement — also when it failed part-way. */
export interface ApplyResult {
  pack: string;
  runId: string;
  statements: StatementResult[];
  analyzed: string[];
  /** True when anything in the database changed. */
  changed: boolean;
  error?: PgoptError;
}

export interface ApplyOptions extends RunOptions {
  /** ANALYZE the tables that gained objects (default true). */
  analyze: boolean;
  /** Drop and rebuild objects whose pack statement changed since they were applied. */
  replaceChanged: boolean;
  /** Connections building side by side (objects on different tables); 1 = strictly in pack order. */
  jobs?: number;
  /** Opens another connection to the same database for a parallel job; without it, jobs is 1. */
  withExtraClient?: <T>(fn: (c: pg.Client) => Promise<T>) => Promise<T>;
}

/** States apply refuses to act on without being told: they need a human decision. */
function blockingProblem(a: Assessment, o: ApplyOptions): string | null {
  if (a.state === 'conflict') return `${a.qualifiedName}: ${a.reason}`;
  if (a.state === 'changed-since-applied' && !o.replaceChanged) {
    return `${a.qualifiedName}: ${a.reason} (pass --replace-changed to rebuild it, or roll it back with --only)`;
  }
  return null;
}

export async function applyPack(c: pg.Client, pack: Pack, o: ApplyOptions): Promise<ApplyResult> {
  await prepareSession(c);
  try {
    return await applyLocked(c, pack, o);
  } finally {
    await resetPackSettings(c, pack);
    await repin(c).catch(() => {});
  }
}

/**
 * The pack's SET statements are for its own builds (maintenance_work_mem, work_mem…). Whatever
 * runs next on this connection — a benchmark, say — must see the session as it was.
 */
async function resetPackSettings(c: pg.Client, pack: Pack): Promise<void> {
  for (const s of pack.statements) {
    if (s.kind !== 'set') continue;
    const name = (s.ast as any).VariableSetStmt?.name as string | undefined;
    await c.query(name ? `RESET ${quoteIdent(name)}` : 'RESET ALL').catch(() => {});
  }
}

async function applyLocked(c: pg.Client, pack: Pack, o: ApplyOptions): Promise<ApplyResult> {
  const runId = randomUUID();
  return withAdvisoryLock(c, o.waitMs, async () => {
    await c.query('SET lock_timeout = 0');
    await c.query('SET statement_timeout = 0');
    const { assessments, tableOf, rowsRead } = await assessPack(c, pack, { forChange: true });
    const problems = assessments.map((a) => blockingProblem(a, o)).filter((p): p is string => !!p);
    if (problems.length) {
      throw new PgoptError('check', `apply stopped before changing anything: ${problems.join('; ')}`, { details: { problems } });
    }
    const lint = await lintPack(c, pack, assessments);
    const errors = lint.findings.filter((f) => f.severity === 'error');
    if (errors.length) {
      const list = errors.map((f) => `${f.location.file}:${f.location.line}: ${f.object}: ${f.message}`).join('; ');
      throw new PgoptError('check', `apply stopped before changing anything (lint): ${list}`, { details: { findings: errors } });
    }
    const warnings = lint.findings.length;
    if (warnings) o.onProgress?.({ type: 'warning', message: `lint: ${warnings} warning(s); see pgopt lint ${pack.source}` });
    await ensureRegistry(c);
    const started = Date.now();
    await logEvent(c, { runId, pack: pack.name, action: 'apply', outcome: 'started' });
    const result: ApplyResult = { pack: pack.name, runId, statements: [], analyzed: [], changed: false };
    const byObject = new Map(assessments.map((a) => [a.object, a]));
    const created = new Set<string>();
    result.statements = pack.statements.map((s) => ({
      ordinal: s.ordinal,
      kind: s.kind,
      location: s.location,
      object: s.object ? byObject.get(s.object)!.qualifiedName : null,
      outcome: 'not-run' as StatementOutcome,
      durationMs: 0,
      reason: '',
    }));

    /** Run one statement on `conn`, recording its outcome; the first failure stops every connection. */
    const execute = async (conn: pg.Client, s: PackStatement, touched: Map<string, string>) => {
      if (result.error) return;
      const a = s.object ? byObject.get(s.object)! : null;
      const res = result.statements[s.ordinal];
      const t0 = performance.now();
      try {
        if (a) o.onProgress?.({ type: 'step', message: describeStep(s, a) });
        await runStatement(conn, pack, s, a, o, res, created, tableOf.get(s.ordinal)?.oid);
        if (res.outcome === 'created' || res.outcome === 'rebuilt') {
          result.changed = true;
          if (a) {
            created.add(a.object.name);
            const [schema, name] = a.table ? [a.table.schema, a.table.name] : [a.schema, a.object.name];
            touched.set(qualify(schema, name), displayName(schema, name));
          }
        }
        if ((res.outcome === 'ran' && s.kind !== 'set') || res.outcome === 'recorded') result.changed = true;
      } catch (err) {
        res.outcome = 'failed';
        const e = err instanceof PgoptError ? err : failure(err, `statement at ${s.location.file}:${s.location.line}`);
        res.reason = e.message;
        result.error ??= e;
      } finally {
        res.durationMs = Math.round(performance.now() - t0);
        if (res.outcome !== 'not-run') {
          await logEvent(conn, { runId, pack: pack.name, action: 'apply', object: res.object, outcome: res.outcome, durationMs: res.durationMs, detail: res.reason ? { reason: res.reason } : undefined });
        }
      }
    };

    /** ANALYZE what a connection's builds touched: expression indexes and new views need statistics. */
    const analyzed = new Set<string>();
    const analyze = async (conn: pg.Client, touched: Map<string, string>) => {
      if (result.error || !o.analyze) return;
      for (const [rel, shown] of touched) {
        // Two lanes can touch one relation (a view, then its index): analyze it once.
        if (analyzed.has(rel)) continue;
        analyzed.add(rel);
        try {
          o.onProgress?.({ type: 'step', message: `ANALYZE ${shown}` });
          // Under the user's search_path: ANALYZE evaluates index expressions, which may call the user's functions.
          await withLockRetry(conn, `ANALYZE ${rel}`, [], lockPolicy(o, `ANALYZE ${rel}`), () => asUser(conn, () => conn.query(`ANALYZE ${rel}`)));
          result.analyzed.push(shown);
        } catch (err) {
          result.error ??= failure(err, `ANALYZE ${rel}`);
          return;
        }
      }
    };

    const lanes = planLanes(pack, assessments, o.withExtraClient ? o.jobs ?? 1 : 1, (s) => (s.kind === 'create-matview' ? 2 : 1) * (rowsRead.get(s.ordinal) ?? 0));
    const laneCount = Math.max(...lanes.phases.map((p) => p.length));
    const phaseDone = lanes.phases.map(() => barrier(laneCount));
    const work = async (conn: pg.Client | null, lane: number) => {
      let phase = 0;
      try {
        if (!conn) return;
        await prepareSession(conn);
        await conn.query('SET lock_timeout = 0');
        await conn.query('SET statement_timeout = 0');
        for (const s of lanes.prelude) await execute(conn, s, new Map());
        const touched = new Map<string, string>();
        for (; phase < lanes.phases.length; phase++) {
          for (const s of lanes.phases[phase][lane] ?? []) await execute(conn, s, touched);
          // Also after the last phase: an early ANALYZE of a view would wait behind another
          // lane's concurrent build on that view (both take SHARE UPDATE EXCLUSIVE).
          await phaseDone[phase].arrive(lane);
        }
        await analyze(conn, touched);
      } finally {
        // A lane that failed still arrives everywhere, so the others never wait for it forever.
        for (; phase < lanes.phases.length; phase++) void phaseDone[phase].arrive(lane);
      }
    };
    const runLanes = () =>
      Promise.all(
        Array.from({ length: laneCount }, (_, i) =>
          i === 0
            ? work(c, 0)
            : o.withExtraClient!((extra) => work(extra, i)).catch(async (err) => {
                result.error ??= failure(err, 'opening a build connection');
                await work(null, i);
              }),
        ),
      );
    if (o.withExtraClient && o.onProgress) {
      // A monitor connection reads pg_stat_progress_create_index while the builders are busy.
      await o.withExtraClient(async (monitor) => {
        o = { ...o, watch: progressWatcher(monitor, o.onProgress!) };
        await runLanes();
      });
    } else {
      await runLanes();
    }
    const tailTouched = new Map<string, string>();
    for (const s of lanes.tail) await execute(c, s, tailTouched);
    await analyze(c, tailTouched);
    // A prelude SET ran once per connection; report it once.
    for (const s of lanes.prelude) result.statements[s.ordinal].outcome = result.statements[s.ordinal].outcome === 'failed' ? 'failed' : 'ran';
    await logEvent(c, {
      runId,
      pack: pack.name,
      action: 'apply',
      outcome: result.error ? 'failed' : result.changed ? 'finished' : 'no-op',
      durationMs: Date.now() - started,
      detail: result.error ? { error: result.error.message } : undefined,
    });
    return result;
  });
}

function describeStep(s: PackStatement, a: Assessment): string {
  return `${s.kind === 'create-index' ? 'index' : 'materialized view'} ${a.qualifiedName}`;
}

async function runStatement(
  c: pg.Client,
  pack: Pack,
  s: PackStatement,
  a: Assessment | null,
  o: ApplyOptions,
  res: StatementResult,
  created: Set<string>,
  tableOid: number | undefined,
): Promise<void> {
  switch (s.kind) {
    case 'set':
      await runOneStatement(c, s.sql);
      res.outcome = 'ran';
      return;
    case 'drop-own':
      res.outcome = 'skipped';
      res.reason = 'pgopt drops its own objects only on rollback; apply builds only what is missing';
      return;
    case 'refresh': {
      const name = (s.ast as any).RefreshMatViewStmt.relation.relname;
      if (!created.has(name)) {
        res.outcome = 'skipped';
        res.reason = 'view was not created by this run';
        return;
      }
      await withLockRetry(c, 'REFRESH', [], lockPolicy(o, 'REFRESH'), () => asUser(c, () => runOneStatement(c, s.sql))).catch((e) => {
        throw failure(e, 'REFRESH');
      });
      res.outcome = 'ran';
      return;
    }
    case 'analyze':
    case 'comment':
      if (!created.size) {
        // Idempotence: a pack that built nothing this time has nothing new to analyze or describe.
        res.outcome = 'skipped';
        res.reason = 'nothing was built in this run';
        return;
      }
    // falls through
    case 'unsafe': {
      const what = `${s.kind} at ${s.location.file}:${s.location.line}`;
      const one = () => asUser(c, () => runOneStatement(c, s.sql));
      const run = () => (s.kind === 'analyze' ? one() : withTransaction(c, one));
      await withLockRetry(c, what, tableOid ? [tableOid] : [], lockPolicy(o, what), run).catch((e) => {
        throw failure(e, what);
      });
      res.outcome = 'ran';
      return;
    }
  }
  if (!a) return;
  await applyObject(c, pack, a, o, res);
}

/** Bring one object to its applied state; the registry row is written around the work so a crash leaves it truthful. */
async function applyObject(c: pg.Client, pack: Pack, a: Assessment, o: ApplyOptions, res: StatementResult): Promise<void> {
  const obj = a.object;
  const row = {
    pack: pack.name,
    schema: a.schema,
    name: obj.name,
    kind: obj.kind,
    table: a.table ? `${a.table.schema}.${a.table.name}` : null,
    ordinal: obj.statement.ordinal,
    statement: obj.statement.sql,
    fingerprint: obj.fingerprint,
    // Kept as written, never executed: rollback re-checks it and derives the drop itself.
    rollbackSql: obj.rollbackOverride ?? [],
  };
  const record = async (durationMs: number | null, preExisting: boolean) => {
    const index = obj.kind === 'index' ? await findIndex(c, a.schema, obj.name) : null;
    const live = index ?? (obj.kind === 'matview' ? await findMatview(c, a.schema, obj.name) : null);
    await upsertRow(c, { ...row, state: 'applied', catalogDefinition: live?.definition ?? null, objectOid: live?.oid ?? null, tableOid: index?.tableOid ?? null, preExisting, durationMs });
  };

  switch (a.state) {
    case 'applied':
    case 'unpopulated':
      res.outcome = 'skipped';
      res.reason = 'already applied';
      return;
    case 'pre-existing':
      if (!a.row) {
        await record(null, true);
        res.outcome = 'recorded';
        res.reason = a.ownedBy ? `owned by pack "${a.ownedBy}": recorded, never dropped by this pack` : 'existed before pgopt: recorded as pre-existing, never dropped by rollback';
      } else {
        res.outcome = 'skipped';
        res.reason = 'pre-existing';
      }
      return;
    case 'pending':
      if (a.live && a.matches) {
        // Built by a run that died before it could record it.
        await record(null, false);
        res.outcome = 'recorded';
        res.reason = 'built by an interrupted run; now recorded';
        return;
      }
      break;
    case 'changed-since-applied':
    case 'invalid':
    case 'missing':
      break;
    default:
      throw new PgoptError('check', `${a.qualifiedName}: ${a.reason}`);
  }

  const t0 = performance.now();
  const rebuilding = a.state === 'invalid' || a.state === 'changed-since-applied';
  if (obj.kind === 'index') {
    await upsertRow(c, { ...row, state: 'building', catalogDefinition: null, objectOid: null, tableOid: null, preExisting: false, durationMs: null });
    try {
      if (a.live) await dropForRebuild(c, a, o, (fn) => withTransaction(c, fn));
      await buildIndex(c, a, o, (fn) => withTransaction(c, fn));
    } catch (err) {
      // Nothing was built: no row may claim it.
      await deleteRow(c, pack.name, a.schema, obj.name).catch(() => {});
      throw err;
    }
    await record(Math.round(performance.now() - t0), false);
  } else {
    const what = `creating materialized view ${a.qualifiedName}`;
    const rel = qualify(a.schema, obj.name);
    await withLockRetry(c, what, [], lockPolicy(o, what), () =>
      withTransaction(c, async () => {
        // Materialized view DDL is transactional: the view and its registry row commit together.
        if (a.live) await c.query(`DROP MATERIALIZED VIEW ${rel}`);
        await c.query(`SET LOCAL statement_timeout = ${Math.max(0, Math.round(o.buildTimeoutMs))}`);
        const stopWatch = o.watch?.(backendPid(c), a.qualifiedName, 'matview');
        try {
          await asUser(c, () => runOneStatement(c, obj.statement.sql));
        } finally {
          stopWatch?.();
        }
        await record(Math.round(performance.now() - t0), false);
      }),
    ).catch((err) => {
      throw failure(err, what);
    });
  }
  res.outcome = rebuilding ? 'rebuilt' : 'created';
  if (a.state === 'missing') res.reason = 'was missing; recreated';
  if (a.state === 'invalid') res.reason = 'was INVALID; dropped and rebuilt';
}
