/**
 * A pack as Prisma migrations (pure: the command writes the files). One folder per object, so
 * each CREATE INDEX CONCURRENTLY stands alone: Prisma runs a migration.sql of several statements
 * in one transaction, and a concurrent build cannot run inside one. Written for Prisma 5–7's
 * layout (`prisma/migrations/<14-digit timestamp>_<name>/migration.sql`, applied in name order).
 */
import { commentLine } from '../sql/comment.js';
import type { IndexStmt } from '@pgsql/types';
import { displayIdent, qualify, quoteIdent } from '../db/ident.js';
import { rewriteIndexSql } from '../pack/rewrite.js';
import type { Pack, PackDrop, PackObject } from '../pack/types.js';
import { nodeAs } from '../sql/tree.js';

export interface PrismaMigration {
  /** `<YYYYMMDDHHMMSS>_<pack>_<object>`: sorts after every existing migration. */
  folder: string;
  object: string;
  sql: string;
  /** The folder of this pack's object is already there (an earlier export): written only with --force. */
  exists: boolean;
}

export interface PrismaExport {
  migrations: PrismaMigration[];
  /** `@@index(…)` lines for schema.prisma, per table, where Prisma can express the index. */
  schemaLines: { table: string; line: string }[];
  /** What the user must do by hand (indexes Prisma cannot express, views it ignores, skipped SETs). */
  notes: string[];
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 60) || 'object';

const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);

/** The first timestamp after both now and the newest existing migration. */
function firstStamp(existing: string[], now: Date): Date {
  const latest = existing
    .map((f) => /^(\d{14})_/.exec(f)?.[1])
    .filter((x): x is string => !!x)
    .sort()
    .pop();
  if (!latest) return now;
  const t = new Date(
    `${latest.slice(0, 4)}-${latest.slice(4, 6)}-${latest.slice(6, 8)}T${latest.slice(8, 10)}:${latest.slice(10, 12)}:${latest.slice(12, 14)}Z`,
  );
  return t >= now ? new Date(t.getTime() + 1000) : now;
}

function statementFor(o: PackObject): string {
  if (o.kind === 'matview') return o.statement.sql;
  return rewriteIndexSql(o.statement.sql, { name: o.name, concurrently: true, ifNotExists: true });
}

const shown = (schema: string | null, name: string) => (schema ? `${displayIdent(schema)}.${displayIdent(name)}` : displayIdent(name));

function migrationSql(pack: Pack, o: PackObject, schema: string | null): string {
  const what = `${o.kind === 'index' ? 'index' : 'materialized view'} ${shown(schema, o.name)}`;
  const target = schema ? qualify(schema, o.name) : quoteIdent(o.name);
  const drops = o.rollbackOverride ?? [
    o.kind === 'index' ? `DROP INDEX CONCURRENTLY IF EXISTS ${target}` : `DROP MATERIALIZED VIEW IF EXISTS ${target}`,
  ];
  const comments = [
    `-- pgopt pack "${pack.name}": ${what} (${o.statement.location.file}:${o.statement.location.line})`,
    // A rollback written over several lines keeps them, each its own comment line.
    ...`${drops.join(';\n')};`.split(/\r\n|\r|\n/).map((line, i) => `--${i ? '  ' : ' rollback:'} ${line}`),
    '-- One statement per migration: Prisma runs a migration.sql with several statements in one',
    '-- transaction, and CREATE INDEX CONCURRENTLY cannot run inside one.',
  ];
  // Every value in a comment stays on its comment's line (commentLine): only the statement is live.
  return [...comments.map(commentLine), `${statementFor(o)};`, ''].join('\n');
}

/** A drop pack's drop: alone in its migration, as a build is (DROP INDEX CONCURRENTLY cannot run in a transaction). */
function dropMigrationSql(pack: Pack, d: PackDrop): string {
  const target = d.schema ? qualify(d.schema, d.name) : quoteIdent(d.name);
  const comments = [
    `-- pgopt pack "${pack.name}": drops index ${shown(d.schema, d.name)} (${d.statement.location.file}:${d.statement.location.line})`,
    '-- rollback: build it again from its definition (pgopt apply records it; with Prisma alone, keep pg_get_indexdef of it first)',
    '-- One statement per migration: DROP INDEX CONCURRENTLY cannot run inside a transaction.',
  ];
  return [...comments.map(commentLine), `DROP INDEX CONCURRENTLY IF EXISTS ${target};`, ''].join('\n');
}

/** How Prisma writes an index in schema.prisma, or why it cannot. */
export function prismaIndexLine(o: PackObject): { line: string } | { cannot: string } {
  const s = nodeAs(o.statement.ast, 'IndexStmt') as IndexStmt;
  if (s.whereClause) return { cannot: 'a partial index (WHERE …)' };
  if (s.indexIncludingParams?.length) return { cannot: 'an index with INCLUDE columns' };
  if (o.unique) return { cannot: 'a unique index (write it as @@unique yourself if you want Prisma to own it)' };
  const method = o.method ?? 'btree';
  const types: Record<string, string> = { btree: '', gin: 'Gin', gist: 'Gist', brin: 'Brin', hash: 'Hash', spgist: 'SpGist' };
  if (!(method in types)) return { cannot: `an index using ${method}` };
  const fields: string[] = [];
  for (const p of s.indexParams ?? []) {
    const el = nodeAs(p, 'IndexElem');
    if (!el?.name) return { cannot: 'an expression index' };
    const opclass = el.opclass?.map((x) => nodeAs(x, 'String')?.sval).join('.');
    const ops = opclass ? OPS[opclass] : undefined;
    if (opclass && !ops) return { cannot: `an index with operator class ${opclass}` };
    const args = [el.ordering === 'SORTBY_DESC' ? 'sort: Desc' : '', ops ? `ops: ${ops}` : ''].filter(Boolean);
    if (el.nulls_ordering && el.nulls_ordering !== 'SORTBY_NULLS_DEFAULT') return { cannot: 'an index with NULLS FIRST/LAST' };
    fields.push(args.length ? `${el.name}(${args.join(', ')})` : el.name);
  }
  const type = types[method] ? `, type: ${types[method]}` : '';
  return { line: `@@index([${fields.join(', ')}]${type}, map: "${o.name}")` };
}

/** Operator classes Prisma names (its `ops:` argument). */
const OPS: Record<string, string> = {
  jsonb_path_ops: 'JsonbPathOps',
  jsonb_ops: 'JsonbOps',
  array_ops: 'ArrayOps',
  gin_trgm_ops: 'GinTrgmOps',
};

/**
 * Names stay as the pack writes them (unqualified ones resolve by search_path when Prisma runs
 * the migration, as they would for pgopt apply); `existing` are the folder names already in the
 * migrations directory.
 */
export function prismaExport(pack: Pack, existing: string[], now = new Date()): PrismaExport {
  let t = firstStamp(existing, now).getTime();
  const out: PrismaExport = { migrations: [], schemaLines: [], notes: [] };
  const views = new Set(pack.objects.filter((o) => o.kind === 'matview').map((o) => o.name));
  for (const s of pack.statements) {
    if (s.kind === 'set')
      out.notes.push(`${s.location.file}:${s.location.line}: "${s.sql}" is not exported: each migration runs in its own session`);
    if (s.drop) {
      const folder = `${stamp(new Date(t))}_${slug(pack.name)}_drop_${slug(s.drop.name)}`;
      t += 1000;
      out.migrations.push({
        folder,
        object: shown(s.drop.schema, s.drop.name),
        sql: dropMigrationSql(pack, s.drop),
        exists: existing.includes(folder),
      });
      out.notes.push(
        `${shown(s.drop.schema, s.drop.name)} is dropped: remove its @@index (or @@unique) from schema.prisma too, or prisma migrate dev creates it again`,
      );
      continue;
    }
    const o = s.object;
    if (!o) continue;
    const schema = o.schema ?? o.table?.schema ?? null;
    const suffix = `${slug(pack.name)}_${slug(o.name)}`;
    const earlier = existing.find((f) => f.endsWith(`_${suffix}`) && /^\d{14}_/.test(f));
    const folder = earlier ?? `${stamp(new Date(t))}_${suffix}`;
    if (!earlier) t += 1000;
    out.migrations.push({ folder, object: shown(schema, o.name), sql: migrationSql(pack, o, schema), exists: !!earlier });
    if (o.kind === 'matview') {
      out.notes.push(`${shown(schema, o.name)}: Prisma's schema has no materialized views; it ignores it, and the migration keeps it`);
      continue;
    }
    const table = shown(o.table?.schema ?? null, o.table?.name ?? '');
    if (o.table && views.has(o.table.name)) {
      out.notes.push(`${o.name} indexes the materialized view ${table}, which Prisma ignores: nothing to add to schema.prisma`);
      continue;
    }
    const p = prismaIndexLine(o);
    if ('line' in p) out.schemaLines.push({ table, line: p.line });
    else {
      out.notes.push(
        `${o.name} is ${p.cannot}, which schema.prisma cannot express: after \`prisma migrate dev --create-only\`, ` +
          `delete any DROP INDEX "${o.name}" from the new migration.sql before applying it`,
      );
    }
  }
  return out;
}
