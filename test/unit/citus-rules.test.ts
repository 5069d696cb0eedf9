import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { sameIndexName, summarizePlan, type ExplainOutput } from '../../src/bench/plan-summary.js';
import { shardObjectName, type PlacementIndex } from '../../src/db/citus.js';
import { describeTopology, judgePlacements } from '../../src/engine/placements.js';
import { compareRuns } from '../../src/bench/compare.js';
import type { BenchResult } from '../../src/bench/runner.js';
import { renderComparison, renderComparisonMarkdown } from '../../src/output/render-bench.js';
import { htmlReport } from '../../src/report/html.js';
import { Chalk } from 'chalk';

/** Plans captured from Citus 13.2.2 on PostgreSQL 15.18 (coordinator + 2 workers). */
const plans = JSON.parse(readFileSync(new URL('./plans/citus-13.2-pg15.json', import.meta.url), 'utf8')) as Record<string, ExplainOutput>;

describe('Citus plans: the workers\u2019 plans are read and shard names mapped back', () => {
  it('an aggregate over a bitmap scan on every shard names the coordinator\u2019s index and table', () => {
    const s = summarizePlan(structuredClone(plans.bitmapCount));
    expect(s.indexes).toEqual(['idx_a_j']);
    expect(s.relations).toEqual(['a']);
    expect(s.headline).toBe('Citus, 32 tasks: Bitmap Heap Scan using idx_a_j on a');
    // Control: without reading Remote Plan, only the coordinator's nodes are seen.
    const coordinatorOnly = summarizePlan({ ...plans.bitmapCount, Plan: { ...plans.bitmapCount.Plan, Plans: [] } });
    expect(coordinatorOnly.indexes).toEqual([]);
  });

  it('a table whose own name ends in digits keeps them; all 32 tasks map to one index', () => {
    const s = summarizePlan(structuredClone(plans.allTasks));
    expect(s.indexes).toEqual(['idx_events_2024_k']);
    expect(s.relations).toEqual(['events_2024']);
    // Summarising twice (report and accounting both do) strips nothing more.
    const twice = structuredClone(plans.allTasks);
    summarizePlan(twice);
    expect(summarizePlan(twice).indexes).toEqual(['idx_events_2024_k']);
  });

  it('a long index name Citus clipped and hashed still counts as the pack\u2019s index', () => {
    const s = summarizePlan(structuredClone(plans.longName));
    expect(s.indexes).toEqual(['idx_this_is_a_very_long_index_name_that_goes_on_4f66c1f2']);
    expect(sameIndexName(s.indexes[0], 'idx_this_is_a_very_long_index_name_that_goes_on_and_on_forever_')).toBe(true);
    expect(sameIndexName(s.indexes[0], 'idx_this_is_a_very_long_index_name_that_goes_elsewhere_entirely')).toBe(false);
    expect(sameIndexName('idx_a_deadbeef', 'idx_a_deadbeef_and_more')).toBe(false);
  });
});

describe('shard object names (Citus AppendShardIdToName)', () => {
  it('appends the shard id, and clips and hashes a name that would pass 63 bytes', () => {
    expect(shardObjectName('idx_a_k', 102008, 0)).toBe('idx_a_k_102008');
    // hashtext('idx_this…forever_') = 0x4f66c1f2, as read from the server; Citus's own name below.
    expect(shardObjectName('idx_this_is_a_very_long_index_name_that_goes_on_and_on_forever_', 102008, 0x4f66c1f2 | 0)).toBe(
      'idx_this_is_a_very_long_index_name_that_goes_on_4f66c1f2_102008',
    );
    // Clipped on a character boundary: never half a UTF-8 character.
    const name = `idx_${'é'.repeat(29)}`;
    const out = shardObjectName(name, 102008, 1);
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(63);
    expect(out).not.toContain('\uFFFD');
  });
});

const placement = (shardId: number, port: number, p: Partial<PlacementIndex> = {}): PlacementIndex => ({
  shardId,
  node: '127.0.0.1',
  port,
  coordinator: false,
  name: `idx_${shardId}`,
  present: true,
  valid: true,
  definition: 'def',
  ...p,
});

describe('judging the placements of a distributed index', () => {
  const healthy = Array.from({ length: 32 }, (_, i) => placement(102008 + i, 55702 + (i % 2)));

  it('holds only when every placement has it, valid, with the pack\u2019s definition', () => {
    expect(judgePlacements(healthy, () => true)).toMatchObject({ valid: 32, total: 32, problems: [], summary: '32/32 shards valid' });
  });

  it('names the shard and the worker of each problem', () => {
    const broken = healthy.map((p) =>
      p.shardId === 102038 ? { ...p, present: false } : p.shardId === 102011 ? { ...p, valid: false } : p,
    );
    const v = judgePlacements(broken, () => true);
    expect(v.valid).toBe(30);
    expect(v.summary).toBe('30/32 shards valid, INVALID on shard 102011 (worker :55703); missing on shard 102038 (worker :55702)');
  });

  it('a shard index with another definition is a problem; the same one is not', () => {
    const other = healthy.map((p) => (p.shardId === 102009 ? { ...p, definition: 'other' } : p));
    expect(judgePlacements(other, (d) => d === 'def').summary).toBe(
      '31/32 shards valid, a different definition on shard 102009 (worker :55703)',
    );
    expect(judgePlacements(healthy, (d) => d === 'def').valid).toBe(32);
  });

  it('a reference table counts placements, the coordinator\u2019s among them', () => {
    const ref = [placement(102040, 57100, { coordinator: true, present: false }), placement(102040, 57101), placement(102040, 57102)];
    expect(judgePlacements(ref, () => true).summary).toBe('2/3 placements valid, missing on shard 102040 (coordinator :57100)');
  });

  it('lists at most four shards per problem', () => {
    const gone = healthy.map((p) => (p.port === 55702 ? { ...p, present: false } : p));
    expect(judgePlacements(gone, () => true).summary).toMatch(
      /^16\/32 shards valid, missing on shards 102008, 102010, 102012, 102014 and 12 more \(worker :55702\)$/,
    );
  });
});

describe('describing a table\u2019s layout', () => {
  it('says how Citus holds it', () => {
    expect(describeTopology({ distribution: 'distributed', column: 'workflow_id', shards: 32, nodes: ['a:1', 'b:2'] })).toBe(
      'distributed by workflow_id: 32 shards on 2 workers',
    );
    expect(describeTopology({ distribution: 'reference', column: null, shards: 1, nodes: ['a', 'b', 'c'] })).toBe(
      'reference table: a copy on each of 3 nodes',
    );
    expect(describeTopology({ distribution: 'local', column: null, shards: 0, nodes: [] })).toBe('local table (coordinator only)');
  });
});

describe('the times of a Citus run are said to be the coordinator\u2019s', () => {
  const load = (f: string) => JSON.parse(readFileSync(new URL(`../report/${f}`, import.meta.url), 'utf8')) as BenchResult;

  it('in the comparison, every renderer and the HTML report; never on one server', async () => {
    const [before, after] = [load('before.json'), load('after.json')];
    const plain = compareRuns(before, after);
    expect(plain.timing).toBe(null);
    expect(renderComparisonMarkdown(plain)).not.toContain('end-to-end');
    const onCitus = (r: BenchResult): BenchResult => ({ ...r, server: { ...r.server, citus: '13.2-1' } });
    const cmp = compareRuns(onCitus(before), onCitus(after));
    expect(cmp.timing).toMatch(/^Citus 13\.2-1: times are the coordinator's end-to-end EXPLAIN ANALYZE times/);
    expect(renderComparisonMarkdown(cmp)).toContain("the coordinator's end-to-end");
    expect(renderComparison(cmp, new Chalk({ level: 0 }))).toContain("the coordinator's end-to-end");
    const html = await htmlReport({ title: 't', before: onCitus(before), after: onCitus(after), comparison: cmp });
    expect(html).toContain('the coordinator&#39;s end-to-end');
    const plainHtml = await htmlReport({ title: 't', before, after, comparison: plain });
    expect(plainHtml).not.toContain('end-to-end');
  });
});

describe('the buffers of a Citus plan', () => {
  it('count the workers\u2019 plans EXPLAIN shows, not only the coordinator\u2019s (which reads almost nothing)', () => {
    const out = plans.bitmapCount;
    const coordinator = Number(out.Plan['Shared Hit Blocks'] ?? 0);
    const s = summarizePlan(structuredClone(out));
    const task = JSON.stringify(out).match(/"Shared Hit Blocks":\s*(\d+)/g)!.length;
    expect(task).toBeGreaterThan(1);
    expect(s.sharedHit).toBeGreaterThan(coordinator);
    // Every task shown counts once: explain_all_tasks shows 32 and counts 32.
    const all = summarizePlan(structuredClone(plans.allTasks));
    const perTask = (plans.allTasks.Plan as Record<string, unknown>)['Distributed Query'] as { Job: { Tasks: unknown[] } };
    expect(perTask.Job.Tasks).toHaveLength(32);
    expect(all.sharedHit).toBeGreaterThanOrEqual(32);
  });
});
