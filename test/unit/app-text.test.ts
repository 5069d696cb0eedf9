import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser, parseTrusted } from '../../src/sql/parse.js';
import { constantSql, restoreConstants } from '../../src/production/app-text.js';
import { chooseStatements, DEFAULT_CAPTURE_OPTIONS, loggedValues } from '../../src/production/capture-rules.js';
import { alignExecution, type WrittenConstant } from '../../src/production/server-log.js';
import type { StatementCounters } from '../../src/db/stat-statements.js';

beforeAll(ensureParser);

const str = (value: string): WrittenConstant => ({ kind: 'string', value });
const num = (value: string): WrittenConstant => ({ kind: 'number', value });
const restore = (sql: string, constants: [number, WrittenConstant][]) => restoreConstants(sql, parseTrusted(sql), new Map(constants));
const counters = (query: string): StatementCounters =>
  ({
    queryid: '1',
    role: 'app',
    query,
    calls: 10,
    totalMs: 10,
    meanMs: 1,
    stddevMs: 0,
    rows: 1,
    sharedHit: 1,
    sharedRead: 0,
  }) as StatementCounters;

describe("the application's own text, given back by the server log", () => {
  it('puts back the constants pg_stat_statements replaced, and numbers the bind values again from $1', () => {
    const normalized = `SELECT id FROM execution_history WHERE status = $2 AND log_summary->>$3 = $1 ORDER BY created_at DESC LIMIT $4`;
    expect(
      restore(normalized, [
        [2, str('failed')],
        [3, str('errorCode')],
        [4, num('50')],
      ]),
    ).toEqual({
      sql: `SELECT id FROM execution_history WHERE status = 'failed' AND log_summary->>'errorCode' = $1 ORDER BY created_at DESC LIMIT 50`,
      kept: [1],
    });
    const r = restore(`SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3 AND d = $2`, [[1, str('x')]]);
    expect(r).toEqual({ sql: `SELECT * FROM t WHERE a = 'x' AND b = $1 AND c = $2 AND d = $1`, kept: [2, 3] });
  });

  it('a negative number goes back in parentheses: written bare after a minus it would start a comment (the control)', () => {
    const sql = `SELECT a -$1 AS x FROM t WHERE id = $2`;
    expect(restore(sql, [[1, num('-5')]])?.sql).toBe(`SELECT a -(-5) AS x FROM t WHERE id = $1`);
    // The control: `a --5 AS x …` is `a` followed by a comment, another statement; the shape check refuses it.
    const bare = `SELECT a --5 AS x FROM t WHERE id = $1`;
    expect(parseTrusted(bare)).not.toEqual(parseTrusted(`SELECT a -(-5) AS x FROM t WHERE id = $1`));
  });

  it('rewrites at byte offsets, so text before the $n in another script does not shift it', () => {
    const sql = `SELECT 'Zürich — 東京' AS city, id FROM t WHERE kind = $1 AND id = $2`;
    expect(restore(sql, [[1, str('a')]])?.sql).toBe(`SELECT 'Zürich — 東京' AS city, id FROM t WHERE kind = 'a' AND id = $1`);
    // The control: the same offset read as a character index lands elsewhere than the $1.
    const at = Buffer.from(sql, 'utf8').indexOf('$1');
    expect(sql.slice(at, at + 2)).not.toBe('$1');
  });

  it('quotes strings as SQL does (a quote doubled, a backslash as E), writes NULL and booleans as keywords', () => {
    expect(constantSql(str(`o'brien`))).toBe(`'o''brien'`);
    expect(constantSql(str('a\\b'))).toBe(` E'a\\\\b'`);
    expect(constantSql({ kind: 'null', value: null })).toBe('NULL');
    expect(constantSql({ kind: 'bool', value: 'false' })).toBe('false');
    expect(restore(`SELECT * FROM t WHERE name = $1`, [[1, str(`it's`)]])?.sql).toBe(`SELECT * FROM t WHERE name = 'it''s'`);
  });

  it('nothing to put back, or a text whose $n is not where the parser says: null, the normalized text stands', () => {
    expect(restore(`SELECT * FROM t WHERE a = $1`, [])).toBeNull();
    const sql = `SELECT * FROM t WHERE a = $1`;
    const tree = parseTrusted(`SELECT * FROM t WHERE aa = $1`);
    expect(restoreConstants(sql, tree, new Map([[1, str('x')]]))).toBeNull();
  });
});

describe('which $n the application wrote as constants', () => {
  const chosen = (q: string) => chooseStatements([counters(q)], DEFAULT_CAPTURE_OPTIONS).chosen[0];
  const normalized = `SELECT id FROM users WHERE email = $1 AND status = $2 LIMIT $3`;

  it('the same constant in every execution read: the text; a value bound in any of them, or two constants: a $n', () => {
    const c = chosen(normalized);
    const v = loggedValues(
      c,
      [
        { statement: `SELECT id FROM users WHERE email = $1 AND status = 'open' LIMIT 10`, params: ['a@x'] },
        { statement: `SELECT id FROM users WHERE email = $1 AND status = 'open' LIMIT 20`, params: ['b@x'] },
        { statement: `SELECT id FROM users WHERE email = $1 AND status = $2 LIMIT 10`, params: ['c@x', 'open'] },
      ],
      3,
    );
    expect(v.sets).toEqual([
      ['a@x', 'open', '10'],
      ['b@x', 'open', '20'],
      ['c@x', 'open', '10'],
    ]);
    // status was bound once and LIMIT took two values: neither is the application's one constant.
    expect(v.constants).toEqual(new Map());
    const w = loggedValues(
      c,
      [
        { statement: `SELECT id FROM users WHERE email = $1 AND status = 'open' LIMIT 10`, params: ['a@x'] },
        { statement: `SELECT id FROM users WHERE email = $1 AND status = 'open' LIMIT 10`, params: ['b@x'] },
      ],
      3,
    );
    expect(w.constants).toEqual(
      new Map([
        [2, str('open')],
        [3, num('10')],
      ]),
    );
  });
});

describe('an IN list PostgreSQL 18 squashed into one $n', () => {
  const normalized = `SELECT id FROM e WHERE status IN ($1 /*, ... */) ORDER BY c LIMIT $2`;
  const c = () => chooseStatements([counters(normalized)], DEFAULT_CAPTURE_OPTIONS).chosen[0];
  const run = (status: string) => ({ statement: `SELECT id FROM e WHERE status IN (${status}) ORDER BY c LIMIT 100`, params: [] });

  it("takes the logged list whole, and gives it back to the text: the application's IN ('pending', 'running')", () => {
    const v = loggedValues(c(), [run(`'pending', 'running'`), run(`'pending', 'running'`)], 2);
    expect(v.squashed).toEqual(new Set([1]));
    const list = v.constants.get(1)!;
    expect(list.kind).toBe('list');
    const app = restoreConstants(normalized, parseTrusted(normalized), v.constants);
    expect(app).toEqual({ sql: `SELECT id FROM e WHERE status IN ('pending', 'running' /*, ... */) ORDER BY c LIMIT 100`, kept: [] });
    // The control: a list that is not all constants is no squashed one, and one $n against two items does not line up.
    expect(alignExecution(parseTrusted(normalized), { statement: run(`$1, 'running'`).statement, params: ['pending'] }, 2)).toBeNull();
  });

  it('lists that differ between executions are no constant: the statement is left to other sources', () => {
    const v = loggedValues(c(), [run(`'pending', 'running'`), run(`'failed', 'success'`)], 2);
    expect(v.squashed).toEqual(new Set([1]));
    expect(v.constants.has(1)).toBe(false);
  });

  it('a list as long in both texts (PostgreSQL 15 keeps one $n per item) lines up item by item', () => {
    const pg15 = `SELECT id FROM e WHERE status IN ($1, $2) LIMIT $3`;
    const [ch] = chooseStatements([counters(pg15)], DEFAULT_CAPTURE_OPTIONS).chosen;
    const v = loggedValues(ch, [{ statement: `SELECT id FROM e WHERE status IN ('a', $1) LIMIT 5`, params: ['b'] }], 3);
    expect(v.sets).toEqual([['a', 'b', '5']]);
    expect(v.squashed.size).toBe(0);
  });
});
