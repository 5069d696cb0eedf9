import type { ChalkInstance } from 'chalk';
import { leftOutText, type ImpactResult, type StatementImpact } from '../production/impact.js';
import type { Snapshot } from '../production/snapshots.js';
import { table } from './render-pack.js';
import { paintVerdict } from './render-bench.js';

const ms = (v: number) => (Number.isNaN(v) ? '–' : v < 1 ? v.toFixed(3) : v.toFixed(2));
const calls = (w: StatementImpact['before']) => ('invalid' in w ? '–' : Math.round(w.calls).toLocaleString('en-US'));
const mean = (w: StatementImpact['before']) => ('invalid' in w ? '–' : ms(w.meanMs));
const perHour = (v: number) => (Math.abs(v) >= 1000 ? `${Math.round(v / 1000).toLocaleString('en-US')} s/h` : `${v.toFixed(1)} ms/h`);

export function renderImpact(r: ImpactResult, c: ChalkInstance): string {
  const t = table(['statement', 'calls before', 'calls after', 'mean ms', 'verdict', 'saved', 'why'], c);
  for (const s of r.statements) {
    t.push([
      s.name,
      calls(s.before),
      calls(s.after),
      `${mean(s.before)} → ${mean(s.after)}`,
      paintVerdict(c, s.verdict),
      s.savedMsPerHour === null ? '' : perHour(s.savedMsPerHour),
      s.reason,
    ]);
  }
  const lines = [t.toString()];
  for (const o of r.objects)
    lines.push(
      o.dropped
        ? `${o.object}: dropped by the pack (a statement above called slower may have needed it: pgopt rollback builds it again)`
        : o.unused
          ? c.yellow(`${o.object}: no statement used it since the apply (0 scans)`)
          : `${o.object}: ${o.scans ?? '?'} scan(s) since the apply`,
    );
  for (const w of [...r.problems, ...r.warnings]) lines.push(c.yellow(`warning: ${w}`));
  if (r.leftOut) lines.push(c.dim(leftOutText(r.leftOut)));
  lines.push(`production time saved: ${perHour(r.savedMsPerHour)} (statements called faster or slower, at the after window's rate)`);
  return lines.join('\n');
}

export function impactMarkdown(r: ImpactResult): string {
  const rows = r.statements.map(
    (s) =>
      `| ${s.name} | ${calls(s.before)} | ${calls(s.after)} | ${mean(s.before)} → ${mean(s.after)} | ${s.verdict} | ${s.savedMsPerHour === null ? '' : perHour(s.savedMsPerHour)} |`,
  );
  return [
    '| statement | calls before | calls after | mean ms | verdict | saved |',
    '|---|--:|--:|--:|---|--:|',
    ...rows,
    '',
    ...(r.leftOut ? [`${leftOutText(r.leftOut)}.`, ''] : []),
    `Production time saved: ${perHour(r.savedMsPerHour)}.`,
  ].join('\n');
}

export const renderSnapshot = (s: Snapshot | null, c: ChalkInstance): string =>
  s
    ? `snapshot ${s.id}${s.label ? ` "${s.label}"` : ''} taken at ${s.takenAt.toISOString()}`
    : c.yellow('pg_stat_statements is not installed here: no snapshot taken');
