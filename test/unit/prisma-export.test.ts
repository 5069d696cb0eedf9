import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser } from '../../src/sql/parse.js';
import { loadPack } from '../../src/pack/load-pack.js';
import { prismaExport } from '../../src/export/prisma.js';
import type { Pack } from '../../src/pack/types.js';
import { parseSync } from 'libpg-query';

let pack: Pack;
beforeAll(async () => {
  await ensureParser();
  pack = await loadPack('sql/audit_engine');
});
const NOW = new Date('2026-11-26T10:00:00Z');

describe('pgopt export prisma (the layout, pure)', () => {
  it('one folder per object, in pack order, named as Prisma accepts, after every existing migration', () => {
    const out = prismaExport(pack, ['20240101000000_init', 'migration_lock.toml'], NOW);
    expect(out.migrations).toHaveLength(pack.objects.length);
    expect(out.migrations.map((m) => m.object.split('.').pop())).toEqual(pack.objects.map((o) => o.name));
    for (const m of out.migrations) expect(m.folder).toMatch(/^\d{14}_audit_engine_[a-z0-9_]+$/);
    const folders = out.migrations.map((m) => m.folder);
    expect([...folders].sort()).toEqual(folders);
    expect(folders[0] > '20240101000000_init').toBe(true);
    expect(folders[0].slice(0, 14)).toBe('20261126100000');
    // A migration history that runs ahead of the clock: still after it.
    expect(prismaExport(pack, ['20991231235959_future'], NOW).migrations[0].folder.slice(0, 14)).toBe('21000101000000');
  });

  it('each migration.sql holds exactly one statement, concurrent where it is an index, with its pack and rollback named', () => {
    for (const m of prismaExport(pack, [], NOW).migrations) {
      const stmts = parseSync(m.sql).stmts;
      expect(stmts).toHaveLength(1);
      expect(m.sql).toMatch(/^-- pgopt pack "audit_engine": (index|materialized view) /);
      expect(m.sql).toMatch(/\n-- rollback: DROP (INDEX CONCURRENTLY|MATERIALIZED VIEW) IF EXISTS /);
      if ('IndexStmt' in stmts![0].stmt!)
        expect((stmts![0].stmt as { IndexStmt: { concurrent: boolean } }).IndexStmt.concurrent).toBe(true);
    }
  });

  it('schema.prisma lines where Prisma can express the index; exactly what to do where it cannot', () => {
    const out = prismaExport(pack, [], NOW);
    const lines = out.schemaLines.map((l) => l.line);
    expect(lines).toContain('@@index([nodes(ops: JsonbPathOps)], type: Gin, map: "idx_workflows_nodes")');
    expect(lines).toContain('@@index([workflow_id, created_at(sort: Desc)], map: "idx_execution_workflow_time")');
    const note = (name: string) => out.notes.find((n) => n.startsWith(`${name} `));
    expect(note('idx_users_email_lower')).toMatch(/an expression index.*delete any DROP INDEX "idx_users_email_lower"/);
    expect(note('idx_execution_active')).toMatch(/a partial index/);
    expect(note('idx_workflows_project_updated')).toMatch(/INCLUDE columns/);
    expect(out.notes.some((n) => /workflow_execution_stats: Prisma's schema has no materialized views/.test(n))).toBe(true);
    expect(out.notes.some((n) => /^workflow_execution_stats_key indexes the materialized view/.test(n))).toBe(true);
    expect(out.notes.filter((n) => /is not exported: each migration runs in its own session/.test(n))).toHaveLength(2);
  });

  it('an earlier export of the same pack is found by name, and keeps its folders', () => {
    const first = prismaExport(pack, [], NOW).migrations.map((m) => m.folder);
    const again = prismaExport(pack, first, new Date('2027-01-01T00:00:00Z'));
    expect(again.migrations.every((m) => m.exists)).toBe(true);
    expect(again.migrations.map((m) => m.folder)).toEqual(first);
  });
});
