import { PgoptError } from '../errors.js';
import { withClient } from '../db/scoped.js';
import { loadPack } from '../pack/load-pack.js';
import { lintPack } from '../engine/lint/index.js';
import { renderFindings } from '../output/render-pack.js';
import { appName, type PackFlags } from './pack-flags.js';
import type { CommandContext } from './options.js';

export async function lint(path: string, f: PackFlags & { strict?: boolean }, ctx: CommandContext): Promise<number> {
  const pack = await loadPack(path, { name: f.name, allowUnsafe: f.allowUnsafe });
  const result = await withClient(ctx.target(), appName('lint', pack.name), (c) => lintPack(c, pack));
  if (ctx.reporter.json) ctx.reporter.document(result);
  ctx.reporter.render(result.findings, renderFindings);
  const errors = result.findings.filter((x) => x.severity === 'error').length;
  const warnings = result.findings.length - errors;
  if (errors || (f.strict && warnings)) {
    throw new PgoptError('check', `lint: ${errors} error(s), ${warnings} warning(s)${f.strict && !errors ? ' (--strict)' : ''}`);
  }
  return 0;
}
