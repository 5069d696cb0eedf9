import { nodeAs } from '../sql/tree.js';
import { actionFor } from './decide.js';
import { randomUUID } from 'node:crypto';
import { PgoptError, type SourceLocation } from '../errors.js';
import { findIndex, findMatview, neverAnalyzed } from '../db/catalog.js';
import { withStatementTimeout, withTransaction } from '../db/scoped.js';
import { refreshContinuousAggregateSql, refreshPolicy } from '../db/timescale.js';
import { rewriteMatviewSql } from '../pack/rewrite.js';
import { withAdvisoryLock } from '../db/run-lock.js';
import { displayName, qualify, quoteIdent } from '../db/ident.js';
import { asUser, backendPid, prepareSession, repin, requireWritable, runOneStatement, type Session } from '../db/session.js';
import type { Pack, PackObject, PackStatement } from '../pack/types.js';
import { assessPack, type Assessment, type PackAssessment } from './assess.js';
import { buildIndex, dropForRebuild } from './build.js';
import { applyDrop, assessDrops, type DropAssessment } from './drops.js';
import { failure } from './failure.js';
import { lockPolicy, runLockOptions, withLockRetry } from './locks.js';
import { progressWatcher } from './watch.js';
import { planLanes, runLanes, type LaneWork, type LanePlan } from './lanes.js';
import { lintPack } from './lint/index.js';
import { takeSnapshot } from '../production/snapshots.js';
import { TRIAL_PACK_PREFIX } from '../pack/load-pack.js';
import { ensureRegistry, logEvent, logEvents, recordBuilt, upsertRow, deleteRow, type EventInput } from './registry.js';
import type { RunOptions } from './run-options.js';

export const STATEMENT_OUTCOMES = ['created', 'rebuilt', 'recorded', 'ran', 'dropped', 'skipped', 'failed', 'not-run'] as const;
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
  /** INVALID indexes a failed build left that could not be dropped at once (the next apply drops them). */
  leftovers: string[];
  error?: PgoptError;
}

export interface ApplyOptions extends RunOptions {
  /** ANALYZE the tables that gained objects (default true). */
  analyze: boolean;
  /** Drop and rebuild objects whose pack statement changed since they were applied. */
  replaceChanged: boolean;
  /** Connections building side by side (objects on different tables); 1 = strictly in pack order. */
  jobs?: number;
  /** No lint warnings (advise's trial packs overlap by design: a plain and a covering variant of one index). */
  quietLint?: boolean;
  /** Opens another connection to the same database for a parallel job; without it, jobs is 1. */
  withExtraClient?: <T>(fn: (c: Session) => Promise<T>) => Promise<T>;
}

/** States apply refuses to act on without being told: they need a human decision. */
function blockingProblem(a: Assessment, o: ApplyOptions): string | null {
  if (actionFor(a, o) !== 'stop') return null;
  if (a.state === 'changed-since-applied') {
    return `${a.qualifiedName}: ${a.reason} (pass --replace-changed to rebuild it, or roll it back with --only)`;
  }
  return `${a.qualifiedName}: ${a.reason}`;
}

export async function applyPack(c: Session, pack: Pack, o: ApplyOptions): Promise<ApplyResult> {
  await prepareSession(c);
  await requireWritable(c);
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
async function resetPackSettings(c: Session, pack: Pack): Promise<void> {
  for (const s of pack.statements) {
    if (s.kind !== 'set') continue;
    const name = nodeAs(s.ast, 'VariableSetStmt')?.name;
    await c.query(name ? `RESET ${quoteIdent(name)}` : 'RESET ALL').catch(() => {});
  }
}

/** Everything one apply run shares between its connections, passed explicitly. */
interface ApplyRun {
  pack: Pack;
  /** The caller's options, plus the progress watcher once a monitor connection is open. */
  o: ApplyOptions;
  runId: string;
  byObject: Map<PackObject, Assessment>;
  tableOf: PackAssessment['tableOf'];
  result: ApplyResult;
  /** Objects this run built (REFRESH, ANALYZE and COMMENT only follow a build). */
  created: Set<string>;
  /** Relations already analyzed: two lanes can touch one (a view, then its index). */
  analyzed: Set<string>;
  /** Touched relations whose new objects need fresh statistics (a view, an expression index). */
  needStats: Set<string>;
  /** Events of objects found as they should be, written together at the end (logEvents). */
  skippedEvents: EventInput[];
  /** Statements whose event was written with their registry row (recordBuilt). */
  logged: Set<number>;
  /** Continuous aggregates this run filled: VACUUM marks their rows all-visible once every build is done. */
  filled: Assessment[];
}

async function applyLocked(c: Session, pack: Pack, o: ApplyOptions): Promise<ApplyResult> {
  return withAdvisoryLock(c, runLockOptions(o), async () => {
    await noSessionTimeouts(c);
    const assessed = await preflight(c, pack, o);
    await ensureRegistry(c);
    // One clock for the lanes' looks at long transactions (warnAboutLongTransactions).
    const run = startRun(pack, { ...o, quietUntil: { ms: 0 } }, assessed);
    const started = Date.now();
    await logEvent(c, { runId: run.runId, pack: pack.name, action: 'apply', outcome: 'started' });
    // Nothing to build: no second connection to open.
    const builds = assessed.assessments.some((a) => ['create', 'rebuild'].includes(actionFor(a, o)));
    const changes = builds || assessed.drops.some((d) => d.action === 'drop');
    const lanes = planLanes(
      pack,
      assessed.assessments,
      o.withExtraClient && builds ? (o.jobs ?? 1) : 1,
      (s) => (s.kind === 'create-matview' ? 2 : 1) * (assessed.rowsRead.get(s.ordinal) ?? 0),
    );
    if (changes) await productionSnapshot(c, pack.name, 'apply-start');
    await runAllLanes(c, run, lanes, builds);
    const tailTouched = new Map<string, string>();
    for (const s of lanes.tail) await execute(run, c, s, tailTouched);
    await analyzeTouched(run, c, tailTouched);
    await markAllVisible(run, c);
    // Drops last: a pack that builds a replacement drops the old index only once the new one stands.
    for (const d of assessed.drops) await executeDrop(run, c, d);
    // A prelude SET ran once per connection; report it once.
    for (const s of lanes.prelude)
      run.result.statements[s.ordinal].outcome = run.result.statements[s.ordinal].outcome === 'failed' ? 'failed' : 'ran';
    const { result } = run;
    if (changes && result.changed && !result.error) await productionSnapshot(c, pack.name, 'apply-end');
    const outcome = result.error ? 'failed' : result.changed ? 'finished' : 'no-op';
    await logEvents(c, run.skippedEvents);
    await logEvent(c, {
      runId: run.runId,
      pack: pack.name,
      action: 'apply',
      outcome,
      durationMs: Date.now() - started,
      detail: result.error ? { error: result.error.message } : undefined,
    });
    return result;
  });
}

/**
 * pg_stat_statements' counters at the apply's start and end, where the extension is installed:
 * `pgopt impact <pack>` compares production before and after. A snapshot that fails (the
 * extension created but not loaded, say) never fails the apply.
 */
async function productionSnapshot(c: Session, pack: string, moment: 'apply-start' | 'apply-end'): Promise<void> {
  // advise's trial builds are measured by advise itself and dropped again: no window to judge.
  if (pack.startsWith(TRIAL_PACK_PREFIX)) return;
  await takeSnapshot(c, { pack, moment }).catch(() => null);
}

/** A build may take hours and waits for locks by policy (withLockRetry), never by a session timeout. */
async function noSessionTimeouts(c: Session): Promise<void> {
  await c.query('SET lock_timeout = 0');
  await c.query('SET statement_timeout = 0');
}

/** Assess, refuse what needs a human decision, lint: nothing has changed yet when this throws. */
async function preflight(c: Session, pack: Pack, o: ApplyOptions): Promise<PackAssessment & { drops: DropAssessment[] }> {
  const assessed = await assessPack(c, pack, { forChange: true });
  const drops = await assessDrops(c, pack);
  const problems = [
    ...assessed.assessments.map((a) => blockingProblem(a, o)),
    ...drops.filter((d) => d.action === 'stop').map((d) => `${d.qualifiedName}: ${d.reason}`),
  ].filter((p): p is string => !!p);
  if (problems.length) {
    throw new PgoptError('check', `apply stopped before changing anything: ${problems.join('; ')}`, { details: { problems } });
  }
  // Only what this run builds: an object already in place has nothing left to warn about here.
  const lint = await lintPack(
    c,
    pack,
    assessed.assessments.filter((a) => ['create', 'rebuild'].includes(actionFor(a, o))),
  );
  const errors = lint.findings.filter((f) => f.severity === 'error');
  if (errors.length) {
    const list = errors.map((f) => `${f.location.file}:${f.location.line}: ${f.object}: ${f.message}`).join('; ');
    throw new PgoptError('check', `apply stopped before changing anything (lint): ${list}`, { details: { findings: errors } });
  }
  if (lint.findings.length && !o.quietLint)
    o.onProgress?.({ type: 'warning', message: `lint: ${lint.findings.length} warning(s); see pgopt lint ${pack.source}` });
  return { ...assessed, drops };
}

function startRun(pack: Pack, o: ApplyOptions, assessed: PackAssessment): ApplyRun {
  const byObject = new Map(assessed.assessments.map((a) => [a.object, a]));
  const statements = pack.statements.map((s) => ({
    ordinal: s.ordinal,
    kind: s.kind,
    location: s.location,
    object: s.object ? byObject.get(s.object)!.qualifiedName : null,
    outcome: 'not-run' as StatementOutcome,
    durationMs: 0,
    reason: '',
  }));
  const result: ApplyResult = { pack: pack.name, runId: randomUUID(), statements, analyzed: [], changed: false, leftovers: [] };
  return {
    pack,
    o,
    runId: result.runId,
    byObject,
    tableOf: assessed.tableOf,
    result,
    created: new Set(),
    analyzed: new Set(),
    needStats: new Set(),
    skippedEvents: [],
    logged: new Set(),
    filled: [],
  };
}

/** The lanes, with a monitor connection reading pg_stat_progress_create_index while the builders are busy. */
async function runAllLanes(c: Session, run: ApplyRun, lanes: LanePlan, builds: boolean): Promise<void> {
  const { o } = run;
  const work: LaneWork<Session> = {
    start: async (conn) => {
      await prepareSession(conn);
      await requireWritable(conn);
      await noSessionTimeouts(conn);
      for (const s of lanes.prelude) await execute(run, conn, s, new Map());
    },
    run: (conn, s, touched) => execute(run, conn, s, touched),
    finish: (conn, touched) => analyzeTouched(run, conn, touched),
    failedToConnect: (err) => {
      run.result.error ??= failure(err, 'opening a build connection', o.signal);
    },
  };
  // Nothing to build, nothing to watch: no monitor connection.
  if (!o.withExtraClient || !o.onProgress || !builds) return runLanes(lanes, c, o.withExtraClient, work);
  await o.withExtraClient(async (monitor) => {
    run.o = { ...o, watch: progressWatcher(monitor, o.onProgress!) };
    await runLanes(lanes, c, o.withExtraClient, work);
  });
}

/** Run one statement on `conn`, recording its outcome; the first failure stops every connection. */
async function execute(run: ApplyRun, conn: Session, s: PackStatement, touched: Map<string, string>): Promise<void> {
  const { result, o } = run;
  if (result.error) return;
  const a = s.object ? run.byObject.get(s.object)! : null;
  const res = result.statements[s.ordinal];
  const t0 = performance.now();
  try {
    if (a) o.onProgress?.({ type: 'step', message: describeStep(s, a) });
    await runStatement(conn, run, s, a, res);
    noteChange(run, s, a, res, touched);
  } catch (err) {
    res.outcome = 'failed';
    const e = err instanceof PgoptError ? err : failure(err, `statement at ${s.location.file}:${s.location.line}`, o.signal);
    res.reason = e.message;
    const leftover = e.details?.leftover;
    if (leftover) result.leftovers.push(leftover);
    // The first failure is the error; a leftover of a later one (another lane) is never dropped from it.
    // (Another lane may have failed while this statement ran.)
    const first = result.error as PgoptError | undefined;
    result.error = !first
      ? e
      : leftover
        ? new PgoptError(first.kind, `${first.message}; also ${e.message}`, { cause: first, hint: first.hint })
        : first;
  } finally {
    res.durationMs = Math.round(performance.now() - t0);
    const event = statementEvent(run, res);
    if (res.outcome === 'skipped') run.skippedEvents.push(event);
    else if (res.outcome !== 'not-run' && !run.logged.has(s.ordinal)) await logEvent(conn, event);
  }
}

function noteChange(run: ApplyRun, s: PackStatement, a: Assessment | null, res: StatementResult, touched: Map<string, string>): void {
  if (res.outcome === 'created' || res.outcome === 'rebuilt') {
    run.result.changed = true;
    if (!a) return;
    run.created.add(a.object.name);
    const [schema, name] = a.table ? [a.table.schema, a.table.name] : [a.schema, a.object.name];
    touched.set(qualify(schema, name), displayName(schema, name));
    if (!a.table || hasExpressionKey(a.object)) run.needStats.add(qualify(schema, name));
  }
  if ((res.outcome === 'ran' && s.kind !== 'set') || res.outcome === 'recorded') run.result.changed = true;
}

/**
 * ANALYZE what a connection's builds touched where statistics are missing: a new view has none,
 * an expression index's expressions have none until ANALYZE, and a table never analyzed has none.
 * An index on plain columns gains nothing from it (CREATE INDEX records the index's own size, and
 * the columns' statistics stand), and it costs a full sample of the table (29 ms a 20k-row table).
 */
async function analyzeTouched(run: ApplyRun, conn: Session, touched: Map<string, string>): Promise<void> {
  const { result, o } = run;
  if (result.error || !o.analyze) return;
  const unanalyzed = await neverAnalyzed(
    conn,
    [...touched.keys()].filter((rel) => !run.needStats.has(rel)),
  );
  for (const [rel, shown] of touched) {
    if (run.analyzed.has(rel) || !(run.needStats.has(rel) || unanalyzed.has(rel))) continue;
    run.analyzed.add(rel);
    try {
      o.onProgress?.({ type: 'step', message: `ANALYZE ${shown}` });
      // Under the user's search_path: ANALYZE evaluates index expressions, which may call the user's functions.
      await withLockRetry(conn, `ANALYZE ${rel}`, [], lockPolicy(o, `ANALYZE ${rel}`), () =>
        asUser(conn, () => conn.query(`ANALYZE ${rel}`)),
      );
      result.analyzed.push(shown);
    } catch (err) {
      result.error ??= failure(err, `ANALYZE ${rel}`, o.signal);
      return;
    }
  }
}

function describeStep(s: PackStatement, a: Assessment): string {
  return `${s.kind === 'create-index' ? 'index' : 'materialized view'} ${a.qualifiedName}`;
}

async function runStatement(c: Session, run: ApplyRun, s: PackStatement, a: Assessment | null, res: StatementResult): Promise<void> {
  const { o, created } = run;
  const tableOid = run.tableOf.get(s.ordinal)?.oid;
  switch (s.kind) {
    case 'set':
      await runOneStatement(c, s.sql);
      res.outcome = 'ran';
      return;
    case 'drop-index':
      // After every build (executeDrop).
      return;
    case 'drop-own':
      res.outcome = 'skipped';
      res.reason = 'pgopt drops its own objects only on rollback; apply builds only what is missing';
      return;
    case 'refresh': {
      const name = nodeAs(s.ast, 'RefreshMatViewStmt')?.relation?.relname ?? '';
      if (!created.has(name)) {
        res.outcome = 'skipped';
        res.reason = 'view was not created by this run';
        return;
      }
      await withLockRetry(c, 'REFRESH', [], lockPolicy(o, 'REFRESH'), () => asUser(c, () => runOneStatement(c, s.sql))).catch((e) => {
        throw failure(e, 'REFRESH', o.signal);
      });
      res.outcome = 'ran';
      return;
    }
    case 'cagg-policy':
      return addRefreshPolicy(c, run, s, res);
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
        throw failure(e, what, o.signal);
      });
      res.outcome = 'ran';
      return;
    }
  }
  if (!a) return;
  await applyObject(c, run, a, res);
}

/** A continuous aggregate's refresh policy, added where TimescaleDB has none for it (so a rerun adds nothing). */
async function addRefreshPolicy(c: Session, run: ApplyRun, s: PackStatement, res: StatementResult): Promise<void> {
  const view = [...run.byObject.values()].find((a) => a.object.policy === s);
  const live = view && (await findMatview(c, view.schema, view.object.name));
  if (live && (await refreshPolicy(c, live.oid))) {
    res.outcome = 'skipped';
    res.reason = 'its refresh policy is in place';
    return;
  }
  const what = `refresh policy at ${s.location.file}:${s.location.line}`;
  await withLockRetry(c, what, [], lockPolicy(run.o, what), () => asUser(c, () => runOneStatement(c, s.sql))).catch((e) => {
    throw failure(e, what, run.o.signal);
  });
  res.outcome = 'ran';
}

/** One drop of the pack, with its outcome and event; the first failure stops the rest. */
async function executeDrop(run: ApplyRun, c: Session, d: DropAssessment): Promise<void> {
  const res = run.result.statements[d.drop.statement.ordinal];
  res.object = d.qualifiedName;
  if (run.result.error) return;
  if (d.action === 'skip') {
    res.outcome = 'skipped';
    res.reason = d.reason;
    run.skippedEvents.push(statementEvent(run, res));
    return;
  }
  try {
    res.durationMs = await applyDrop(c, run.pack.name, d, run.o);
    res.outcome = d.action === 'record' ? 'recorded' : 'dropped';
    res.reason = d.action === 'record' ? d.reason : 'definition recorded: pgopt rollback builds it again';
    run.result.changed = true;
  } catch (err) {
    res.outcome = 'failed';
    const e = err instanceof PgoptError ? err : failure(err, `dropping ${d.qualifiedName}`, run.o.signal);
    res.reason = e.message;
    run.result.error = e;
  }
  await logEvent(c, statementEvent(run, res));
}

/** A statement's apply event, as the registry's log keeps it. */
function statementEvent(run: ApplyRun, res: StatementResult): EventInput {
  return {
    runId: run.runId,
    pack: run.pack.name,
    action: 'apply',
    object: res.object,
    outcome: res.outcome,
    durationMs: res.durationMs,
    detail: res.reason ? { reason: res.reason } : undefined,
  };
}

/** What an object's registry row says, before the build fills in what the catalog shows. */
function rowOf(pack: Pack, a: Assessment) {
  const obj = a.object;
  return {
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
}

/** Write the applied row with the live object's oid and the server's rendering of it. */
async function recordApplied(c: Session, pack: Pack, a: Assessment, durationMs: number | null, preExisting: boolean): Promise<void> {
  const index = a.object.kind === 'index' ? await findIndex(c, a.schema, a.object.name) : null;
  const live = index ?? (a.object.kind === 'matview' ? await findMatview(c, a.schema, a.object.name) : null);
  const facts = { catalogDefinition: live?.definition ?? null, objectOid: live?.oid ?? null, tableOid: index?.tableOid ?? null };
  await upsertRow(c, { ...rowOf(pack, a), state: 'applied', ...facts, preExisting, durationMs });
}

/**
 * What an object's state asks of apply without building anything: skip it, or record what is
 * already there. Returns false when it must be built.
 */
async function settleWithoutBuilding(c: Session, pack: Pack, a: Assessment, o: ApplyOptions, res: StatementResult): Promise<boolean> {
  switch (actionFor(a, o)) {
    case 'skip':
      res.outcome = 'skipped';
      res.reason = a.state === 'pre-existing' ? 'pre-existing' : 'already applied';
      return true;
    case 'record':
      await recordApplied(c, pack, a, null, a.state === 'pre-existing');
      res.outcome = 'recorded';
      res.reason =
        a.state === 'pending'
          ? 'built by an interrupted run; now recorded'
          : a.ownedBy
            ? `owned by pack "${a.ownedBy}": recorded, never dropped by this pack`
            : 'existed before pgopt: recorded as pre-existing, never dropped by rollback';
      return true;
    case 'create':
    case 'rebuild':
      return false;
    case 'stop':
      throw new PgoptError('check', `${a.qualifiedName}: ${a.reason}`);
  }
}

/** Bring one object to its applied state; the registry row is written around the work so a crash leaves it truthful. */
async function applyObject(c: Session, run: ApplyRun, a: Assessment, res: StatementResult): Promise<void> {
  const { pack, o } = run;
  if (await settleWithoutBuilding(c, pack, a, o, res)) return;
  const rebuilding = a.state === 'invalid' || a.state === 'changed-since-applied';
  const outcome = rebuilding ? 'rebuilt' : 'created';
  const reason = a.state === 'missing' ? 'was missing; recreated' : a.state === 'invalid' ? 'was INVALID; dropped and rebuilt' : '';
  const record: RecordBuilt = (durationMs) =>
    recordBuilt(
      c,
      { ...rowOf(pack, a), durationMs },
      {
        runId: run.runId,
        pack: pack.name,
        action: 'apply',
        object: a.qualifiedName,
        outcome,
        durationMs,
        detail: reason ? { reason } : undefined,
      },
    );
  if (a.object.kind === 'index') await applyIndex(c, pack, a, o, record);
  else await applyMatview(c, pack, a, o, record);
  if (a.object.continuous) run.filled.push(a);
  run.logged.add(res.ordinal);
  res.outcome = outcome;
  res.reason = reason;
}

/** Writes the built object's applied row and its event (given the build's duration). */
type RecordBuilt = (durationMs: number) => Promise<void>;

/** A concurrent build cannot share a transaction with its row: "building" first, "applied" after, none if it failed. */
async function applyIndex(c: Session, pack: Pack, a: Assessment, o: ApplyOptions, record: RecordBuilt): Promise<void> {
  const t0 = performance.now();
  await upsertRow(c, {
    ...rowOf(pack, a),
    state: 'building',
    catalogDefinition: null,
    objectOid: null,
    tableOid: null,
    preExisting: false,
    durationMs: null,
  });
  try {
    if (a.live) await dropForRebuild(c, a, o, (fn) => withTransaction(c, fn));
    await buildIndex(c, a, o, (fn) => withTransaction(c, fn));
  } catch (err) {
    // Nothing was built: no row may claim it. An INVALID leftover keeps its "building" row, so
    // status shows it, verify reports it INVALID and the next apply drops and rebuilds it.
    const leftover = err instanceof PgoptError && err.details?.leftover;
    if (!leftover) await deleteRow(c, pack.name, a.schema, a.object.name).catch(() => {});
    throw err;
  }
  await record(Math.round(performance.now() - t0));
}

/** Materialized view DDL is transactional: the view and its registry row commit together. */
async function applyMatview(c: Session, pack: Pack, a: Assessment, o: ApplyOptions, record: RecordBuilt): Promise<void> {
  const t0 = performance.now();
  const what = `creating materialized view ${a.qualifiedName}`;
  const build = async () => {
    if (a.live) await c.query(`DROP MATERIALIZED VIEW ${qualify(a.schema, a.object.name)}`);
    await c.query(`SET LOCAL statement_timeout = ${Math.max(0, Math.round(o.buildTimeoutMs))}`);
    const stopWatch = o.watch?.(backendPid(c), a.qualifiedName, 'matview');
    // A continuous aggregate is created WITH NO DATA (WITH DATA cannot run in a transaction
    // block), then filled by TimescaleDB below, once the view and its row have committed.
    const sql = a.object.continuous ? rewriteMatviewSql(a.object.statement.sql, qualify(a.schema, a.object.name)) : a.object.statement.sql;
    try {
      await asUser(c, () => runOneStatement(c, sql));
    } finally {
      stopWatch?.();
    }
    await record(Math.round(performance.now() - t0));
  };
  await withLockRetry(c, what, [], lockPolicy(o, what), () => withTransaction(c, build)).catch((err) => {
    throw failure(err, what, o.signal);
  });
  if (a.object.continuous) await firstRefresh(c, pack, a, o);
}

/**
 * A continuous aggregate's first refresh, through TimescaleDB and outside any transaction block.
 * If it fails, the view this run just created goes with its row: a failed apply changes nothing.
 */
async function firstRefresh(c: Session, pack: Pack, a: Assessment, o: ApplyOptions): Promise<void> {
  const what = `refreshing continuous aggregate ${a.qualifiedName}`;
  o.onProgress?.({ type: 'step', message: what });
  const stopWatch = o.watch?.(backendPid(c), a.qualifiedName, 'matview');
  try {
    await withStatementTimeout(c, o.buildTimeoutMs, () =>
      asUser(c, () => c.query(refreshContinuousAggregateSql(qualify(a.schema, a.object.name)))),
    );
  } catch (err) {
    // Cleanup runs even after Ctrl-C; its own failure never replaces the first error.
    await withTransaction(c, async () => {
      await c.query(`DROP MATERIALIZED VIEW IF EXISTS ${qualify(a.schema, a.object.name)}`);
      await deleteRow(c, pack.name, a.schema, a.object.name);
    }).catch(() => {});
    throw failure(err, what, o.signal);
  } finally {
    stopWatch?.();
  }
}

/**
 * The first refresh wrote every row of each aggregate it filled; VACUUM marks their pages
 * all-visible, as autovacuum would later, so an index-only scan of their indexes reads no heap page
 * from the first query on. It runs once every build is done: a concurrent build's snapshot would
 * keep the newest rows from counting as visible to all. (Under synchronous_commit = off, a page
 * whose rows' commit the WAL writer has not flushed yet stays for autovacuum.) It takes no lock
 * readers or a refresh wait for. A failure here leaves correct, populated aggregates: it is
 * reported, and they stay.
 */
async function markAllVisible(run: ApplyRun, c: Session): Promise<void> {
  const { o, result } = run;
  for (const a of run.filled) {
    if (result.error) return;
    const what = `VACUUM ${a.qualifiedName}`;
    o.onProgress?.({ type: 'step', message: what });
    await withStatementTimeout(c, o.buildTimeoutMs, () => asUser(c, () => c.query(`VACUUM ${qualify(a.schema, a.object.name)}`))).catch(
      (err) => {
        result.error ??= failure(err, what, o.signal);
      },
    );
  }
}

/** An index key or INCLUDE column that is an expression: its statistics exist only after ANALYZE. */
function hasExpressionKey(o: PackObject): boolean {
  const index = nodeAs(o.statement.ast, 'IndexStmt');
  return !!index?.indexParams?.some((p) => !!nodeAs(p, 'IndexElem')?.expr);
}
