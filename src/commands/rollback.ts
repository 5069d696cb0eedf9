import { existsSync } from 'node:fs';
import { withClient } from '../db/scoped.js';
import { packNameOf } from '../pack/load-pack.js';
import { rollbackPack } from '../engine/rollback.js';
import { renderRollback } from '../output/render-pack.js';
import { appName } from './pack-flags.js';
import { runOptionsFrom, type CommandContext, type RunFlagValues } from './options.js';

export async function rollback(
  packOrName: string,
  f: { name?: string; only?: string } & RunFlagValues,
  ctx: CommandContext,
): Promise<number> {
  const run = runOptionsFrom(f, ctx);
  // A pack is named by its file; after the file is gone, the name alone still rolls it back.
  const name = f.name ?? (existsSync(packOrName) ? packNameOf(packOrName) : packOrName);
  await ctx.reporter.startSpinner(`rolling back pack ${name}`);
  const result = await withClient(ctx.target(), appName('rollback', name), (c) => rollbackPack(c, name, { ...run, only: f.only })).finally(
    () => ctx.reporter.stopSpinner(),
  );
  if (ctx.reporter.json) ctx.reporter.document({ ...result, error: result.error?.toJSON() });
  ctx.reporter.render(result, renderRollback);
  if (result.error) throw result.error;
  return 0;
}
