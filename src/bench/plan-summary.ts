/** What a plan did, from EXPLAIN (FORMAT JSON): pure, so it is unit-tested on captured plans. */

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Schema?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Actual Total Time'?: number;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

export interface ExplainOutput {
  Plan: PlanNode;
  'Planning Time': number;
  'Execution Time': number;
  Planning?: { 'Shared Hit Blocks'?: number; 'Shared Read Blocks'?: number };
}

export interface PlanSummary {
  /** Node types, in plan order, without repeats. */
  nodeTypes: string[];
  /** Indexes the plan read. */
  indexes: string[];
  /**
   * The partitioned indexes (every level up) of the partition indexes in `indexes`, and the root
   * indexes of the hypertable chunk indexes in it: a plan names the partition's or the chunk's own
   * index, and a pack's index on the partitioned table or hypertable is used through it.
   */
  partitionedIndexes?: string[];
  /** Tables read with a sequential scan. */
  seqScans: string[];
  /** Every relation the plan reads (tables and materialized views). */
  relations: string[];
  /** The access path a person reads first, e.g. "Index Scan using idx on t" or "Seq Scan on t". */
  headline: string;
  rows: number;
  sharedHit: number;
  sharedRead: number;
}

const SCAN_TYPES = new Set(['Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Index Scan', 'Bitmap Heap Scan', 'Parallel Seq Scan']);

/**
 * A Citus plan is a `Custom Scan (Citus Adaptive)` whose work happens on the workers: their plans
 * sit under "Distributed Query" (Job.Tasks[i]."Remote Plan", and subplans), nested in arrays.
 */
function remotePlans(value: unknown, found: PlanNode[] = []): PlanNode[] {
  if (Array.isArray(value)) for (const v of value) remotePlans(v, found);
  else if (value && typeof value === 'object') {
    const plan = (value as { Plan?: PlanNode }).Plan;
    if (plan && typeof plan['Node Type'] === 'string') found.push(localNames(plan));
    else for (const v of Object.values(value)) remotePlans(v, found);
  }
  return found;
}

/**
 * A worker's plan names shards: table `t_102008`, index `idx_102008`. The names are mapped back to
 * the coordinator's, so a shard index counts as the pack's index. (A long index name that Citus
 * clipped and hashed keeps its `_<hash>`; accounting matches it by prefix.)
 */
/** Remote plans already mapped: walking a plan twice must not strip a second suffix. */
const mapped = new WeakSet<PlanNode>();

function localNames(plan: PlanNode): PlanNode {
  if (mapped.has(plan)) return plan;
  mapped.add(plan);
  // A task reads co-located shards; an index node (a Bitmap Index Scan) need not name its table.
  const shards = new Set<string>();
  walk(plan, (n) => {
    const shard = /_(\d+)$/.exec(n['Relation Name'] ?? '')?.[1];
    if (shard) shards.add(shard);
  });
  const strip = (name: string) => {
    const shard = /_(\d+)$/.exec(name)?.[1];
    return shard && shards.has(shard) ? name.slice(0, -shard.length - 1) : name;
  };
  walk(plan, (n) => {
    if (n['Relation Name']) n['Relation Name'] = strip(n['Relation Name']);
    if (n['Index Name']) n['Index Name'] = strip(n['Index Name']);
  });
  return plan;
}

function childrenOf(node: PlanNode): PlanNode[] {
  const local = node.Plans ?? [];
  return node['Distributed Query'] ? [...local, ...remotePlans(node['Distributed Query'])] : local;
}

function walk(node: PlanNode, visit: (n: PlanNode) => void): void {
  visit(node);
  for (const child of childrenOf(node)) walk(child, visit);
}

const sumOver = (nodes: PlanNode[], key: string) => nodes.reduce((s, n) => s + Number(n[key] ?? 0), 0);

/** Whether a plan's index name (as mapped from a shard) is the index `name`. */
export function sameIndexName(planName: string, name: string): boolean {
  if (planName === name) return true;
  // Citus clips a name that would pass 63 bytes with its shard id, and appends _<8 hex>.
  const clipped = /^(.+)_[0-9a-f]{8}$/.exec(planName)?.[1];
  return !!clipped && Buffer.byteLength(planName) >= 50 && name.startsWith(clipped);
}

/** Whether the plan read the index `name`, itself or (on a partitioned table) through one of its partitions' indexes. */
export const usesIndex = (plan: Pick<PlanSummary, 'indexes' | 'partitionedIndexes'>, name: string): boolean =>
  plan.indexes.some((i) => sameIndexName(i, name)) || !!plan.partitionedIndexes?.includes(name);

const describeScan = (n: PlanNode): string => {
  const type = n['Node Type'];
  const rel = n['Relation Name'];
  if (n['Index Name']) return `${type} using ${n['Index Name']}${rel ? ` on ${rel}` : ''}`;
  return rel ? `${type} on ${rel}` : type;
};

export function summarizePlan(out: ExplainOutput): PlanSummary {
  const nodeTypes: string[] = [];
  const indexes: string[] = [];
  const seqScans: string[] = [];
  const relations: string[] = [];
  const scans: string[] = [];
  const describedByParent = new Set<PlanNode>();
  walk(out.Plan, (n) => {
    const t = n['Node Type'];
    if (t === 'Bitmap Heap Scan') {
      // The index is named by the Bitmap Index Scan beneath; the table by this node.
      const used: string[] = [];
      walk(n, (m) => {
        if (m !== n && m['Node Type'] === 'Bitmap Index Scan' && m['Index Name']) {
          used.push(m['Index Name']);
          describedByParent.add(m);
        }
      });
      const d = `Bitmap Heap Scan${used.length ? ` using ${used.join(', ')}` : ''} on ${n['Relation Name']}`;
      if (!scans.includes(d)) scans.push(d);
    }
    if (!nodeTypes.includes(t)) nodeTypes.push(t);
    if (n['Relation Name'] && !relations.includes(n['Relation Name'])) relations.push(n['Relation Name']);
    if (n['Index Name'] && !indexes.includes(n['Index Name'])) indexes.push(n['Index Name']);
    if ((t === 'Seq Scan' || t === 'Parallel Seq Scan') && n['Relation Name'] && !seqScans.includes(n['Relation Name']))
      seqScans.push(n['Relation Name']);
    // A Bitmap Heap Scan is described by the Bitmap Index Scan beneath it.
    if (SCAN_TYPES.has(t) && t !== 'Bitmap Heap Scan' && !describedByParent.has(n)) {
      const d = describeScan(n);
      if (!scans.includes(d)) scans.push(d);
    }
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- EXPLAIN's JSON is open-ended; only known keys are read below
  const plan = out.Plan as Record<string, any>;
  const remote: PlanNode[] = [];
  walk(out.Plan, (n) => {
    if (n['Distributed Query']) remote.push(...remotePlans(n['Distributed Query']));
  });
  let job: { 'Task Count'?: number } | undefined;
  walk(out.Plan, (n) => {
    job ??= (n['Distributed Query'] as { Job?: { 'Task Count'?: number } } | undefined)?.Job;
  });
  const where = job?.['Task Count'] ? `Citus, ${job['Task Count']} task${job['Task Count'] > 1 ? 's' : ''}: ` : '';
  return {
    nodeTypes,
    indexes,
    seqScans,
    relations,
    headline: where + (scans.length ? scans.join(' + ') : out.Plan['Node Type']),
    rows: Number(plan['Actual Rows'] ?? 0),
    // On Citus the coordinator reads almost nothing itself: the workers' plans carry the work.
    sharedHit: Number(plan['Shared Hit Blocks'] ?? 0) + sumOver(remote, 'Shared Hit Blocks'),
    sharedRead: Number(plan['Shared Read Blocks'] ?? 0) + sumOver(remote, 'Shared Read Blocks'),
  };
}
