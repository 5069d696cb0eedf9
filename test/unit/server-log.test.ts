import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser, parseTrusted } from '../../src/sql/parse.js';
import { alignExecution, parseParameters, readServerLog } from '../../src/production/server-log.js';

beforeAll(ensureParser);

describe('bind values as the server prints them', () => {
  it('quotes doubled, NULL, and a value cut short (log_parameter_max_length) refuses the whole set', () => {
    expect(parseParameters(`parameters: $1 = 'o''brien', $2 = NULL, $3 = '10'`)).toEqual(["o'brien", null, '10']);
    expect(parseParameters(`parameters: $1 = 'a, $2 = b'`)).toEqual(['a, $2 = b']);
    // What PostgreSQL writes under log_parameter_max_length = 3 (seen on 15.18): the ellipsis inside the quotes.
    expect(parseParameters(`parameters: $1 = 'abc...'`)).toBeNull();
    expect(parseParameters(`parameters: $1 = 'abc'`)).toEqual(['abc']);
    expect(parseParameters(`parameters: $2 = 'x'`)).toBeNull();
    expect(parseParameters(`some other detail`)).toBeNull();
    // PostgreSQL 18 writes "Parameters:", earlier versions "parameters:".
    expect(parseParameters(`Parameters: $1 = 'x'`)).toEqual(['x']);
  });
  it('stderr lines: the DETAIL after its LOG line, statements continued on tab-indented lines', () => {
    const log = [
      `2026-12-02 10:00:00.001 UTC [42] LOG:  duration: 0.120 ms  execute <unnamed>: SELECT id`,
      `\tFROM users WHERE id = $1`,
      `2026-12-02 10:00:00.001 UTC [42] DETAIL:  parameters: $1 = '7'`,
      `2026-12-02 10:00:00.002 UTC [43] LOG:  duration: 0.050 ms  statement: SELECT 1`,
    ].join('\n');
    expect(readServerLog(log)).toEqual([
      { statement: 'SELECT id\nFROM users WHERE id = $1', params: ['7'] },
      // A simple-protocol query bound nothing; its text still shows the constants the application wrote.
      { statement: 'SELECT 1', params: [] },
    ]);
    // A DETAIL that is no full list of values (cut short) leaves its execution out; no DETAIL at all means none bound.
    const cut = [
      `2026-12-02 10:00:00.001 UTC [42] LOG:  duration: 0.120 ms  execute <unnamed>: SELECT id FROM users WHERE id = $1`,
      `2026-12-02 10:00:00.001 UTC [42] DETAIL:  parameters: $1 = '7...'`,
      `2026-12-02 10:00:00.002 UTC [42] LOG:  duration: 0.120 ms  execute <unnamed>: SELECT id FROM users WHERE id = 3`,
    ].join('\n');
    expect(readServerLog(cut)).toEqual([{ statement: 'SELECT id FROM users WHERE id = 3', params: [] }]);
  });
});

describe('lining a logged execution up with its normalized statement', () => {
  it("the application's constants fill the $n pg_stat_statements put in their place", () => {
    const normalized = parseTrusted(`SELECT id FROM users WHERE email = $1 AND status = $2 LIMIT $3`);
    expect(
      alignExecution(normalized, { statement: `SELECT id FROM users WHERE email = $1 AND status = 'open' LIMIT 10`, params: ['a@b'] }, 3)
        ?.values,
    ).toEqual(['a@b', 'open', '10']);
  });
  it('a different statement does not line up', () => {
    const normalized = parseTrusted(`SELECT id FROM users WHERE email = $1`);
    expect(
      alignExecution(normalized, { statement: `SELECT id FROM users WHERE email = $1 AND org = $2`, params: ['a', 'b'] }, 1),
    ).toBeNull();
  });
});
