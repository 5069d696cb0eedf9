import { withClient } from '../db/scoped.js';
import { loadPack } from '../pack/load-pack.js';
import { applyPack } from '../engine/apply.js';
import { renderApply } from '../output/render-pack.js';
import { appName, type PackFlags } from './pack-flags.js';
import { parseCount, runOptionsFrom, type CommandContext, type RunFlagValues } from './options.js';
import type { Session } from '../db/session.js';

export async function apply(
  path: string,
  f: PackFlags & RunFlagValues & { analyze: boolean; jobs: string },
  ctx: CommandContext,
): Promise<number> {
  const run = runOptionsFrom(f, ctx);
  const jobs = parseCount('--jobs', f.jobs, 1);
  const pack = await loadPack(path, { name: f.name, allowUnsafe: f.allowUnsafe });
  const target = ctx.target();
  const name = appName('apply', pack.name);
  await ctx.reporter.startSpinner(`applying pack ${pack.name}`);
  const result = await withClient(target, name, (c) =>
    applyPack(c, pack, {
      ...run,
      analyze: f.analyze,
      replaceChanged: !!f.replaceChanged,
      jobs,
      withExtraClient: <T>(fn: (extra: Session) => Promise<T>) => withClient(target, name, fn),
    }),
  ).finally(() => ctx.reporter.stopSpinner());
  if (ctx.reporter.json) ctx.reporter.document({ ...result, error: result.error?.toJSON() });
  ctx.reporter.render(result, renderApply);
  if (result.error) throw result.error;
  return 0;
}
