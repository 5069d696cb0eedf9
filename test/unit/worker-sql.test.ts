import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser } from '../../src/sql/parse.js';
import { hexText, workerSqlProblems } from '../../src/db/worker-sql.js';
import { activityOnNodeSql, distinctOnNodeSql, indexesOnNodeSql, longTransactionsOnNodeSql } from '../../src/db/citus.js';

beforeAll(ensureParser);

/** Names a database owner can give a partition or column, chosen to end a literal early. */
const HOSTILE = [`public."x\\'); SELECT public.evil(); --_102008"`, `a'b`, `q\\`, `"Wé\u2028ird"`, `x$pgopt$y`];

describe('worker SQL means the same on any worker', () => {
  it('every command pgopt sends, built with hostile names, is pinned by construction', () => {
    const built = [
      activityOnNodeSql(HOSTILE),
      indexesOnNodeSql(HOSTILE),
      distinctOnNodeSql(HOSTILE[0], HOSTILE[1]),
      longTransactionsOnNodeSql(30),
    ];
    for (const sql of built) expect(workerSqlProblems(sql), sql).toEqual([]);
  });

  it('a name travels as hex digits only, never inside quotes', () => {
    const sql = hexText(`a'b\\c`);
    expect(sql).toBe(`pg_catalog.convert_from(pg_catalog.decode('${Buffer.from(`a'b\\c`).toString('hex')}', 'hex'), 'UTF8')`);
    expect(sql).not.toContain('\\');
  });

  it('control: each way the old commands could be hijacked is caught', () => {
    const cases: [string, RegExp][] = [
      [`SELECT 1 FROM pg_catalog.unnest(ARRAY['x\\']::pg_catalog.text[]) r`, /backslash/],
      [`SELECT make_interval(secs => 5)`, /function make_interval without pg_catalog/],
      [`SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = pg_catalog.to_regclass('x')`, /operator = without/],
      [`SELECT ARRAY['a']::text[]`, /type text without pg_catalog/],
      [`SELECT 1 WHERE 'a' NOT LIKE 'b'`, /AEXPR_LIKE/],
      [`SELECT 1 WHERE 1 IN (1, 2)`, /AEXPR_IN/],
      [`SELECT 1 FROM pg_catalog.pg_class JOIN pg_catalog.pg_index ON true JOIN pg_catalog.pg_am USING (oid)`, /USING or NATURAL/],
      [`SELECT CASE 1 WHEN 1 THEN 2 END`, /CASE x WHEN/],
      [`SELECT 1 WHERE 1 OPERATOR(public.=) 1`, /operator public.= without/],
    ];
    for (const [sql, why] of cases) expect(workerSqlProblems(sql).join('; '), sql).toMatch(why);
  });
});
