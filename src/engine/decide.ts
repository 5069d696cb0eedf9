/**
 * Where an object's state is decided, and what apply does about it: pure functions of facts
 * gathered once (assess.ts), so plan, apply, verify and status read one decision, and every state
 * has a unit test on captured facts (test/unit/decide.test.ts), as verdicts have.
 */

/** An object's state, as plan shows it and verify judges it. */
export const OBJECT_STATES = [
  'pending',
  'applied',
  'changed-since-applied',
  'pre-existing',
  'conflict',
  'invalid',
  'missing',
  'unpopulated',
  'unverifiable',
] as const;
export type ObjectState = (typeof OBJECT_STATES)[number];

/** What decides an object's state: its registry row, what the catalog holds, and the dry run's rendering. */
export interface StateFacts {
  kind: 'index' | 'matview';
  qualifiedName: string;
  /** The pack statement's fingerprint now. */
  fingerprint: string;
  /** This pack's registry row for the object, if any. */
  row: { state: string; preExisting: boolean; fingerprint: string } | null;
  /** Another pack that owns an object of this name. */
  ownedBy: string | null;
  /** The object in the catalog under its name, if any. */
  live: {
    valid: boolean;
    populated: boolean;
    /** An index of the name on another table than the pack's. */
    onOtherTable: string | null;
    /** On Citus: the shard placements' summary and problems. */
    placements: { summary: string; problems: unknown[] } | null;
    /** On a TimescaleDB hypertable: the chunks' summary and problems. */
    chunks?: { summary: string; problems: unknown[] } | null;
  } | null;
  /** Something else of the object's name (a table, a view): its relkind, else null. */
  otherKind: string | null;
  /** The server's rendering of the pack statement; null where it cannot be rendered (a standby without a record). */
  expectedDefinition: string | null;
  /** The live definition matches the pack's (null: not compared). */
  matches: boolean | null;
}

export interface StateDecision {
  state: ObjectState;
  reason: string;
}

const KIND_NAMES: Record<string, string> = {
  r: 'table',
  p: 'partitioned table',
  v: 'view',
  m: 'materialized view',
  i: 'index',
  S: 'sequence',
  f: 'foreign table',
  I: 'partitioned index',
};

/** An object of the pack made outside pgopt (a migration, psql) with the pack's definition: it holds. */
const PRESENT_NOT_OURS = 'present, not owned by pgopt (created outside it, e.g. by a migration); it holds, and rollback never drops it';

const decided = (state: ObjectState, reason = ''): StateDecision => ({ state, reason });

/** Nothing of the object's name in the catalog as the pack's kind. */
function absent(f: StateFacts): StateDecision {
  const claimed = f.row?.state === 'applied';
  if (f.otherKind) return decided('conflict', `a ${KIND_NAMES[f.otherKind] ?? 'relation'} named ${f.qualifiedName} already exists`);
  if (claimed && !f.row!.preExisting) return decided('missing', 'recorded as applied but not in the catalog (dropped outside pgopt?)');
  if (claimed) return decided('missing', 'pre-existing object is gone');
  return decided('pending', f.row?.state === 'building' ? 'an earlier build was interrupted; will build' : 'not yet created');
}

/** Present but not usable as it stands: on another table, INVALID, or broken on a shard. */
function broken(f: StateFacts): StateDecision | null {
  const live = f.live!;
  if (live.onOtherTable)
    return decided('conflict', `an index of this name exists on another table (${live.onOtherTable}); it is not the pack's`);
  if (!live.valid && live.placements) {
    return decided(
      'invalid',
      `index is INVALID on the coordinator, with ${live.placements.summary} behind it (a concurrent build failed or was interrupted, or CREATE INDEX CONCURRENTLY IF NOT EXISTS ran on it: citus#8338); apply drops and rebuilds it`,
    );
  }
  if (!live.valid && live.chunks) {
    return decided(
      'invalid',
      `root index is INVALID, with ${live.chunks.summary} behind it (a per-chunk build failed or was interrupted; REINDEX cannot repair it); apply drops it and builds it again, chunk by chunk`,
    );
  }
  if (!live.valid)
    return decided('invalid', 'index is INVALID (a concurrent build failed or was interrupted); apply drops and rebuilds it');
  if (live.chunks?.problems.length) return decided('invalid', `${live.chunks.summary}; apply builds the missing chunk indexes`);
  if (live.placements?.problems.length) return decided('invalid', `${live.placements.summary}; apply drops and rebuilds it on every shard`);
  return null;
}

/** Present and valid: whose it is, and whether it is still the pack's. */
function present(f: StateFacts): StateDecision {
  const { row } = f;
  const claimed = row?.state === 'applied';
  if (claimed && row.fingerprint !== f.fingerprint)
    return decided('changed-since-applied', 'the pack statement changed since it was applied');
  if (f.expectedDefinition === null) {
    return decided(
      'unverifiable',
      'on a read-only standby the pack statement cannot be rendered, and the registry has no record of it: verify on the primary',
    );
  }
  if (!f.matches) {
    if (claimed && !row.preExisting) return decided('changed-since-applied', 'the definition in the database no longer matches the pack');
    return decided('conflict', 'an object of this name already exists with a different definition');
  }
  if (row?.preExisting || f.ownedBy) return decided('pre-existing', f.ownedBy ? `owned by pack "${f.ownedBy}"` : PRESENT_NOT_OURS);
  if (!claimed) {
    if (row?.state === 'building' || row?.state === 'dropping') return decided('pending', 'built by an interrupted run; apply records it');
    return decided('pre-existing', PRESENT_NOT_OURS);
  }
  if (f.kind === 'matview' && !f.live!.populated)
    return decided('unpopulated', 'materialized view has never been refreshed (WITH NO DATA)');
  return decided('applied');
}

/** The one place that decides what state an object is in. */
export function decideState(f: StateFacts): StateDecision {
  if (!f.live) return absent(f);
  return broken(f) ?? present(f);
}

/** What apply does with an object: plan shows it, apply carries it out. */
export type ObjectAction = 'create' | 'record' | 'rebuild' | 'skip' | 'stop';

/**
 * The state → action map, once. `replaceChanged` (apply --replace-changed) rebuilds an object whose
 * pack statement or live definition changed; without it, that stops apply.
 */
export function actionFor(
  a: { state: ObjectState; row: unknown | null; live: unknown | null; matches: boolean | null },
  opts: { replaceChanged: boolean },
): ObjectAction {
  switch (a.state) {
    case 'pending':
      // Built by a run that died before it could record it.
      return a.live && a.matches ? 'record' : 'create';
    case 'missing':
      return 'create';
    case 'invalid':
      return 'rebuild';
    case 'changed-since-applied':
      return opts.replaceChanged ? 'rebuild' : 'stop';
    case 'conflict':
    case 'unverifiable':
      return 'stop';
    case 'pre-existing':
      return a.row ? 'skip' : 'record';
    case 'applied':
    case 'unpopulated':
      return 'skip';
  }
}
