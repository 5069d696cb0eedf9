import { describe, expect, it } from 'vitest';
import { loadWorkload } from '../../src/bench/workload.js';
import { writePack } from '../helpers/packs.js';
import { PgoptError } from '../../src/errors.js';

const w = (text: string) => loadWorkload(writePack('wl', text));

describe('workload files', () => {
  it('comment lines of every kind describe the query; only exact lower-case directives are directives', async () => {
    const wl = await w(`-- name: ssh_nodes
-- Audit: which saved workflow versions contain an SSH node (JSONB containment).
-- See: https://example.com/docs/jsonb#containment: the @> operator
-- Owner: platform-team
-- Example: SELECT 1
-- Note: NOTE: TODO: anything with colons
SELECT 1;
`);
    expect(wl.queries[0].name).toBe('ssh_nodes');
    expect(wl.queries[0].description).toContain('Audit: which saved workflow versions contain an SSH node (JSONB containment).');
    expect(wl.queries[0].description).toContain('See: https://example.com/docs/jsonb#containment: the @> operator');
  });

  it('reads names, params (continued lines), alternative forms and expectations; comments may hold semicolons', async () => {
    const wl = await w(`-- name: list
-- A project's list; newest first.
-- params: SELECT id,
--           0 FROM projects
-- expect: uses index idx_list
-- expect: under 5 ms
SELECT * FROM workflows WHERE project_id = $1 OFFSET $2;

-- name: stats
SELECT count(*) FROM execution_history; -- trailing; comment

-- name: stats
-- when-exists: stats_view
SELECT n FROM stats_view;
`);
    expect(wl.queries.map((q) => q.name)).toEqual(['list', 'stats']);
    const [list, stats] = wl.queries;
    expect(list.params).toBe('SELECT id,\n0 FROM projects');
    expect(list.description).toBe("A project's list; newest first.");
    expect(list.forms[0]).toMatchObject({ paramCount: 2, readOnly: true, whenExists: null, location: { line: 7 } });
    expect(list.expectations).toEqual([
      { kind: 'uses-index', index: 'idx_list', text: 'uses index idx_list' },
      { kind: 'under-ms', ms: 5, text: 'under 5 ms' },
    ]);
    expect(stats.forms.map((f) => f.whenExists)).toEqual([null, 'stats_view']);
  });

  it('a DML query is not read-only (it runs in a rolled-back read-write transaction)', async () => {
    const wl = await w(`-- name: touch\n-- params: SELECT 1\nUPDATE t SET x = x WHERE id = $1;\n`);
    expect(wl.queries[0].forms[0].readOnly).toBe(false);
  });

  it('the checksum ignores layout but not meaning', async () => {
    const a = await w(`-- name: q\nSELECT 1;\n`);
    const b = await w(`-- name: q\n\n  SELECT   1 ;\n`);
    const c = await w(`-- name: q\nSELECT 2;\n`);
    expect(a.checksum).toBe(b.checksum);
    expect(a.checksum).not.toBe(c.checksum);
  });

  const BAD: [string, string, string, number][] = [
    ['no name', `SELECT 1;\n`, 'query without a name', 1],
    ['syntax error', `-- name: q\nSELEC 1;\n`, 'syntax error at or near "SELEC"', 2],
    ['params missing', `-- name: q\nSELECT $1;\n`, 'uses $1 but has no "-- params:" query', 2],
    ['params not a query', `-- name: q\n-- params: DELETE FROM t\nSELECT $1;\n`, 'params: must be a single SELECT', 2],
    ['params syntax', `-- name: q\n-- params: SELEC 1\nSELECT $1;\n`, 'params: syntax error', 2],
    ['name twice', `-- name: q\nSELECT 1;\n-- name: q\nSELECT 2;\n`, 'is named twice', 3],
    ['bad name', `-- name: my query\nSELECT 1;\n`, 'may only hold letters', 1],
    ['bad expectation', `-- name: q\n-- expect: fast please\nSELECT 1;\n`, 'unknown expectation "fast please"', 2],
    ['unknown directive', `-- name: q\n-- parms: SELECT 1\nSELECT 1;\n`, 'unknown directive "parms:" (did you mean "-- params:"?)', 2],
    ['when-exists first', `-- name: q\n-- when-exists: v\nSELECT 1;\n`, 'the raw form comes first', 3],
    ['Name: in capitals', `-- Name: q\nSELECT 1;\n`, 'unknown directive "Name:" (did you mean "-- name:"?)', 1],
    ['expects:', `-- name: q\n-- expects: under 5 ms\nSELECT 1;\n`, 'did you mean "-- expect:"', 2],
    ['when_exists:', `-- name: q\nSELECT 1;\n-- name: q\n-- when_exists: v\nSELECT 2;\n`, 'did you mean "-- when-exists:"', 4],
    ['param:', `-- name: q\n-- param: SELECT 1\nSELECT $1;\n`, 'did you mean "-- params:"', 2],
    [
      'a data-modifying params query',
      `-- name: q\n-- params: WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d\nSELECT $1;\n`,
      'params: must only read',
      2,
    ],
    ['a sequence in a query', `-- name: q\nSELECT nextval('s');\n`, 'calls nextval(): sequences are not rolled back', 2],
    ['empty', `-- nothing\n`, 'holds no queries', 0],
  ];
  for (const [name, text, message, line] of BAD) {
    it(`refuses: ${name}`, async () => {
      const err = await w(text).catch((e) => e);
      expect(err).toBeInstanceOf(PgoptError);
      expect(err.kind).toBe('input');
      expect(err.message).toContain(message);
      if (line) expect(err.location.line).toBe(line);
    });
  }

  it('calls-per-hour and run-as (capture writes them): read, checked, and kept off alternative forms', async () => {
    const wl = await w(`-- name: q
-- calls-per-hour: 1250.5
-- run-as: app_reader
SELECT 1;
`);
    expect(wl.queries[0]).toMatchObject({ callsPerHour: 1250.5, runAs: 'app_reader' });
    await expect(w(`-- name: q\n-- calls-per-hour: often\nSELECT 1;\n`)).rejects.toThrow(
      /calls-per-hour must be a number of calls, not "often"/,
    );
    await expect(w(`-- name: q\n-- calls-per-hours: 3\nSELECT 1;\n`)).rejects.toThrow(/did you mean "-- calls-per-hour:"/);
    await expect(w(`-- name: q\nSELECT 1;\n-- name: q\n-- when-exists: i\n-- run-as: x\nSELECT 2;\n`)).rejects.toThrow(
      /shares the "-- run-as:"/,
    );
    // Who runs it is part of what the workload means: a baseline of another role's run does not compare.
    const mine = await w(`-- name: q\nSELECT 1;\n`);
    expect(mine.checksum).not.toBe(wl.checksum);
  });
});

describe('-- values-from: none (a captured statement with no values for its $n)', () => {
  const Q = 'SELECT id FROM app.users WHERE email = $1;';
  it('is a query bench does not run, with production mean for advise', async () => {
    const r = await w(`-- name: q\n-- values-from: none\n-- mean-ms: 12.5\n${Q}\n`);
    expect(r.queries[0]).toMatchObject({ name: 'q', planOnly: true, productionMeanMs: 12.5, params: null });
    // The control: the same query without the directive has no way to get its $1.
    await expect(w(`-- name: q\n${Q}\n`)).rejects.toThrow(/uses \$1 but has no "-- params:" query/);
  });
  it('refuses what contradicts it, at the line', async () => {
    await expect(w(`-- name: q\n-- values-from: log\n${Q}\n`)).rejects.toMatchObject({
      message: 'values-from: the one value is "none", not "log"',
      location: { line: 2 },
    });
    await expect(w(`-- name: q\n-- values-from: none\n-- params: SELECT 'a'\n${Q}\n`)).rejects.toThrow(/contradict each other/);
    await expect(w(`-- name: q\n-- values-from: none\n-- run-as: alice\n${Q}\n`)).rejects.toThrow(/cannot go with "-- run-as:"/);
    await expect(w(`-- name: q\n-- values-from: none\n-- mean-ms: fast\n${Q}\n`)).rejects.toThrow(/mean-ms must be a number/);
  });
  it('an older capture\'s "-- Values:" description line is still a description', async () => {
    const r = await w(`-- name: q\n-- Values: 3 set(s) of bind values from the server log.\n-- params: SELECT 'a'\n${Q}\n`);
    expect(r.queries[0].description).toContain('Values: 3 set(s)');
  });
});
