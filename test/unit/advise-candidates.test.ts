import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser, parseTrusted } from '../../src/sql/parse.js';
import { candidatesForQuery, keyText, mergeCandidates, sortPays, type Candidate, type TableFacts } from '../../src/advise/candidates.js';

const table = (name: string, cols: Record<string, string>, schema = 'app', fewValued: string[] = []): TableFacts => ({
  schema,
  name,
  columns: new Map(Object.entries(cols)),
  fewValued: new Set(fewValued),
});
const TABLES = [
  table('users', { id: 'bigint', email: 'text', deleted_at: 'timestamp with time zone', active: 'boolean', org_id: 'bigint' }),
  table(
    'Execution',
    {
      id: 'bigint',
      workflowId: 'integer',
      status: 'text',
      createdAt: 'timestamp with time zone',
      data: 'jsonb',
      tags: 'text[]',
    },
    'app',
    ['status'],
  ),
  table('orgs', { id: 'bigint', name: 'text' }),
];
const lookup = (schema: string | null, name: string) => TABLES.find((t) => t.name === name && (!schema || t.schema === schema));
const advise = (sql: string, name = 'q') => candidatesForQuery(name, parseTrusted(sql), lookup);
const shapes = (cs: Candidate[]) =>
  cs.map(
    (c) =>
      `${c.table.name} ${c.method} (${c.keys.map(keyText).join(', ')})${c.include.length ? ` INCLUDE (${c.include.join(', ')})` : ''}${c.where ? ` WHERE ${c.where}` : ''}`,
  );

beforeAll(ensureParser);

describe('candidates from the parse tree', () => {
  it('WHERE a = $1 ORDER BY b DESC LIMIT 20: the equality column first, then the sort column with its direction', () => {
    expect(shapes(advise(`SELECT id FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 20`))).toContain(
      'Execution btree ("workflowId", "createdAt" DESC)',
    );
  });
  it('without LIMIT the ORDER BY is a key too: after an equality the rows come sorted, alone the table is read in order', () => {
    expect(shapes(advise(`SELECT id FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC`))).toContain(
      'Execution btree ("workflowId", "createdAt" DESC)',
    );
    expect(shapes(advise(`SELECT id FROM app."Execution" ORDER BY "createdAt" DESC`))).toContain('Execution btree ("createdAt" DESC)');
  });
  it('ORDER BY a position or an output alias sorts by that column', () => {
    const byPos = shapes(advise(`SELECT "createdAt", id FROM app."Execution" WHERE "workflowId" = $1 ORDER BY 1 DESC LIMIT 5`));
    expect(byPos).toContain('Execution btree ("workflowId", "createdAt" DESC)');
    const byAlias = shapes(advise(`SELECT "createdAt" AS at, id FROM app."Execution" WHERE "workflowId" = $1 ORDER BY at LIMIT 5`));
    expect(byAlias).toContain('Execution btree ("workflowId", "createdAt")');
  });
  it('equalities under OR: one index per arm, which the planner ORs as bitmaps; none when an arm has nothing to look up', () => {
    expect(shapes(advise(`SELECT id FROM app.users WHERE email = $1 OR org_id = $2`))).toEqual(
      expect.arrayContaining(['users btree (email)', 'users btree (org_id)']),
    );
    expect(advise(`SELECT id FROM app.users WHERE email = $1 OR lower(email) LIKE '%x'`)).toEqual([]);
  });
  it('a constant predicate makes a partial index; IS NULL and a boolean too', () => {
    const s = shapes(advise(`SELECT id FROM app."Execution" e WHERE e.status IN ('error', 'crashed') ORDER BY e."createdAt" LIMIT 50`));
    expect(s).toContain(`Execution btree ("createdAt") WHERE status IN ('error', 'crashed')`);
    const u = shapes(advise(`SELECT id FROM app.users WHERE org_id = $1 AND deleted_at IS NULL AND active`));
    expect(u).toContain('users btree (org_id) WHERE deleted_at IS NULL AND active');
  });
  it('a literal on a column of many values is one value among many: a plain index serves it and every other, never a partial one on the key itself', () => {
    expect(shapes(advise(`SELECT id, email FROM app.users WHERE id = 1`))).toEqual([
      'users btree (id)',
      'users btree (id) INCLUDE (email)',
    ]);
    const fixed = shapes(advise(`SELECT id FROM app."Execution" WHERE "workflowId" = 7 AND status = 'open' ORDER BY "createdAt" LIMIT 5`));
    expect(fixed).toContain('Execution btree ("workflowId", status, "createdAt")');
    expect(fixed).toContain(`Execution btree ("workflowId", "createdAt") WHERE status = 'open'`);
    expect(fixed.filter((x) => x.includes('WHERE "workflowId"'))).toEqual([]);
    // A fixed filter alone: the rows of that status, keyed on its column (the open rows of a queue).
    expect(shapes(advise(`SELECT id FROM app."Execution" WHERE status = 'open'`))).toContain(
      `Execution btree (status) WHERE status = 'open'`,
    );
    // IS NULL is a key only alone: the planner does not take it as an equality for an ORDER BY after it.
    expect(shapes(advise(`SELECT id FROM app.users WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id LIMIT 5`))).toEqual(
      expect.arrayContaining(['users btree (org_id, id)', 'users btree (org_id, id) WHERE deleted_at IS NULL']),
    );
    expect(shapes(advise(`SELECT id FROM app.users WHERE deleted_at IS NULL`))).toContain('users btree (deleted_at)');
  });
  it('LIKE: a prefix is found by a btree with the pattern operator class; an infix, ILIKE or a regex by pg_trgm where installed', () => {
    const trgm = (sql: string) => shapes(candidatesForQuery('q', parseTrusted(sql), lookup, { trigramSchema: 'public' }));
    expect(shapes(advise(`SELECT id FROM app.users WHERE email LIKE 'ann%'`))).toEqual(['users btree (email text_pattern_ops)']);
    expect(shapes(advise(`SELECT id FROM app.users WHERE org_id = $1 AND email LIKE $2`))).toContain(
      'users btree (org_id, email text_pattern_ops)',
    );
    // No pg_trgm: nothing serves an infix.
    expect(advise(`SELECT id FROM app.users WHERE email LIKE '%@example.com'`)).toEqual([]);
    expect(trgm(`SELECT id FROM app.users WHERE email LIKE '%@example.com'`)).toEqual(['users gin (email "public".gin_trgm_ops)']);
    expect(trgm(`SELECT id FROM app.users WHERE email ILIKE $1`)).toEqual(['users gin (email "public".gin_trgm_ops)']);
    expect(trgm(`SELECT id FROM app.users WHERE lower(email) ~ 'ann.*x'`)).toEqual(['users gin (lower(email) "public".gin_trgm_ops)']);
    // Too short to look up three characters in a row, or a NOT LIKE: none.
    expect(trgm(`SELECT id FROM app.users WHERE email LIKE '%a%'`)).toEqual([]);
    expect(trgm(`SELECT id FROM app.users WHERE email NOT LIKE 'ann%'`)).toEqual([]);
    // A cast is an expression key, in the parentheses CREATE INDEX needs.
    expect(trgm(`SELECT id FROM app.users WHERE org_id::text LIKE '12%'`)).toEqual(['users btree ((org_id::text) text_pattern_ops)']);
  });
  it('BRIN for a range on a column in disk order, on a large table only', () => {
    const events = (pages: number): TableFacts => ({
      schema: 'app',
      name: 'events',
      columns: new Map([
        ['id', 'bigint'],
        ['at', 'timestamp with time zone'],
        ['kind', 'text'],
      ]),
      correlated: new Set(['at']),
      pages,
    });
    const on = (t: TableFacts, sql: string) =>
      shapes(candidatesForQuery('q', parseTrusted(sql), (_, n) => (n === 'events' ? t : undefined)));
    const range = `SELECT count(*) FROM app.events WHERE at >= $1 AND at < $2`;
    expect(on(events(100_000), range)).toEqual(['events btree (at)', 'events brin (at)']);
    expect(on(events(100), range)).toEqual(['events btree (at)']);
    expect(on(events(100_000), `SELECT count(*) FROM app.events WHERE id > $1`)).toEqual(['events btree (id)']);
  });
  it('an expression the query filters on: lower(email)', () => {
    expect(shapes(advise(`SELECT id FROM app.users WHERE lower(email) = lower($1)`))).toContain('users btree (lower(email))');
  });
  it("an operator expression is parenthesised, as CREATE INDEX requires: (data ->> 'kind')", () => {
    expect(shapes(advise(`SELECT id FROM app."Execution" WHERE data->>'kind' = $1`))).toContain(`Execution btree ((data ->> 'kind'))`);
  });
  it('jsonb containment: GIN with jsonb_path_ops for @>, jsonb_ops for ?', () => {
    expect(shapes(advise(`SELECT id FROM app."Execution" WHERE data @> '{"kind": 3}'`))).toEqual(['Execution gin (data jsonb_path_ops)']);
    expect(shapes(advise(`SELECT id FROM app."Execution" WHERE data ? 'error'`))).toEqual(['Execution gin (data jsonb_ops)']);
    expect(shapes(advise(`SELECT id FROM app."Execution" WHERE tags && $1`))).toEqual(['Execution gin (tags)']);
  });
  it('an aggregate over the whole table: nothing an index can do', () => {
    expect(advise(`SELECT status, count(*) FROM app."Execution" GROUP BY status`)).toEqual([]);
  });
  it('join keys, correlated subqueries (an outer column is a constant inside) and CTEs', () => {
    expect(shapes(advise(`SELECT u.id FROM app.users u JOIN app.orgs o ON o.id = u.org_id WHERE o.name = $1`))).toEqual(
      expect.arrayContaining(['users btree (org_id)', 'orgs btree (name)']),
    );
    expect(
      shapes(advise(`SELECT o.id FROM app.orgs o WHERE EXISTS (SELECT 1 FROM app.users u WHERE u.org_id = o.id AND u.active)`)),
    ).toContain('users btree (org_id) WHERE active');
    expect(shapes(advise(`WITH recent AS (SELECT * FROM app.users WHERE email = $1) SELECT * FROM recent`))).toContain(
      'users btree (email)',
    );
  });
  it('merging: one index serves several queries when its keys lead with another query’s', () => {
    const merged = mergeCandidates([
      ...advise(`SELECT * FROM app."Execution" WHERE "workflowId" = $1`, 'one'),
      ...advise(`SELECT * FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 10`, 'two'),
    ]);
    expect(merged.map((c) => [shapes([c])[0], c.queries])).toEqual([['Execution btree ("workflowId", "createdAt" DESC)', ['two', 'one']]]);
  });
});

describe('keys no index can hold', () => {
  it('a window function, an aggregate, a subquery: no key; the plain column beside them still is one', () => {
    const ranked = shapes(advise(`SELECT id FROM app.users WHERE org_id = $1 ORDER BY rank() OVER (ORDER BY id) LIMIT 5`));
    expect(ranked).toContain('users btree (org_id)');
    expect(ranked).not.toContainEqual(expect.stringContaining('OVER'));
    expect(shapes(advise(`SELECT id FROM app.users WHERE org_id = (SELECT max(id) FROM app.orgs) ORDER BY id LIMIT 5`))).not.toContainEqual(
      expect.stringContaining('SELECT'),
    );
    // The control: the same ORDER BY on a plain column is a key.
    expect(shapes(advise(`SELECT id FROM app.users WHERE org_id = $1 ORDER BY id LIMIT 5`))).toContain('users btree (org_id, id)');
  });
  it('a grouped block sorts groups: only a group key can come ordered from an index', () => {
    expect(shapes(advise(`SELECT org_id, count(*) FROM app.users GROUP BY org_id ORDER BY count(*) DESC LIMIT 10`))).toEqual([]);
    expect(shapes(advise(`SELECT org_id, sum(id) FROM app.users GROUP BY org_id ORDER BY sum(id) DESC LIMIT 10`))).toEqual([]);
    expect(shapes(advise(`SELECT org_id, count(*) FROM app.users GROUP BY org_id ORDER BY org_id LIMIT 10`))).toEqual([
      'users btree (org_id)',
    ]);
  });
});

describe('a subquery the server runs once is a value, as a bind value is', () => {
  it('col = (SELECT …): the filtered column leads, the sort column follows', () => {
    expect(
      shapes(advise(`SELECT id FROM app.users WHERE org_id = (SELECT id FROM app.orgs WHERE name = $1) ORDER BY id DESC LIMIT 20`)),
    ).toContain('users btree (org_id, id DESC)');
    // The control: a correlated subquery runs per row, and is no value the index can look up.
    expect(
      shapes(
        advise(`SELECT id FROM app.users u WHERE org_id = (SELECT max(o.id) FROM app.orgs o WHERE o.id = u.id) ORDER BY id DESC LIMIT 20`),
      ),
    ).not.toContainEqual(expect.stringMatching(/^users btree \(org_id/));
  });
  it('col IN (SELECT …) and col = ANY (ARRAY(SELECT …)) are equalities; a subquery on a CTE is not known to be one', () => {
    expect(
      shapes(advise(`SELECT id FROM app.users WHERE org_id IN (SELECT id FROM app.orgs WHERE name LIKE $1) ORDER BY id LIMIT 5`)),
    ).toContain('users btree (org_id, id)');
    expect(shapes(advise(`SELECT id FROM app.users WHERE org_id = ANY (ARRAY(SELECT id FROM app.orgs)) ORDER BY id LIMIT 5`))).toContain(
      'users btree (org_id, id)',
    );
    expect(
      shapes(advise(`WITH o AS (SELECT id FROM app.orgs) SELECT id FROM app.users WHERE org_id IN (SELECT id FROM o) ORDER BY id LIMIT 5`)),
    ).not.toContainEqual(expect.stringMatching(/^users btree \(org_id/));
  });
});

describe('an ORDER BY key after the equalities, only where a key value has more rows than the query reads', () => {
  const withRows = (mostRows: Record<string, number>): TableFacts => ({
    ...table('jobs', { id: 'bigint', pipeline_id: 'bigint', parent_job: 'bigint', created_at: 'timestamp with time zone' }),
    mostRows: new Map(Object.entries(mostRows)),
  });
  const on = (t: TableFacts, sql: string) => shapes(candidatesForQuery('q', parseTrusted(sql), () => t));

  it('7 rows a pipeline and LIMIT 20: the equality alone (the sort of 7 rows is free, the index deduplicated)', () => {
    const t = withRows({ pipeline_id: 7 });
    const got = on(t, 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY created_at DESC LIMIT 20');
    expect(got).toContain('jobs btree (pipeline_id)');
    expect(got).not.toContain('jobs btree (pipeline_id, created_at DESC)');
  });
  it('the most common value counts: one pipeline of 5,000 rows keeps the sort key, whatever the average', () => {
    const got = on(withRows({ pipeline_id: 5000 }), 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY created_at DESC LIMIT 20');
    expect(got).toContain('jobs btree (pipeline_id, created_at DESC)');
  });
  it('LIMIT 1 with 150 rows a key: the sort key reads one row where the equality alone reads 150', () => {
    expect(on(withRows({ pipeline_id: 150 }), 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY created_at DESC LIMIT 1')).toContain(
      'jobs btree (pipeline_id, created_at DESC)',
    );
  });
  it('OFFSET counts (page 2 reads 40 rows), and a LIMIT or OFFSET set by a parameter keeps the sort key (the rows read are unknown)', () => {
    const t = withRows({ pipeline_id: 30 });
    expect(on(t, 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY created_at LIMIT 20')).toContain(
      'jobs btree (pipeline_id, created_at)',
    );
    expect(on(t, 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY created_at LIMIT 20 OFFSET 20')).not.toContain(
      'jobs btree (pipeline_id, created_at)',
    );
    expect(on(t, 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY created_at LIMIT 20 OFFSET $2')).toContain(
      'jobs btree (pipeline_id, created_at)',
    );
  });
  it('without a LIMIT: up to SORT_FEW_ROWS rows a key sort for free', () => {
    expect(on(withRows({ pipeline_id: 7 }), 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY id')).toContain(
      'jobs btree (pipeline_id)',
    );
    expect(on(withRows({ pipeline_id: 5000 }), 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY id')).toContain(
      'jobs btree (pipeline_id, id)',
    );
  });
  it('no statistics, or no equality: the sort key stays', () => {
    expect(on(withRows({}), 'SELECT id FROM jobs WHERE pipeline_id = $1 ORDER BY created_at LIMIT 20')).toContain(
      'jobs btree (pipeline_id, created_at)',
    );
    expect(on(withRows({ pipeline_id: 7 }), 'SELECT id FROM jobs ORDER BY created_at LIMIT 20')).toContain('jobs btree (created_at)');
  });
  it('an equality on a subquery counts as any equality (child jobs of a parent, 6 rows each)', () => {
    const got = on(
      withRows({ parent_job: 6, pipeline_id: 7 }),
      'SELECT id FROM jobs WHERE parent_job = (SELECT min(id) FROM jobs WHERE pipeline_id = $1) ORDER BY created_at DESC LIMIT 20',
    );
    expect(got).toContain('jobs btree (parent_job)');
    expect(got).not.toContain('jobs btree (parent_job, created_at DESC)');
  });
});

describe('sort keys that only the heaviest values need are measured, not assumed (followers of a few stars)', () => {
  const jobs = (mostRows: number, typicalRows: number): TableFacts => ({
    ...table('follows', { follower_id: 'bigint', followee_id: 'bigint', created_at: 'timestamp with time zone' }),
    mostRows: new Map([['followee_id', mostRows]]),
    typicalRows: new Map([['followee_id', typicalRows]]),
  });
  const sql = 'SELECT follower_id FROM follows WHERE followee_id = $1 ORDER BY created_at DESC LIMIT 20';
  const key = (c: string) => [{ sql: c, desc: false }];

  it('sortPays: no when the most common value fits the LIMIT, yes when an average one does not, measure in between', () => {
    expect(sortPays(jobs(15, 7), key('followee_id'), 20)).toBe('no');
    expect(sortPays(jobs(5000, 300), key('followee_id'), 20)).toBe('yes');
    expect(sortPays(jobs(5000, 7), key('followee_id'), 20)).toBe('measure');
    // Without an average (a table never analyzed shows none) the heaviest value decides, as before.
    expect(sortPays({ ...jobs(5000, 7), typicalRows: undefined }, key('followee_id'), 20)).toBe('yes');
  });
  it('measure: the short index in round one, the one with the sort key tried against it, and merging never folds one into the other', () => {
    const got = mergeCandidates(candidatesForQuery('q', parseTrusted(sql), () => jobs(5000, 7)));
    const wide = got.find((c) => c.widens);
    expect(shapes(got)).toContain('follows btree (followee_id)');
    expect(wide && shapes([wide])).toEqual(['follows btree (followee_id, created_at DESC)']);
    expect(wide!.widens!.map(keyText)).toEqual(['followee_id']);
  });
  it('yes: the sort key in round one, as before (nothing to try against)', () => {
    const got = candidatesForQuery('q', parseTrusted(sql), () => jobs(5000, 300));
    expect(shapes(got)).toContain('follows btree (followee_id, created_at DESC)');
    expect(got.some((c) => c.widens)).toBe(false);
  });
  it('another query that wants the long index outright brings it to round one', () => {
    const t = jobs(5000, 7);
    const both = mergeCandidates([
      ...candidatesForQuery('q', parseTrusted(sql), () => t),
      ...candidatesForQuery('r', parseTrusted('SELECT follower_id FROM follows WHERE followee_id = $1 ORDER BY created_at DESC'), () => ({
        ...t,
        typicalRows: new Map([['followee_id', 300]]),
      })),
    ]);
    const long = both.find((c) => shapes([c])[0] === 'follows btree (followee_id, created_at DESC)')!;
    expect(long.widens).toBeUndefined();
    expect(long.queries.sort()).toEqual(['q', 'r']);
  });
});

describe('an equality of a handful of rows a value is the whole key', () => {
  const t: TableFacts = {
    ...table('customers', { id: 'bigint', tenant_id: 'int', external_id: 'text', created_at: 'timestamp with time zone' }),
    mostRows: new Map([
      ['tenant_id', 4000],
      ['external_id', 1],
      ['created_at', 1],
    ]),
  };
  const on = (sql: string) => shapes(candidatesForQuery('q', parseTrusted(sql), () => t));

  it('tenant_id = $1 AND external_id = $2: (external_id) alone, whatever the order the query names them in', () => {
    const got = on('SELECT id FROM customers WHERE tenant_id = $1 AND external_id = $2');
    expect(got).toContain('customers btree (external_id)');
    expect(got).not.toContain('customers btree (tenant_id, external_id)');
  });
  it('a range after it needs no key either; after a column of many rows a value it does', () => {
    expect(on('SELECT id FROM customers WHERE external_id = $1 AND created_at > now() - $2::interval')).toEqual(
      expect.not.arrayContaining(['customers btree (external_id, created_at)']),
    );
    expect(on('SELECT id FROM customers WHERE tenant_id = $1 AND created_at > now() - $2::interval')).toContain(
      'customers btree (tenant_id, created_at)',
    );
  });
  it('every equality stays when none is that narrow, or the statistics say nothing', () => {
    expect(on('SELECT id FROM customers WHERE tenant_id = $1 AND id = $2')).toContain('customers btree (tenant_id, id)');
  });
  it('an index has at most 32 keys, as PostgreSQL builds it: a query of 40 equalities gets no key past the 32nd', () => {
    const wide: TableFacts = table('t', Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`c${i}`, 'int'])));
    const where = Array.from({ length: 40 }, (_, i) => `c${i} = ${i}`).join(' AND ');
    const got = candidatesForQuery('q', parseTrusted(`SELECT * FROM t WHERE ${where}`), () => wide);
    expect(got.length).toBeGreaterThan(0);
    for (const c of got) expect(c.keys.length + c.include.length).toBeLessThanOrEqual(32);
    expect(Math.max(...got.map((c) => c.keys.length))).toBe(32);
  });
});

describe('a covering variant when the sort keys are left out', () => {
  it('the ORDER BY column moves to INCLUDE, on top of the three other columns it may hold', () => {
    const t: TableFacts = {
      ...table('notifications', { id: 'bigint', user_id: 'int', kind: 'text', read_at: 'timestamptz', created_at: 'timestamptz' }),
      mostRows: new Map([['user_id', 8]]),
    };
    const got = shapes(
      candidatesForQuery(
        'q',
        parseTrusted('SELECT id, kind, read_at, created_at FROM notifications WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20'),
        () => t,
      ),
    );
    expect(got).toContain('notifications btree (user_id)');
    expect(got).toContain('notifications btree (user_id) INCLUDE (created_at, id, kind, read_at)');
  });
});
