import { describe, expect, it } from 'vitest';
import { loadPack } from '../../src/pack/load-pack.js';
import { ensureParser } from '../../src/sql/parse.js';
import { defaultIndexName, rewriteIndexSql, rewriteMatviewSql, splitMatviewSql } from '../../src/pack/rewrite.js';
import { writePack } from '../helpers/packs.js';
import { PgoptError } from '../../src/errors.js';
import { indexedColumns } from '../../src/bench/writes.js';

describe('loadPack', () => {
  it('splits with the real parser: semicolons inside dollar quotes, strings and comments', async () => {
    const pack = await loadPack(
      writePack(
        'p',
        `-- 注释; 中文 comment
SET work_mem = '64MB';
/* one; two */ CREATE MATERIALIZED VIEW s.v AS SELECT $$a;b$$ AS x, 'c;d' AS y; -- tail; comment
CREATE INDEX ON s."T" ("workflowId", lower(name)) INCLUDE (z);
`,
      ),
    );
    expect(pack.name).toBe('p');
    expect(pack.statements.map((s) => [s.kind, s.location.line, s.location.column])).toEqual([
      ['set', 2, 1],
      ['create-matview', 3, 16],
      ['create-index', 4, 1],
    ]);
    expect(pack.objects.map((o) => [o.kind, o.schema, o.name, o.nameDerived])).toEqual([
      ['matview', 's', 'v', false],
      ['index', 's', 'T_workflowId_lower_z_idx', true],
    ]);
  });

  it('reports a syntax error at its line and column, past multi-byte text', async () => {
    const path = writePack('p', `-- 中文\nCREATE INDEX i ON t (a,);\n`);
    const err = await loadPack(path).catch((e) => e);
    expect(err).toBeInstanceOf(PgoptError);
    expect(err.kind).toBe('input');
    expect(err.location).toEqual({ file: path, line: 2, column: 24 });
  });

  it('fingerprints ignore layout, comments, CONCURRENTLY and IF NOT EXISTS, but not meaning', async () => {
    const fp = async (sql: string) => (await loadPack(writePack('p', sql))).objects[0].fingerprint;
    const base = await fp(`CREATE INDEX i ON t (a, b DESC) WHERE c = 'x';`);
    expect(await fp(`CREATE INDEX CONCURRENTLY IF NOT EXISTS i\n  ON t (a, /* why */ b DESC)\n  WHERE c = 'x';`)).toBe(base);
    expect(await fp(`CREATE INDEX i ON t (a, b) WHERE c = 'x';`)).not.toBe(base);
    expect(await fp(`CREATE INDEX i ON t (a, b DESC) WHERE c = 'y';`)).not.toBe(base);
  });
});

describe('TimescaleDB continuous aggregates in a pack', () => {
  const CAGG = `CREATE MATERIALIZED VIEW m.daily WITH (timescaledb.continuous) AS SELECT time_bucket('1 day', ts) AS day, count(*) FROM m.t GROUP BY 1;\n`;
  it('WITH (timescaledb.continuous) marks the view, and its refresh policy goes with it', async () => {
    const pack = await loadPack(
      writePack(
        'c',
        `${CAGG}SELECT add_continuous_aggregate_policy('m.daily', start_offset => NULL, end_offset => NULL, schedule_interval => INTERVAL '1 hour');\n`,
      ),
    );
    expect(pack.statements.map((s) => s.kind)).toEqual(['create-matview', 'cagg-policy']);
    expect(pack.objects[0].continuous).toBe(true);
    expect(pack.objects[0].policy).toBe(pack.statements[1]);
    // The control: a plain materialized view is not one.
    const plain = await loadPack(writePack('c', CAGG.replace(' WITH (timescaledb.continuous)', '')));
    expect(plain.objects[0].continuous).toBe(false);
  });
  it('a policy before its view, or for a view the pack does not create, is refused with its line', async () => {
    const stray = `SELECT add_continuous_aggregate_policy('m.daily', start_offset => NULL, end_offset => NULL, schedule_interval => INTERVAL '1 hour');\n`;
    await expect(loadPack(writePack('c', stray + CAGG))).rejects.toThrow(/must be for a continuous aggregate the pack creates before it/);
    await expect(loadPack(writePack('c', stray))).rejects.toMatchObject({ location: { line: 1 } });
  });
  it('a UNIQUE index on a continuous aggregate is refused at load saying why it cannot work; another index is taken', async () => {
    await expect(loadPack(writePack('c', `${CAGG}CREATE UNIQUE INDEX d_key ON m.daily (day);\n`))).rejects.toThrow(
      /cannot have a UNIQUE index \(TimescaleDB refuses it\)/,
    );
    const pack = await loadPack(writePack('c', `${CAGG}CREATE INDEX d_day ON m.daily (day);\n`));
    expect(pack.objects.map((o) => [o.kind, o.name])).toEqual([
      ['matview', 'daily'],
      ['index', 'd_day'],
    ]);
  });
});

describe('rewrites on PostgreSQL tokens', () => {
  it('names an index, sets CONCURRENTLY, keeps the rest byte for byte', async () => {
    await ensureParser();
    expect(
      rewriteIndexSql(`create unique index if not exists ON ONLY s."T" using gin (j jsonb_path_ops) where x = $$;$$`, {
        name: 'n',
        concurrently: true,
      }),
    ).toBe(`CREATE UNIQUE INDEX CONCURRENTLY "n" ON ONLY s."T" using gin (j jsonb_path_ops) where x = $$;$$`);
    expect(rewriteIndexSql(`CREATE INDEX CONCURRENTLY i ON t (a)`, { name: 'c', relation: 'pg_temp.x', concurrently: false })).toBe(
      `CREATE INDEX "c" ON pg_temp.x (a)`,
    );
  });

  it('splits a materialized view into head, query and WITH [NO] DATA', async () => {
    await ensureParser();
    expect(splitMatviewSql(`CREATE MATERIALIZED VIEW v (a) AS SELECT (1) AS a WITH NO DATA`)).toEqual({
      head: 'CREATE MATERIALIZED VIEW v (a)',
      query: 'SELECT (1) AS a',
      withData: false,
    });
    expect(rewriteMatviewSql(`CREATE MATERIALIZED VIEW IF NOT EXISTS s.v (a) AS SELECT 1 WITH DATA`, 's.tmp')).toBe(
      'CREATE MATERIALIZED VIEW s.tmp (a) AS SELECT 1 WITH NO DATA',
    );
  });

  it('derives PostgreSQL default index names, within 63 bytes', () => {
    expect(defaultIndexName('users', ['email'])).toBe('users_email_idx');
    const long = defaultIndexName('a'.repeat(60), ['b'.repeat(60)]);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long.endsWith('_idx')).toBe(true);
  });

  it('names every column an index reads: keys, expressions, INCLUDE and predicate (an update of any defeats HOT)', async () => {
    const pack = await loadPack(
      writePack(
        'cols',
        `CREATE INDEX a ON s."T" ("workflowId", lower(name) DESC) INCLUDE (z) WHERE s."T".status <> 'done';
CREATE INDEX b ON s."T" USING gin ((doc -> 'tags') jsonb_path_ops);
`,
      ),
    );
    expect(pack.objects.map(indexedColumns)).toEqual([['workflowId', 'name', 'z', 'status'], ['doc']]);
  });
});

describe('pack files as editors save them', () => {
  it('a UTF-8 BOM and CRLF line ends: loads, with the right lines', async () => {
    const pack = await loadPack(
      writePack(
        'bomcrlf',
        '\uFEFF-- first\r\nCREATE INDEX IF NOT EXISTS a_idx ON t (a);\r\n\r\nCREATE INDEX IF NOT EXISTS b_idx ON t (b);\r\n',
      ),
    );
    expect(pack.statements.map((s) => [s.location.line, s.sql])).toEqual([
      [2, 'CREATE INDEX IF NOT EXISTS a_idx ON t (a)'],
      [4, 'CREATE INDEX IF NOT EXISTS b_idx ON t (b)'],
    ]);
  });

  it.each([
    ['empty', ''],
    ['comments only', '-- nothing yet\n/* later */\n'],
    ['a BOM alone', '\uFEFF'],
  ])('%s: "holds no SQL statements" (input, exit 2), not a syntax error', async (_label, text) => {
    const err = await loadPack(writePack('empty', text)).catch((e) => e);
    expect(err).toBeInstanceOf(PgoptError);
    expect(err.kind).toBe('input');
    expect(err.message).toMatch(/holds no SQL statements$/);
  });
});
