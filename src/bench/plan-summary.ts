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

function walk(node: PlanNode, visit: (n: PlanNode) => void): void {
  visit(node);
  for (const child of node.Plans ?? []) walk(child, visit);
}

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
  return {
    nodeTypes,
    indexes,
    seqScans,
    relations,
    headline: scans.length ? scans.join(' + ') : out.Plan['Node Type'],
    rows: Number(plan['Actual Rows'] ?? 0),
    sharedHit: Number(plan['Shared Hit Blocks'] ?? 0),
    sharedRead: Number(plan['Shared Read Blocks'] ?? 0),
  };
}
