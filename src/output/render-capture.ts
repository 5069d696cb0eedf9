import type { ChalkInstance } from 'chalk';
import { LEFT_OUT_TEXT } from '../production/capture-rules.js';
import type { CaptureResult } from '../production/capture.js';
import { spanText } from '../production/workload-text.js';
import { table } from './render-pack.js';

const ms = (v: number) => (v < 1 ? v.toFixed(3) : v.toFixed(2));
const count = (v: number) => Math.round(v).toLocaleString('en-US');

const SOURCE_LABEL = { log: 'server log', qualstats: 'pg_qualstats', data: 'sampled' } as const;
const valueSource = (sources: CaptureResult['queries'][number]['sources']): keyof typeof SOURCE_LABEL =>
  sources.some((s) => s.kind === 'log') ? 'log' : sources.some((s) => s.kind === 'qualstats') ? 'qualstats' : 'data';

/** The statements capture took, heaviest first, and what it left out and why. */
export function renderCapture(r: CaptureResult, c: ChalkInstance): string {
  const t = table(['query', 'calls', 'calls/h', 'mean ms', 'share', 'values'], c);
  for (const q of r.queries) {
    const values = q.planOnly
      ? c.yellow('none: generic plan')
      : q.sources.length
        ? q.unchecked
          ? c.yellow('not tried')
          : SOURCE_LABEL[valueSource(q.sources)]
        : '';
    t.push([q.name, count(q.counters.calls), count(q.callsPerHour), ms(q.counters.meanMs), `${(100 * q.share).toFixed(1)}%`, values]);
  }
  const left = r.left.filter((l) => l.count).map((l) => `  ${l.count} left out: ${LEFT_OUT_TEXT[l.reason]}`);
  const head = `pg_stat_statements ${r.extension.version} in ${r.database}: ${spanText(r.hours)} of counters${r.extension.sinceIsServerStart ? ' (since the server started)' : ''}`;
  const hidden = r.left.find((l) => l.reason === 'insufficient-privilege' && l.count);
  const warn = hidden
    ? `\n${c.yellow(`${hidden.count} statement(s) of other roles show as <insufficient privilege>: grant this role pg_read_all_stats to capture them`)}`
    : '';
  const qualstats =
    r.qualstats && 'unreadable' in r.qualstats
      ? `\n${c.yellow(`pg_qualstats is created here but could not be read (${r.qualstats.unreadable}): values were drawn from the data instead`)}`
      : '';
  return `${head}\n${r.queries.length ? t.toString() : c.dim('no statement to capture')}${left.length ? `\n${left.join('\n')}` : ''}${warn}${qualstats}`;
}
