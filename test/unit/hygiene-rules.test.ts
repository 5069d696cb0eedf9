import { describe, expect, it } from 'vitest';
import type { IndexFact, IndexKey } from '../../src/db/index-facts.js';
import { bloatFinding, covers, duplicates, expectedPages, judgeIndexes, protection, type HygieneRules } from '../../src/hygiene/rules.js';
import { NEEDED_RISE, queryVerdicts } from '../../src/hygiene/predict.js';
import { decideDrop, restoreStatement } from '../../src/engine/drops.js';
import { dropPackText } from '../../src/hygiene/pack-text.js';
import type { HygieneResult } from '../../src/hygiene/hygiene.js';
import { loadPack } from '../../src/pack/load-pack.js';
import { ensureParser, parseFile } from '../../src/sql/parse.js';
import { writePack } from '../helpers/packs.js';
import { slowerNeeds } from '../../src/hygiene/measure.js';
import type { BenchResult } from '../../src/bench/runner.js';
import type { Comparison } from '../../src/bench/compare.js';

const col = (attnum: number, text: string, more: Partial<IndexKey> = {}): IndexKey => ({
  text,
  attnum,
  opclass: 3124,
  collation: 0,
  option: 0,
  ...more,
});

let oid = 1000;
function ix(name: string, keys: IndexKey[], more: Partial<IndexFact> = {}): IndexFact {
  return {
    oid: oid++,
    schema: 'public',
    name,
    table: 'public.t',
    tableOid: 1,
    method: 'btree',
    keys,
    keyCount: keys.length,
    predicate: null,
    roles: { constraint: null, unique: false, replicaIdentity: false, clustered: false, partitioned: false, attached: false },
    valid: true,
    building: false,
    definition: `CREATE INDEX ${name} ON public.t USING btree (...)`,
    tablespace: null,
    sizeBytes: 1 << 20,
    scans: 5,
    tableWrites: 100,
    tableRows: 1000,
    tablePages: 10,
    pages: 10,
    fillfactor: null,
    ...more,
  };
}

const a = col(1, 'a');
const b = col(2, 'b');
const rules = (more: Partial<HygieneRules> = {}): HygieneRules => ({
  minAgeSeconds: 7 * 86400,
  ownedBy: new Map(),
  replicaScans: [],
  ...more,
});
const week = { seconds: 8 * 86400, servers: 1 };
const dropped = (all: IndexFact[], r = rules(), cov = week) =>
  judgeIndexes(all, r, cov)
    .drops.map((d) => d.name)
    .sort();

describe('hygiene: which indexes cost without paying', () => {
  it('duplicates: same keys, opclasses, collations, directions, INCLUDE and predicate; any difference is not one', () => {
    expect(duplicates(ix('x', [a, b]), ix('y', [a, b]))).toBe(true);
    expect(duplicates(ix('x', [a, b]), ix('y', [b, a]))).toBe(false);
    expect(duplicates(ix('x', [a]), ix('y', [col(1, 'a', { opclass: 10053 })]))).toBe(false);
    expect(duplicates(ix('x', [a]), ix('y', [col(1, 'a', { collation: 950 })]))).toBe(false);
    expect(duplicates(ix('x', [a]), ix('y', [col(1, 'a', { option: 3 })]))).toBe(false);
    expect(duplicates(ix('x', [a]), ix('y', [a], { predicate: '(a > 0)' }))).toBe(false);
    expect(duplicates(ix('x', [a]), ix('y', [a], { method: 'hash' }))).toBe(false);
    expect(duplicates(ix('x', [col(0, 'lower(c)')]), ix('y', [col(0, 'upper(c)')]))).toBe(false);
    expect(duplicates(ix('x', [a, b], { keyCount: 1 }), ix('y', [a], { keyCount: 1 }))).toBe(false);
  });

  it('redundant: a btree whose keys lead another with the same predicate; never the other way, and not when it carries more', () => {
    expect(covers(ix('ab', [a, b]), ix('a', [a]))).toBe(true);
    expect(covers(ix('a', [a]), ix('ab', [a, b]))).toBe(false);
    expect(covers(ix('ba', [b, a]), ix('a', [a]))).toBe(false);
    expect(covers(ix('ab', [a, b], { predicate: '(b > 0)' }), ix('a', [a]))).toBe(false);
    expect(covers(ix('ab', [a, b], { method: 'gin' }), ix('a', [a], { method: 'gin' }))).toBe(false);
    // (a) INCLUDE (c) serves an index-only scan that (a, b) cannot.
    expect(covers(ix('ab', [a, b]), ix('a_c', [a, col(3, 'c')], { keyCount: 1 }))).toBe(false);
    expect(covers(ix('abc', [a, b, col(3, 'c')]), ix('a_c', [a, col(3, 'c')], { keyCount: 1 }))).toBe(true);
  });

  it('never proposes what an index enforces, replicates by, is clustered on or a pack owns; the same index unprotected is proposed', () => {
    const unused = { scans: 0 };
    const kinds: [string, Partial<IndexFact>][] = [
      ['pk', { roles: { ...ix('x', [a]).roles, constraint: { name: 't_pkey', kind: 'primary key' } } }],
      ['uq', { roles: { ...ix('x', [a]).roles, unique: true } }],
      ['ri', { roles: { ...ix('x', [a]).roles, replicaIdentity: true } }],
      ['cl', { roles: { ...ix('x', [a]).roles, clustered: true } }],
      ['part', { roles: { ...ix('x', [a]).roles, partitioned: true } }],
      ['child', { roles: { ...ix('x', [a]).roles, attached: true } }],
    ];
    for (const [name, more] of kinds) {
      const x = ix(name, [a], { ...unused, ...more });
      // Its twin, unprotected, so it is a duplicate as well as unused.
      const twin = ix(`${name}_twin`, [a], { scans: 9 });
      expect(dropped([x, twin]), name).not.toContain(name);
    }
    const owned = ix('mine', [a], unused);
    expect(dropped([owned], rules({ ownedBy: new Map([['public.mine', 'p1']]) }))).toEqual([]);
    expect(protection(owned, new Map([['public.mine', 'p1']]))).toContain('pgopt rollback p1');
    // The control: the same index with nothing to protect is dropped.
    expect(dropped([ix('plain', [a], unused)])).toEqual(['plain']);
  });

  it('unused: no scan on any server, over at least --min-age; a standby that reads it, or younger evidence, keeps it', () => {
    const x = ix('x', [a], { scans: 0 });
    expect(dropped([x])).toEqual(['x']);
    expect(dropped([x], rules({ replicaScans: [new Map([['public.x', 3]])] }))).toEqual([]);
    const young = judgeIndexes([x], rules(), { seconds: 3600, servers: 1 });
    expect(young.drops).toEqual([]);
    expect(young.findings[0].keptBecause).toContain('less than --min-age');
    expect(dropped([ix('used', [a], { scans: 1 })])).toEqual([]);
  });

  it('keeps one of each set of duplicates (the most read) and never drops the index a redundant one leans on', () => {
    expect(dropped([ix('d1', [a], { scans: 1 }), ix('d2', [a], { scans: 50 }), ix('d3', [a], { scans: 2 })])).toEqual(['d1', 'd3']);
    // (a) leans on (a, b); (a, b) unused goes, so (a) must stay.
    expect(dropped([ix('a', [a], { scans: 40 }), ix('ab', [a, b], { scans: 0 })])).toEqual(['ab']);
    // Both read: (a) goes, (a, b) serves both.
    expect(dropped([ix('a', [a], { scans: 40 }), ix('ab', [a, b], { scans: 3 })])).toEqual(['a']);
    // A chain: (a) ⊂ (a, b) ⊂ (a, b, c): the widest stays.
    const c = col(3, 'c');
    expect(dropped([ix('a', [a]), ix('ab', [a, b]), ix('abc', [a, b, c])])).toEqual(['a', 'ab']);
  });

  it('an INVALID leftover is dropped unless a concurrent build is still at work on it, or a pack owns it', () => {
    expect(dropped([ix('bad', [a], { valid: false })])).toEqual(['bad']);
    expect(dropped([ix('busy', [a], { valid: false, building: true })])).toEqual([]);
    expect(dropped([ix('ours', [a], { valid: false })], rules({ ownedBy: new Map([['public.ours', 'p']]) }))).toEqual([]);
  });

  it('bloat: half or more empty and at least 8 MB of it, measured or estimated (and said so); never a drop', () => {
    const big = ix('big', [a], { sizeBytes: 100 << 20, pages: 12800, tableRows: 1e6 });
    const est = expectedPages(big, new Map([['1:1', 4]]));
    expect(est).toBeGreaterThan(2000);
    expect(est).toBeLessThan(4000);
    const f = bloatFinding(big, null, est);
    expect(f?.evidence).toContain('an estimate');
    expect(f?.fix).toBe('REINDEX INDEX CONCURRENTLY "public"."big"');
    expect(bloatFinding(big, 85, null)).toBeNull();
    expect(bloatFinding(big, 30, null)?.evidence).toContain('pgstattuple');
    // Small: not worth a finding whatever the share.
    expect(bloatFinding(ix('small', [a], { sizeBytes: 1 << 20, pages: 128 }), 10, null)).toBeNull();
    // An expression key has no pg_stats width: no estimate rather than a wrong one.
    expect(expectedPages(ix('e', [col(0, 'lower(c)')]), new Map())).toBeNull();
  });
});

describe('hygiene: a workload query needs a drop when its planned cost rises past the bar', () => {
  const plan = (cost: number, indexes: string[] = []) => ({ cost, indexes });
  it('vetoes the drops the plan read when it costs more than NEEDED_RISE more without them, and only those', () => {
    const before = new Map([
      ['q1', plan(10, ['x'])],
      ['q2', plan(10, ['y'])],
    ]);
    const after = new Map([
      ['q1', plan(10 * (1 + NEEDED_RISE) + 0.01)],
      ['q2', plan(10 * (1 + NEEDED_RISE) - 0.01)],
    ]);
    const ids: Record<string, number> = { x: 1, y: 2 };
    const v = queryVerdicts(before, after, (p) => p.indexes.map((n) => ids[n]));
    expect([...v.needed.keys()]).toEqual([1]);
    expect([...v.switched.keys()]).toEqual([2]);
  });
});

describe('drop packs', () => {
  it('decides each state once: refused when protected, dropped, present again, interrupted, absent', () => {
    expect(decideDrop({ live: { valid: true }, row: null, protectedBy: 'backs the primary key' }).action).toBe('stop');
    expect(decideDrop({ live: { valid: true }, row: null, protectedBy: null }).action).toBe('drop');
    expect(decideDrop({ live: { valid: true }, row: { state: 'dropped' }, protectedBy: null }).reason).toContain('present again');
    expect(decideDrop({ live: null, row: { state: 'dropping' }, protectedBy: null }).action).toBe('record');
    expect(decideDrop({ live: null, row: { state: 'dropped' }, protectedBy: null })).toMatchObject({ state: 'dropped', action: 'skip' });
    expect(decideDrop({ live: null, row: null, protectedBy: null })).toMatchObject({ state: 'absent', action: 'skip' });
  });

  it('rebuilds only exactly one CREATE INDEX of the recorded name on the recorded table; an altered row runs nothing', async () => {
    await ensureParser();
    const row = {
      schema: 'public',
      name: 't_a',
      table: 'public.t',
      tablespace: null,
      definition: 'CREATE INDEX t_a ON public.t USING btree (a) WHERE (a > 0)',
    };
    expect(restoreStatement(row, true)).toBe('CREATE INDEX CONCURRENTLY "t_a" ON public.t USING btree (a) WHERE (a > 0)');
    const spaced = restoreStatement({ ...row, tablespace: 'fast' }, false);
    expect(spaced).toContain('TABLESPACE fast');
    expect(spaced).toContain('WHERE');
    for (const definition of [
      'CREATE INDEX other ON public.t USING btree (a)',
      'CREATE INDEX t_a ON public.u USING btree (a)',
      'CREATE INDEX t_a ON public.t USING btree (a); ALTER ROLE x SUPERUSER',
      'ALTER ROLE x SUPERUSER',
    ])
      expect(() => restoreStatement({ ...row, definition }, true), definition).toThrow(/altered/);
  });

  it('a DROP INDEX of an index the pack does not create is a tracked drop; CASCADE, two names, or a foreign view are refused', async () => {
    const pack = await loadPack(
      writePack('d', 'CREATE INDEX n ON t (a);\nDROP INDEX IF EXISTS n;\nDROP INDEX CONCURRENTLY IF EXISTS app.old;\n'),
    );
    expect(pack.statements.map((s) => s.kind)).toEqual(['create-index', 'drop-own', 'drop-index']);
    expect(pack.drops.map((d) => [d.schema, d.name])).toEqual([['app', 'old']]);
    await expect(loadPack(writePack('d', 'DROP INDEX app.old CASCADE;\n'))).rejects.toThrow(/CASCADE/);
    await expect(loadPack(writePack('d', 'DROP INDEX app.a, app.b;\n'))).rejects.toThrow(/exactly one index/);
    await expect(loadPack(writePack('d', 'DROP MATERIALIZED VIEW app.v;\n'))).rejects.toThrow(/not an object this pack creates/);
  });

  it("the drop pack's comments hold any name on their line: only the DROP statements are live", async () => {
    await ensureParser();
    const name = 'x\nDROP TABLE t; --';
    const r: HygieneResult = {
      database: 'db',
      server: '18',
      coverage: { seconds: 86400 * 8, servers: 1, since: '2026-01-01' },
      findings: [],
      kept: [],
      prediction: 'none',
      hypopg: null,
      workloadQueries: 0,
      measured: null,
      drops: [
        {
          index: `public.${name}`,
          schema: 'public',
          name,
          table: 'public.t',
          definition: `CREATE INDEX "${name}" ON public.t USING btree (a)`,
          sizeBytes: 8192,
          tableWrites: 1,
          reasons: [
            {
              kind: 'unused',
              subject: `public.${name}`,
              table: 'public.t',
              sizeBytes: 8192,
              evidence: name,
              twin: null,
              keptBecause: null,
              fix: null,
            },
          ],
          evidence: 'unproven',
          switched: [],
        },
      ],
    };
    const parsed = parseFile('drop.sql', dropPackText(r));
    expect(parsed.statements.map((s) => s.type)).toEqual(['DropStmt']);
  });
});

describe('hygiene --measure: a slower query keeps the drops its plan read', () => {
  it('blames only the drops the slower query read, and reports a slower query that read none', () => {
    const q = (name: string, indexes: string[]) => ({ name, plan: { indexes, partitionedIndexes: [] } });
    const before = { queries: [q('q1', ['x']), q('q2', ['y']), q('q3', [])] } as unknown as BenchResult;
    const cmp = (name: string, verdict: string) => ({ name, verdict, before: { median: 1 }, after: { median: 5 } });
    const comparison = { queries: [cmp('q1', 'slower'), cmp('q2', 'unchanged'), cmp('q3', 'slower')] } as unknown as Comparison;
    const r = slowerNeeds(before, comparison, [
      { oid: 1, name: 'x' },
      { oid: 2, name: 'y' },
    ]);
    expect([...r.needed.keys()]).toEqual([1]);
    expect(r.unattributed.map((u) => u.query)).toEqual(['q3']);
  });
});
