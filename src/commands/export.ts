import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgoptError } from '../errors.js';
import { prismaExport } from '../export/prisma.js';
import { loadPack } from '../pack/load-pack.js';
import { renderPrismaExport } from '../output/render-export.js';
import type { CommandContext } from './options.js';

export interface ExportFlags {
  out: string;
  force?: boolean;
  name?: string;
}

/** `pgopt export prisma <pack>`: no database needed; refuses to overwrite an earlier export without --force. */
export async function exportPrisma(path: string, f: ExportFlags, ctx: CommandContext): Promise<number> {
  const pack = await loadPack(path, { name: f.name });
  const existing = existsSync(f.out) ? readdirSync(f.out) : [];
  const plan = prismaExport(pack, existing);
  const clash = plan.migrations.filter((m) => m.exists);
  if (clash.length && !f.force) {
    throw new PgoptError(
      'input',
      `${f.out}: ${clash.length} migration folder(s) of pack ${pack.name} exist already (${clash[0].folder}): nothing was written`,
      {
        hint: 'pass --force to overwrite them',
      },
    );
  }
  for (const m of plan.migrations) {
    mkdirSync(join(f.out, m.folder), { recursive: true });
    writeFileSync(join(f.out, m.folder, 'migration.sql'), m.sql);
  }
  if (ctx.reporter.json) ctx.reporter.document({ pack: pack.name, out: f.out, ...plan });
  ctx.reporter.render({ out: f.out, plan }, renderPrismaExport);
  return 0;
}
