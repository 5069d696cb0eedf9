import { withClient } from '../db/scoped.js';
import { loadFixture } from '../fixture-loader/load-fixture.js';
import { renderFixtureLoad } from '../output/render-fixtures.js';
import { parseCount, type CommandContext } from './options.js';
import { PgoptError } from '../errors.js';

export async function fixturesLoad(
  name: string,
  f: { scale: string; seed: string; anchor?: string; replace?: boolean; citus?: boolean; timescale?: boolean },
  ctx: CommandContext,
): Promise<number> {
  const scale = Number(f.scale);
  if (!Number.isFinite(scale)) throw new PgoptError('input', `--scale: "${f.scale}" is not a number`);
  const seed = parseCount('--seed', f.seed);
  await ctx.reporter.startSpinner(`loading fixture ${name}`);
  const result = await withClient(ctx.target(), `pgopt fixtures load ${name}`, (c) =>
    loadFixture(c, name, {
      scale,
      seed,
      anchor: f.anchor,
      replace: !!f.replace,
      citus: !!f.citus,
      timescale: !!f.timescale,
      onProgress: ctx.reporter.progress,
    }),
  ).finally(() => ctx.reporter.stopSpinner());
  if (ctx.reporter.json) ctx.reporter.document(result);
  ctx.reporter.render(result, renderFixtureLoad);
  return 0;
}
