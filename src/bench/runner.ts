import type pg from 'pg';
import { PgoptError } from '../errors.js';
import { translatePgError } from '../db/pg-errors.js';
import { withRolledBackTransaction } from '../db/scoped.js';
import { rootIndexesOf } from '../db/timescale.js';
import { partitionedIndexesOf, sequencePositions, sequencesMoved, tableSizesDigest } from '../db/catalog.js';
import { asUser, prepareSession, resetSession, runOneStatement, type Session } from '../db/session.js';
import { cannotActAs, inferredParamTypes, queryAsRole } from '../db/owner-rights.js';
import type { ProgressListener } from '../engine/progress.js';
import { PGOPT_VERSION } from '../version.js';
import { citusVersion } from '../db/citus.js';
import { summarizePlan, usesIndex, type ExplainOutput, type PlanNode, type PlanSummary } from './plan-summary.js';
import { summarize, type Summary } from './stats.js';
import type { QueryForm, Workload, WorkloadQuery } from './workload.js';
import type { SourceLocation } from '../errors.js';

export interface BenchOptions {
  /** Measured runs per query. */
  runs: number;
  /** Unmeasured runs first, so both sides are measured warm. */
  warmup: number;
  /** Stop a query's measured runs after this long (it still gets `minRuns`). */
  budgetMs: number;
  minRuns: number;
  statementTimeoutMs: number;
  onProgress?: ProgressListener;
}

export const DEFAULT_BENCH_OPTIONS: BenchOptions = { runs: 30, warmup: 5, budgetMs: 15_000, minRuns: 5, statementTimeoutMs: 30_000 };

/** Settings that change plans and timings; a comparison warns when they differ. */
export const PLAN_SETTINGS = [
  'shared_buffers',
  'work_mem',
  'effective_cache_size',
  'random_page_cost',
  'jit',
  'max_parallel_workers_per_gather',
] as const;

export interface QueryResult {
  name: string;
  /** "raw", or the object whose alternative form ran ("workflow_execution_stats"). */
  form: string;
  sql: string;
  paramSets: number;
  /** Execution times of the measured runs (ms), in run order: the samples for the significance test. */
  samples: number[];
  execution: Summary;
  planning: Summary;
  /** Client-side time of each EXPLAIN ANALYZE round trip (ms). */
  roundTrip: Summary;
  rows: number;
  buffers: { hit: number; read: number };
  plan: PlanSummary;
  /** The per-node profile from one extra run with TIMING ON. */
  profile: PlanNode;
  /** The workload's "-- expect:" checks, judged on this run. */
  expectations: ExpectationResult[];
  /** How often production runs it (the workload's `-- calls-per-hour:`), when known. */
  callsPerHour?: number;
  /**
   * The calibration query's execution times (ms), one right before each measured run: the
   * machine's speed in this query's own time window. Absent in files saved by earlier versions.
   */
  calibration?: number[];
}

export interface ExpectationResult {
  text: string;
  ok: boolean;
  reason: string;
}

/** Judge a query's expectations on its plan and median. */
export function checkExpectations(q: WorkloadQuery, plan: PlanSummary, median: number): ExpectationResult[] {
  return q.expectations.map((e) => {
    switch (e.kind) {
      case 'uses-index': {
        const ok = usesIndex(plan, e.index);
        return {
          text: e.text,
          ok,
          reason: ok ? '' : `the plan uses ${plan.indexes.length ? plan.indexes.join(', ') : 'no index'} (${plan.headline})`,
        };
      }
      case 'no-seq-scan': {
        const ok = !plan.seqScans.includes(e.table);
        return { text: e.text, ok, reason: ok ? '' : `the plan reads ${e.table} with a Seq Scan` };
      }
      case 'under-ms': {
        const ok = median < e.ms;
        return { text: e.text, ok, reason: ok ? '' : `median ${median.toFixed(3)} ms` };
      }
    }
  });
}

/**
 * A fixed, CPU-only query timed on the same connection right before each measured run. On a
 * shared VM the machine's speed moves for seconds at a time (seen: the same count at 32 ms for
 * most of one run and 19 ms in the next, with 19 ms stretches inside the first): only a control
 * measured in the same window can tell that apart from the pack. About 3 ms a run.
 *
 * generate_series in the select list (a ProjectSet) streams its rows. In FROM (a Function Scan)
 * it first materializes them into a tuplestore, and then the query's speed depends on the
 * backend's memory state: 1.29 ms on the connection that had just applied the pack, 4.33 ms on a
 * fresh one at the same moment (test/perf/calibration-after-apply.mjs). That, not the machine,
 * was the demo's "70–80% slower" after apply. Streamed: 2.98 and 3.01 ms.
 */
export const CALIBRATION_SQL = 'SELECT count(*) FROM (SELECT generate_series(1, 60000) AS g) s WHERE g % 7 = 1';

export interface BenchResult {
  kind: 'pgopt-bench';
  formatVersion: 1;
  pgoptVersion: string;
  startedAt: string;
  /** `citus`: the Citus version where the database has it (absent in runs saved before it was recorded). */
  server: { version: string; versionNum: number; citus?: string | null };
  settings: Record<string, string>;
  workload: { name: string; checksum: string };
  /** Hash of every table's name and approximate size: warns when two runs saw different data. */
  dataChecksum: string;
  options: { runs: number; warmup: number; budgetMs: number };
  /** Median of all the calibration samples of the run (ms). */
  calibrationMs: number;
  /** The calibration query (CALIBRATION_SQL when the run was made): runs with different ones are not compared on drift. */
  calibrationSql?: string;
  queries: QueryResult[];
  /**
   * Sequences the run advanced (nextval is not undone by ROLLBACK): an INSERT's serial default, or
   * any function that calls nextval. Absent in runs saved before it was recorded.
   */
  sequencesAdvanced?: { sequence: string; by: number }[];
  /** Queries not run: `-- values-from: none`, no values for their $n (advise judges them by their generic plan). */
  notRun?: string[];
}

/** Pick the form to run: the last whose object exists, else the raw form. */
async function chooseForm(c: Session, q: WorkloadQuery): Promise<QueryForm> {
  for (const f of [...q.forms].reverse()) {
    if (!f.whenExists) return f;
    // The name is the user's, resolved as the user's session would; the call is qualified.
    const r = await asUser(c, () => c.query('SELECT pg_catalog.to_regclass($1) IS NOT NULL AS ok', [f.whenExists]));
    if (r.rows[0].ok) return f;
  }
  return q.forms[0];
}

/**
 * A `-- params:` query runs like a workload query: one statement, read-only, under the bench's
 * statement_timeout, rolled back, in the user's search_path.
 */
export async function readParams(c: Session, sql: string, timeoutMs: number): Promise<pg.QueryResult> {
  return asUser(c, () =>
    withRolledBackTransaction(c, () => runOneStatement(c, sql, [], { rowMode: 'array' }), { readOnly: true, timeoutMs }),
  );
}

/** A generated params query, read with its table owner's rights (its columns named distinctly), read-only. */
async function readParamsAs(c: Session, role: string, sql: string, timeoutMs: number): Promise<{ rows: unknown[][]; fields: unknown[] }> {
  const rows = await withRolledBackTransaction(c, () => queryAsRole(c, role, sql, [], { readOnly: true }), { timeoutMs });
  return { rows: rows.map((r) => Object.values(r)), fields: Object.keys(rows[0] ?? {}) };
}

/**
 * The session broke under the params query — cancelled from outside (Ctrl-C) before its timeout,
 * the server shutting down, the connection lost — so the failure is not the query's fault and is
 * no input error (after Ctrl-C the funnel then reports it as interrupted).
 */
export function sessionBroke(err: unknown, elapsedMs: number, timeoutMs: number): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  if (!/^[0-9A-Z]{5}$/.test(code) || /^(08|57P)/.test(code)) return true;
  return code === '57014' && (timeoutMs <= 0 || elapsedMs < timeoutMs * 0.9);
}

async function paramRows(c: Session, q: WorkloadQuery, form: QueryForm, o: BenchOptions): Promise<unknown[][]> {
  if (!q.params) return [[]];
  const read = q.runAs ? readParamsAs(c, q.runAs, q.params, o.statementTimeoutMs) : readParams(c, q.params, o.statementTimeoutMs);
  const started = performance.now();
  const res = await read.catch((err) => {
    if (sessionBroke(err, performance.now() - started, o.statementTimeoutMs)) throw translatePgError(err, `params of "${q.name}"`);
    throw new PgoptError('input', `params of "${q.name}": ${translatePgError(err, 'the server rejects it').message}`, {
      location: q.paramsLocation ?? undefined,
    });
  });
  if (res.rows.length === 0)
    throw new PgoptError('input', `params of "${q.name}" returned no rows`, { location: q.paramsLocation ?? undefined });
  const width = res.fields.length;
  if (width < form.paramCount) {
    throw new PgoptError('input', `"${q.name}" uses $${form.paramCount} but its params query returns ${width} column(s)`, {
      location: q.paramsLocation ?? undefined,
    });
  }
  return res.rows.map((r: unknown[]) => r.slice(0, form.paramCount));
}

/**
 * One EXPLAIN ANALYZE inside BEGIN … ROLLBACK, under a local statement_timeout: a workload
 * that writes never changes data, and a runaway query is cancelled.
 */
async function explainOnce(
  c: Session,
  form: QueryForm,
  params: unknown[],
  timing: boolean,
  timeoutMs: number,
  runAs?: { role: string; paramTypes?: string[] },
): Promise<{ out: ExplainOutput; wallMs: number }> {
  return withRolledBackTransaction(
    c,
    async () => {
      // TIMING OFF for measured runs: per-node clock reads distort sub-millisecond queries.
      const sql = `EXPLAIN (ANALYZE, BUFFERS, TIMING ${timing ? 'ON' : 'OFF'}, FORMAT JSON) ${form.sql}`;
      const t0 = performance.now();
      const rows = runAs
        ? await queryAsRole(c, runAs.role, sql, params, { paramTypes: runAs.paramTypes, readOnly: form.readOnly })
        : (await runOneStatement(c, sql, params)).rows;
      const wallMs = performance.now() - t0;
      const raw = rows[0]['QUERY PLAN'];
      const out = (typeof raw === 'string' ? JSON.parse(raw) : raw)[0] as ExplainOutput;
      return { out, wallMs };
    },
    // As another role, the transaction turns read-only once the runner exists (queryAsRole).
    { readOnly: form.readOnly && !runAs, timeoutMs },
  );
}

const CALIBRATION_FORM: QueryForm = {
  sql: CALIBRATION_SQL,
  location: { file: '(calibration)', line: 0 },
  whenExists: null,
  readOnly: true,
  paramCount: 0,
};

/** The types of a form's $n, for running it as another role (queryAsRole passes values typed). */
async function paramTypesFor(c: Session, q: WorkloadQuery, form: QueryForm): Promise<string[] | undefined> {
  const refused = await cannotActAs(c, q.runAs!);
  if (refused) {
    throw new PgoptError('database', `query "${q.name}" runs as role ${q.runAs} (-- run-as), which this role cannot act as: ${refused}`, {
      hint: `run bench as a member of ${q.runAs} (or a superuser), or remove the query`,
    });
  }
  if (!form.paramCount) return undefined;
  return asUser(c, () => withRolledBackTransaction(c, () => inferredParamTypes(c, form.sql), { readOnly: true })).catch((err) => {
    throw new PgoptError(
      'input',
      `query at ${form.location.file}:${form.location.line}: ${translatePgError(err, 'the server rejects it').message}`,
      {
        cause: err,
      },
    );
  });
}

async function benchQuery(c: Session, q: WorkloadQuery, o: BenchOptions, label: string): Promise<QueryResult> {
  const form = await chooseForm(c, q);
  const rows = await paramRows(c, q, form, o);
  const runAs = q.runAs ? { role: q.runAs, paramTypes: await paramTypesFor(c, q, form) } : undefined;
  const run = (i: number, timing = false) =>
    asUser(c, () => explainOnce(c, form, rows[i % rows.length], timing, o.statementTimeoutMs, runAs)).catch((err) => {
      // A query the server refuses (a missing table or column, a type error) is bad input, exit 2.
      const t = translatePgError(err, 'failed');
      throw new PgoptError(
        t.kind,
        `query "${q.name}" (${form.location.file}:${form.location.line}): ${t.message.replace(/^failed: /, '')}`,
        {
          cause: err,
        },
      );
    });
  for (let i = 0; i < o.warmup; i++) {
    o.onProgress?.({ type: 'step', message: `${label}: warm-up ${i + 1}/${o.warmup}`, group: label });
    await run(i);
  }
  const exec: number[] = [];
  const plan: number[] = [];
  const wall: number[] = [];
  const calibration: number[] = [];
  let last: ExplainOutput | null = null;
  const started = performance.now();
  for (let i = 0; i < o.runs; i++) {
    if (i >= o.minRuns && performance.now() - started > o.budgetMs) break;
    o.onProgress?.({ type: 'step', message: `${label}: run ${i + 1}/${o.runs}`, group: label });
    calibration.push((await explainOnce(c, CALIBRATION_FORM, [], false, o.statementTimeoutMs)).out['Execution Time']);
    const { out, wallMs } = await run(i);
    exec.push(out['Execution Time']);
    plan.push(out['Planning Time']);
    wall.push(wallMs);
    last = out;
  }
  const profile = await run(0, true);
  const summary = summarizePlan(last!);
  if (summary.indexes.length)
    summary.partitionedIndexes = [...(await partitionedIndexesOf(c, summary.indexes)), ...(await rootIndexesOf(c, summary.indexes))];
  return {
    name: q.name,
    form: form.whenExists ?? 'raw',
    sql: form.sql,
    paramSets: rows.length,
    samples: exec.map((v) => Math.round(v * 1000) / 1000),
    execution: summarize(exec),
    planning: summarize(plan),
    roundTrip: summarize(wall),
    rows: summary.rows,
    buffers: { hit: summary.sharedHit, read: summary.sharedRead },
    plan: summary,
    profile: profile.out.Plan,
    expectations: checkExpectations(q, summary, summarize(exec).median),
    ...(q.callsPerHour !== undefined ? { callsPerHour: q.callsPerHour } : {}),
    calibration: calibration.map((v) => Math.round(v * 1000) / 1000),
  };
}

const dataChecksum = tableSizesDigest;

/** Run a workload: per query, warm-up, measured runs, one profiled run. The core never prints. */
export async function runBench(c: Session, workload: Workload, opts: BenchOptions): Promise<BenchResult> {
  await prepareSession(c);
  const citus = await citusVersion(c);
  // On Citus the first query of a session opens its connections to the workers (16 ms against
  // 1.7 ms warm): at least one unmeasured run takes that cost out of the samples.
  const o = citus && opts.warmup < 1 ? { ...opts, warmup: 1 } : opts;
  const version = await c.query(`SELECT current_setting('server_version') AS v, current_setting('server_version_num')::int AS n`);
  const settings: Record<string, string> = {};
  for (const s of PLAN_SETTINGS) settings[s] = (await c.query(`SELECT current_setting($1) AS v`, [s])).rows[0].v;
  const result: BenchResult = {
    kind: 'pgopt-bench',
    formatVersion: 1,
    pgoptVersion: PGOPT_VERSION,
    startedAt: new Date().toISOString(),
    server: { version: version.rows[0].v, versionNum: version.rows[0].n, citus },
    settings,
    workload: { name: workload.name, checksum: workload.checksum },
    dataChecksum: await dataChecksum(c),
    options: { runs: o.runs, warmup: o.warmup, budgetMs: o.budgetMs },
    calibrationMs: NaN,
    calibrationSql: CALIBRATION_SQL,
    queries: [],
  };
  const sequences = await sequencePositions(c);
  const runnable = workload.queries.filter((q) => !q.planOnly);
  if (runnable.length < workload.queries.length) result.notRun = workload.queries.filter((q) => q.planOnly).map((q) => q.name);
  for (const [i, q] of runnable.entries()) {
    result.queries.push(await benchQuery(c, q, o, `query ${i + 1}/${runnable.length} ${q.name}`));
    // Each query starts from a fresh session, whatever the last one left that ROLLBACK does not undo.
    // Inside a transaction pgopt holds (hygiene --measure), the savepoints undid each step already.
    if (c.transactionDepth === 0) await resetSession(c);
  }
  result.sequencesAdvanced = sequencesMoved(sequences, await sequencePositions(c));
  result.calibrationMs = summarize(result.queries.flatMap((q) => q.calibration ?? [])).median;
  return result;
}

/** A workload query the server refuses as it stands: its file and line, and the server's reason. */
export interface RefusedQuery {
  name: string;
  location: SourceLocation;
  message: string;
}

/** The server's own refusal (a missing column, a type error), as opposed to a session that broke under it. */
function refusal(err: unknown, elapsedMs: number, timeoutMs: number): string | null {
  if (err instanceof PgoptError) return err.kind === 'input' ? err.message : null;
  if (sessionBroke(err, elapsedMs, timeoutMs)) return null;
  return translatePgError(err, 'refused').message.replace(/^refused: /, '');
}

/**
 * Each query planned once as bench would run it (its params read, EXPLAIN without ANALYZE: nothing
 * runs), naming those the server refuses. advise leaves them out and goes on, where bench, whose
 * whole point is to run them all, stops at the first.
 */
export async function refusedQueries(c: Session, queries: WorkloadQuery[], o: BenchOptions): Promise<RefusedQuery[]> {
  const out: RefusedQuery[] = [];
  for (const q of queries.filter((x) => !x.planOnly)) {
    const form = await chooseForm(c, q);
    const started = performance.now();
    try {
      await planOnce(c, q, form, o);
    } catch (err) {
      const message = refusal(err, performance.now() - started, o.statementTimeoutMs);
      if (message === null) throw err instanceof PgoptError ? err : translatePgError(err, `query "${q.name}"`);
      out.push({ name: q.name, location: errorLine(err, form, 'EXPLAIN '.length), message });
    }
    await resetSession(c);
  }
  return out;
}

/** The line the server's error points at (its position in what was sent, after `prefix` characters), else the statement's first. */
function errorLine(err: unknown, form: QueryForm, prefix: number): SourceLocation {
  const position = Number((err as { position?: unknown })?.position);
  if (!Number.isInteger(position) || position <= prefix) return form.location;
  const before = form.sql.slice(0, position - 1 - prefix);
  return { file: form.location.file, line: form.location.line + before.split('\n').length - 1 };
}

async function planOnce(c: Session, q: WorkloadQuery, form: QueryForm, o: BenchOptions): Promise<void> {
  const params = (await paramRows(c, q, form, o))[0];
  const runAs = q.runAs ? { role: q.runAs, paramTypes: await paramTypesFor(c, q, form) } : undefined;
  const sql = `EXPLAIN ${form.sql}`;
  await withRolledBackTransaction(
    c,
    async () => {
      if (runAs) await queryAsRole(c, runAs.role, sql, params, { paramTypes: runAs.paramTypes, readOnly: form.readOnly });
      else await asUser(c, () => runOneStatement(c, sql, params));
    },
    { readOnly: form.readOnly && !runAs, timeoutMs: o.statementTimeoutMs },
  );
}
