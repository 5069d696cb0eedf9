import { withClient } from '../db/scoped.js';
import { loadPack } from '../pack/load-pack.js';
import { planPack } from '../engine/plan.js';
import { renderPlan } from '../output/render-pack.js';
import { appName, type PackFlags } from './pack-flags.js';
import type { CommandContext } from './options.js';

export async function plan(path: string, f: PackFlags, ctx: CommandContext): Promise<number> {
  const pack = await loadPack(path, { name: f.name, allowUnsafe: f.allowUnsafe });
  const result = await withClient(ctx.target(), appName('plan', pack.name), (c) =>
    planPack(c, pack, { concurrently: f.concurrently, replaceChanged: f.replaceChanged }),
  );
  if (ctx.reporter.json) ctx.reporter.document(result);
  ctx.reporter.render(result, renderPlan);
  return 0;
}
