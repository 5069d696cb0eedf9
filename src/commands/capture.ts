import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readServerLog, type LoggedStatement } from '../production/server-log.js';
import { withClient } from '../db/scoped.js';
import { PgoptError } from '../errors.js';
import { inertDeep } from '../output/inert.js';
import { renderCapture } from '../output/render-capture.js';
import { captureWorkload } from '../production/capture.js';
import { captureText } from '../production/workload-text.js';
import { parseCount, parseDuration, type CommandContext } from './options.js';

export interface CaptureFlags {
  out?: string;
  top: string;
  minCalls: string;
  includeWrites?: boolean;
  statementTimeout: string;
  force?: boolean;
  log?: string;
}

/** The server log's executions, with their bind values where they had some (stderr, csvlog or jsonlog). */
function readLog(path: string): LoggedStatement[] {
  if (!existsSync(path)) throw new PgoptError('input', `--log: ${path} does not exist`);
  const logged = readServerLog(readFileSync(path, 'utf8'));
  if (!logged.length) {
    throw new PgoptError('input', `--log: ${path} holds no logged statement`, {
      hint: "log them with log_min_duration_statement = 0 (or log_statement = 'all'); the parameters come on DETAIL lines",
    });
  }
  return logged;
}

export async function capture(f: CaptureFlags, ctx: CommandContext): Promise<number> {
  const o = {
    top: parseCount('--top', f.top, 1),
    minCalls: parseCount('--min-calls', f.minCalls, 1),
    includeWrites: !!f.includeWrites,
    logged: f.log ? readLog(f.log) : undefined,
  };
  const timeoutMs = parseDuration('--statement-timeout', f.statementTimeout);
  if (f.out && existsSync(f.out) && !f.force) throw new PgoptError('input', `${f.out} exists: pass --force to overwrite it`);
  await ctx.reporter.startSpinner('reading pg_stat_statements');
  const { result, server } = await withClient(ctx.target(), 'pgopt capture', async (c) => ({
    result: await captureWorkload(c, o, timeoutMs),
    server: (await c.query(`SELECT pg_catalog.current_setting('server_version') AS v`)).rows[0].v as string,
  })).finally(() => ctx.reporter.stopSpinner());
  const text = captureText(result, server);
  if (f.out) writeFileSync(f.out, text);
  if (ctx.reporter.json) ctx.reporter.document({ ...result, workload: text });
  if (ctx.reporter.json) return 0;
  // Without --out the workload is the output (pgopt capture > workload.sql): the summary goes to stderr.
  if (f.out) {
    ctx.reporter.render(result, renderCapture);
    ctx.reporter.info(`workload written to ${f.out}: pgopt bench ${f.out}, or pgopt advise ${f.out}`);
  } else {
    ctx.reporter.info(renderCapture(inertDeep(result), ctx.reporter.c));
    ctx.reporter.result(text);
  }
  return 0;
}
