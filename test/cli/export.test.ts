import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';

/**
 * The Prisma bridge, as `prisma migrate deploy` would use it: the exported folders applied in name
 * order, each migration.sql alone (outside a transaction, as a concurrent build must be), then
 * verified by pgopt. The real Prisma CLI cannot run here (it downloads its engine at first use).
 */
let db: TestDatabase;
const out = join(mkdtempSync(join(tmpdir(), 'prisma-')), 'migrations');

beforeAll(async () => {
  db = await createTestDatabase('prisma');
  const load = await runCli(['fixtures', 'load', 'audit_engine', '--scale', '0.01', '--db', db.url]);
  expect(load.code, load.stderr).toBe(0);
  mkdirSync(join(out, '20240101000000_init'), { recursive: true });
  writeFileSync(join(out, '20240101000000_init', 'migration.sql'), "-- the application's own first migration\n");
});
afterAll(async () => db?.drop());

describe('pgopt export prisma sql/audit_engine', () => {
  it('writes one folder per object after the existing migration, and says what schema.prisma needs', async () => {
    const r = await runCli(['export', 'prisma', 'sql/audit_engine', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const folders = readdirSync(out).sort();
    expect(folders[0]).toBe('20240101000000_init');
    expect(folders).toHaveLength(1 + 19);
    expect(r.stdout).toContain('@@index([nodes(ops: JsonbPathOps)], type: Gin, map: "idx_workflows_nodes")');
    expect(r.stdout).toContain('delete any DROP INDEX "idx_execution_active"');
  });

  it('applied in order, each file alone as Prisma would, they pass pgopt verify: present, not owned by pgopt', async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    for (const f of readdirSync(out).sort()) await c.query(readFileSync(join(out, f, 'migration.sql'), 'utf8'));
    await c.end();
    const v = await runCli(['verify', 'sql/audit_engine', '--json', '--db', db.url]);
    expect(v.code, v.stderr).toBe(0);
    const states = new Set(JSON.parse(v.stdout).objects.map((o: { state: string }) => o.state));
    expect([...states]).toEqual(['pre-existing']);
    // The control: a pack object Prisma never created fails verify.
    await db.query('DROP INDEX idx_files_workflow_recent');
    expect((await runCli(['verify', 'sql/audit_engine', '--db', db.url])).code).toBe(1);
  });

  it('an exported folder reads as a pack: pgopt plan takes it', async () => {
    const folder = readdirSync(out).find((f) => f.endsWith('_idx_users_email_lower'))!;
    const r = await runCli(['plan', join(out, folder), '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('idx_users_email_lower');
  });

  it('a second export refuses to overwrite (exit 2, nothing written) unless --force', async () => {
    const file = join(out, readdirSync(out).sort()[1], 'migration.sql');
    writeFileSync(file, '-- edited by hand\n');
    const again = await runCli(['export', 'prisma', 'sql/audit_engine', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--force');
    expect(readFileSync(file, 'utf8')).toBe('-- edited by hand\n');
    expect(readdirSync(out)).toHaveLength(20);
    const forced = await runCli(['export', 'prisma', 'sql/audit_engine', '--out', out, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^-- pgopt pack "audit_engine"/);
    expect(readdirSync(out)).toHaveLength(20);
  });
});

describe('export prisma of hostile or multi-line comment text (issue 23, item 5)', () => {
  it('each exported migration.sql, run as one script, runs only its CREATE INDEX', async () => {
    await db.query('CREATE TABLE public.victim (id int); CREATE TABLE public.host (a int)');
    const dir = mkdtempSync(join(tmpdir(), 'hostile-'));
    const packFile = join(dir, 'hostile.sql');
    writeFileSync(
      packFile,
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "h\nDROP TABLE public.victim; --" ON public.host (a);\n' +
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS host_a ON public.host (a);\n-- pgopt:rollback DROP INDEX CONCURRENTLY\n--   IF EXISTS public.host_a;\n',
    );
    const target = join(dir, 'migrations');
    const r = await runCli(['export', 'prisma', packFile, '--out', target]);
    expect(r.code, r.stderr).toBe(0);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    for (const f of readdirSync(target).sort()) await c.query(readFileSync(join(target, f, 'migration.sql'), 'utf8'));
    await c.end();
    expect((await db.query(`SELECT to_regclass('public.victim') IS NOT NULL AS ok`))[0].ok).toBe(true);
    expect((await db.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = 'host'`))[0].n).toBe(2);
  });
});
