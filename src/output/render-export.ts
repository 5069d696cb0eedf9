import type { ChalkInstance } from 'chalk';
import type { PrismaExport } from '../export/prisma.js';

export function renderPrismaExport(r: { out: string; plan: PrismaExport }, c: ChalkInstance): string {
  const lines = [c.bold(`${r.plan.migrations.length} migration(s) written to ${r.out}:`)];
  for (const m of r.plan.migrations) lines.push(`  ${m.folder}/migration.sql  ${c.dim(m.object)}`);
  if (r.plan.schemaLines.length) {
    lines.push(
      '',
      c.bold(
        'Add to schema.prisma, so `prisma migrate dev` keeps these indexes (in the model of each table; field names as Prisma knows them):',
      ),
    );
    const tables = [...new Set(r.plan.schemaLines.map((l) => l.table))];
    for (const t of tables) {
      lines.push(`  // table ${t}`);
      for (const l of r.plan.schemaLines.filter((x) => x.table === t)) lines.push(`  ${l.line}`);
    }
  }
  if (r.plan.notes.length) lines.push('', c.bold('By hand:'), ...r.plan.notes.map((n) => `  - ${n}`));
  return lines.join('\n');
}
