import { PgoptError } from '../errors.js';
import { runDemo } from '../demo/run-demo.js';
import type { EmbeddedServer } from '../embedded/server.js';
import { renderAccount, renderComparison } from '../output/render-bench.js';
import { renderVerify, formatMs } from '../output/render-pack.js';
import { parseCount, type CommandContext } from './options.js';
import { writeHtmlReport } from './html.js';
import { runTrafficDemo } from '../demo/traffic-demo.js';
import { renderCapture } from '../output/render-capture.js';
import { renderAdvice } from '../output/render-advice.js';
import { renderImpact } from '../output/render-impact.js';

/** The production loop: traffic, capture, advise, apply, traffic again, impact. */
async function trafficDemo(scale: number, f: { seed: string; calls: string; keep?: boolean }, ctx: CommandContext): Promise<number> {
  if (f.keep) throw new PgoptError('input', '--keep is not available with --traffic');
  await ctx.reporter.startSpinner('pgopt demo --traffic');
  const r = await runTrafficDemo({
    scale,
    seed: parseCount('--seed', f.seed),
    callsPerQuery: parseCount('--calls', f.calls, 30),
    clients: 3,
    onProgress: ctx.reporter.progress,
  }).finally(() => ctx.reporter.stopSpinner());
  if (ctx.reporter.json) {
    ctx.reporter.document(r);
    return 0;
  }
  ctx.reporter.render(r, (r, c) =>
    [
      c.bold(`pgopt demo --traffic — ${r.server}, audit_engine at scale ${r.load.scale}`),
      `before: ${r.before.calls.toLocaleString('en-US')} statements from the application in ${formatMs(r.before.ms)}`,
      '',
      c.bold('1. captured from pg_stat_statements'),
      renderCapture(r.capture, c),
      '',
      c.bold('2. advised on the captured workload'),
      renderAdvice(r.advice, c),
      '',
      c.bold(
        `3. applied "${r.pack}"; the same traffic again (${r.after.calls.toLocaleString('en-US')} statements in ${formatMs(r.after.ms)})`,
      ),
      '',
      c.bold('4. impact in production'),
      renderImpact(r.impact, c),
      '',
      'the pack was rolled back; server stopped',
    ].join('\n'),
  );
  return 0;
}

export async function demo(
  f: { scale: string; seed: string; runs: string; warmup: string; keep?: boolean; html?: string; traffic?: boolean; calls: string },
  ctx: CommandContext,
): Promise<number> {
  const scale = Number(f.scale);
  if (!(scale > 0) || scale > 10) throw new PgoptError('input', `--scale: "${f.scale}" must be a number > 0 and <= 10`);
  if (f.traffic) return trafficDemo(scale, f, ctx);
  let server: EmbeddedServer | null = null;
  // Ctrl-C: stop the server before exiting, so no postgres process is left behind.
  const onSigint = () => void server?.stop();
  process.once('SIGINT', onSigint);
  await ctx.reporter.startSpinner('pgopt demo');
  const r = await runDemo({
    scale,
    seed: parseCount('--seed', f.seed),
    runs: parseCount('--runs', f.runs, 1),
    warmup: parseCount('--warmup', f.warmup),
    keep: !!f.keep,
    onProgress: ctx.reporter.progress,
    onServer: (s) => {
      server = s;
      ctx.reporter.addSecret(s.password);
    },
  }).finally(() => {
    ctx.reporter.stopSpinner();
    process.removeListener('SIGINT', onSigint);
  });
  if (f.html) {
    const title = `pgopt demo: audit_engine at scale ${r.load.scale}, before → after the pack`;
    await writeHtmlReport(f.html, { title, before: r.before, after: r.after, comparison: r.comparison, account: r.account }, ctx);
  }
  if (ctx.reporter.json) {
    ctx.reporter.document(r);
  } else {
    ctx.reporter.render(r, (r, c) => {
      const rows = Object.entries(r.load.rows)
        .map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`)
        .join(', ');
      return [
        c.bold(`pgopt demo — ${r.server}, audit_engine at scale ${r.load.scale} (${rows}), loaded in ${formatMs(r.load.totalMs)}`),
        `${r.before.options.runs} measured runs per query after ${r.before.options.warmup} warm-up, same parameters before and after; medians of EXPLAIN ANALYZE execution time.`,
        '',
        renderComparison(r.comparison, c),
        '',
        renderAccount(r.account, c),
        '',
        renderVerify(r.verify, c),
        '',
        Object.entries(r.timingsMs)
          .map(([k, v]) => `${k}: ${formatMs(v)}`)
          .join('\n'),
        r.kept
          ? c.green(
              `server kept running (pid ${r.kept.pid}, data in ${r.dataDir}; stop it with: kill ${r.kept.pid})\n  connect: PGPASSFILE=${r.kept.passfile} psql ${r.url}\n  (the password is only in that file, readable by you alone)`,
            )
          : `rolled back ${r.rollback?.objects.filter((o) => o.outcome === 'dropped').length ?? 0} object(s); server stopped`,
      ].join('\n');
    });
  }
  if (!r.verify.ok) throw new PgoptError('check', 'verify failed after apply');
  return 0;
}
