import { describe, expect, it } from 'vitest';
import { loadPack } from '../../src/pack/load-pack.js';
import { loadWorkload } from '../../src/bench/workload.js';

/** The shape promised for the audit_engine pack, checked from its parse trees. */
describe('sql/audit_engine', () => {
  it('holds 16 indexes and 3 materialized views, each view with a unique index on plain columns', async () => {
    const pack = await loadPack('sql/audit_engine');
    const indexes = pack.objects.filter((o) => o.kind === 'index');
    const views = pack.objects.filter((o) => o.kind === 'matview');
    expect(indexes).toHaveLength(16);
    expect(views.map((v) => v.name)).toEqual(['workflow_execution_stats', 'project_daily_stats', 'node_type_usage']);
    for (const v of views) {
      const unique = indexes.filter((i) => i.table?.name === v.name && i.unique).map((i) => (i.statement.ast as any).IndexStmt);
      expect(
        unique.some((u) => !u.whereClause && u.indexParams.every((p: any) => p.IndexElem.name)),
        v.name,
      ).toBe(true);
    }
  });

  it('has no index that is a prefix of another on the same table (with the same predicate)', async () => {
    const pack = await loadPack('sql/audit_engine');
    const keyOf = (o: any) => {
      const s = o.statement.ast.IndexStmt;
      return {
        table: o.table.name,
        where: JSON.stringify(s.whereClause ?? null),
        cols: s.indexParams.map((p: any) => JSON.stringify(p.IndexElem)),
      };
    };
    const keys = pack.objects.filter((o) => o.kind === 'index').map((o) => ({ name: o.name, ...keyOf(o) }));
    for (const a of keys) {
      for (const b of keys) {
        if (a === b || a.table !== b.table || a.where !== b.where) continue;
        const prefix = a.cols.length <= b.cols.length && a.cols.every((c: string, i: number) => c === b.cols[i]);
        expect(prefix, `${a.name} is a prefix of ${b.name}`).toBe(false);
      }
    }
  });

  it('every index and view carries a comment saying which query it serves, and that query exists', async () => {
    const pack = await loadPack('sql/audit_engine');
    const workload = await loadWorkload('fixtures/audit_engine/workload.sql');
    const names = new Set(workload.queries.map((q) => q.name));
    const { readFileSync } = await import('node:fs');
    for (const o of pack.objects) {
      const text = readFileSync(o.statement.location.file, 'utf8').split('\n');
      const above: string[] = [];
      for (let l = o.statement.location.line - 2; l >= 0 && text[l].startsWith('--'); l--) above.unshift(text[l]);
      const served = [...names].filter((n) => above.join(' ').includes(n));
      expect(served.length, `${o.name} has no comment naming a workload query`).toBeGreaterThan(0);
    }
  });
});
