/**
 * The view round of advise: for each aggregate query a view can serve exactly (views.ts), build the
 * view and its unique key for real, check that the rewritten query returns the same rows as the
 * query for each of its parameter sets, bench both with the pack's kept indexes in place, and time
 * one REFRESH … CONCURRENTLY. A view is kept only when the rows match and the verdict rule calls the
 * rewrite faster.
 */
import { compareRuns } from '../bench/compare.js';
import { readParams, runBench, type BenchOptions } from '../bench/runner.js';
import type { QueryForm, Workload, WorkloadQuery } from '../bench/workload.js';
import { withRolledBackTransaction } from '../db/scoped.js';
import { totalRelationSize } from '../db/catalog.js';
import { qualify } from '../db/ident.js';
import { asUser, runOneStatement, type Session } from '../db/session.js';
import { translatePgError } from '../db/pg-errors.js';
import { applyPack } from '../engine/apply.js';
import type { RunOptions } from '../engine/run-options.js';
import { parseTrusted } from '../sql/parse.js';
import { nodeAs, relationsRead } from '../sql/tree.js';
import type { TableLookup } from './candidates.js';
import { statementsPack } from './trial-pack.js';
import { proposeView, type ViewCandidate } from './views.js';

/** `proposed`: not built (a dry run, or the run ended first). */
export type ViewOutcome = 'proposed' | 'kept' | 'not-faster' | 'different-rows' | 'invalid' | 'no-view';

export interface ViewTrial {
  query: string;
  /** Null where no view can give the query's rows (`reason` says why). */
  view: ViewCandidate | null;
  outcome: ViewOutcome;
  reason: string;
  beforeMs: number | null;
  afterMs: number | null;
  speedup: number | null;
  /** One REFRESH MATERIALIZED VIEW CONCURRENTLY, measured. */
  refreshMs: number | null;
  sizeBytes: number | null;
  /** Parameter sets whose rows were compared. */
  checkedSets: number;
}

/** How many parameter sets the rewrite's rows are checked on. */
const ROW_CHECKS = 5;

const isGrouped = (q: WorkloadQuery) => !!nodeAs(parseTrusted(q.forms[0].sql), 'SelectStmt')?.groupClause?.length;

/** A view per grouped query of the workload, or the reason there is none. */
export function viewTrials(workload: Workload, lookup: TableLookup): ViewTrial[] {
  return workload.queries
    .filter((q) => !q.planOnly && q.forms[0].readOnly && isGrouped(q))
    .map((q) => {
      const tree = parseTrusted(q.forms[0].sql);
      const main = relationsRead(tree)
        .map((r) => lookup(r.schema, r.name))
        .find((t) => t);
      // Its rows would be read, and its view built, with this role's rights: another role's code must run as that role, or not at all.
      const p = q.runAs
        ? { ok: false as const, reason: `another role's statement (-- run-as: ${q.runAs})` }
        : main
          ? proposeView(q.name, tree, main.schema)
          : { ok: false as const, reason: 'it reads no table advise can see' };
      const empty = { beforeMs: null, afterMs: null, speedup: null, refreshMs: null, sizeBytes: null, checkedSets: 0 };
      return p.ok
        ? { query: q.name, view: p.view, outcome: 'proposed' as const, reason: '', ...empty }
        : { query: q.name, view: null, outcome: 'no-view' as const, reason: p.reason, ...empty };
    });
}

type Rows = unknown[][];

async function rowsOf(c: Session, sql: string, params: unknown[], timeoutMs: number): Promise<Rows> {
  return asUser(c, () =>
    withRolledBackTransaction(c, async () => (await runOneStatement(c, sql, params, { rowMode: 'array' })).rows as Rows, {
      readOnly: true,
      timeoutMs,
    }),
  );
}

/** The same rows, in the same order where the query orders them; floating point within 1e-9. */
export function sameRows(a: Rows, b: Rows, ordered: boolean): boolean {
  if (a.length !== b.length) return false;
  const key = (r: unknown[]) => JSON.stringify(r);
  const [x, y] = ordered
    ? [a, b]
    : [[...a].sort((p, q) => key(p).localeCompare(key(q))), [...b].sort((p, q) => key(p).localeCompare(key(q)))];
  return x.every((r, i) => r.length === y[i].length && r.every((v, j) => sameValue(v, y[i][j])));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Whether the rewrite returns the query's rows for each of its first parameter sets; the number of sets checked. */
async function rowsMatch(c: Session, q: WorkloadQuery, v: ViewCandidate, timeoutMs: number): Promise<{ ok: boolean; sets: number }> {
  const sets = q.params ? ((await readParams(c, q.params, timeoutMs)).rows as unknown[][]).slice(0, ROW_CHECKS) : [[]];
  const ordered = !!nodeAs(parseTrusted(q.forms[0].sql), 'SelectStmt')?.sortClause?.length;
  for (const raw of sets) {
    const params = raw.slice(0, q.forms[0].paramCount);
    if (!sameRows(await rowsOf(c, q.forms[0].sql, params, timeoutMs), await rowsOf(c, v.rewrite, params, timeoutMs), ordered))
      return { ok: false, sets: sets.length };
  }
  return { ok: true, sets: sets.length };
}

const onlyForm = (q: WorkloadQuery, form: QueryForm): WorkloadQuery => ({ ...q, forms: [form] });
const rewriteForm = (q: WorkloadQuery, v: ViewCandidate): QueryForm => ({ ...q.forms[0], sql: v.rewrite, whenExists: null });

export interface ViewRoundOptions extends RunOptions {
  bench: BenchOptions;
}

/**
 * Build, check and measure each proposed view, with `standing` (the kept indexes' statements) in the
 * same trial pack, so the pack's clean-up drops the views with the indexes.
 */
export async function measureViews(
  c: Session,
  workload: Workload,
  trials: ViewTrial[],
  pack: { name: string; standing: string[] },
  o: ViewRoundOptions,
): Promise<void> {
  const open = trials.filter((t) => t.view);
  if (!open.length) return;
  const byName = new Map(workload.queries.map((q) => [q.name, q]));
  const built: ViewTrial[] = [];
  for (const t of open) {
    const statements = [...pack.standing, ...built.flatMap((b) => [b.view!.viewSql, b.view!.keySql]), t.view!.viewSql, t.view!.keySql];
    const r = await applyPack(c, await statementsPack(statements, pack.name), {
      ...o,
      analyze: true,
      replaceChanged: false,
      quietLint: true,
    });
    if (r.error) {
      Object.assign(t, { outcome: 'invalid', reason: r.error.message });
      continue;
    }
    built.push(t);
  }
  for (const t of built) await judgeView(c, workload, byName.get(t.query)!, t, o);
}

/**
 * The query and its rewrite benched back to back, every view already built (the query never reads
 * one): the machine has the least time to change speed between the two (a build between them moved
 * the calibration 56% at scale 1).
 */
async function judgeView(c: Session, workload: Workload, q: WorkloadQuery, t: ViewTrial, o: ViewRoundOptions) {
  const v = t.view!;
  const check = await rowsMatch(c, q, v, o.bench.statementTimeoutMs).catch((err) => {
    Object.assign(t, { outcome: 'invalid', reason: `the rewrite fails: ${translatePgError(err, 'rewrite').message}` });
    return null;
  });
  if (!check) return;
  t.checkedSets = check.sets;
  if (!check.ok) {
    Object.assign(t, {
      outcome: 'different-rows',
      reason: `the rewrite returns other rows than the query (of ${check.sets} parameter set(s) checked)`,
    });
    return;
  }
  const before = await runBench(c, { ...workload, queries: [onlyForm(q, q.forms[0])] }, o.bench);
  const after = await runBench(c, { ...workload, queries: [onlyForm(q, rewriteForm(q, v))] }, o.bench);
  const cmp = compareRuns(before, after).queries.find((x) => x.name === q.name)!;
  Object.assign(t, { beforeMs: cmp.before?.median ?? null, afterMs: cmp.after?.median ?? null, speedup: cmp.speedup });
  t.refreshMs = await timedRefresh(c, v);
  t.sizeBytes = await totalRelationSize(c, v.schema, v.name);
  if (cmp.verdict === 'faster') Object.assign(t, { outcome: 'kept', reason: '' });
  else
    Object.assign(t, {
      outcome: 'not-faster',
      reason: `the rewrite was not significantly faster (${cmp.verdict}${cmp.reason ? `: ${cmp.reason}` : ''})`,
    });
}

/** One concurrent refresh, as production would run it on a schedule. */
async function timedRefresh(c: Session, v: ViewCandidate): Promise<number> {
  const t0 = performance.now();
  await asUser(c, () => c.query(`REFRESH MATERIALIZED VIEW CONCURRENTLY ${qualify(v.schema, v.name)}`));
  return performance.now() - t0;
}
