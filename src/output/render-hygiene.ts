import type { ChalkInstance } from 'chalk';
import type { HygieneResult } from '../hygiene/hygiene.js';
import { formatAge, formatBytes, table } from './render-pack.js';

const BASIS: Record<HygieneResult['prediction'], string> = {
  hidden: 'each drop predicted: the workload planned with the drops hidden (HypoPG)',
  plans: "each drop predicted from the workload's plans as they stand (no HypoPG 1.4 to hide an index: a plan that reads one keeps it)",
  none: 'no workload given (--workload): the drops are unproven',
};

const HIDING: Record<NonNullable<HygieneResult['hypopg']>, string | null> = {
  used: null,
  installed: null,
  absent: 'HypoPG 1.4 would predict each drop (hypopg_hide_index): pass --install-hypopg where it is available',
  'not-installed': 'HypoPG 1.4 is not available on this server: a drop a plan reads is kept',
  'too-old': 'HypoPG is created here, but older than 1.4 (no hypopg_hide_index): ALTER EXTENSION hypopg UPDATE, where 1.4 is installed',
};

/** Findings, what is proposed for a drop, and what the workload's plans took back. */
export function renderHygiene(r: HygieneResult, c: ChalkInstance): string {
  const head = `${r.database} (PostgreSQL ${r.server}): scan counters cover at least ${formatAge(Math.round(r.coverage.seconds))} on ${r.coverage.servers} server(s)`;
  if (!r.findings.length) return `${head}\n${c.green('no finding: every index pays, and every foreign key is indexed')}`;
  const dropped = new Set(r.drops.map((d) => d.index));
  const t = table(['finding', 'index / constraint', 'size', 'evidence', 'action'], c);
  for (const f of r.findings) {
    const action = dropped.has(f.subject)
      ? c.red('drop')
      : f.fix
        ? f.fix
        : c.dim(f.keptBecause ?? (r.kept.some((k) => k.index === f.subject) ? 'kept: a workload query needs it' : 'kept'));
    t.push([f.kind, f.subject, formatBytes(f.sizeBytes), f.evidence, action]);
  }
  const kept = r.kept.map((k) => {
    const planned = k.neededBy.map(
      (n) =>
        `${n.query} (planned cost ${n.costBefore.toFixed(1)}${n.costAfter === null ? ', reads it' : ` → ${n.costAfter.toFixed(1)} without it`})`,
    );
    const measured = k.slowerWithout.map((m) => `${m.query} (${m.beforeMs.toFixed(3)} → ${m.afterMs.toFixed(3)} ms without it, slower)`);
    const others = k.otherRoles.map(
      (q) => `${q} (another role's statement reads its table; pgopt plans it only with that role's rights, so not at all)`,
    );
    return `  ${k.index} kept: ${[...planned, ...measured, ...others].join(', ')}`;
  });
  const unattributed = (r.measured?.unattributed ?? []).map((m) =>
    c.yellow(
      `  ${m.query} measured slower (${m.beforeMs.toFixed(3)} → ${m.afterMs.toFixed(3)} ms) though its plan read none of the drops: re-run before trusting the pack`,
    ),
  );
  const saved = r.drops.reduce((s, d) => s + d.sizeBytes, 0);
  const basis =
    r.prediction === 'none'
      ? BASIS.none
      : `${BASIS[r.prediction]}, ${r.workloadQueries} queries${r.measured ? '; then measured with the drops gone (--measure)' : ''}`;
  const tail = `${r.drops.length} index(es) to drop, ${formatBytes(saved)}; ${basis}`;
  const hiding = HIDING[r.hypopg ?? 'used'];
  const replicas =
    r.coverage.servers === 1 && r.findings.some((f) => f.kind === 'unused')
      ? c.yellow('scans counted on the primary only: a standby counts its own (--replica <url>)')
      : null;
  return [head, t.toString(), ...kept, ...unattributed, tail, hiding ? c.yellow(hiding) : null, replicas]
    .filter((x) => x !== null)
    .join('\n');
}
