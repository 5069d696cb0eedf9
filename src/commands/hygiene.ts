import { existsSync, writeFileSync } from 'node:fs';
import { loadWorkload } from '../bench/workload.js';
import { withClient } from '../db/scoped.js';
import type { Session } from '../db/session.js';
import { PgoptError } from '../errors.js';
import { inspectIndexes } from '../hygiene/hygiene.js';
import { dropPackText } from '../hygiene/pack-text.js';
import { renderHygiene } from '../output/render-hygiene.js';
import { parseCount, parseDuration, type CommandContext } from './options.js';
import { DEFAULT_BENCH_OPTIONS } from '../bench/runner.js';

export interface HygieneFlags {
  workload?: string;
  out?: string;
  replica: string[];
  minAge: string;
  statementTimeout: string;
  force?: boolean;
  installHypopg?: boolean;
  measure?: boolean;
  runs: string;
  lockTimeout: string;
}

/** --measure drops the indexes for real inside its transaction: said before it starts. */
const MEASURE_SAFETY =
  '--measure drops each proposed index inside a transaction it rolls back: that holds an ACCESS EXCLUSIVE lock on each table ' +
  'for the whole measurement, so reads and writes of those tables wait. Run it on a staging copy, or where nothing else runs.';

/** One session per standby, all open while fn runs. */
async function withReplicas<T>(
  ctx: CommandContext,
  urls: string[],
  fn: (replicas: Session[]) => Promise<T>,
  open: Session[] = [],
): Promise<T> {
  if (open.length === urls.length) return fn(open);
  return withClient(ctx.targetOf(urls[open.length]), 'pgopt hygiene (standby)', (r) => withReplicas(ctx, urls, fn, [...open, r]));
}

export async function hygiene(f: HygieneFlags, ctx: CommandContext): Promise<number> {
  const workload = f.workload ? await loadWorkload(f.workload) : undefined;
  const o = {
    minAgeSeconds: parseDuration('--min-age', f.minAge) / 1000,
    timeoutMs: parseDuration('--statement-timeout', f.statementTimeout),
    workload,
    installHypopg: !!f.installHypopg,
    measure: f.measure
      ? {
          bench: {
            ...DEFAULT_BENCH_OPTIONS,
            runs: parseCount('--runs', f.runs, 5),
            warmup: 2,
            budgetMs: 5000,
            statementTimeoutMs: parseDuration('--statement-timeout', f.statementTimeout),
          },
          lockTimeoutMs: parseDuration('--lock-timeout', f.lockTimeout),
        }
      : undefined,
  };
  if (o.measure && !workload) throw new PgoptError('input', '--measure needs a workload to measure (--workload)');
  if (o.measure) ctx.reporter.warn(MEASURE_SAFETY);
  if (f.out && existsSync(f.out) && !f.force) throw new PgoptError('input', `${f.out} exists: pass --force to overwrite it`);
  await ctx.reporter.startSpinner('reading the indexes and their counters');
  const result = await withReplicas(ctx, f.replica, (replicas) =>
    withClient(ctx.target(), 'pgopt hygiene', (c) => inspectIndexes(c, { ...o, replicas })),
  ).finally(() => ctx.reporter.stopSpinner());
  const text = dropPackText(result);
  if (f.out) writeFileSync(f.out, text);
  if (ctx.reporter.json) ctx.reporter.document({ ...result, pack: text });
  ctx.reporter.render(result, renderHygiene);
  if (f.out)
    ctx.reporter.info(
      `drop pack written to ${f.out}: pgopt plan ${f.out}, then pgopt apply ${f.out} (pgopt rollback brings every index back)`,
    );
  return 0;
}
