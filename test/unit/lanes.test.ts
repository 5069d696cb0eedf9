import { describe, expect, it } from 'vitest';
import { loadPack } from '../../src/pack/load-pack.js';
import { planLanes } from '../../src/engine/lanes.js';
import type { Assessment } from '../../src/engine/assess.js';
import { writePack } from '../helpers/packs.js';

/** Assessments as assessPack would resolve them (schema public), without a database. */
const assess = (pack: Awaited<ReturnType<typeof loadPack>>): Assessment[] =>
  pack.objects.map((o) => ({ object: o, schema: 'public', table: o.table ? { schema: 'public', name: o.table.name } : null }) as unknown as Assessment);

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
  it('keeps each table’s builds in order on one connection, a view with its index and the views reading it', async () => {
    const pack = await loadPack(writePack('lanes', PACK));
    const cost = (s: any) => (s.object?.table?.name === 'big' || s.object?.kind === 'matview' ? 100 : 1);
    const plan = planLanes(pack, assess(pack), 2, cost);
    const names = plan.workers.map((w) => w.map((s) => s.object!.name));
    expect(plan.prelude.map((s) => s.kind)).toEqual(['set']);
    expect(plan.tail.map((s) => s.kind)).toEqual(['comment']);
    expect(names.flat().sort()).toEqual(['a1', 'a2', 's1', 'v1', 'v1_key', 'v2'].sort());
    const laneOf = (n: string) => names.findIndex((w) => w.includes(n));
    expect(laneOf('a1')).toBe(laneOf('a2'));
    expect(laneOf('v1')).toBe(laneOf('v1_key'));
    expect(laneOf('v1')).toBe(laneOf('v2'));
    expect(laneOf('a1')).not.toBe(laneOf('v1'));
    const vLane = names[laneOf('v1')];
    expect(vLane.indexOf('v1')).toBeLessThan(vLane.indexOf('v1_key'));
    expect(vLane.indexOf('v1_key')).toBeLessThan(vLane.indexOf('v2'));
  });

  it('one job, or any unsafe statement, runs everything in pack order on one connection', async () => {
    const pack = await loadPack(writePack('lanes', PACK));
    expect(planLanes(pack, assess(pack), 1, () => 1).workers).toEqual([pack.statements]);
    const unsafe = await loadPack(writePack('u', `CREATE INDEX a ON t (x);\nALTER TABLE t ADD COLUMN y int;\nCREATE INDEX b ON u (y);\n`), { allowUnsafe: true });
    expect(planLanes(unsafe, assess(unsafe), 4, () => 1).workers).toEqual([unsafe.statements]);
  });
});
