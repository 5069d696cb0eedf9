import type { Pack } from '../pack/types.js';
import { assessPack, type PackAssessment } from '../engine/assess.js';
import type { BenchResult } from './runner.js';
import { usesIndex } from './plan-summary.js';
import type { Session } from '../db/session.js';

export interface ObjectAccount {
  object: string;
  name: string;
  kind: 'index' | 'matview';
  sizeBytes: number | null;
  /** Workload queries whose plans read it. */
  usedBy: string[];
}

export interface PackAccount {
  pack: string;
  objects: ObjectAccount[];
  totalBytes: number;
  /** Indexes that exist and that no query used: each costs writes and space for nothing. */
  unused: string[];
  /** Objects of the pack not in the database (not applied yet, or dropped): nothing to account. */
  absent: string[];
}

/** For each object of a pack: its size and the queries that used it, from the plans of a run. */
export async function accountPack(c: Session, pack: Pack, run: BenchResult): Promise<PackAccount> {
  return accountAssessed(await assessPack(c, pack), run);
}

/** The account from an assessment made before measuring (a pack that cannot be assessed fails first). */
export function accountAssessed({ pack, assessments }: PackAssessment, run: BenchResult): PackAccount {
  const objects = assessments.map((a): ObjectAccount => {
    const name = a.object.name;
    const usedBy = run.queries
      .filter((q) => (a.object.kind === 'index' ? usesIndex(q.plan, name) : q.plan.relations.includes(name)))
      .map((q) => q.name);
    return { object: a.qualifiedName, name, kind: a.object.kind, sizeBytes: a.live?.sizeBytes ?? null, usedBy };
  });
  return {
    pack: pack.name,
    objects,
    totalBytes: objects.reduce((s, o) => s + (o.sizeBytes ?? 0), 0),
    unused: objects.filter((o) => o.kind === 'index' && o.sizeBytes !== null && o.usedBy.length === 0).map((o) => o.object),
    absent: objects.filter((o) => o.sizeBytes === null).map((o) => o.object),
  };
}
