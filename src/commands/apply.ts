import { withClient } from '../db/scoped.js';
import { loadPack } from '../pack/load-pack.js';
import { applyPack } from '../engine/apply.js';
import { renderApply } from '../output/render-pack.js';
import { appName, type PackFlags } from './pack-flags.js';
import { runOptionsFrom, type CommandContext, type RunFlagValues } from './options.js';

export async function apply(path: string, f: PackFlags & RunFlagValues & { analyze: boolean }, ctx: CommandContext): Promise<number> {
  const run = runOptionsFrom(f, ctx.reporter);
  const pack = await loadPack(path, { name: f.name, allowUnsafe: f.allowUnsafe });
  await ctx.reporter.startSpinner(`applying pack ${pack.name}`);
  const result = await withClient(ctx.target(), appName('apply', pack.name), (c) =>
    applyPack(c, pack, { ...run, analyze: f.analyze, replaceChanged: !!f.replaceChanged }),
  ).finally(() => ctx.reporter.stopSpinner());
  if (ctx.reporter.json) ctx.reporter.document({ ...result, error: result.error ? { kind: result.error.kind, message: result.error.message } : undefined });
  ctx.reporter.result(renderApply(result, ctx.reporter.c));
  if (result.error) throw result.error;
  return 0;
}
