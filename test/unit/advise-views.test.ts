import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser, parseTrusted } from '../../src/sql/parse.js';
import { proposeView, type ViewCandidate } from '../../src/advise/views.js';

beforeAll(ensureParser);

const view = (sql: string, name = 'report'): ViewCandidate => {
  const p = proposeView(name, parseTrusted(sql), 'public');
  if (!p.ok) throw new Error(p.reason);
  return p.view;
};
const refusal = (sql: string) => {
  const p = proposeView('q', parseTrusted(sql), 'public');
  return p.ok ? null : p.reason;
};
const flat = (s: string) => s.replace(/\s+/g, ' ');

describe('a materialized view for an aggregate query', () => {
  it('groups by the query keys and the column compared with $1; the rewrite reads it with the same $n and order', () => {
    const v = view(`SELECT e.workflow_id, date_trunc('day', e.created_at, 'UTC') AS day, count(*) AS runs,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms) AS p95
      FROM execution_history e JOIN workflows w ON w.id = e.workflow_id
      WHERE w.project_id = $1 AND e.created_at >= date_trunc('day', now(), 'UTC') - interval '30 days' AND e.status <> 'archived'
      GROUP BY 1, 2 ORDER BY 1, 2`);
    expect(v.grain).toEqual(['project_id', 'day', 'workflow_id']);
    expect(flat(v.viewSql)).toContain('CREATE MATERIALIZED VIEW IF NOT EXISTS "public"."report_mv" AS SELECT');
    expect(flat(v.viewSql)).toContain('w.project_id AS project_id');
    // The fixed condition stays in the view; the $1 and the clock stay in the query.
    expect(flat(v.viewSql)).toContain(`WHERE e.status <> 'archived'`);
    expect(flat(v.viewSql)).not.toContain('$1');
    expect(flat(v.viewSql)).not.toContain('now()');
    expect(flat(v.viewSql)).toMatch(/GROUP BY 1, 2, w\.project_id/);
    expect(flat(v.rewrite)).toBe(
      `SELECT workflow_id, day, runs, p95 FROM public.report_mv WHERE project_id = $1 AND day >= (date_trunc('day', now(), 'UTC') - '30 days'::interval) ORDER BY 1, 2`,
    );
    expect(v.keySql).toBe(
      'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "report_mv_key" ON "public"."report_mv" ("project_id", "day", "workflow_id")',
    );
  });

  it('unnamed columns get names of their own, and an ORDER BY expression becomes its column', () => {
    const v = view(`SELECT n->>'type', count(DISTINCT w.id), count(*) FROM workflows w CROSS JOIN LATERAL jsonb_array_elements(w.nodes) n
      WHERE w.project_id = $1 GROUP BY 1 ORDER BY count(DISTINCT w.id) DESC, 1 LIMIT $2`);
    expect(flat(v.viewSql)).toMatch(/AS col1, count\(DISTINCT w\.id\) AS count, count\(\*\) AS count_2/);
    expect(flat(v.rewrite)).toBe('SELECT col1, count, count_2 FROM public.report_mv WHERE project_id = $1 ORDER BY count DESC, 1 LIMIT $2');
  });

  it('says why where no view gives the same rows', () => {
    for (const q of [
      `SELECT status, count(*) FROM t WHERE created_at > $1 GROUP BY 1`,
      `SELECT a FROM t WHERE b = $1`,
      `SELECT a, count(*) FILTER (WHERE b = $1) FROM t GROUP BY 1`,
      `SELECT a, count(*) FROM t WHERE b IN (SELECT x FROM u) GROUP BY 1`,
      `SELECT a, rank() OVER (ORDER BY count(*)) FROM t GROUP BY 1`,
      `SELECT date_trunc('day', at) AS d, count(*) FROM t WHERE at > now() - interval '1 day' GROUP BY 1`,
    ])
      expect(refusal(q), q).not.toBeNull();
    expect(refusal(`SELECT status, count(*) FROM t WHERE created_at > $1 GROUP BY 1`)).toMatch(/cannot hold \(created_at > \$1\)/);
    expect(refusal(`SELECT a FROM t WHERE b = $1`)).toMatch(/no GROUP BY/);
    expect(refusal(`SELECT a, count(*) FILTER (WHERE b = $1) FROM t GROUP BY 1`)).toMatch(/\$n outside WHERE/);
    expect(refusal(`SELECT a, count(*) FROM t WHERE b IN (SELECT x FROM u) GROUP BY 1`)).toMatch(/subquery/);
    expect(refusal(`SELECT a, rank() OVER (ORDER BY count(*)) FROM t GROUP BY 1`)).toMatch(/window/);
    // Only >= and < keep a day's rows whole: > and <= would cut the first or last day.
    expect(refusal(`SELECT date_trunc('day', at) AS d, count(*) FROM t WHERE at > now() - interval '1 day' GROUP BY 1`)).toMatch(
      /cannot hold/,
    );
  });
});

describe('sameRows: what the view round calls the same result', () => {
  it('the same rows in order (where the query orders them) or as a multiset; floating point within 1e-9, nothing else', async () => {
    const { sameRows } = await import('../../src/advise/view-trials.js');
    expect(sameRows([[1, 'a', '2.50']], [[1, 'a', '2.50']], true)).toBe(true);
    expect(sameRows([[0.1 + 0.2]], [[0.3]], true)).toBe(true);
    expect(sameRows([[1], [2]], [[2], [1]], false)).toBe(true);
    // In order where the query orders them; a numeric (text from the server) exactly; a count exactly.
    expect(sameRows([[1], [2]], [[2], [1]], true)).toBe(false);
    expect(sameRows([['2.50']], [['2.5']], true)).toBe(false);
    expect(sameRows([[41]], [[40]], true)).toBe(false);
    expect(sameRows([[1]], [[1], [1]], false)).toBe(false);
  });
});

describe('viewTrials: which queries get a view', () => {
  it("another role's statement (-- run-as) gets none: its rows would be read and its view built with this role's rights", async () => {
    const { viewTrials } = await import('../../src/advise/view-trials.js');
    const sql = `SELECT status, count(*) FROM app.t GROUP BY status`;
    const q = (runAs?: string) => ({
      name: runAs ? 'theirs' : 'mine',
      description: '',
      params: null,
      paramsLocation: null,
      forms: [{ sql, location: { file: 'w.sql', line: 1 }, whenExists: null, readOnly: true, paramCount: 0 }],
      expectations: [],
      ...(runAs ? { runAs } : {}),
    });
    const t = { schema: 'app', name: 't', columns: new Map([['status', 'text']]) };
    const trials = viewTrials({ name: 'w', source: 'w.sql', queries: [q(), q('alice')], checksum: '' }, () => t);
    expect(trials.map((x) => [x.query, x.outcome, x.reason])).toEqual([
      ['mine', 'proposed', ''],
      ['theirs', 'no-view', "another role's statement (-- run-as: alice)"],
    ]);
  });
});
