/** The workload file capture writes: bench, advise and the report take it like any other. */
import { commentLine } from '../sql/comment.js';
import { isComment, scanTokens } from '../sql/source-text.js';
import { ASSUMED, LEFT_OUT_TEXT } from './capture-rules.js';
import type { CapturedQuery, CaptureResult } from './capture.js';
import type { ParamSource } from './param-sources.js';

/** How long counters cover, as a person says it: 40 min, 5.2 h, 3.1 days. */
export const spanText = (hours: number): string =>
  hours < 1 ? `${Math.max(1, Math.round(hours * 60))} min` : hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} days`;

const ms = (v: number) => (v < 1 ? `${v.toFixed(3)} ms` : `${v.toFixed(2)} ms`);
const num = (v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));

/**
 * The statement without its comments (each becomes a space), by the server's own lexer: a comment
 * at its end would otherwise swallow the semicolon written after it.
 */
export function withoutComments(sql: string): string {
  const bytes = Buffer.from(sql, 'utf8');
  const parts: Buffer[] = [];
  let at = 0;
  for (const t of scanTokens(sql).filter(isComment)) {
    parts.push(bytes.subarray(at, t.start), Buffer.from(' '));
    at = t.end;
  }
  parts.push(bytes.subarray(at));
  return Buffer.concat(parts).toString('utf8').trim();
}

function sourceText(s: ParamSource, k: number): string {
  switch (s.kind) {
    case 'column':
      return `$${k + 1} from ${s.table.schema}.${s.table.name}.${s.column}`;
    case 'limit':
      return `$${k + 1} LIMIT ${ASSUMED.limit} assumed`;
    case 'offset':
      return `$${k + 1} OFFSET ${ASSUMED.offset} assumed`;
    case 'log':
      return `$${k + 1} from the server log`;
    case 'qualstats':
      return `$${k + 1} from pg_qualstats (${s.values} value${s.values === 1 ? '' : 's'})`;
    default:
      return `$${k + 1} no source`;
  }
}

function queryText(q: CapturedQuery, hours: number, currentUser: string): string[] {
  const c = q.counters;
  const blocks = (c.sharedHit + c.sharedRead) / Math.max(1, c.calls);
  const hit = c.sharedHit + c.sharedRead ? (100 * c.sharedHit) / (c.sharedHit + c.sharedRead) : 100;
  const lines = [
    `-- name: ${q.name}`,
    `-- calls-per-hour: ${Number(q.callsPerHour.toPrecision(4))}`,
    // Production ran it as this role: bench does too, with its rights and its row security, never the caller's.
    ...(c.role !== currentUser ? [commentLine(`-- run-as: ${c.role}`)] : []),
    commentLine(
      `-- Captured from pg_stat_statements, queryid ${c.queryid}, role ${c.role}. ${Math.round(c.calls).toLocaleString('en-US')} calls in ${spanText(hours)}, ` +
        `mean ${ms(c.meanMs)} (stddev ${ms(c.stddevMs)}), ${(100 * q.share).toFixed(1)}% of the database's statement time; ` +
        `per call ${num(c.rows / Math.max(1, c.calls))} rows, ${num(blocks)} shared blocks (${hit.toFixed(0)}% hit).`,
    ),
  ];
  if (q.text)
    lines.push(commentLine('-- Text: as the application sends it; the server log gave back the constants pg_stat_statements replaced.'));
  if (q.sources[0]?.kind === 'log') lines.push(commentLine(`-- Values: ${q.sources[0].sets} set(s) of bind values from the server log.`));
  else if (q.sources.length) lines.push(commentLine(`-- Values ${q.sources.map(sourceText).join('; ')}.`));
  if (q.unchecked) lines.push(commentLine(`-- Note ${q.unchecked}.`));
  if (q.params) lines.push(`-- params: ${q.params}`);
  if (q.planOnly) {
    lines.push(
      "-- No values: bench does not run it; pgopt advise judges an index for it by the planner's generic plan.",
      '-- values-from: none',
      `-- mean-ms: ${Number(c.meanMs.toPrecision(4))}`,
    );
  }
  return [...lines, `${withoutComments(q.text ?? c.query)};`];
}

export function captureText(r: CaptureResult, server: string): string {
  const head = [
    `-- pgopt capture: database ${r.database}, PostgreSQL ${server}, ${new Date().toISOString().slice(0, 10)}`,
    `-- The ${r.queries.length} statement(s) with the most execution time in pg_stat_statements ${r.extension.version}, over the`,
    `-- ${spanText(r.hours)} its counters cover${r.extension.sinceIsServerStart ? ' (since the server started)' : ''}. Each $n holds the values production sent (from the`,
    '-- server log or pg_qualstats), else values drawn from the column it is compared with; "-- Values" says which.',
    '-- "-- calls-per-hour:" is how often production ran it. Bench it with: pgopt bench <this file>',
  ];
  if (r.queries.some((q) => q.planOnly))
    head.push('-- "-- values-from: none": no source explains some $n. bench skips it; advise judges it by its generic plan.');
  const left = r.left.filter((l) => l.count).map((l) => commentLine(`--   ${l.count} left out: ${LEFT_OUT_TEXT[l.reason]}`));
  return [...head, ...left, '', ...r.queries.flatMap((q) => [...queryText(q, r.hours, r.currentUser), ''])].join('\n');
}
