import { randomUUID } from 'node:crypto';
import type { Pack } from '../pack/types.js';
import { assessPack, type Assessment, type ObjectState } from './assess.js';
import { refreshPolicy } from '../db/timescale.js';
import { logEvent, registryExists } from './registry.js';
import { assessDrops, type DropAssessment, type DropState } from './drops.js';
import type { Session } from '../db/session.js';

/** States in which an object holds: it exists, is valid, and matches the pack. */
export const HEALTHY_STATES: readonly ObjectState[] = ['applied', 'pre-existing'];

export interface ObjectCheck {
  object: string;
  /** 'drop': an index the pack drops, which holds while it is gone. */
  kind: 'index' | 'matview' | 'drop';
  table: string | null;
  state: ObjectState | DropState;
  ok: boolean;
  reason: string;
  sizeBytes: number | null;
}

export interface VerifyResult {
  pack: string;
  ok: boolean;
  objects: ObjectCheck[];
  /** What verify could not do with this role's privileges (it never needs to write). */
  notes: string[];
}

/** A drop holds while the index is gone; 'absent' was never there to drop (and nothing is on record to rebuild). */
function dropCheck(d: DropAssessment): ObjectCheck {
  const ok = d.state === 'dropped' || d.state === 'absent';
  const reason =
    d.state === 'to-drop'
      ? d.row
        ? d.reason || 'an interrupted drop: apply drops it'
        : 'not applied: the index is still there'
      : d.reason;
  return { object: d.qualifiedName, kind: 'drop', table: d.table, state: d.state, ok, reason, sizeBytes: d.row?.sizeBytes ?? null };
}

/** A continuous aggregate whose pack declares a refresh policy holds only with that policy in place. */
async function checkRefreshPolicies(c: Session, assessments: Assessment[], objects: ObjectCheck[]): Promise<void> {
  for (const [i, a] of assessments.entries()) {
    if (!a.object.policy || !a.live || !objects[i].ok) continue;
    const policy = await refreshPolicy(c, a.live.oid);
    if (policy) objects[i].reason = objects[i].reason ? `${objects[i].reason}; ${policy}` : policy;
    else Object.assign(objects[i], { ok: false, reason: 'its refresh policy is missing (TimescaleDB will not refresh it): apply adds it' });
  }
}

/** Check every object of the pack against the catalog; `ok` only when all hold. */
export async function verifyPack(c: Session, pack: Pack): Promise<VerifyResult> {
  const { assessments } = await assessPack(c, pack);
  const objects = assessments.map((a): ObjectCheck => {
    const ok = HEALTHY_STATES.includes(a.state);
    return {
      object: a.qualifiedName,
      kind: a.object.kind,
      table: a.table ? `${a.table.schema}.${a.table.name}` : null,
      state: a.state,
      ok,
      reason: ok ? a.reason : a.state === 'pending' ? 'not applied' : a.reason,
      sizeBytes: a.live?.sizeBytes ?? null,
    };
  });
  await checkRefreshPolicies(c, assessments, objects);
  objects.push(...(await assessDrops(c, pack)).map(dropCheck));
  const result: VerifyResult = { pack: pack.name, ok: objects.every((o) => o.ok), objects, notes: [] };
  const failed = objects.filter((o) => !o.ok).map((o) => ({ object: o.object, state: o.state, reason: o.reason }));
  const logged = await logEvent(c, {
    runId: randomUUID(),
    pack: pack.name,
    action: 'verify',
    outcome: result.ok ? 'passed' : 'failed',
    detail: failed.length ? { failed } : undefined,
  });
  if (!logged && (await registryExists(c))) result.notes.push('this role cannot write pgopt.events: the verify was not logged');
  return result;
}
