import { describe, expect, it } from 'vitest';
import { selectTrials, variantPays, variantShortfall, type QueryEffect, type Trial } from '../../src/advise/select.js';
import type { Verdict } from '../../src/bench/compare.js';

const effect = (query: string, beforeMs: number, afterMs: number, verdict: Verdict): QueryEffect => ({
  query,
  beforeMs,
  afterMs,
  verdict,
  speedup: beforeMs / afterMs,
  reason: '',
});
const trial = (name: string, sizeBytes: number, effects: QueryEffect[]): Trial => ({
  candidate: {
    table: { schema: 'app', name: 't' },
    method: 'btree',
    keys: [{ sql: name }],
    include: [],
    where: null,
    queries: effects.map((e) => e.query),
    why: '',
  },
  name,
  sql: '',
  predicted: null,
  sizeBytes,
  effects,
  outcome: 'not-tried',
  reason: '',
});
const outcomes = (ts: Trial[]) => Object.fromEntries(ts.map((t) => [t.name, t.outcome]));
const roomy = { maxIndexes: 10, maxSizeBytes: Infinity };

describe('selectTrials: an index is kept only when the verdict says a query it served got faster', () => {
  it('keeps every proven index and none of the rest (both errors)', () => {
    const ts = [
      trial('proven', 1000, [effect('a', 10, 1, 'faster')]),
      trial('same', 1000, [effect('b', 10, 9.5, 'unchanged')]),
      trial('slower', 1000, [effect('c', 1, 3, 'slower')]),
      trial('unclear', 1000, [effect('d', 10, 2, 'inconclusive')]),
      trial('unused', 1000, []),
    ];
    expect(outcomes(selectTrials(ts, roomy))).toEqual({
      proven: 'kept',
      same: 'no-gain',
      slower: 'no-gain',
      unclear: 'no-gain',
      unused: 'unused',
    });
  });
  it('two indexes serving the same query: the one saving more per byte stays', () => {
    const ts = [trial('big', 10_000, [effect('a', 10, 1, 'faster')]), trial('small', 1000, [effect('a', 10, 1.2, 'faster')])];
    expect(outcomes(selectTrials(ts, roomy))).toEqual({ big: 'no-gain', small: 'kept' });
  });
  it('the budget: --max-indexes and --max-size, best per byte first', () => {
    const make = () => [
      trial('x', 1000, [effect('a', 10, 1, 'faster')]),
      trial('y', 5000, [effect('b', 10, 1, 'faster')]),
      trial('z', 2000, [effect('c', 10, 1, 'faster')]),
    ];
    expect(outcomes(selectTrials(make(), { maxIndexes: 2, maxSizeBytes: Infinity }))).toEqual({ x: 'kept', y: 'over-budget', z: 'kept' });
    expect(outcomes(selectTrials(make(), { maxIndexes: 10, maxSizeBytes: 3500 }))).toEqual({ x: 'kept', y: 'over-budget', z: 'kept' });
  });

  it('a join read through several trial indexes at once: they are kept together (the saving was measured with all), or none', () => {
    const join = () => [
      trial('orders_user', 1000, [{ ...effect('j', 145, 0.1, 'faster'), with: ['items_order', 'users_org'] }]),
      trial('items_order', 3000, [{ ...effect('j', 145, 0.1, 'faster'), with: ['orders_user', 'users_org'] }]),
      trial('users_org', 2000, [{ ...effect('j', 145, 0.1, 'faster'), with: ['orders_user', 'items_order'] }]),
    ];
    const kept = selectTrials(join(), roomy);
    expect(outcomes(kept)).toEqual({ orders_user: 'kept', items_order: 'kept', users_org: 'kept' });
    expect(kept.find((t) => t.name === 'items_order')!.reason).toBe('read together with orders_user by j');
    // The unsafe way, per query alone, kept one of three and credited it with the whole saving.
    const alone = selectTrials(
      join().map((t) => ({ ...t, effects: t.effects.map(({ with: _, ...e }) => e) })),
      roomy,
    );
    expect(Object.values(outcomes(alone)).filter((o) => o === 'kept')).toHaveLength(1);
    // Over the budget as a group: none of them.
    expect(Object.values(outcomes(selectTrials(join(), { maxIndexes: 2, maxSizeBytes: Infinity }))).includes('kept')).toBe(false);
  });

  it('weighs each win by how often production runs the query (a captured workload): the frequent small win beats the rare big one', () => {
    const weighed = (rare: number, frequent: number) => [
      trial('report', 1000, [{ ...effect('report', 6, 1, 'faster'), callsPerHour: rare }]),
      trial('lookup', 1000, [{ ...effect('lookup', 1.5, 0.5, 'faster'), callsPerHour: frequent }]),
    ];
    expect(outcomes(selectTrials(weighed(1, 1000), { maxIndexes: 1, maxSizeBytes: Infinity }))).toEqual({
      report: 'over-budget',
      lookup: 'kept',
    });
    // The control: unweighed (a hand-written workload), the bigger win per execution is kept.
    const plain = [
      trial('report', 1000, [effect('report', 6, 1, 'faster')]),
      trial('lookup', 1000, [effect('lookup', 1.5, 0.5, 'faster')]),
    ];
    expect(outcomes(selectTrials(plain, { maxIndexes: 1, maxSizeBytes: Infinity }))).toEqual({ report: 'kept', lookup: 'over-budget' });
  });
});

describe('a round-two variant earns its extra bytes only by a real gain over its plain index', () => {
  const vs = (plainMs: number, variantMs: number, verdict: Verdict) => ({
    verdict,
    before: { median: plainMs, p95: plainMs, form: '', plan: '', buffers: 0, n: 20 },
    after: { median: variantMs, p95: variantMs, form: '', plan: '', buffers: 0, n: 20 },
  });
  it('significantly faster by 0.41 ms an execution (an index-only scan of 20 rows): it pays', () => {
    expect(variantPays(vs(0.52, 0.11, 'faster'))).toBe(true);
  });
  it('called faster by its buffers, 0.02 ms an execution (a covering index 4.6× its plain one): it does not', () => {
    expect(variantPays(vs(0.095, 0.075, 'faster'))).toBe(false);
  });
  it('a large difference the verdict rule does not call faster, or a query one side did not run: it does not', () => {
    expect(variantPays(vs(3.2, 0.17, 'inconclusive'))).toBe(false);
    expect(variantPays({ verdict: 'faster', before: null, after: vs(1, 0.1, 'faster').after })).toBe(false);
  });
  it('the reason it stays out says which: too small a gain, no significant one, or no plan that read it', () => {
    expect(variantShortfall([vs(0.095, 0.075, 'faster')], 'p_idx')).toBe(
      'faster than p_idx by only 0.020 ms an execution: under 0.05 ms does not pay for its extra bytes',
    );
    expect(variantShortfall([vs(0.3, 0.2, 'unchanged')], 'p_idx')).toBe('not significantly faster than p_idx, which is smaller');
    expect(variantShortfall([], 'p_idx')).toBe('no plan read it beside p_idx, which is smaller');
  });
});
