import { withClient } from '../db/scoped.js';
import { requireWritable } from '../db/session.js';
import { packNameOf } from '../pack/load-pack.js';
import { refreshViews, resolveRefreshTargets } from '../engine/refresh.js';
import { progressWatcher } from '../engine/watch.js';
import { renderRefresh } from '../output/render-pack.js';
import { runOptionsFrom, type CommandContext, type RunFlagValues } from './options.js';

export async function refresh(targets: string[], f: RunFlagValues, ctx: CommandContext): Promise<number> {
  const run = runOptionsFrom(f, ctx);
  const target = ctx.target();
  await ctx.reporter.startSpinner('refreshing materialized views');
  const result = await withClient(target, 'pgopt refresh', (c) =>
    withClient(target, 'pgopt refresh monitor', async (monitor) => {
      await requireWritable(c); // before the targets: on a standby, the one message that matters
      const views = await resolveRefreshTargets(c, targets, packNameOf);
      return refreshViews(c, views, { ...run, watch: progressWatcher(monitor, ctx.reporter.progress) });
    }),
  ).finally(() => ctx.reporter.stopSpinner());
  if (ctx.reporter.json) ctx.reporter.document({ ...result, error: result.error?.toJSON() });
  ctx.reporter.render(result, renderRefresh);
  if (result.error) throw result.error;
  return 0;
}
