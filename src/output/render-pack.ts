import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { ApplyResult } from '../engine/apply.js';
import type { PlanResult } from '../engine/plan.js';
import type { RollbackResult } from '../engine/rollback.js';
import type { StatusResult } from '../engine/status.js';
import type { VerifyResult } from '../engine/verify.js';
import type { ObjectState } from '../engine/assess.js';
import type { DropState } from '../engine/drops.js';
import { formatLocation } from '../errors.js';

export const table = (head: string[], c: ChalkInstance) =>
  new Table({ head: head.map((h) => c.bold(h)), style: { head: [], border: [] }, wordWrap: true });

export const formatBytes = (n: number | null): string => {
  if (n === null) return '';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
};

export const formatAge = (s: number): string =>
  s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;

export const formatMs = (ms: number | null): string =>
  ms === null ? '' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;

const stateColor = (c: ChalkInstance, s: ObjectState | DropState | null): string => {
  if (!s) return '';
  if (s === 'applied' || s === 'pre-existing' || s === 'dropped' || s === 'absent') return c.green(s);
  if (s === 'pending' || s === 'to-drop') return c.cyan(s);
  if (s === 'unverifiable') return c.yellow(s);
  return c.red(s);
};

export function renderPlan(r: PlanResult, c: ChalkInstance): string {
  const t = table(['#', 'statement', 'object', 'lock', 'concurrent', 'state', 'action'], c);
  for (const s of r.steps) {
    t.push([
      String(s.ordinal + 1),
      `${s.kind}\n${c.dim(formatLocation(s.location))}`,
      s.distribution ? `${s.object ?? ''}\n${c.dim(s.distribution)}` : (s.object ?? ''),
      s.lock,
      s.concurrent ? 'yes' : 'no',
      stateColor(c, s.state),
      s.action === 'stop' ? c.red(`stop: ${s.reason}`) : s.action,
    ]);
  }
  const lint = r.findings.length ? `\n${renderFindings(r.findings, c)}` : '';
  const summary = r.blocked
    ? c.red('apply would stop: resolve the objects marked "stop" and the lint errors first')
    : `pack ${r.pack}: ${r.steps.filter((s) => ['create', 'rebuild'].includes(s.action)).length} object(s) to build${dropCount(r)}`;
  return `${t.toString()}${lint}\n${summary}`;
}

const dropCount = (r: PlanResult): string => {
  const n = r.steps.filter((s) => s.action === 'drop').length;
  return n ? `, ${n} index(es) to drop (each definition recorded first: pgopt rollback builds them again)` : '';
};

export function renderFindings(findings: import('../engine/lint/index.js').LintFinding[], c: ChalkInstance): string {
  if (!findings.length) return c.green('lint: no findings');
  return findings
    .map(
      (f) =>
        `${formatLocation(f.location)}: ${f.severity === 'error' ? c.red('error') : c.yellow('warning')} [${f.rule}] ${f.object}: ${f.message}\n    ${c.dim(`fix: ${f.hint}`)}`,
    )
    .join('\n');
}

export function renderApply(r: ApplyResult, c: ChalkInstance): string {
  const t = table(['#', 'statement', 'object', 'outcome', 'time', 'note'], c);
  for (const s of r.statements) {
    const outcome =
      s.outcome === 'failed'
        ? c.red(s.outcome)
        : s.outcome === 'created' || s.outcome === 'rebuilt' || s.outcome === 'dropped'
          ? c.green(s.outcome)
          : c.dim(s.outcome);
    t.push([
      String(s.ordinal + 1),
      `${s.kind}\n${c.dim(formatLocation(s.location))}`,
      s.object ?? '',
      outcome,
      s.outcome === 'not-run' ? '' : formatMs(s.durationMs),
      s.reason,
    ]);
  }
  const built = r.statements.filter((s) => s.outcome === 'created' || s.outcome === 'rebuilt').length;
  let summary: string;
  if (r.error) summary = c.red(`apply of ${r.pack} failed; statements after the failure did not run`);
  else if (!r.changed) summary = c.green(`pack ${r.pack} is already applied: nothing to do`);
  else
    summary = c.green(`pack ${r.pack} applied: ${built} object(s) built${r.analyzed.length ? `, analyzed ${r.analyzed.join(', ')}` : ''}`);
  return `${t.toString()}\n${summary}`;
}

export function renderVerify(r: VerifyResult, c: ChalkInstance): string {
  const t = table(['object', 'kind', 'table', 'state', 'size', 'note'], c);
  for (const o of r.objects) t.push([o.object, o.kind, o.table ?? '', stateColor(c, o.state), formatBytes(o.sizeBytes), o.reason]);
  const bad = r.objects.filter((o) => !o.ok).length;
  return `${t.toString()}\n${r.ok ? c.green(`pack ${r.pack}: all ${r.objects.length} object(s) verified`) : c.red(`pack ${r.pack}: ${bad} of ${r.objects.length} object(s) failed verification`)}`;
}

export function renderRollback(r: RollbackResult, c: ChalkInstance): string {
  if (!r.objects.length) return `pack ${r.pack}: nothing to roll back`;
  const t = table(['object', 'kind', 'outcome', 'time', 'note'], c);
  for (const o of r.objects)
    t.push([
      o.object,
      o.kind,
      o.outcome === 'failed' ? c.red(o.outcome) : o.outcome,
      o.outcome === 'not-run' ? '' : formatMs(o.durationMs),
      o.reason,
    ]);
  const dropped = r.objects.filter((o) => o.outcome === 'dropped').length;
  const restored = r.objects.filter((o) => o.outcome === 'restored').length;
  const rebuilt = restored ? `, ${restored} dropped index(es) rebuilt` : '';
  return `${t.toString()}\n${r.error ? c.red(`rollback of ${r.pack} failed`) : `pack ${r.pack}: ${dropped} object(s) dropped${rebuilt}`}`;
}

export function renderStatus(r: StatusResult, c: ChalkInstance): string {
  if (!r.registry) return 'no pgopt registry in this database: nothing has been applied';
  const parts: string[] = [];
  for (const p of r.packs) {
    const t = table(['object', 'kind', 'table', 'state', 'applied at', 'by', 'took'], c);
    for (const o of p.objects) {
      t.push([
        `${o.schema}.${o.name}`,
        o.kind,
        o.table ?? '',
        o.preExisting ? 'pre-existing' : o.state,
        o.appliedAt ?? '',
        o.appliedBy ?? '',
        formatMs(o.durationMs),
      ]);
    }
    parts.push(`${c.bold(`pack ${p.pack}`)} (${p.objects.length} object(s))\n${t.toString()}`);
  }
  if (!r.packs.length) parts.push('no pack is applied');
  if (r.dropped.length) {
    const t = table(['index', 'pack', 'table', 'state', 'dropped at', 'by', 'size'], c);
    for (const d of r.dropped)
      t.push([`${d.schema}.${d.name}`, d.pack, d.table, d.state, d.droppedAt ?? '', d.droppedBy, formatBytes(d.sizeBytes)]);
    parts.push(`${c.bold('dropped by packs')} (pgopt rollback <pack> builds them again)\n${t.toString()}`);
  }
  if (r.views.length) {
    const t = table(['view', 'pack', 'last refresh', 'age', 'rows', 'took'], c);
    for (const v of r.views)
      t.push([
        v.view,
        v.pack,
        `${v.refreshedAt ?? ''}${v.how === 'created' ? ' (created)' : ''}`,
        v.ageSeconds === null ? '' : formatAge(v.ageSeconds),
        v.rows === null ? '' : String(v.rows),
        formatMs(v.durationMs),
      ]);
    parts.push(`${c.bold('materialized views')}\n${t.toString()}`);
  }
  if (r.events.length) {
    const t = table(['at', 'pack', 'action', 'object', 'outcome', 'by'], c);
    for (const e of r.events) t.push([e.at, e.pack ?? '', e.action, e.object ?? '', e.outcome, e.byUser]);
    parts.push(`${c.bold('recent events')}\n${t.toString()}`);
  }
  return parts.join('\n\n');
}

export function renderRefresh(r: import('../engine/refresh.js').RefreshResult, c: ChalkInstance): string {
  if (!r.views.length) return 'no materialized view to refresh';
  const t = table(['view', 'mode', 'outcome', 'time', 'rows', 'note'], c);
  for (const v of r.views)
    t.push([
      v.view,
      v.mode,
      v.outcome === 'failed' ? c.red(v.outcome) : v.outcome,
      formatMs(v.durationMs),
      v.rows === null ? '' : String(v.rows),
      v.warning ? c.yellow(v.warning) : '',
    ]);
  return t.toString();
}
