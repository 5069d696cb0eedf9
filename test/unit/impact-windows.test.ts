import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser } from '../../src/sql/parse.js';
import { judge } from '../../src/production/impact.js';
import { beyondAnyPack } from '../../src/production/capture-rules.js';
import { decideImpact, incompleteBeta, studentP, welch, windowOf, type Cumulative, type Window } from '../../src/production/windows.js';

/** Cumulative counters as pg_stat_statements keeps them, from the executions themselves. */
function counters(times: number[], blocks = 10): Cumulative {
  const n = times.length;
  const total = times.reduce((a, b) => a + b, 0);
  const mean = n ? total / n : 0;
  const popVar = n ? times.reduce((a, b) => a + (b - mean) ** 2, 0) / n : 0;
  return { calls: n, totalMs: total, stddevMs: Math.sqrt(popVar), rows: n, sharedBlocks: n * blocks };
}
const sampleVar = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
};
/** A deterministic spread of n times around `mean` (a low-discrepancy sequence, ±spread). */
const times = (n: number, mean: number, spread = 0.3, phase = 0) =>
  Array.from({ length: n }, (_, i) => mean * (1 + spread * (((i * 0.618 + phase) % 1) * 2 - 1)));

describe('window statistics from cumulative counters', () => {
  it('the window between two snapshots has exactly the mean and sample variance of the executions in it', () => {
    const first = times(500, 3, 0.5);
    const second = times(300, 7, 0.2, 0.3);
    const w = windowOf(counters(first), counters([...first, ...second])) as Window;
    expect(w.calls).toBe(300);
    expect(w.meanMs).toBeCloseTo(second.reduce((a, b) => a + b, 0) / 300, 9);
    expect(w.varianceMs2).toBeCloseTo(sampleVar(second), 6);
  });
  it('an entry that appeared after the first snapshot starts from zero', () => {
    const xs = times(50, 2);
    expect((windowOf(null, counters(xs)) as Window).varianceMs2).toBeCloseTo(sampleVar(xs), 9);
  });
  it('counters that went down (a reset, an evicted entry counted again) make the window invalid, not a guess', () => {
    expect(windowOf(counters(times(100, 1)), counters(times(40, 1)))).toEqual({ invalid: expect.stringContaining('went down') });
  });
});

describe("Student's t and Welch's test against reference values", () => {
  it('I_x(a, b) and two-sided p', () => {
    expect(incompleteBeta(0.5, 2, 3)).toBeCloseTo(0.6875, 10);
    expect(studentP(2.0, 10)).toBeCloseTo(0.07338803, 6);
    expect(studentP(1.96, 1e6)).toBeCloseTo(0.04999579, 5);
    expect(studentP(0, 5)).toBe(1);
  });
  // References computed independently: t and df by their formulas, p by numerical integration of Student's density.
  it('Welch on two small samples', () => {
    const x = [19.1, 21.3, 20.2, 18.7, 22.5];
    const y = [24.9, 23.1, 26.4, 25.0, 22.8, 27.2];
    const w = (xs: number[]): Window => ({ ...(windowOf(null, counters(xs)) as Window) });
    const r = welch(w(x), w(y));
    expect(r.t).toBeCloseTo(4.54394, 4);
    expect(r.df).toBeCloseTo(8.91676, 4);
    expect(r.p).toBeCloseTo(0.0014316, 6);
  });
});

describe('the impact verdict', () => {
  const win = (n: number, mean: number, blocks: number, spread = 0.4, phase = 0) =>
    windowOf(null, counters(times(n, mean, spread, phase), blocks));
  it('a 10× win with 30× fewer blocks per call: faster; the mirror: slower', () => {
    expect(decideImpact(win(500, 5, 300), win(500, 0.5, 10)).verdict).toBe('faster');
    expect(decideImpact(win(500, 0.5, 10), win(500, 5, 300)).verdict).toBe('slower');
  });
  it('the same work per call 1.5× slower (load, cache): unchanged, significant or not', () => {
    const r = decideImpact(win(2000, 1, 50), win(2000, 1.5, 50));
    expect(r.p!).toBeLessThan(0.01);
    expect(r.verdict).toBe('unchanged');
  });
  it('two windows of the same state: unchanged', () => {
    expect(decideImpact(win(400, 2, 40, 0.4, 0), win(600, 2, 40, 0.4, 0.5)).verdict).toBe('unchanged');
  });
  it('a 10× change the test cannot confirm (one slow outlier among 50 calls) is inconclusive, never unchanged', () => {
    const slowFirst = [40, ...times(49, 0.3, 0.2)];
    const before = windowOf(null, counters(slowFirst, 30)) as Window;
    const after = win(50, 0.045, 3, 0.2);
    const r = decideImpact(before, after);
    expect(r.p!).toBeGreaterThan(0.01);
    expect(r).toMatchObject({ verdict: 'inconclusive', reason: expect.stringContaining('but not significant') });
    // The control: the same spread with a change within the margin is unchanged.
    expect(decideImpact(before, windowOf(null, counters([40, ...times(49, 0.3, 0.2, 0.5)], 30))).verdict).toBe('unchanged');
  });
  it('too few calls, or an invalid window: inconclusive with the reason', () => {
    expect(decideImpact(win(10, 5, 300), win(500, 0.5, 10))).toMatchObject({
      verdict: 'inconclusive',
      reason: expect.stringContaining('10 call(s) in the before window'),
    });
    expect(decideImpact({ invalid: 'x' }, win(500, 0.5, 10)).verdict).toBe('inconclusive');
  });
});

describe('which statements impact judges', () => {
  beforeAll(ensureParser);
  const at = (query: string, queryid: string, times: number[]) => ({ ...counters(times), queryid, role: 'app', query, since: null });
  const moment = (minutes: number, statements: ReturnType<typeof at>[]) => ({
    at: new Date(Date.UTC(2026, 11, 2, 12, minutes)),
    serverStarted: new Date(Date.UTC(2026, 11, 1)),
    since: new Date(Date.UTC(2026, 11, 1)),
    dealloc: 0,
    statements,
  });
  const slow = times(40, 10);
  const fast = times(40, 1);
  const TEXTS = {
    app: 'SELECT id FROM app.orders WHERE user_id = $1',
    set: 'SET search_path = $1',
    catalog: 'SELECT pg_catalog.current_setting($1) AS path, pg_catalog.current_schemas($2)::text[] AS schemas',
    registry: 'INSERT INTO pgopt.events (run_id, pack) VALUES ($1, $2)',
    hidden: '<insufficient privilege>',
  };
  it('statements no pack can change (utility, the catalogs only, pgopt itself) are counted, not judged; the application and the unknown are judged', () => {
    const before = Object.values(TEXTS).map((q, i) => at(q, String(i), slow));
    const after = Object.values(TEXTS).map((q, i) => at(q, String(i), [...slow, ...fast]));
    const r = judge(null, moment(0, before), moment(10, before), moment(20, after));
    expect(r.statements.map((s) => s.query).sort()).toEqual([TEXTS.hidden, TEXTS.app].sort());
    expect(r.leftOut).toBe(3);
    // The control: each left-out statement did run in the after window, and would be a row of its own.
    expect(after.filter((s) => s.calls > slow.length).length).toBe(5);
    expect(r.statements.find((s) => s.query === TEXTS.app)?.verdict).toBe('faster');
  });
  it('the rule, statement by statement', () => {
    const beyond = (q: string) => beyondAnyPack(q);
    expect(beyond('BEGIN')).toBe(true);
    expect(beyond('SELECT $1')).toBe(true);
    expect(beyond('SELECT relname FROM pg_class WHERE oid = $1')).toBe(true);
    expect(beyond('SELECT * FROM information_schema.tables')).toBe(true);
    expect(beyond('UPDATE app.orders SET total = $1 WHERE id = $2')).toBe(false);
    expect(beyond('SELECT o.id FROM app.orders o JOIN pg_class c ON c.oid = o.id')).toBe(false);
    expect(beyond('SELEC broken')).toBe(false);
    expect(beyond('<insufficient privilege>')).toBe(false);
  });
});
