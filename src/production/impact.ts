import type { Verdict } from '../bench/compare.js';
import type { Session } from '../db/session.js';
import { PgoptError } from '../errors.js';
import { readRows, registryExists, registryVersion } from '../engine/registry.js';
import { readDroppedRows } from '../engine/drop-registry.js';
import { currentCounters, indexScansAt, listSnapshots, statementsAt, type Snapshot, type StatementAt } from './snapshots.js';
import { decideImpact, windowOf, type Window } from './windows.js';
import { beyondAnyPack, statementName } from './capture-rules.js';
import { ensureParser } from '../sql/parse.js';

/** One moment of the counters: a stored snapshot, or now. */
export interface Moment {
  at: Date;
  serverStarted: Date;
  since: Date;
  dealloc: number | null;
  statements: StatementAt[];
}

export interface StatementImpact {
  /** The name capture gives it (select_orders_3fa2c1): the same statement has the same name in both. */
  name: string;
  queryid: string;
  role: string;
  query: string;
  before: Window | { invalid: string };
  after: Window | { invalid: string };
  verdict: Verdict;
  reason: string;
  speedup: number | null;
  /** (mean before − mean after) × the after window's calls per hour; null unless faster or slower. */
  savedMsPerHour: number | null;
}

export interface ImpactResult {
  pivot: { pack: string | null; label: string | null; snapshot: number };
  windows: { before: [Date, Date]; after: [Date, Date] };
  /** Why whole windows cannot be judged (a restart, a reset): then every statement is inconclusive. */
  problems: string[];
  warnings: string[];
  statements: StatementImpact[];
  /** Statements that ran in the after window but no pack can change (utility, catalogs only): not judged. */
  leftOut: number;
  /** The pack's indexes with their scans since the apply; `dropped`: an index the pack removed (a drop pack). */
  objects: { object: string; scans: number | null; unused: boolean; dropped?: boolean }[];
  savedMsPerHour: number;
}

/** What the statements left out (ImpactResult.leftOut) were, as every output says it. */
export const leftOutText = (n: number): string =>
  `${n} statement(s) no pack can change (utility statements, or reads of the system catalogs only) not judged`;

/** Why the window from `a` to `b` cannot be judged at all, or null. */
export function windowProblem(a: Moment, b: Moment): string | null {
  if (a.serverStarted.getTime() !== b.serverStarted.getTime()) return 'the server restarted in between (every counter started again)';
  if (a.since.getTime() !== b.since.getTime()) return 'pg_stat_statements was reset in between (pg_stat_statements_reset)';
  return null;
}

const key = (s: { queryid: string; role: string }) => `${s.role}\u0000${s.queryid}`;

/** A window, unless the entry started counting again in between (1.11+ says when: a reset or an eviction). */
function between(a: StatementAt | null, b: StatementAt): Window | { invalid: string } {
  if (a?.since && b.since && a.since.getTime() !== b.since.getTime()) return { invalid: 'its entry was reset or evicted in between' };
  return windowOf(a, b);
}

/** The verdict on every statement that ran in the after window, from three moments. Pure. */
export function judge(
  start: Moment | null,
  pivotStart: Moment,
  pivotEnd: Moment,
  now: Moment,
): Pick<ImpactResult, 'problems' | 'warnings' | 'statements' | 'leftOut' | 'savedMsPerHour'> {
  const problems = [start ? windowProblem(start, pivotStart) : null, windowProblem(pivotEnd, now)].filter((p): p is string => !!p);
  const warnings: string[] = [];
  if (!start && pivotStart.since.getTime() !== pivotStart.serverStarted.getTime())
    warnings.push('no snapshot before the apply: the before window runs from the last pg_stat_statements reset');
  if ((now.dealloc ?? 0) > (start?.dealloc ?? pivotStart.dealloc ?? 0))
    warnings.push(
      `pg_stat_statements evicted ${((now.dealloc ?? 0) - (start?.dealloc ?? 0)).toFixed(0)} entries meanwhile (pg_stat_statements.max): a statement may be missing`,
    );
  const index = (m: Moment | null) => new Map((m?.statements ?? []).map((s) => [key(s), s]));
  const [s0, s1, s2] = [index(start), index(pivotStart), index(pivotEnd)];
  const afterHours = Math.max(1e-9, (now.at.getTime() - pivotEnd.at.getTime()) / 3.6e6);
  let leftOut = 0;
  const statements = now.statements.flatMap((s): StatementImpact[] => {
    const k = key(s);
    const before = s1.get(k)
      ? between(s0.get(k) ?? null, s1.get(k)!)
      : windowOf(null, { calls: 0, totalMs: 0, stddevMs: 0, rows: 0, sharedBlocks: 0 });
    const after = between(s2.get(k) ?? null, s);
    if (!('invalid' in after) && after.calls === 0) return [];
    if (beyondAnyPack(s.query)) {
      leftOut++;
      return [];
    }
    const v = problems.length
      ? { verdict: 'inconclusive' as Verdict, reason: problems[0], speedup: null, p: null }
      : decideImpact(before, after);
    const saved =
      (v.verdict === 'faster' || v.verdict === 'slower') && !('invalid' in before) && !('invalid' in after)
        ? ((before.meanMs - after.meanMs) * after.calls) / afterHours
        : null;
    return [
      {
        name: statementName(s.query, s.queryid),
        queryid: s.queryid,
        role: s.role,
        query: s.query,
        before,
        after,
        verdict: v.verdict,
        reason: v.reason,
        speedup: v.speedup,
        savedMsPerHour: saved,
      },
    ];
  });
  statements.sort((a, b) => (b.savedMsPerHour ?? 0) - (a.savedMsPerHour ?? 0));
  return { problems, warnings, statements, leftOut, savedMsPerHour: statements.reduce((t, s) => t + (s.savedMsPerHour ?? 0), 0) };
}

async function momentOf(c: Session, s: Snapshot): Promise<Moment> {
  return {
    at: s.takenAt,
    serverStarted: s.serverStarted,
    since: s.statementsSince,
    dealloc: s.dealloc,
    statements: await statementsAt(c, s.id),
  };
}

/** The snapshots around the pivot: a pack's last apply that built something, or a labelled snapshot. */
function pivotOf(all: Snapshot[], o: { pack?: string; at?: string }): { start: Snapshot | null; pivotStart: Snapshot; pivotEnd: Snapshot } {
  if (o.at) {
    const p = [...all].reverse().find((s) => s.label === o.at);
    if (!p) throw new PgoptError('input', `no snapshot labelled "${o.at}" (pgopt snapshot --label ${o.at} takes one)`);
    return { start: [...all].reverse().find((s) => s.id < p.id) ?? null, pivotStart: p, pivotEnd: p };
  }
  const end = [...all].reverse().find((s) => s.pack === o.pack && s.moment === 'apply-end');
  const begin = end && [...all].reverse().find((s) => s.pack === o.pack && s.moment === 'apply-start' && s.id < end.id);
  if (!end || !begin) {
    throw new PgoptError('input', `no snapshot of an apply of pack "${o.pack}": apply takes them where pg_stat_statements is installed`, {
      hint: 'install pg_stat_statements before the next apply, or take snapshots around a change yourself (pgopt snapshot --label L; pgopt impact --at L)',
    });
  }
  return { start: [...all].reverse().find((s) => s.id < begin.id) ?? null, pivotStart: begin, pivotEnd: end };
}

/** Production before and after a pack's apply (or around a labelled snapshot), per statement and per object. */
export async function measureImpact(c: Session, o: { pack?: string; at?: string }): Promise<ImpactResult> {
  if (!(await registryExists(c))) throw new PgoptError('input', 'no registry in this database: no apply and no snapshot to compare around');
  // A registry an earlier pgopt wrote (before version 3) has no snapshot tables until a run that writes upgrades it.
  if ((await registryVersion(c)) < 3) {
    throw new PgoptError('input', 'no snapshot in this database yet: the registry predates them', {
      hint: 'the next apply (or pgopt snapshot) upgrades it and takes one',
    });
  }
  const { start, pivotStart, pivotEnd } = pivotOf(await listSnapshots(c), o);
  const now = await currentCounters(c);
  if (!now) throw new PgoptError('database', 'pg_stat_statements is not installed in this database (any more)');
  const nowMoment: Moment = {
    at: new Date(),
    serverStarted: now.serverStarted,
    since: now.since,
    dealloc: now.dealloc,
    statements: now.statements,
  };
  const [m0, m1, m2] = [start && (await momentOf(c, start)), await momentOf(c, pivotStart), await momentOf(c, pivotEnd)];
  await ensureParser();
  const judged = judge(m0, m1, m2, nowMoment);
  const objects = o.pack ? await objectUse(c, o.pack, pivotEnd.id, now.indexes) : [];
  return {
    pivot: { pack: o.pack ?? null, label: o.at ?? null, snapshot: pivotEnd.id },
    windows: { before: [m0?.at ?? m1.since, m1.at], after: [m2.at, nowMoment.at] },
    ...judged,
    objects,
  };
}

/** Scans of each index of the pack since its apply: one no statement used is flagged. */
async function objectUse(c: Session, pack: string, snapshot: number, nowScans: Map<string, number>) {
  const then = await indexScansAt(c, snapshot);
  const built = (await readRows(c, pack))
    .filter((r) => r.kind === 'index')
    .map((r) => {
      const k = `${r.schema}.${r.name}`;
      const scans = nowScans.has(k) ? nowScans.get(k)! - (then.get(k) ?? 0) : null;
      return { object: k, scans, unused: scans === 0 };
    });
  const dropped = (await readDroppedRows(c, pack)).map((r) => ({
    object: `${r.schema}.${r.name}`,
    scans: null,
    unused: false,
    dropped: true,
  }));
  return [...built, ...dropped];
}
