import type { Pack, PackStatement } from '../pack/types.js';
import type { Assessment } from './assess.js';

/**
 * How apply spreads a pack over several connections. A concurrent build takes SHARE UPDATE
 * EXCLUSIVE, which conflicts with itself, so builds on one table must run one after another;
 * builds on different tables, and views (which only read their sources), can run side by side.
 */
export interface LanePlan {
  /** SET statements, run on every connection before anything else. */
  prelude: PackStatement[];
  /** Per connection: its chains of object statements, each chain in pack order. */
  workers: PackStatement[][];
  /** Everything else (ANALYZE, COMMENT, REFRESH, drops), after the workers, in pack order. */
  tail: PackStatement[];
}

/**
 * Group object statements into chains that must stay ordered (same table; a view with its
 * indexes and with the pack views it reads), then hand chains to `jobs` connections, the
 * costliest first to the least loaded (LPT scheduling). `cost` estimates a statement's work.
 */
export function planLanes(pack: Pack, assessments: Assessment[], jobs: number, cost: (s: PackStatement) => number): LanePlan {
  const serial = jobs <= 1 || pack.statements.some((s) => s.kind === 'unsafe');
  if (serial) return { prelude: [], workers: [pack.statements], tail: [] };
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
  const keyOf = (s: PackStatement): string => {
    const a = byObject.get(s.object!)!;
    return a.table ? `${a.table.schema}.${a.table.name}` : `${a.schema}.${a.object.name}`;
  };
  const views = new Map(assessments.filter((a) => a.object.kind === 'matview').map((a) => [a.object.name, `${a.schema}.${a.object.name}`]));
  const prelude: PackStatement[] = [];
  const tail: PackStatement[] = [];
  const objects: PackStatement[] = [];
  for (const s of pack.statements) {
    if (s.kind === 'set') prelude.push(s);
    else if (s.object) {
      objects.push(s);
      if (s.object.kind === 'matview') {
        for (const ref of s.references) {
          const v = views.get(ref.name);
          if (v) union(keyOf(s), v);
        }
      }
    } else tail.push(s);
  }
  const chains = new Map<string, PackStatement[]>();
  for (const s of objects) {
    const k = find(keyOf(s));
    chains.set(k, [...(chains.get(k) ?? []), s]);
  }
  const sized = [...chains.values()].map((chain) => ({ chain, cost: chain.reduce((t, s) => t + cost(s), 0) })).sort((a, b) => b.cost - a.cost);
  const workers = Array.from({ length: Math.min(jobs, sized.length || 1) }, () => ({ load: 0, statements: [] as PackStatement[] }));
  for (const { chain, cost: c } of sized) {
    const w = workers.reduce((min, x) => (x.load < min.load ? x : min));
    w.statements.push(...chain);
    w.load += c;
  }
  return { prelude, workers: workers.map((w) => w.statements), tail };
}
