/** The pack advise writes: what `pgopt apply` takes, each index with why it is there and what it measured. */
import { commentLine } from '../sql/comment.js';
import type { AdviceResult, WriteCost } from './advise.js';
import type { ViewTrial } from './view-trials.js';
import { savedMs, weighedSaving, type Trial } from './select.js';
import { GENERIC_COST_RATIO } from './generic-plan.js';
import { isTrigram } from './trigram.js';

const ms = (v: number) => (v < 1 ? `${v.toFixed(3)} ms` : `${v.toFixed(1)} ms`);
/** A size as a pack's comments give it (advise's packs and hygiene's drop packs). */
export const bytes = (n: number | null) =>
  n === null ? '?' : n < 1 << 20 ? `${Math.round(n / 1024)} kB` : `${(n / (1 << 20)).toFixed(1)} MB`;

/** What production pays per hour for a write made slower (or saves, made faster): ms per hour, signed. */
const perHour = (x: WriteCost) => (x.afterMs - x.beforeMs) * (x.callsPerHour ?? 0);

function writeComment(t: Trial, r: AdviceResult): string[] {
  const table = `${t.candidate.table.schema}.${t.candidate.table.name}`;
  const w = r.writes.filter((x) => x.table === table);
  if (!w.length) return [];
  const parts = w.map((x) =>
    x.source === 'production'
      ? `${x.probe} ${ms(x.beforeMs)} → ${ms(x.afterMs)}${x.callsPerHour !== undefined ? ` (${(perHour(x) / 1000).toFixed(2)} s per hour at production's rate)` : ''}`
      : `${x.probe.split(':')[0]} ${ms(x.beforeMs)} → ${ms(x.afterMs)}`,
  );
  return [`--   writes on ${table} with all ${w[0].indexes} trial index(es) on it: ${parts.join(', ')}`];
}

function trialComment(t: Trial, r: AdviceResult): string[] {
  const lines = [
    `-- serves: ${t.effects
      .filter((e) => e.verdict === 'faster')
      .map((e) => e.query)
      .join(', ')} (${t.candidate.why})`,
  ];
  for (const e of t.effects) {
    const x = e.speedup ? `${e.speedup >= 10 ? e.speedup.toFixed(0) : e.speedup.toFixed(1)}×, ` : '';
    lines.push(
      e.estimated
        ? `--   ${e.query}: ${x}${e.verdict} by its generic plan (${e.reason}); ${ms(e.beforeMs)} in production → ${ms(e.afterMs)} estimated`
        : `--   ${e.query}: ${ms(e.beforeMs)} → ${ms(e.afterMs)} (${x}${e.verdict}) measured${e.with?.length ? `, its plan reading ${e.with.join(', ')} too` : ''}`,
    );
  }
  for (const p of t.predicted ?? [])
    lines.push(`--   ${p.query}: planner cost ${p.costBefore.toFixed(1)} → ${p.costAfter.toFixed(1)} predicted by HypoPG`);
  const weighed = t.effects.some((e) => e.callsPerHour !== undefined);
  const hourly = weighed ? `, ${(weighedSaving(t) / 1000).toFixed(1)} s per hour at production's rate` : '';
  lines.push(`--   size: ${bytes(t.sizeBytes)}; saves ${ms(savedMs(t))} per execution of its queries${hourly}`);
  return [...lines, ...writeComment(t, r)];
}

/** A kept view: what it serves, the rewrite the application must send, and what both cost. */
function viewComment(v: ViewTrial): string[] {
  const x = v.speedup ? `${v.speedup >= 10 ? v.speedup.toFixed(0) : v.speedup.toFixed(1)}×, ` : '';
  return [
    `-- serves: ${v.query}, once the application sends the rewritten query below instead (a materialized view: its rows are`,
    `--   as fresh as its last REFRESH MATERIALIZED VIEW CONCURRENTLY ${v.view!.schema}.${v.view!.name}; schedule one)`,
    `--   ${v.query}: ${ms(v.beforeMs!)} → ${ms(v.afterMs!)} (${x}faster) measured, the rewrite against the query, with this pack's indexes in place`,
    `--   the rewrite returned the query's rows for each of ${v.checkedSets} parameter set(s) checked:`,
    ...v.view!.rewrite.split('\n').map((line) => `--     ${line}`),
    `--   refresh: ${ms(v.refreshMs!)} measured; size: ${bytes(v.sizeBytes)}; unique key (${v.view!.grain.join(', ')}) for REFRESH … CONCURRENTLY`,
  ];
}

export function packText(r: AdviceResult, server: string): string {
  const kept = r.trials.filter((t) => t.outcome === 'kept');
  const head = [
    `-- pgopt advise: workload ${r.workload}, PostgreSQL ${server}, ${new Date().toISOString().slice(0, 10)}`,
    '-- Each index was built for real and kept only because a query that used it was significantly faster',
    "-- (bench's verdict rule), or, for a query with no values to run it with, because its generic plan read",
    `-- the index and cost at least ${GENERIC_COST_RATIO} times less. The times below were measured with this pack's`,
    '-- indexes alone in place, as it will be applied. Apply with: pgopt apply <this file>',
    ...(kept.some((t) => isTrigram(t.candidate))
      ? ['-- Its pattern indexes use pg_trgm: where the database lacks it, first CREATE EXTENSION IF NOT EXISTS pg_trgm']
      : []),
  ];
  // Names, literals from the workload and the server's words stay on their comment's line (commentLine).
  const comment = (lines: string[]) => lines.map(commentLine).join('\n');
  const views = r.views.filter((v) => v.outcome === 'kept');
  if (!kept.length && !views.length) return `${comment(head)}\n-- No index paid for itself on this workload.\n`;
  const indexes = kept.map((t) => `${comment(trialComment(t, r))}\n${t.sql};\n`);
  const viewTexts = views.map((v) => `${comment(viewComment(v))}\n${v.view!.viewSql};\n${v.view!.keySql};\n`);
  return `${comment(head)}\n\n${[...indexes, ...viewTexts].join('\n')}`;
}
