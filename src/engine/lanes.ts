import type { Pack, PackStatement } from '../pack/types.js';
import type { Assessment } from './assess.js';

/**
 * How apply spreads a pack over several connections. A concurrent build takes SHARE UPDATE
 * EXCLUSIVE, which conflicts with itself, so builds on one table must run one after another;
 * builds on different tables can run side by side.
 *
 * Views come first, in a phase of their own. A concurrent build waits, before it finishes, for
 * every transaction in the database holding an older snapshot, and a CREATE MATERIALIZED VIEW
 * holds one for its whole run: built side by side, each index on a big table waited out a
 * 2.7 s view build on the other connection (measured, audit_engine at scale 1).
 */
export interface LanePlan {
  /** SET statements, run on every connection before anything else. */
  prelude: PackStatement[];
  /**
   * Phases run one after another; within a phase, one list of statements per connection. A
   * connection starts the next phase only when every connection has finished this one.
   */
  phases: PackStatement[][][];
  /** Everything else (ANALYZE, COMMENT, REFRESH, drops), after the phases, in pack order. */
  tail: PackStatement[];
}

/** Chains to connections, the costliest first to the least loaded (LPT scheduling). */
function schedule(chains: PackStatement[][], jobs: number, cost: (s: PackStatement) => number): PackStatement[][] {
  const sized = chains.map((chain) => ({ chain, cost: chain.reduce((t, s) => t + cost(s), 0) })).sort((a, b) => b.cost - a.cost);
  const workers = Array.from({ length: Math.min(jobs, sized.length || 1) }, () => ({ load: 0, statements: [] as PackStatement[] }));
  for (const { chain, cost: c } of sized) {
    const w = workers.reduce((min, x) => (x.load < min.load ? x : min));
    w.statements.push(...chain);
    w.load += c;
  }
  return workers.map((w) => w.statements);
}

/**
 * Group object statements into chains that must stay ordered (indexes of one relation; a view
 * with the pack views it reads) and hand them to `jobs` connections: views in a first phase,
 * indexes in a second. `cost` estimates a statement's work.
 */
export function planLanes(pack: Pack, assessments: Assessment[], jobs: number, cost: (s: PackStatement) => number): LanePlan {
  const serial = jobs <= 1 || pack.statements.some((s) => s.kind === 'unsafe');
  if (serial) return { prelude: [], phases: [[pack.statements]], tail: [] };
  const byObject = new Map(assessments.map((a) => [a.object, a]));
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    const p = parent.get(k) ?? k;
    if (p === k) return k;
    const root = find(p);
    parent.set(k, root);
    return root;
  };
  const union = (a: string, b: string) => parent.set(find(a), find(b));
  // Indexes anywhere in one partition tree form one chain: a build on a parent locks its partitions,
  // and two lanes building on a parent and on one of its partitions deadlock (seen 4 runs in 5).
  const keyOf = (s: PackStatement): string => {
    const a = byObject.get(s.object!)!;
    return a.table ? a.table.lockGroup : `${a.schema}.${a.object.name}`;
  };
  const views = new Map(assessments.filter((a) => a.object.kind === 'matview').map((a) => [a.object.name, `${a.schema}.${a.object.name}`]));
  const prelude: PackStatement[] = [];
  const tail: PackStatement[] = [];
  const viewStatements: PackStatement[] = [];
  const indexStatements: PackStatement[] = [];
  for (const s of pack.statements) {
    if (s.kind === 'set') prelude.push(s);
    else if (s.object?.kind === 'matview') {
      viewStatements.push(s);
      for (const ref of s.references) {
        const v = views.get(ref.name);
        if (v) union(keyOf(s), v);
      }
    } else if (s.object) indexStatements.push(s);
    else tail.push(s);
  }
  const group = (statements: PackStatement[], key: (s: PackStatement) => string) => {
    const chains = new Map<string, PackStatement[]>();
    for (const s of statements) chains.set(key(s), [...(chains.get(key(s)) ?? []), s]);
    return [...chains.values()];
  };
  const phases = [group(viewStatements, (s) => find(keyOf(s))), group(indexStatements, keyOf)]
    .filter((chains) => chains.length > 0)
    .map((chains) => schedule(chains, jobs, cost));
  return { prelude, phases, tail };
}

/** A meeting point for `parties` lanes: `arrive(lane)` resolves once every lane has arrived (each counted once). */
export function barrier(parties: number): { arrive: (lane: number) => Promise<void> } {
  const arrived = new Set<number>();
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return {
    arrive: (lane) => {
      arrived.add(lane);
      if (arrived.size >= parties) release();
      return done;
    },
  };
}

/** What a lane does with its connection; `runLanes` only decides when. */
export interface LaneWork<C> {
  /** Session settings and the prelude, once per connection. */
  start(conn: C): Promise<void>;
  /** One statement; `touched` collects what this connection built, for `finish`. */
  run(conn: C, s: PackStatement, touched: Map<string, string>): Promise<void>;
  /** After the last phase (ANALYZE of what this connection built). */
  finish(conn: C, touched: Map<string, string>): Promise<void>;
  /** An extra connection could not be opened: its lane still arrives at every barrier. */
  failedToConnect(err: unknown): void;
}

/**
 * Run a plan's phases on `main` plus one extra connection per further lane. A lane starts phase
 * n+1 only when every lane has finished phase n (a barrier), also after the last phase: an early
 * ANALYZE of a view would wait behind another lane's concurrent build on that view (both take
 * SHARE UPDATE EXCLUSIVE). A lane that fails still arrives everywhere, so no lane waits forever.
 */
export async function runLanes<C>(
  plan: LanePlan,
  main: C,
  withExtra: (<T>(fn: (c: C) => Promise<T>) => Promise<T>) | undefined,
  w: LaneWork<C>,
): Promise<void> {
  const laneCount = Math.max(...plan.phases.map((p) => p.length));
  const phaseDone = plan.phases.map(() => barrier(laneCount));
  const lane = async (conn: C | null, i: number) => {
    let phase = 0;
    try {
      if (!conn) return;
      await w.start(conn);
      const touched = new Map<string, string>();
      for (; phase < plan.phases.length; phase++) {
        for (const s of plan.phases[phase][i] ?? []) await w.run(conn, s, touched);
        await phaseDone[phase].arrive(i);
      }
      await w.finish(conn, touched);
    } finally {
      for (; phase < plan.phases.length; phase++) void phaseDone[phase].arrive(i);
    }
  };
  const extra = (i: number) =>
    withExtra!((c) => lane(c, i)).catch(async (err) => {
      w.failedToConnect(err);
      await lane(null, i);
    });
  await Promise.all(Array.from({ length: laneCount }, (_, i) => (i === 0 ? lane(main, 0) : extra(i))));
}
