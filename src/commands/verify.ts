import { PgoptError } from '../errors.js';
import { withClient } from '../db/scoped.js';
import { loadPack } from '../pack/load-pack.js';
import { verifyPack } from '../engine/verify.js';
import { renderVerify } from '../output/render-pack.js';
import { appName, type PackFlags } from './pack-flags.js';
import type { CommandContext } from './options.js';

export async function verify(path: string, f: PackFlags, ctx: CommandContext): Promise<number> {
  const pack = await loadPack(path, { name: f.name, allowUnsafe: f.allowUnsafe });
  const result = await withClient(ctx.target(), appName('verify', pack.name), (c) => verifyPack(c, pack));
  if (ctx.reporter.json) ctx.reporter.document(result);
  ctx.reporter.render(result, renderVerify);
  for (const note of result.notes) ctx.reporter.warn(note);
  if (!result.ok) {
    const bad = result.objects.filter((o) => !o.ok);
    const named = bad.map((o) => `${o.object} (${o.state})`).join(', ');
    throw new PgoptError('check', `verify failed: ${bad.length} of ${result.objects.length} object(s): ${named}`);
  }
  return 0;
}
