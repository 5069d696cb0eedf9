import { PgoptError } from '../errors.js';
import { withClient } from '../db/scoped.js';
import { loadPack } from '../pack/load-pack.js';
import { applyPack } from '../engine/apply.js';
import { planPack } from '../engine/plan.js';
import { verifyPack } from '../engine/verify.js';
import { rollbackPack } from '../engine/rollback.js';
import { readStatus } from '../engine/status.js';
import { renderApply, renderPlan, renderRollback, renderStatus, renderVerify } from '../output/render-pack.js';
import { parseCount, runOptionsFrom, type CommandContext, type RunFlagValues } from './options.js';
import { existsSync } from 'node:fs';
import { packNameOf } from '../pack/load-pack.js';

interface PackFlags {
  name?: string;
  allowUnsafe?: boolean;
  concurrently: boolean;
  replaceChanged?: boolean;
}

const appName = (verb: string, pack: string) => `pgopt ${verb} ${pack}`.slice(0, 63);

export async function plan(path: string, f: PackFlags, ctx: CommandContext): Promise<number> {
  const pack = await loadPack(path, { name: f.name, allowUnsafe: f.allowUnsafe });
  const result = await withClient(ctx.target(), appName('plan', pack.name), (c) =>
    planPack(c, pack, { concurrently: f.concurrently, replaceChanged: f.replaceChanged }),
  );
  if (ctx.reporter.json) ctx.reporter.document(result);
  ctx.reporter.result(renderPlan(result, ctx.reporter.c));
  return 0;
}

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

export async function verify(path: string, f: PackFlags, ctx: CommandContext): Promise<number> {
  const pack = await loadPack(path, { name: f.name, allowUnsafe: f.allowUnsafe });
  const result = await withClient(ctx.target(), appName('verify', pack.name), (c) => verifyPack(c, pack));
  if (ctx.reporter.json) ctx.reporter.document(result);
  ctx.reporter.result(renderVerify(result, ctx.reporter.c));
  if (!result.ok) {
    const bad = result.objects.filter((o) => !o.ok);
    const named = bad.map((o) => `${o.object} (${o.state})`).join(', ');
    throw new PgoptError('check', `verify failed: ${bad.length} of ${result.objects.length} object(s): ${named}`);
  }
  return 0;
}

export async function rollback(packOrName: string, f: { name?: string; only?: string } & RunFlagValues, ctx: CommandContext): Promise<number> {
  const run = runOptionsFrom(f, ctx.reporter);
  // A pack is named by its file; after the file is gone, the name alone still rolls it back.
  const name = f.name ?? (existsSync(packOrName) ? packNameOf(packOrName) : packOrName);
  await ctx.reporter.startSpinner(`rolling back pack ${name}`);
  const result = await withClient(ctx.target(), appName('rollback', name), (c) => rollbackPack(c, name, { ...run, only: f.only })).finally(() =>
    ctx.reporter.stopSpinner(),
  );
  if (ctx.reporter.json) ctx.reporter.document({ ...result, error: result.error ? { kind: result.error.kind, message: result.error.message } : undefined });
  ctx.reporter.result(renderRollback(result, ctx.reporter.c));
  if (result.error) throw result.error;
  return 0;
}

export async function status(f: { pack?: string; events: string }, ctx: CommandContext): Promise<number> {
  const events = parseCount('--events', f.events);
  const result = await withClient(ctx.target(), 'pgopt status', (c) => readStatus(c, { pack: f.pack, events }));
  if (ctx.reporter.json) ctx.reporter.document(result);
  ctx.reporter.result(renderStatus(result, ctx.reporter.c));
  return 0;
}
