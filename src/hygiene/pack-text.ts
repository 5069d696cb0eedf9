/**
 * The drop pack hygiene writes: one `DROP INDEX CONCURRENTLY` per proposed drop, each under the
 * comments that say why, on what evidence, and what the index was. pgopt apply records the full
 * definition before it drops, and pgopt rollback builds it again (README, "Hygiene").
 */
import { qualify } from '../db/ident.js';
import { commentLine } from '../sql/comment.js';
import { bytes } from '../advise/pack-text.js';
import type { DropProposal, HygieneResult } from './hygiene.js';

const EVIDENCE: Record<DropProposal['evidence'], string> = {
  measured: 'measured: the workload benched with the drops really gone (in a rolled-back transaction), no query slower',
  predicted: 'predicted: every workload query was planned with it hidden',
  unproven: 'unproven: no workload was given (--workload), nothing says which queries need it',
};

// Names, the server's definitions and query names stay on their comment's line (commentLine).
const comment = (lines: string[]): string => lines.map((l) => `-- ${commentLine(l)}`).join('\n');

function dropText(d: DropProposal): string {
  const lines = [`${d.index} on ${d.table}, ${bytes(d.sizeBytes)}; its table took ${d.tableWrites} row writes`];
  for (const r of d.reasons) lines.push(`  ${r.kind}: ${r.evidence}`);
  lines.push(`  evidence: ${EVIDENCE[d.evidence]}`);
  for (const s of d.switched)
    lines.push(`  ${s.query}: read it; planned cost ${s.costBefore.toFixed(1)} → ${s.costAfter?.toFixed(1) ?? '?'} without it`);
  lines.push(`  was: ${d.definition}`);
  return `${comment(lines)}\nDROP INDEX CONCURRENTLY IF EXISTS ${qualify(d.schema, d.name)};`;
}

export function dropPackText(r: HygieneResult, at: Date = new Date()): string {
  const head = [
    `pgopt hygiene: drop pack for database ${r.database} (PostgreSQL ${r.server}), ${at.toISOString()}`,
    `Scan counters cover at least ${Math.round(r.coverage.seconds / 3600)} h (since ${r.coverage.since}) on ${r.coverage.servers} server(s).`,
    `pgopt apply records each index's definition before dropping it; pgopt rollback builds it again.`,
    `After apply, pgopt impact on this pack shows what production thinks of it.`,
  ];
  if (!r.drops.length) return `${comment([...head, 'Nothing to drop.'])}\n`;
  return `${comment(head)}\n\n${r.drops.map(dropText).join('\n\n')}\n`;
}
