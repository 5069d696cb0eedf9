import { beforeAll, describe, expect, it } from 'vitest';
import { loadPack } from '../../src/pack/load-pack.js';
import { ensureParser } from '../../src/sql/parse.js';
import { nodeAs } from '../../src/sql/tree.js';
import { qualify } from '../../src/db/ident.js';
import { keyOf } from '../../src/engine/lint/keys.js';
import {
  columnKey,
  runRules,
  RULES,
  type IndexKey,
  type LintFacts,
  type LintObject,
  type TableStats,
} from '../../src/engine/lint/index.js';
import type { Assessment } from '../../src/engine/assess.js';
import type { Pack } from '../../src/pack/types.js';
import { writePack } from '../helpers/packs.js';

/**
 * Each lint rule is a pure function of one object and facts gathered beforehand: here the facts
 * are written by hand, as gatherFacts would read them, and no server runs. Each rule is shown
 * firing on the case it is for and staying quiet on the case next to it.
 */
beforeAll(ensureParser);

const T = qualify('app', 'orders');

async function objectsOf(sql: string, state: Assessment['state'] = 'missing'): Promise<{ pack: Pack; objects: LintObject[] }> {
  const pack = await loadPack(writePack('lintrules', sql));
  const objects = pack.objects.map((o): LintObject => {
    const table = o.table ? { schema: o.table.schema ?? 'app', name: o.table.name, partitioned: false, topology: null } : null;
    const schema = table?.schema ?? o.schema ?? 'app';
    const a = { object: o, schema, qualifiedName: `${schema}.${o.name}`, table, state } as Assessment;
    const index = nodeAs(o.statement.ast, 'IndexStmt') ?? null;
    const view = nodeAs(o.statement.ast, 'CreateTableAsStmt');
    return {
      a,
      index,
      key: index && table ? keyOf(index, o.name, qualify(table.schema, table.name)) : null,
      ifNotExists: !!(index?.if_not_exists ?? view?.if_not_exists),
    };
  });
  return { pack, objects };
}

const facts = (objects: LintObject[], more: Partial<LintFacts> = {}): LintFacts => ({
  objects,
  existing: [],
  tables: new Map(),
  columnTypes: new Map(),
  distinct: new Map(),
  duplicates: new Map(),
  dimensions: new Map(),
  ...more,
});
const stats = (s: Partial<TableStats>): Map<string, TableStats> => new Map([[T, { rows: 0, writes: 0, reads: 0, indexes: 0, ...s }]]);
const rules = (f: LintFacts) => runRules(f).map((x) => x.rule);

describe('lint rules on captured facts (no server)', () => {
  it('every rule has one file and one entry in RULES', () => {
    expect(RULES).toHaveLength(9);
  });

  it('not-concurrent: a plain CREATE INDEX on a table with rows; not on an empty one, nor with CONCURRENTLY', async () => {
    const { objects } = await objectsOf(`CREATE INDEX IF NOT EXISTS o_a ON app.orders (a);`);
    expect(rules(facts(objects, { tables: stats({ rows: 5000 }) }))).toEqual(['not-concurrent']);
    expect(rules(facts(objects, { tables: stats({ rows: 0 }) }))).toEqual([]);
    const conc = await objectsOf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS o_a ON app.orders (a);`);
    expect(rules(facts(conc.objects, { tables: stats({ rows: 5000 }) }))).toEqual([]);
  });

  it('hypertable-unique: a UNIQUE index on a hypertable without its time column; not with it, nor on a plain table', async () => {
    const dims = { dimensions: new Map([[T, ['created_at']]]) };
    const without = await objectsOf(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS o_u ON app.orders (id);`);
    const found = runRules(facts(without.objects, dims));
    expect(found.map((f) => f.rule)).toEqual(['hypertable-unique']);
    expect(found[0].message).toContain('partitioning column created_at');
    const withTime = await objectsOf(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS o_u ON app.orders (id, created_at);`);
    expect(rules(facts(withTime.objects, dims))).toEqual([]);
    expect(rules(facts(without.objects))).toEqual([]);
  });

  it('missing-if-not-exists: for indexes and views alike', async () => {
    const { objects } = await objectsOf(
      `CREATE INDEX CONCURRENTLY o_a ON app.orders (a);\nCREATE MATERIALIZED VIEW IF NOT EXISTS app.v AS SELECT 1 AS x;\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS v_x ON app.v (x);`,
    );
    const found = runRules(facts(objects));
    expect(found.map((f) => [f.rule, f.object])).toEqual([['missing-if-not-exists', 'app.o_a']]);
    expect(found[0].location.line).toBe(1);
  });

  it('matview-no-unique-index: a view without a unique plain-column index; a partial or expression one does not count', async () => {
    const bare = await objectsOf(`CREATE MATERIALIZED VIEW IF NOT EXISTS app.v AS SELECT 1 AS x;`);
    expect(rules(facts(bare.objects))).toEqual(['matview-no-unique-index']);
    const partial = await objectsOf(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS app.v AS SELECT 1 AS x;\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS v_x ON app.v (x) WHERE x > 0;`,
    );
    expect(rules(facts(partial.objects))).toEqual(['matview-no-unique-index']);
    const good = await objectsOf(
      `CREATE MATERIALIZED VIEW IF NOT EXISTS app.v AS SELECT 1 AS x;\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS v_x ON app.v (x);`,
    );
    expect(rules(facts(good.objects))).toEqual([]);
  });

  it('redundant-index: a btree prefix of another (pack or existing), same predicate; not with another predicate', async () => {
    const { objects } = await objectsOf(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS o_a ON app.orders (a);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS o_a_b ON app.orders (a, b);`,
    );
    expect(runRules(facts(objects)).map((f) => [f.rule, f.object])).toEqual([['redundant-index', 'app.o_a']]);
    const existing = await objectsOf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS o_a_b_c ON app.orders (a, b, c);`);
    const wider = (await objectsOf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS app_wide ON app.orders (a, b, c, d);`)).objects[0].key!;
    expect(rules(facts(existing.objects, { existing: [{ ...wider, name: 'orders_wide' }] }))).toEqual(['redundant-index']);
    const partial = await objectsOf(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS o_a ON app.orders (a) WHERE a > 0;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS o_a_b ON app.orders (a, b);`,
    );
    expect(rules(facts(partial.objects))).toEqual([]);
  });

  it('gin-jsonb-ops: a GIN on a jsonb column with the default opclass; not with jsonb_path_ops, not on tsvector', async () => {
    const { objects } = await objectsOf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS o_attrs ON app.orders USING gin (attrs);`);
    expect(rules(facts(objects, { columnTypes: new Map([[columnKey(T, 'attrs'), 'jsonb']]) }))).toEqual(['gin-jsonb-ops']);
    expect(rules(facts(objects, { columnTypes: new Map([[columnKey(T, 'attrs'), 'tsvector']]) }))).toEqual([]);
    const path = await objectsOf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS o_attrs ON app.orders USING gin (attrs jsonb_path_ops);`);
    expect(rules(facts(path.objects, { columnTypes: new Map([[columnKey(T, 'attrs'), 'jsonb']]) }))).toEqual([]);
  });

  it('low-cardinality: one plain column with ≤ 10 values on a big table; not when partial, not on a small table', async () => {
    const { objects } = await objectsOf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS o_status ON app.orders (status);`);
    const distinct = new Map([[columnKey(T, 'status'), 4]]);
    expect(rules(facts(objects, { distinct, tables: stats({ rows: 50_000 }) }))).toEqual(['low-cardinality']);
    expect(rules(facts(objects, { distinct, tables: stats({ rows: 5_000 }) }))).toEqual([]);
    expect(rules(facts(objects, { distinct: new Map([[columnKey(T, 'status'), 400]]), tables: stats({ rows: 50_000 }) }))).toEqual([]);
    const partial = await objectsOf(`CREATE INDEX CONCURRENTLY IF NOT EXISTS o_status ON app.orders (status) WHERE status = 'failed';`);
    expect(rules(facts(partial.objects, { distinct, tables: stats({ rows: 50_000 }) }))).toEqual([]);
  });

  it('write-heavy-table: said once, on the first index, when writes outnumber reads and indexes reach 8', async () => {
    const sql = Array.from({ length: 3 }, (_, i) => `CREATE INDEX CONCURRENTLY IF NOT EXISTS o_${i} ON app.orders (c${i});`).join('\n');
    const { objects } = await objectsOf(sql);
    const existing: IndexKey[] = Array.from({ length: 5 }, (_, i) => ({
      name: `e${i}`,
      table: T,
      method: 'btree',
      cols: [`x${i}`],
      where: 'null',
      unique: false,
    }));
    const found = runRules(facts(objects, { existing, tables: stats({ writes: 10, reads: 1 }) }));
    expect(found.map((f) => [f.rule, f.object])).toEqual([['write-heavy-table', 'app.o_0']]);
    expect(rules(facts(objects, { existing, tables: stats({ writes: 1, reads: 10 }) }))).toEqual([]);
    expect(rules(facts(objects, { existing: existing.slice(1), tables: stats({ writes: 10, reads: 1 }) }))).toEqual([]);
  });

  it('unique-duplicates: an error when the probe found a repeated key; nothing without one', async () => {
    const { objects } = await objectsOf(`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS o_ref ON app.orders (ref);`);
    const found = runRules(facts(objects, { duplicates: new Map([[objects[0], { sample: 'ref="A-1"', count: 2 }]]) }));
    expect(found.map((f) => [f.rule, f.severity])).toEqual([['unique-duplicates', 'error']]);
    expect(found[0].message).toContain('ref="A-1" appears 2 times');
    expect(rules(facts(objects))).toEqual([]);
  });
});
