import type { SourceLocation } from '../errors.js';
import type { Pack, PackStatement } from '../pack/types.js';
import { assessPack, type Assessment, type ObjectState } from './assess.js';
import { lockOf } from './locks.js';
import { describeTopology, distributedLock } from './placements.js';
import { describeHypertable } from '../db/timescale.js';
import { lintPack, type LintFinding } from './lint/index.js';
import { actionFor } from './decide.js';
import { assessDrops, type DropAssessment, type DropState } from './drops.js';
import type { Session } from '../db/session.js';

export const PLAN_ACTIONS = ['create', 'rebuild', 'record', 'drop', 'skip', 'run', 'stop'] as const;
export type PlanAction = (typeof PLAN_ACTIONS)[number];

export interface PlanStep {
  ordinal: number;
  location: SourceLocation;
  kind: PackStatement['kind'];
  object: string | null;
  table: string | null;
  /** On Citus, how the table is held: "distributed by id: 32 shards on 2 workers". */
  distribution: string | null;
  lock: string;
  concurrent: boolean;
  state: ObjectState | DropState | null;
  action: PlanAction;
  reason: string;
}

export interface PlanResult {
  pack: string;
  steps: PlanStep[];
  /** What lint finds (plan runs it too). */
  findings: LintFinding[];
  /** True when apply would stop before changing anything. */
  blocked: boolean;
}

function stepAction(s: PackStatement, a: Assessment | null, replaceChanged: boolean): PlanAction {
  if (!a) return s.kind === 'drop-own' ? 'skip' : 'run';
  return actionFor(a, { replaceChanged });
}

function dropStep(s: PackStatement, d: DropAssessment, concurrently: boolean): PlanStep {
  return {
    ordinal: s.ordinal,
    location: s.location,
    kind: s.kind,
    object: d.qualifiedName,
    table: d.table,
    distribution: null,
    lock: d.action !== 'drop' ? 'none' : concurrently ? 'SHARE UPDATE EXCLUSIVE' : 'ACCESS EXCLUSIVE',
    concurrent: concurrently,
    state: d.state,
    action: d.action,
    reason: d.reason || (d.action === 'drop' ? 'after every build; its definition is recorded first, and rollback builds it again' : ''),
  };
}

/** Each hypertable the pack indexes, described once (a continuous aggregate's materialization named as such). */
async function hypertableLayouts(c: Session, assessments: Assessment[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const a of assessments) {
    const oid = a.table?.oid;
    if (!a.table?.hypertable || !oid || out.has(oid)) continue;
    const layout = await describeHypertable(c, oid);
    out.set(oid, a.table.continuous ? `continuous aggregate, materialized in a ${layout}` : layout);
  }
  return out;
}

/** A continuous aggregate this run creates has no materialization yet to describe. */
const NEW_AGGREGATE = 'continuous aggregate: indexed on its materialization hypertable, chunk by chunk';

/** A dry run: what apply would do, statement by statement, and the lock each takes. */
export async function planPack(c: Session, pack: Pack, opts: { concurrently: boolean; replaceChanged?: boolean }): Promise<PlanResult> {
  const { assessments } = await assessPack(c, pack);
  const { findings } = await lintPack(c, pack, assessments);
  const byObject = new Map(assessments.map((a) => [a.object, a]));
  const drops = new Map((await assessDrops(c, pack)).map((d) => [d.drop.statement.ordinal, d]));
  const layouts = await hypertableLayouts(c, assessments);
  const steps = pack.statements.map((s): PlanStep => {
    const d = drops.get(s.ordinal);
    if (d) return dropStep(s, d, opts.concurrently);
    const a = s.object ? byObject.get(s.object)! : null;
    const taken = lockOf(s, opts.concurrently);
    const { concurrent } = taken;
    // Built per partition (see partitioned.ts): the parent itself is locked only for a moment.
    const topology = a?.table?.topology ?? null;
    const lock =
      concurrent && a?.table?.partitioned
        ? 'SHARE UPDATE EXCLUSIVE per partition; SHARE on the parent for a moment'
        : concurrent && a?.table?.hypertable
          ? 'SHARE UPDATE EXCLUSIVE per chunk; SHARE on the hypertable for a moment'
          : s.object?.continuous
            ? `${taken.lock}, created WITH NO DATA; then filled by TimescaleDB outside the transaction`
            : distributedLock(taken.lock, topology);
    return {
      ordinal: s.ordinal,
      location: s.location,
      kind: s.kind,
      object: a?.qualifiedName ?? null,
      table: a?.table ? `${a.table.schema}.${a.table.name}` : null,
      distribution: topology
        ? describeTopology(topology)
        : (layouts.get(a?.table?.oid ?? -1) ?? (a?.table?.continuous ? NEW_AGGREGATE : null)),
      lock,
      concurrent,
      state: a?.state ?? null,
      action: stepAction(s, a, !!opts.replaceChanged),
      reason: a?.reason ?? (s.kind === 'drop-own' ? 'apply builds only what is missing' : ''),
    };
  });
  return {
    pack: pack.name,
    steps,
    findings,
    blocked: steps.some((s) => s.action === 'stop') || findings.some((f) => f.severity === 'error'),
  };
}
