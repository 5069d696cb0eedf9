import { loadBaseline } from '../bench/baseline.js';
import { compareRuns } from '../bench/compare.js';
import { gate, parseFormat, parsePercent, report } from './bench.js';
import type { CommandContext } from './options.js';
import { writeHtmlReport } from './html.js';

/** Compare two saved runs; no database needed. */
export async function compare(
  beforePath: string,
  afterPath: string,
  f: { format?: string; failOnRegression?: string; html?: string },
  ctx: CommandContext,
): Promise<number> {
  const format = parseFormat(f.format, ctx.reporter.json);
  const failPct = parsePercent('--fail-on-regression', f.failOnRegression);
  const before = loadBaseline(beforePath);
  const after = loadBaseline(afterPath);
  const comparison = compareRuns(before, after);
  report(ctx.reporter, format, { comparison });
  if (f.html) await writeHtmlReport(f.html, { title: `pgopt: ${after.workload.name}, before → after`, before, after, comparison }, ctx);
  gate(undefined, comparison, failPct);
  return 0;
}
