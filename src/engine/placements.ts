import { onShards, type PlacementIndex, type Topology } from '../db/citus.js';

/**
 * On Citus the coordinator's indisvalid is not enough: a failed or killed distributed build can
 * leave the coordinator's index valid or INVALID with any mix of shard indexes behind it. An
 * index holds only when every placement of every shard has it, valid, with the pack's definition.
 */

export type PlacementProblem = 'missing' | 'INVALID' | 'a different definition';

export interface PlacementVerdict {
  /** Shards when each has one placement (hash distribution), else placements (reference tables). */
  unit: 'shards' | 'placements';
  total: number;
  valid: number;
  problems: { shardId: number; node: string; problem: PlacementProblem }[];
  /** "31/32 shards valid, missing on shard 102040 (worker :55703)". */
  summary: string;
}

/** What is wrong with one placement's index, or null when it holds. */
function problemOf(p: PlacementIndex, matches: (definition: string) => boolean): PlacementProblem | null {
  if (!p.present) return 'missing';
  if (!p.valid) return 'INVALID';
  if (p.definition !== null && !matches(p.definition)) return 'a different definition';
  return null;
}

const nodeLabel = (p: PlacementIndex) =>
  `${p.coordinator ? 'coordinator' : 'worker'} ${['127.0.0.1', 'localhost', '::1'].includes(p.node) ? '' : p.node}:${p.port}`;

/** Judge every placement; `matches` compares a shard's definition with the pack's (ignoring names). */
export function judgePlacements(placements: PlacementIndex[], matches: (definition: string) => boolean): PlacementVerdict {
  const unit = new Set(placements.map((p) => p.shardId)).size === placements.length ? 'shards' : 'placements';
  const problems = placements.flatMap((p) => {
    const problem = problemOf(p, matches);
    return problem ? [{ shardId: p.shardId, node: nodeLabel(p), problem }] : [];
  });
  const valid = placements.length - problems.length;
  const head = `${valid}/${placements.length} ${unit} valid`;
  return { unit, total: placements.length, valid, problems, summary: problems.length ? `${head}, ${describeProblems(problems)}` : head };
}

/** "missing on shards 102040, 102042 (worker :55703); INVALID on shard 102041 (worker :55702)". */
function describeProblems(problems: PlacementVerdict['problems']): string {
  const groups = new Map<string, number[]>();
  for (const p of problems) {
    const key = `${p.problem}\u0000${p.node}`;
    groups.set(key, [...(groups.get(key) ?? []), p.shardId]);
  }
  return [...groups]
    .map(([key, shards]) => {
      const [problem, node] = key.split('\u0000');
      const listed = shards.length > 4 ? `${shards.slice(0, 4).join(', ')} and ${shards.length - 4} more` : shards.join(', ');
      return `${problem} on shard${shards.length > 1 ? 's' : ''} ${listed} (${node})`;
    })
    .join('; ');
}

/** How plan names a table's layout: "distributed by id: 32 shards on 2 workers". */
export function describeTopology(t: Topology): string {
  const nodes = `${t.nodes.length} ${t.nodes.length === 1 ? 'node' : 'nodes'}`;
  if (t.distribution === 'reference') return `reference table: a copy on each of ${nodes}`;
  if (t.distribution === 'local') return 'local table (coordinator only)';
  const by = t.column ? ` by ${t.column}` : '';
  return `distributed${by}: ${t.shards} shards on ${t.nodes.length} ${t.nodes.length === 1 ? 'worker' : 'workers'}`;
}

/** The lock an index build takes, said for every node it takes it on. */
export function distributedLock(lock: string, t: Topology | null): string {
  if (!onShards(t)) return lock;
  return `${lock} on the coordinator's table and on each shard`;
}
