import { describe, expect, it } from 'vitest';
import { loadPack } from '../../src/pack/load-pack.js';
import { barrier, planLanes } from '../../src/engine/lanes.js';
import type { Assessment } from '../../src/engine/assess.js';
import { writePack } from '../helpers/packs.js';

/** Assessments as assessPack would resolve them (schema public), without a database; `trees` maps a partition to its root. */
const assess = (pack: Awaited<ReturnType<typeof loadPack>>, trees: Record<string, string> = {}): Assessment[] =>
  pack.objects.map(
    (o) =>
      ({
        object: o,
        schema: 'public',
        table: o.table ? { schema: 'public', name: o.table.name, lockGroup: trees[o.table.name] ?? `public.${o.table.name}` } : null,
      }) as unknown as Assessment,
  );

const PACK = `SET maintenance_work_mem = '1GB';
CREATE INDEX a1 ON big (x);
CREATE INDEX s1 ON small (x);
CREATE INDEX a2 ON big (y);
CREATE MATERIALIZED VIEW v1 AS SELECT x FROM big;
CREATE UNIQUE INDEX v1_key ON v1 (x);
CREATE MATERIALIZED VIEW v2 AS SELECT x FROM v1;
COMMENT ON MATERIALIZED VIEW v2 IS 'x';
`;

describe('planLanes', () => {
  it('views first, then indexes; each table’s builds in order on one connection, a view before the views reading it', async () => {
    const pack = await loadPack(writePack('lanes', PACK));
    const cost = (s: any) => (s.object?.table?.name === 'big' || s.object?.kind === 'matview' ? 100 : 1);
    const plan = planLanes(pack, assess(pack), 2, cost);
    expect(plan.prelude.map((s) => s.kind)).toEqual(['set']);
    expect(plan.tail.map((s) => s.kind)).toEqual(['comment']);
    const [views, indexes] = plan.phases.map((phase) => phase.map((w) => w.map((s) => s.object!.name)));
    // v2 reads v1: one chain, in order. No index build overlaps a view build (it would wait for it).
    expect(views).toEqual([['v1', 'v2']]);
    expect(indexes.flat().sort()).toEqual(['a1', 'a2', 's1', 'v1_key']);
    const laneOf = (n: string) => indexes.findIndex((w) => w.includes(n));
    expect(laneOf('a1')).toBe(laneOf('a2'));
    expect(indexes[laneOf('a1')].indexOf('a1')).toBeLessThan(indexes[laneOf('a1')].indexOf('a2'));
    // The big table's chain (cost 200) on one connection, the small builds on the other.
    expect(laneOf('s1')).toBe(laneOf('v1_key'));
    expect(laneOf('a1')).not.toBe(laneOf('s1'));
  });

  it('indexes anywhere in one partition tree share a lane, in pack order (a parent and its partition would deadlock)', async () => {
    const pack = await loadPack(
      writePack(
        'tree',
        `CREATE INDEX p_x ON events (x);\nCREATE INDEX p1_y ON events_2025 (y);\nCREATE INDEX o_x ON other (x);\nCREATE INDEX p2_y ON events_2026 (y);\n`,
      ),
    );
    const trees = { events: 'oid 1', events_2025: 'oid 1', events_2026: 'oid 1' };
    const [indexes] = planLanes(pack, assess(pack, trees), 2, () => 1).phases.map((phase) =>
      phase.map((w) => w.map((s) => s.object!.name)),
    );
    const lane = indexes.find((w) => w.includes('p_x'))!;
    expect(lane.filter((n) => n !== 'o_x')).toEqual(['p_x', 'p1_y', 'p2_y']);
    expect(indexes.find((w) => w.includes('o_x'))).not.toBe(lane);
    // Control: keyed by table name, as before, the parent and its partitions went to different lanes.
    const [byName] = planLanes(pack, assess(pack), 2, () => 1).phases.map((phase) => phase.map((w) => w.map((s) => s.object!.name)));
    expect(byName.find((w) => w.includes('p_x'))).not.toContain('p1_y');
  });

  it('a barrier releases when every lane has arrived, and counts a lane once', async () => {
    const b = barrier(2);
    let released = false;
    void b.arrive(0).then(() => (released = true));
    void b.arrive(0);
    await new Promise((r) => setTimeout(r, 10));
    expect(released).toBe(false);
    await b.arrive(1);
    expect(released).toBe(true);
  });

  it('one job, or any unsafe statement, runs everything in pack order on one connection', async () => {
    const pack = await loadPack(writePack('lanes', PACK));
    expect(planLanes(pack, assess(pack), 1, () => 1).phases).toEqual([[pack.statements]]);
    const unsafe = await loadPack(writePack('u', `CREATE INDEX a ON t (x);\nALTER TABLE t ADD COLUMN y int;\nCREATE INDEX b ON u (y);\n`), {
      allowUnsafe: true,
    });
    expect(planLanes(unsafe, assess(unsafe), 4, () => 1).phases).toEqual([[unsafe.statements]]);
  });
});
