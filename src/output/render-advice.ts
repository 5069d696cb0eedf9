import type { ChalkInstance } from 'chalk';
import type { AdviceResult } from '../advise/advise.js';
import { keyText } from '../advise/candidates.js';
import type { Trial } from '../advise/select.js';
import { displayName } from '../db/ident.js';
import { formatBytes, table } from './render-pack.js';

const fmt = (v: number) => (v < 1 ? v.toFixed(3) : v.toFixed(1));

function measured(t: Trial): string {
  if (t.effects.length)
    return t.effects
      .map((e) => `${e.query}: ${fmt(e.beforeMs)} → ${fmt(e.afterMs)} ms ${e.verdict}${e.estimated ? ' (generic plan, no values)' : ''}`)
      .join('\n');
  if (t.predicted) return t.predicted.map((p) => `${p.query}: cost ${fmt(p.costBefore)} → ${fmt(p.costAfter)} (HypoPG)`).join('\n');
  return '';
}

/** What pg_trgm did for the pattern queries; nothing to say where none has a pattern or the database had it. */
const TRIGRAM: Record<AdviceResult['trigram'], string | null> = {
  present: null,
  'not-needed': null,
  installed: 'pg_trgm installed for the pattern queries (a kept index needs it)',
  removed: 'pg_trgm installed for the pattern queries and removed again (no kept index needs it)',
  absent: "a LIKE '%…%', ILIKE or regex query would have a trigram index candidate: pass --install-extension pg_trgm",
  'not-available': 'pg_trgm is not available on this server: no trigram index candidates',
};

const outcomeColor = (c: ChalkInstance, o: Trial['outcome']) => (o === 'kept' ? c.green(o) : o === 'invalid' ? c.red(o) : c.dim(o));

export function renderAdvice(r: AdviceResult, c: ChalkInstance): string {
  const t = table(['candidate', 'for', 'measured (median)', 'size', 'outcome', 'why'], c);
  for (const x of r.trials) {
    const cand = x.candidate;
    const def = `${displayName(cand.table.schema, cand.table.name)}${cand.method === 'btree' ? '' : ` ${cand.method}`} (${cand.keys.map(keyText).join(', ')})`;
    t.push([
      `${def}${cand.include.length ? ` INCLUDE (${cand.include.join(', ')})` : ''}${cand.where ? ` WHERE ${cand.where}` : ''}`,
      cand.queries.join(', '),
      measured(x),
      formatBytes(x.sizeBytes),
      outcomeColor(c, x.outcome),
      x.reason,
    ]);
  }
  const kept = r.trials.filter((x) => x.outcome === 'kept').length;
  const built = r.trials.filter((x) => x.sizeBytes !== null).length;
  const hypo = {
    used: 'HypoPG screened the candidates',
    installed: 'HypoPG installed and used',
    absent: 'no HypoPG: straight to trial builds',
    'not-installed': 'HypoPG is not available on this server',
  }[r.hypopg];
  const trigram = TRIGRAM[r.trigram];
  const summary = `${r.trials.length} candidate(s), ${built} built for real, ${kept} kept; ${hypo}${trigram ? `; ${trigram}` : ''}`;
  const cleaned = r.cleanedUp.length ? `\n${c.yellow(`rolled back what an interrupted run left: ${r.cleanedUp.join(', ')}`)}` : '';
  const writes = r.writes.map((w) => {
    const hourly =
      w.callsPerHour !== undefined
        ? `, ${(((w.afterMs - w.beforeMs) * w.callsPerHour) / 1000).toFixed(2)} s per hour at production's rate`
        : '';
    return `  ${w.probe}: ${fmt(w.beforeMs)} → ${fmt(w.afterMs)} ms with ${w.indexes} trial index(es) on the table${hourly}`;
  });
  const writeLines = writes.length
    ? `\nwrite cost (probes and the workload's own writes, rolled back), before → with the first-round trial indexes:\n${writes.join('\n')}`
    : '';
  const skipped = r.writesSkipped.map((x) => `\n${c.dim(x)}`).join('');
  const ran = r.writesRan.length ? `\n${c.dim(`write probes ran (rolled back) on ${probedTables(r.writesRan)}`)}` : '';
  const refused = r.refused
    .map(
      (q) => `\n${c.yellow(`left out: query "${q.name}" (${q.location.file}:${q.location.line}), which the server refuses: ${q.message}`)}`,
    )
    .join('');
  const analyzed = r.analyzed.length
    ? `\n${c.dim(`ANALYZE ran on ${r.analyzed.join(', ')} for the trial builds (an expression index needs statistics on its expression; a table never analyzed has none): their planner statistics are fresher than before, the one thing advise does not undo`)}`
    : '';
  const views = r.views.length
    ? `\n${c.bold('materialized views for the aggregate queries:')}\n${r.views.map((v) => viewLine(v, c)).join('\n')}`
    : '';
  return `${t.toString()}${views}${writeLines}${ran}${skipped}\n${kept ? c.green(summary) : summary}${refused}${analyzed}${cleaned}`;
}

function viewLine(v: AdviceResult['views'][number], c: ChalkInstance): string {
  const name = v.view ? `${v.view.schema}.${v.view.name}` : 'no view';
  const measured =
    v.beforeMs !== null && v.afterMs !== null
      ? `: ${fmt(v.beforeMs)} → ${fmt(v.afterMs)} ms with the rewrite${v.refreshMs !== null ? `, refresh ${fmt(v.refreshMs)} ms` : ''}${v.sizeBytes !== null ? `, ${formatBytes(v.sizeBytes)}` : ''}`
      : '';
  const outcome = v.outcome === 'kept' ? c.green(v.outcome) : c.dim(v.outcome);
  return `  ${v.query} → ${name} ${outcome}${measured}${v.reason ? ` ${c.dim(`(${v.reason})`)}` : ''}`;
}

/** "t (as its owner alice), u (as its owner bob)": which tables a run's write probes wrote, and as whom. */
export const probedTables = (written: { table: string; owner: string }[]): string =>
  written.map((w) => `${w.table} (as its owner ${w.owner})`).join(', ');
