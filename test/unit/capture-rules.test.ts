import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser, parseTrusted } from '../../src/sql/parse.js';
import type { TableFacts } from '../../src/advise/candidates.js';
import type { StatementCounters } from '../../src/db/stat-statements.js';
import { paramSources, type ParamSource } from '../../src/production/param-sources.js';
import {
  chooseStatements,
  loggedValues,
  paramsQuery,
  queryName,
  shortQueryid,
  valuesQuery,
  DEFAULT_CAPTURE_OPTIONS,
} from '../../src/production/capture-rules.js';
import { withoutComments } from '../../src/production/workload-text.js';

const table = (name: string, cols: string[], schema = 'app'): TableFacts => ({
  schema,
  name,
  columns: new Map(cols.map((c) => [c, 'text'])),
});
const TABLES = [table('users', ['id', 'email', 'org_id']), table('orders', ['id', 'user_id', 'status', 'created_at', 'total'])];
const lookup = (schema: string | null, name: string) => TABLES.find((t) => t.name === name && (!schema || t.schema === schema));
const sources = (sql: string) =>
  paramSources(parseTrusted(sql), Math.max(...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]))), lookup).map((s: ParamSource) =>
    s.kind === 'column' ? `${s.table.name}.${s.column}` : s.kind,
  );

const sources2 = (sql: string) => paramSources(parseTrusted(sql), 1, lookup);
const counters = (query: string, o: Partial<StatementCounters> = {}): StatementCounters => ({
  queryid: '-8215392848912395012',
  role: 'app',
  query,
  calls: 100,
  totalMs: 100,
  meanMs: 1,
  stddevMs: 0.1,
  rows: 100,
  sharedHit: 10,
  sharedRead: 0,
  since: null,
  ...o,
});

beforeAll(ensureParser);

describe('where each $n gets its values (the parse tree of the normalized statement)', () => {
  it('a column compared with it, through functions on either side, qualified or not', () => {
    expect(sources(`SELECT id FROM app.users WHERE lower(email) = lower($1) AND org_id = $2`)).toEqual(['users.email', 'users.org_id']);
    expect(sources(`SELECT o.id FROM app.orders o JOIN app.users u ON u.id = o.user_id WHERE u.email = $1 AND o.status <> $2`)).toEqual([
      'users.email',
      'orders.status',
    ]);
    expect(sources(`SELECT 1 FROM app.orders WHERE $1 < created_at`)).toEqual(['orders.created_at']);
  });
  it('IN lists, BETWEEN, LIMIT and OFFSET', () => {
    expect(sources(`SELECT id FROM app.orders WHERE status IN ($1, $2) AND created_at BETWEEN $3 AND $4 LIMIT $5 OFFSET $6`)).toEqual([
      'orders.status',
      'orders.status',
      'orders.created_at',
      'orders.created_at',
      'limit',
      'offset',
    ]);
  });
  it('subqueries see their own tables and the outer ones', () => {
    expect(
      sources(
        `SELECT id FROM app.users u WHERE EXISTS (SELECT 1 FROM app.orders o WHERE o.user_id = u.id AND o.total > $1) AND u.org_id = $2`,
      ),
    ).toEqual(['orders.total', 'users.org_id']);
  });
  it('writes: SET col = $n, INSERT (cols) VALUES, and their WHERE', () => {
    expect(sources(`UPDATE app.orders SET status = $1 WHERE id = $2`)).toEqual(['orders.status', 'orders.id']);
    expect(sources(`INSERT INTO app.orders (user_id, total) VALUES ($1, $2)`)).toEqual(['orders.user_id', 'orders.total']);
  });
  it('none where nothing tells: a bare $n, an ambiguous column, a column of an unknown table', () => {
    expect(sources(`SELECT $1::int + id FROM app.users WHERE id = $2`)).toEqual(['none', 'users.id']);
    expect(sources(`SELECT 1 FROM app.users, app.orders WHERE id = $1`)).toEqual(['none']);
    expect(sources(`SELECT 1 FROM app.ghosts WHERE x = $1`)).toEqual(['none']);
  });
});

describe('which statements are captured', () => {
  it('heaviest first, top N; each other statement has its reason', () => {
    const all = [
      counters('SELECT id FROM app.users WHERE id = $1', { totalMs: 5, queryid: '1' }),
      counters('SELECT id FROM app.orders WHERE id = $1', { totalMs: 50, queryid: '2' }),
      counters('SELECT id FROM app.orders WHERE user_id = $1', { totalMs: 20, queryid: '3' }),
      counters('<insufficient privilege>'),
      counters('SET work_mem = $1'),
      counters('UPDATE app.orders SET total = $1 WHERE id = $2'),
      counters('SELECT c.relname FROM pg_class c WHERE c.oid = $1'),
      counters('SELECT $1'),
      counters('SELECT id FROM app.users WHERE email = $1', { calls: 1 }),
    ];
    const r = chooseStatements(all, { ...DEFAULT_CAPTURE_OPTIONS, top: 2 });
    expect(r.chosen.map((c) => c.counters.queryid)).toEqual(['2', '3']);
    const reasons = Object.fromEntries([...r.left].map(([k, v]) => [k, v.length]));
    expect(reasons).toEqual({ 'insufficient-privilege': 1, utility: 1, writes: 1, 'catalog-only': 2, 'few-calls': 1, 'below-top': 1 });
    expect(chooseStatements(all, { ...DEFAULT_CAPTURE_OPTIONS, includeWrites: true }).chosen.map((c) => c.kind)).toContain('write');
  });
  it('names: verb, main table, the last six hex digits of the unsigned queryid', () => {
    expect(shortQueryid('-1')).toBe('ffffff');
    expect(shortQueryid('255')).toBe('0000ff');
    const [c] = chooseStatements(
      [counters('SELECT o.id FROM app."Order Items" o WHERE o.id = $1', { queryid: '4096' })],
      DEFAULT_CAPTURE_OPTIONS,
    ).chosen;
    expect(queryName(c)).toBe('select_Order_Items_001000');
  });
});

describe('the params query capture writes', () => {
  it('one sample per table, the columns of one row together, zipped by rank; LIMIT and OFFSET as assumed', () => {
    const s = paramSources(
      parseTrusted(
        `SELECT 1 FROM app.orders o JOIN app.users u ON u.id = o.user_id WHERE o.status = $1 AND o.total > $2 AND u.email = $3 LIMIT $4`,
      ),
      4,
      lookup,
    );
    const q = paramsQuery(s, (t) => (t.name === 'orders' ? 1e6 : 100))!;
    expect(q).toContain('s1.c1 AS p1, s1.c2 AS p2, s2.c1 AS p3, 20 AS p4');
    expect(q).toContain('TABLESAMPLE SYSTEM (0.02) REPEATABLE (7)');
    expect(q).toContain('TABLESAMPLE SYSTEM (100) REPEATABLE (7)');
    expect(q).toContain('JOIN (SELECT x."email" AS c1');
    expect(() => parseTrusted(q)).not.toThrow();
  });
  it('a name with a line break is never written on the -- params: line (it would end the comment and leave the rest live SQL)', () => {
    const evil = table('t', ['x\nDROP TABLE app.users; --']);
    const src = paramSources(parseTrusted(`SELECT 1 FROM app.t WHERE "x\nDROP TABLE app.users; --" = $1`), 1, (_s, n) =>
      n === 't' ? evil : undefined,
    );
    expect(src[0].kind).toBe('column');
    expect(paramsQuery(src, () => 10)).toBeNull();
    // The control: the same shape with a plain name is written.
    expect(paramsQuery(sources2('SELECT 1 FROM app.users WHERE email = $1'), () => 10)).not.toBeNull();
  });
  it('a logged value with a line break leaves its set out; the others are kept', () => {
    const [c] = chooseStatements([counters('SELECT id FROM app.users WHERE email = $1')], DEFAULT_CAPTURE_OPTIONS).chosen;
    const { sets } = loggedValues(
      c,
      [
        { statement: 'SELECT id FROM app.users WHERE email = $1', params: ['a@x\n-- params: SELECT evil()'] },
        { statement: 'SELECT id FROM app.users WHERE email = $1', params: ['b@x'] },
      ],
      1,
    );
    expect(sets).toEqual([['b@x']]);
    expect(valuesQuery(sets)).toBe(`VALUES ('b@x')`);
  });
  it('null where a $n has no source (the statement is left out, not filled with a made-up value)', () => {
    expect(paramsQuery([{ kind: 'none' }], () => 1)).toBeNull();
  });
});

describe('the statement text written', () => {
  it('comments dropped by the lexer, so a trailing one cannot swallow the semicolon, and a quoted -- stays', () => {
    expect(withoutComments(`SELECT '--x' AS a /* c */ FROM t -- tail`)).toBe(`SELECT '--x' AS a   FROM t`);
  });
});
