import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser } from '../../src/sql/parse.js';
import type { ParamSource } from '../../src/production/param-sources.js';
import { constantText, qualstatsValueSets } from '../../src/production/qualstats-values.js';

const column = { kind: 'column', table: { schema: 'app', name: 't', columns: new Map() }, column: 'a' } as ParamSource;
const O = { sets: 50, assumed: { limit: 20, offset: 0 } };
/** A constant at the byte offset where `marker` starts in `query`. */
const at = (query: string, marker: string, value: string, occurrences = 1) => ({
  queryid: '1',
  position: Buffer.byteLength(query.slice(0, query.indexOf(marker))),
  value,
  occurrences,
});

beforeAll(async () => {
  await ensureParser();
});

describe("pg_qualstats' constants as a statement's values", () => {
  it('reads each rendering pg_qualstats gives, with the real parser', () => {
    expect(constantText('28::integer')).toBe('28');
    expect(constantText("'{0,1}'::integer[]")).toBe('{0,1}');
    expect(constantText("'it''s'::text")).toBe("it's");
    expect(constantText("'2026-12-01 00:00:00+00'::timestamp with time zone")).toBe('2026-12-01 00:00:00+00');
    expect(constantText('3.25::numeric')).toBe('3.25');
    expect(constantText('true')).toBe('true');
    expect(constantText('NULL::text')).toBeNull();
    expect(constantText("'-5'::integer")).toBe('-5');
    expect(constantText('-5')).toBe('-5');
    // Anything but one constant is not a value: never a guess.
    expect(constantText('1, 2')).toBeUndefined();
    expect(constantText('now()')).toBeUndefined();
    expect(constantText('a + 1')).toBeUndefined();
  });

  it('maps each constant to the $n at its offset, commonest first, several sets', () => {
    const q = 'SELECT * FROM t WHERE a = $1 AND b > $2 LIMIT $3';
    const sets = qualstatsValueSets(
      q,
      [column, column, { kind: 'limit' }],
      [at(q, '$1', '7::integer', 5), at(q, '$1', '9::integer', 2), at(q, '$1', '8::integer', 1), at(q, '$2', "'x'::text", 3)],
      O,
    );
    expect(sets).toEqual([
      ['7', 'x', '20'],
      ['9', 'x', '20'],
      ['8', 'x', '20'],
    ]);
  });

  it('counts offsets in bytes, as PostgreSQL does, past non-ASCII text', () => {
    const q = "SELECT * FROM t WHERE note = 'é' AND a = $1";
    expect(qualstatsValueSets(q, [column], [at(q, '$1', '4::integer')], O)).toEqual([['4']]);
    // The same constant at its offset counted in characters misses the $1, and is not used.
    const byChars = { queryid: '1', position: q.indexOf('$1'), value: '4::integer', occurrences: 1 };
    expect(qualstatsValueSets(q, [column], [byChars], O)).toBeNull();
  });

  it('leaves the statement to other sources when a compared $n has no constant, or an offset misses', () => {
    const q = 'SELECT * FROM t WHERE a = $1 AND b = $2';
    expect(qualstatsValueSets(q, [column, column], [at(q, '$1', '1::integer')], O)).toBeNull();
    // pg_stat_statements replaced a literal before this one: the offset no longer points at a $n.
    expect(qualstatsValueSets(q, [column, column], [{ ...at(q, '$1', '1::integer'), position: 3 }], O)).toBeNull();
    expect(qualstatsValueSets(q, [column], [], O)).toBeNull();
  });

  it('never writes a value that would end the -- params: line', () => {
    const q = 'SELECT * FROM t WHERE a = $1';
    expect(qualstatsValueSets(q, [column], [at(q, '$1', "E'a\\nb'::text")], O)).toBeNull();
    expect(qualstatsValueSets(q, [column], [at(q, '$1', "E'a\\nb'::text"), at(q, '$1', "'ok'::text")], O)).toEqual([['ok']]);
  });

  it('stops at the number of sets asked for', () => {
    const q = 'SELECT * FROM t WHERE a = $1';
    const many = Array.from({ length: 80 }, (_, i) => at(q, '$1', `${i}::integer`));
    expect(qualstatsValueSets(q, [column], many, { ...O, sets: 50 })).toHaveLength(50);
  });
});
