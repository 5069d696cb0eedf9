/**
 * pgopt as a library: the same cores the CLI runs, with the same typed results it renders.
 * Nothing here prints or exits; progress comes through `onProgress`, failures as PgoptError (or in
 * a result's `error`). Every function that takes your pg.Client hands it back as it found it:
 * pgopt pins its own search_path and settings while it works and restores yours afterwards.
 *
 *   import pg from 'pg';
 *   import { loadPack, applyPack, verifyPack, DEFAULT_APPLY_OPTIONS } from 'pgopt';
 *   const client = new pg.Client({ connectionString: process.env.DIRECT_URL });
 *   await client.connect();
 *   const pack = await loadPack('db/optimize');
 *   const applied = await applyPack(client, pack, DEFAULT_APPLY_OPTIONS);
 *   if (applied.error) throw applied.error;
 *   console.log((await verifyPack(client, pack)).ok);
 */
import type pg from 'pg';
import { adviseWorkload as adviseCore, type AdviceResult, type AdviseOptions } from './advise/advise.js';
import { compareRuns, type Comparison } from './bench/compare.js';
import { runBench, DEFAULT_BENCH_OPTIONS, type BenchOptions, type BenchResult } from './bench/runner.js';
import type { Workload } from './bench/workload.js';
import { onBorrowedClient, type Session } from './db/session.js';
import { applyPack as applyCore, type ApplyOptions, type ApplyResult } from './engine/apply.js';
import { lintPack as lintCore, type LintResult } from './engine/lint/index.js';
import { planPack as planCore, type PlanResult } from './engine/plan.js';
import { rollbackPack as rollbackCore, type RollbackOptions, type RollbackResult } from './engine/rollback.js';
import { DEFAULT_RUN_OPTIONS } from './engine/run-options.js';
import { readStatus as statusCore, type StatusResult } from './engine/status.js';
import { verifyPack as verifyCore, type VerifyResult } from './engine/verify.js';
import type { Pack } from './pack/types.js';
import { inspectIndexes as hygieneCore, type HygieneOptions, type HygieneResult } from './hygiene/hygiene.js';

export { loadPack, type LoadPackOptions } from './pack/load-pack.js';
export { loadWorkload, type Workload } from './bench/workload.js';
export { loadBaseline, saveBaseline } from './bench/baseline.js';
export { resolveConnection, type ConnectionTarget } from './db/connection.js';
export { withClient } from './db/scoped.js';
export { PgoptError, EXIT_CODES, type ErrorKind } from './errors.js';
export { decideVerdict, VERDICTS, type Verdict, type Comparison, type QueryComparison } from './bench/compare.js';
export type { ProgressEvent, ProgressListener } from './engine/progress.js';
export type { Pack, PackObject, PackStatement } from './pack/types.js';
export type { ApplyOptions, ApplyResult, RollbackOptions, RollbackResult, PlanResult, VerifyResult, StatusResult, LintResult };
export type { BenchOptions, BenchResult, AdviseOptions, AdviceResult };
export { DEFAULT_RUN_OPTIONS, DEFAULT_BENCH_OPTIONS };
export type { HygieneOptions, HygieneResult };
export { dropPackText } from './hygiene/pack-text.js';

/** apply's defaults (README "apply"): concurrent builds, ANALYZE after, changed objects left alone. */
export const DEFAULT_APPLY_OPTIONS: ApplyOptions = { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false };

export const planPack = (
  c: pg.Client | Session,
  pack: Pack,
  o: { concurrently: boolean; replaceChanged?: boolean } = { concurrently: true },
): Promise<PlanResult> => onBorrowedClient(c, (s) => planCore(s, pack, o));
export const applyPack = (c: pg.Client | Session, pack: Pack, o: ApplyOptions = DEFAULT_APPLY_OPTIONS): Promise<ApplyResult> =>
  onBorrowedClient(c, (s) => applyCore(s, pack, o));
export const verifyPack = (c: pg.Client | Session, pack: Pack): Promise<VerifyResult> => onBorrowedClient(c, (s) => verifyCore(s, pack));
export const rollbackPack = (c: pg.Client | Session, packName: string, o: RollbackOptions = DEFAULT_RUN_OPTIONS): Promise<RollbackResult> =>
  onBorrowedClient(c, (s) => rollbackCore(s, packName, o));
export const lintPack = (c: pg.Client | Session, pack: Pack): Promise<LintResult> => onBorrowedClient(c, (s) => lintCore(s, pack));
export const readStatus = (c: pg.Client | Session, o: { pack?: string; events: number } = { events: 10 }): Promise<StatusResult> =>
  onBorrowedClient(c, (s) => statusCore(s, o));
/** EXPLAIN ANALYZE each query of a workload (bench); save the result with saveBaseline. */
export const bench = (c: pg.Client | Session, workload: Workload, o: BenchOptions = DEFAULT_BENCH_OPTIONS): Promise<BenchResult> =>
  onBorrowedClient(c, (s) => runBench(s, workload, o));
/** Two bench results side by side, with a verdict per query (pure: no database). */
export const compare = (before: BenchResult, after: BenchResult): Comparison => compareRuns(before, after);
export const adviseWorkload = (c: pg.Client | Session, workload: Workload, o: AdviseOptions): Promise<AdviceResult> =>
  onBorrowedClient(c, (s) => adviseCore(s, workload, o));

/** hygiene: the indexes that cost without paying, and the drops the evidence allows (write them with dropPackText). */
export const inspectIndexes = (
  c: pg.Client | Session,
  o: Omit<HygieneOptions, 'replicas'> & { replicas?: (pg.Client | Session)[] },
): Promise<HygieneResult> => {
  const replicas = o.replicas ?? [];
  const withReplicas = (i: number, open: Session[]): Promise<HygieneResult> =>
    i === replicas.length
      ? onBorrowedClient(c, (s) => hygieneCore(s, { ...o, replicas: open }))
      : onBorrowedClient(replicas[i], (r) => withReplicas(i + 1, [...open, r]));
  return withReplicas(0, []);
};
