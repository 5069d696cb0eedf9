import { withClient } from '../db/scoped.js';
import { PgoptError } from '../errors.js';
import { ensureRegistry } from '../engine/registry.js';
import { withAdvisoryLock } from '../db/run-lock.js';
import { impactMarkdown, renderImpact, renderSnapshot } from '../output/render-impact.js';
import { measureImpact } from '../production/impact.js';
import { takeSnapshot } from '../production/snapshots.js';
import { FORMATS } from './bench.js';
import { parseDuration, type CommandContext } from './options.js';
import { writeHtmlPage } from './html.js';
import { impactHtml } from '../report/impact-html.js';

export async function snapshot(f: { label?: string; wait: string }, ctx: CommandContext): Promise<number> {
  const s = await withClient(ctx.target(), 'pgopt snapshot', (c) =>
    withAdvisoryLock(c, { waitMs: parseDuration('--wait', f.wait) }, async () => {
      await ensureRegistry(c);
      return takeSnapshot(c, { label: f.label ?? null, moment: 'manual' });
    }),
  );
  if (ctx.reporter.json) ctx.reporter.document({ snapshot: s });
  ctx.reporter.render(s, renderSnapshot);
  if (!s) throw new PgoptError('database', 'pg_stat_statements is not installed in this database: no snapshot taken');
  return 0;
}

export interface ImpactFlags {
  at?: string;
  format: string;
  failOnRegression?: boolean;
  html?: string;
}

export async function impact(pack: string | undefined, f: ImpactFlags, ctx: CommandContext): Promise<number> {
  if (!pack && !f.at) throw new PgoptError('input', 'impact needs a pack (its last apply) or --at <label> (a snapshot)');
  if (pack && f.at) throw new PgoptError('input', 'impact takes a pack or --at <label>, not both');
  if (!(FORMATS as readonly string[]).includes(f.format)) throw new PgoptError('input', `--format must be one of ${FORMATS.join(', ')}`);
  const r = await withClient(ctx.target(), 'pgopt impact', (c) => measureImpact(c, { pack, at: f.at }));
  if (ctx.reporter.json || f.format === 'json') ctx.reporter.document(r);
  else if (f.format === 'markdown') ctx.reporter.result(impactMarkdown(r));
  else ctx.reporter.render(r, renderImpact);
  if (f.html) writeHtmlPage(f.html, impactHtml(r), ctx);
  const slower = r.statements.filter((s) => s.verdict === 'slower');
  if (f.failOnRegression && slower.length) throw new PgoptError('check', `impact: ${slower.length} statement(s) slower in production`);
  return 0;
}
