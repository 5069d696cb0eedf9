import { inert, inertDeep } from '../output/inert.js';
import { appendFileSync } from 'node:fs';
import { PgoptError } from '../errors.js';
import { withClient } from '../db/scoped.js';
import { loadWorkload } from '../bench/workload.js';
import { DEFAULT_BENCH_OPTIONS, runBench, type BenchResult } from '../bench/runner.js';
import { loadBaseline, saveBaseline } from '../bench/baseline.js';
import { compareRuns, regressions, type Comparison } from '../bench/compare.js';
import { accountAssessed, type PackAccount } from '../bench/accounting.js';
import { writeHtmlReport } from './html.js';
import { assessPack } from '../engine/assess.js';
import { writeProbes } from '../bench/writes.js';
import { probedTables } from '../output/render-advice.js';
import { loadPack } from '../pack/load-pack.js';
import {
  renderAccount,
  renderAccountMarkdown,
  renderComparison,
  renderComparisonMarkdown,
  renderRun,
  renderRunMarkdown,
} from '../output/render-bench.js';
import { parseCount, parseDuration, type CommandContext } from './options.js';
import type { Reporter } from '../output/reporter.js';

export const FORMATS = ['table', 'json', 'markdown'] as const;
export type Format = (typeof FORMATS)[number];

export interface BenchFlags {
  runs: string;
  warmup: string;
  budget: string;
  statementTimeout: string;
  save?: string;
  compare?: string;
  pack?: string;
  format?: string;
  failOnRegression?: string;
  writes?: boolean;
  html?: string;
}

export function parseFormat(value: string | undefined, json: boolean): Format {
  if (json) return 'json';
  const f = (value ?? 'table') as Format;
  if (!FORMATS.includes(f)) throw new PgoptError('input', `--format: "${value}" is not one of ${FORMATS.join(', ')}`);
  return f;
}

export function parsePercent(flag: string, value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(String(value).replace(/%$/, ''));
  if (!Number.isFinite(n) || n < 0) throw new PgoptError('input', `${flag}: "${value}" is not a percentage`);
  return n;
}

/** Print a run (and its comparison / accounting) in the chosen format; Markdown also to the GitHub step summary. */
export function report(
  r: Reporter,
  format: Format,
  parts: { run?: BenchResult; comparison?: Comparison; account?: PackAccount; before?: BenchResult; after?: BenchResult },
): void {
  if (format === 'json') {
    r.document(parts);
    return;
  }
  // Query names and plan nodes come from files and the database: printed inert.
  parts = inertDeep(parts);
  const md = [
    parts.comparison ? renderComparisonMarkdown(parts.comparison) : parts.run ? renderRunMarkdown(parts.run) : '',
    parts.account ? renderAccountMarkdown(parts.account) : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, `## pgopt\n\n${md}\n`);
  if (format === 'markdown') {
    r.result(md);
    return;
  }
  const text = [
    parts.comparison ? renderComparison(parts.comparison, r.c) : parts.run ? renderRun(parts.run, r.c) : '',
    parts.account ? renderAccount(parts.account, r.c) : '',
  ]
    .filter(Boolean)
    .join('\n\n');
  r.result(text);
}

/** Exit 1 for failed expectations and for regressions beyond the allowed percentage. */
export function gate(run: BenchResult | undefined, comparison: Comparison | undefined, failPct: number | null): void {
  const problems: string[] = [];
  for (const q of run?.queries ?? [])
    for (const e of q.expectations) if (!e.ok) problems.push(`${q.name}: expected "${e.text}", but ${e.reason}`);
  if (comparison && failPct !== null) {
    for (const q of regressions(comparison, failPct)) {
      problems.push(`${q.name} is ${((1 / q.speedup! - 1) * 100).toFixed(0)}% slower than the baseline (p = ${q.p!.toPrecision(2)})`);
    }
  }
  if (problems.length) throw new PgoptError('check', problems.join('; '));
}

export async function bench(path: string, f: BenchFlags, ctx: CommandContext): Promise<number> {
  const format = parseFormat(f.format, ctx.reporter.json);
  const failPct = parsePercent('--fail-on-regression', f.failOnRegression);
  const options = {
    ...DEFAULT_BENCH_OPTIONS,
    runs: parseCount('--runs', f.runs, 1),
    warmup: parseCount('--warmup', f.warmup),
    budgetMs: parseDuration('--budget', f.budget),
    statementTimeoutMs: parseDuration('--statement-timeout', f.statementTimeout),
    onProgress: ctx.reporter.progress,
  };
  options.minRuns = Math.min(options.minRuns, options.runs);
  const workload = await loadWorkload(path);
  const baseline = f.compare ? loadBaseline(f.compare) : undefined;
  const pack = f.pack ? await loadPack(f.pack) : undefined;
  if (f.html && !baseline) throw new PgoptError('input', '--html needs --compare <baseline.json>: the report compares two runs');
  if (failPct !== null && !baseline) throw new PgoptError('input', '--fail-on-regression needs --compare <baseline.json>');
  if (f.writes && !pack) throw new PgoptError('input', '--writes needs --pack <pack>: it measures writes on the tables the pack indexes');
  await ctx.reporter.startSpinner(`benchmarking ${workload.name}`);
  const { run, account } = await withClient(ctx.target(), `pgopt bench ${workload.name}`, async (c) => {
    const assessed = pack ? await assessPack(c, pack) : undefined;
    let measured = workload;
    if (f.writes && pack) {
      const probes = await writeProbes(c, pack, options.statementTimeoutMs);
      for (const sk of probes.skipped) ctx.reporter.warn(`--writes: no ${sk.probe} probe on ${sk.table}: ${sk.reason}`);
      if (probes.written.length) ctx.reporter.info(inert(`--writes: probes write ${probedTables(probes.written)}, each rolled back`));
      measured = { ...workload, queries: [...workload.queries, ...probes.queries] };
    }
    const run = await runBench(c, measured, options);
    return { run, account: assessed ? accountAssessed(assessed, run) : undefined };
  }).finally(() => ctx.reporter.stopSpinner());
  if (run.sequencesAdvanced?.length) ctx.reporter.warn(sequencesNote(run.sequencesAdvanced));
  if (run.notRun?.length)
    ctx.reporter.warn(
      `not run: ${run.notRun.join(', ')} (-- values-from: none: capture found no values for their $n; pgopt advise judges them by the planner's generic plan)`,
    );
  if (f.save) saveBaseline(f.save, run);
  const comparison = baseline ? compareRuns(baseline, run) : undefined;
  report(ctx.reporter, format, { run, comparison, account });
  if (f.html && baseline && comparison) {
    await writeHtmlReport(
      f.html,
      { title: `pgopt: ${workload.name}, baseline → now`, before: baseline, after: run, comparison, account },
      ctx,
    );
  }
  gate(run, comparison, failPct);
  return 0;
}

/** The one change a bench leaves: ROLLBACK does not undo nextval (README, "What bench changes"). */
export const sequencesNote = (moved: { sequence: string; by: number }[]): string =>
  `the workload advanced ${moved.length === 1 ? 'a sequence' : 'sequences'}, which ROLLBACK does not undo: ${moved
    .map((m) => `${m.sequence} by ${m.by}`)
    .join(', ')}`;
