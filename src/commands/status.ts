import { withClient } from '../db/scoped.js';
import { readStatus } from '../engine/status.js';
import { renderStatus } from '../output/render-pack.js';
import { parseCount, type CommandContext } from './options.js';

export async function status(f: { pack?: string; events: string }, ctx: CommandContext): Promise<number> {
  const events = parseCount('--events', f.events);
  const result = await withClient(ctx.target(), 'pgopt status', (c) => readStatus(c, { pack: f.pack, events }));
  if (ctx.reporter.json) ctx.reporter.document(result);
  ctx.reporter.render(result, renderStatus);
  return 0;
}
