import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogSnapshot, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

let db: TestDatabase;
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);

beforeAll(async () => {
  db = await createTestDatabase('part');
  await db.query(`
    CREATE SCHEMA audit;
    CREATE TABLE audit."Event" (id bigint NOT NULL, "tenantId" int NOT NULL, at date NOT NULL, kind text NOT NULL)
      PARTITION BY RANGE (at);
    CREATE TABLE audit."Event_2025" PARTITION OF audit."Event" FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE audit."Event_2026" PARTITION OF audit."Event" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
      PARTITION BY LIST (kind);
    CREATE TABLE audit."Event_2026_login" PARTITION OF audit."Event_2026" FOR VALUES IN ('login');
    CREATE TABLE audit."Event_2026_other" PARTITION OF audit."Event_2026" DEFAULT;
    INSERT INTO audit."Event" SELECT g, g % 300, date '2025-01-01' + (g % 700), (ARRAY['login', 'export', 'delete'])[1 + g % 3]
      FROM generate_series(1, 60000) g;
    ANALYZE audit."Event";
  `);
});
afterAll(async () => db?.drop());

/** Every index named like `prefix`, its kind (i plain, I partitioned), validity and parent. */
const indexes = (prefix: string) =>
  db.query(
    `SELECT c.relname AS name, c.relkind::text AS kind, i.indisvalid AS valid,
            (SELECT p.relname FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent WHERE h.inhrelid = c.oid) AS parent
       FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname LIKE $1 ORDER BY 1`,
    [`${prefix}%`],
  );

describe('indexes on partitioned tables', () => {
  const pack = writePack(
    'part',
    `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_event_tenant ON audit."Event" ("tenantId", at DESC) WHERE kind <> 'delete';\n`,
  );

  it('apply builds each partition’s index concurrently and attaches it; verify passes; a second apply is a no-op', async () => {
    // The unsafe way: PostgreSQL refuses CONCURRENTLY on a partitioned table outright.
    await expect(db.query(`CREATE INDEX CONCURRENTLY nope ON audit."Event" (at)`)).rejects.toThrow(/partitioned table/);
    const plan = JSON.parse((await cli('plan', pack, '--json')).stdout);
    expect(plan.steps[0]).toMatchObject({
      concurrent: true,
      lock: 'SHARE UPDATE EXCLUSIVE per partition; SHARE on the parent for a moment',
    });
    const r = await cli('apply', pack, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).statements[0].outcome).toBe('created');
    expect(await indexes('idx_event_tenant')).toEqual([
      { name: 'idx_event_tenant', kind: 'I', valid: true, parent: null },
      { name: 'idx_event_tenant_Event_2025', kind: 'i', valid: true, parent: 'idx_event_tenant' },
      { name: 'idx_event_tenant_Event_2026', kind: 'I', valid: true, parent: 'idx_event_tenant' },
      { name: 'idx_event_tenant_Event_2026_Event_2026_login', kind: 'i', valid: true, parent: 'idx_event_tenant_Event_2026' },
      { name: 'idx_event_tenant_Event_2026_Event_2026_other', kind: 'i', valid: true, parent: 'idx_event_tenant_Event_2026' },
    ]);
    const v = await cli('verify', pack, '--json');
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).objects[0].sizeBytes).toBeGreaterThan(0);
    const again = await cli('apply', pack, '--json');
    expect(JSON.parse(again.stdout).statements[0].outcome).toBe('skipped');
  });

  it('rollback drops the index with every partition’s index', async () => {
    const r = await cli('rollback', pack);
    expect(r.code, r.stderr).toBe(0);
    expect(await indexes('idx_event_tenant')).toEqual([]);
  });

  it('a partition whose build fails leaves nothing behind, and the error names it', async () => {
    // One row in the last sub-partition makes the key expression fail there only (lint and the
    // dry run on an empty clone cannot see it): the other partitions are built and attached first.
    await db.query(`INSERT INTO audit."Event" VALUES (999998, 1, '2026-03-01', 'zzz')`);
    const failing = writePack('fails', `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_event_ratio ON audit."Event" ((1 / (id - 999998)));\n`);
    const before = await catalogSnapshot(db);
    const r = await cli('apply', failing);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('division by zero');
    expect(r.stderr).toContain('building audit."idx_event_ratio_Event_2026_Event_2026_other" for audit.idx_event_ratio: division by zero');
    expect(await indexes('idx_event_ratio')).toEqual([]);
    expect(await catalogSnapshot(db)).toBe(before);
    await db.query(`DELETE FROM audit."Event" WHERE id = 999998`);
  });

  it('a run that died half-way (parent invalid, one partition attached, an INVALID leftover) is repaired by the next apply', async () => {
    // What a killed apply leaves: the parent ON ONLY, one partition's index attached, another
    // partition's build left INVALID, and the registry row still "building".
    await db.query(`CREATE INDEX idx_event_tenant ON ONLY audit."Event" ("tenantId", at DESC) WHERE kind <> 'delete'`);
    await db.query(`CREATE INDEX "idx_event_tenant_Event_2025" ON audit."Event_2025" ("tenantId", at DESC) WHERE kind <> 'delete'`);
    await db.query(`ALTER INDEX audit.idx_event_tenant ATTACH PARTITION audit."idx_event_tenant_Event_2025"`);
    await db.query(`INSERT INTO audit."Event" VALUES (999999, 1, '2026-02-01', 'login'), (999999, 2, '2026-02-02', 'login')`);
    await expect(
      db.query(`CREATE UNIQUE INDEX CONCURRENTLY "idx_event_tenant_Event_2026_Event_2026_login" ON audit."Event_2026_login" (id)`),
    ).rejects.toThrow(/could not create unique index/);
    await db.query(`INSERT INTO pgopt.objects (pack, schema_name, object_name, kind, table_name, ordinal, state, statement, fingerprint, rollback_sql, pgopt_version)
                    VALUES ('part', 'audit', 'idx_event_tenant', 'index', 'audit.Event', 0, 'building', 'x', 'x', ARRAY['DROP INDEX IF EXISTS audit.idx_event_tenant'], 'test')`);
    expect(await indexes('idx_event_tenant')).toMatchObject([
      { name: 'idx_event_tenant', valid: false },
      { name: 'idx_event_tenant_Event_2025', valid: true, parent: 'idx_event_tenant' },
      { name: 'idx_event_tenant_Event_2026_Event_2026_login', valid: false, parent: null },
    ]);
    const plan = JSON.parse((await cli('plan', pack, '--json')).stdout);
    expect(plan.steps[0].state).toBe('invalid');
    const r = await cli('apply', pack);
    expect(r.code, r.stderr).toBe(0);
    const after = await indexes('idx_event_tenant');
    expect(after).toHaveLength(5);
    expect(after.every((i: any) => i.valid && (i.name === 'idx_event_tenant' || i.parent))).toBe(true);
    expect((await cli('verify', pack)).code).toBe(0);
    expect((await cli('rollback', pack)).code).toBe(0);
    expect(await indexes('idx_event_tenant')).toEqual([]);
  });

  it("bench --pack credits the pack's index on the partitioned table, which the plan names only by its partitions' indexes", async () => {
    expect((await cli('apply', pack)).code).toBe(0);
    try {
      const wl = writePack(
        'tenant',
        `-- name: tenant_recent\n-- expect: uses index idx_event_tenant\n-- params: SELECT g FROM generate_series(1, 30) g\n` +
          `SELECT id FROM audit."Event" WHERE "tenantId" = $1 AND kind <> 'delete' ORDER BY at DESC LIMIT 5;\n`,
      );
      const r = await cli('bench', wl, '--pack', pack, '--runs', '3', '--warmup', '0', '--json');
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      const q = doc.run.queries[0];
      // The control: the plan itself names only the partitions' indexes, never the pack's.
      expect(q.plan.indexes.length).toBeGreaterThan(0);
      expect(q.plan.indexes).not.toContain('idx_event_tenant');
      expect(q.plan.partitionedIndexes).toContain('idx_event_tenant');
      expect(doc.account.objects[0].usedBy).toEqual(['tenant_recent']);
      expect(doc.account.unused).toEqual([]);
      expect(q.expectations[0].ok).toBe(true);
    } finally {
      expect((await cli('rollback', pack)).code).toBe(0);
    }
  });

  it('a UNIQUE index without the partition key is refused before anything changes (exit 2, file and line)', async () => {
    const bad = writePack(
      'nokey',
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS fine_idx ON audit."Event" (at);\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_event_id ON audit."Event" (id);\n`,
    );
    const before = await catalogSnapshot(db);
    const r = await cli('apply', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nokey\.sql:2:1: .*partition/);
    expect(await catalogSnapshot(db)).toBe(before);
  });

  it('bench --writes on a partitioned table writes exactly one row per probe run (ctid alone repeats across partitions)', async () => {
    const wl = writePack('one', `-- name: one\nSELECT 1;\n`);
    const r = await cli('bench', wl, '--writes', '--pack', pack, '--runs', '3', '--warmup', '0', '--json');
    expect(r.code, r.stderr).toBe(0);
    const probes = JSON.parse(r.stdout).run.queries.filter((q: any) => q.name !== 'one');
    expect(probes.map((q: any) => q.name)).toEqual(['insert:audit.Event', 'update:audit.Event']);
    const c = await db.connect();
    const params = (
      await c.query({ text: `SELECT ctid::text, tableoid::int FROM audit."Event_2025" ORDER BY ctid LIMIT 1`, rowMode: 'array' })
    ).rows[0];
    const written = async (sql: string, values: unknown[]) => {
      await c.query('BEGIN');
      await c.query(sql, values);
      const n = (await c.query(`SELECT count(*)::int AS n FROM audit."Event" WHERE xmin = pg_current_xact_id()::xid`)).rows[0].n;
      await c.query('ROLLBACK');
      return n;
    };
    expect(await written(probes[0].sql, params)).toBe(1);
    // The unsafe way: by ctid alone, the same statement rewrites that address in every partition.
    expect(
      await written(
        `WITH old AS (DELETE FROM audit."Event" WHERE ctid = $1::tid RETURNING *) INSERT INTO audit."Event" SELECT * FROM old`,
        [params[0]],
      ),
    ).toBeGreaterThan(1);
  });
});

describe('a pack that indexes a partitioned table and one of its partitions', () => {
  it('applies under --jobs 2 every time (one lane for the whole tree) and rolls back', async () => {
    const pack = writePack(
      'tree',
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_tree_parent ON audit."Event" (kind, at);\n` +
        `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_tree_leaf ON audit."Event_2025" ("tenantId");\n` +
        `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_tree_sub ON audit."Event_2026_login" (at);\n`,
    );
    for (let i = 0; i < 3; i++) {
      const r = await cli('apply', pack, '--jobs', '2');
      expect(r.code, r.stderr).toBe(0);
      expect((await cli('verify', pack)).code).toBe(0);
      expect((await cli('rollback', 'tree')).code).toBe(0);
    }
    expect(await indexes('idx_tree')).toEqual([]);
  });
});
