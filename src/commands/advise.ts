import { writeFileSync } from 'node:fs';
import { adviseWorkload } from '../advise/advise.js';
import { packText } from '../advise/pack-text.js';
import { DEFAULT_BENCH_OPTIONS } from '../bench/runner.js';
import { loadWorkload } from '../bench/workload.js';
import { withClient } from '../db/scoped.js';
import { PgoptError } from '../errors.js';
import { renderAdvice } from '../output/render-advice.js';
import { parseCount, parseDuration, runOptionsFrom, type CommandContext, type RunFlagValues } from './options.js';

export interface AdviseFlags extends RunFlagValues {
  out?: string;
  maxIndexes: string;
  maxSize?: string;
  maxTrials: string;
  timeBudget: string;
  runs: string;
  statementTimeout: string;
  dryRun?: boolean;
  installHypopg?: boolean;
  installExtension?: string;
}

/** The extensions advise may install with consent beyond HypoPG (which has its own flag). */
const INSTALLABLE = ['pg_trgm'];

function installTrigram(name: string | undefined): boolean {
  if (name === undefined) return false;
  if (!INSTALLABLE.includes(name))
    throw new PgoptError('input', `--install-extension: "${name}" is not one advise uses (it can install: ${INSTALLABLE.join(', ')})`);
  return true;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** "500MB", "2GB", "750kB" or a number of bytes. */
export function parseSize(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?$/i.exec(value.trim());
  if (!m) throw new PgoptError('input', `${flag}: "${value}" is not a size (examples: 500MB, 2GB)`);
  return Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()];
}

/** Trial builds take I/O and a SHARE UPDATE EXCLUSIVE lock: said before the first one. */
const SAFETY =
  'advise builds candidate indexes for real (CREATE INDEX CONCURRENTLY: I/O, and a SHARE UPDATE EXCLUSIVE lock that blocks ' +
  'other schema changes, not reads or writes), measures them and drops them all again. On large tables, run it on a staging copy.';

export async function advise(path: string, f: AdviseFlags, ctx: CommandContext): Promise<number> {
  const workload = await loadWorkload(path);
  const timeBudgetMs = parseDuration('--time-budget', f.timeBudget);
  const perQuery = Math.max(1000, Math.min(5000, timeBudgetMs / (4 * Math.max(1, workload.queries.length))));
  const o = {
    ...runOptionsFrom(f, ctx),
    maxIndexes: parseCount('--max-indexes', f.maxIndexes, 1),
    maxSizeBytes: f.maxSize ? parseSize('--max-size', f.maxSize) : Infinity,
    maxTrials: parseCount('--max-trials', f.maxTrials, 1),
    dryRun: !!f.dryRun,
    installHypopg: !!f.installHypopg,
    installTrigram: installTrigram(f.installExtension),
    bench: {
      ...DEFAULT_BENCH_OPTIONS,
      runs: parseCount('--runs', f.runs, 5),
      warmup: 2,
      budgetMs: perQuery,
      statementTimeoutMs: parseDuration('--statement-timeout', f.statementTimeout),
    },
  };
  if (!o.dryRun) ctx.reporter.warn(SAFETY);
  await ctx.reporter.startSpinner(`advising on ${workload.name}`);
  const { result, server } = await withClient(ctx.target(), `pgopt advise ${workload.name}`, async (c) => ({
    result: await adviseWorkload(c, workload, o),
    server: (await c.query(`SELECT pg_catalog.current_setting('server_version') AS v`)).rows[0].v as string,
  })).finally(() => ctx.reporter.stopSpinner());
  const text = o.dryRun ? null : packText(result, server);
  if (text && f.out && !result.error) writeFileSync(f.out, text);
  if (ctx.reporter.json) ctx.reporter.document({ ...result, pack: text, error: result.error?.toJSON() });
  ctx.reporter.render(result, renderAdvice);
  if (result.error) throw result.error;
  if (text && f.out) ctx.reporter.info(`pack written to ${f.out}: pgopt apply ${f.out}`);
  else if (text && !ctx.reporter.json) ctx.reporter.render(text, (t) => `\n${t}`);
  return 0;
}
