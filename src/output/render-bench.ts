import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { PackAccount } from '../bench/accounting.js';
import type { Comparison, QueryComparison, Verdict } from '../bench/compare.js';
import { timingNote } from '../bench/compare.js';
import type { BenchResult } from '../bench/runner.js';
import { formatBytes } from './render-pack.js';

/** Milliseconds with precision that suits their size: 0.017 ms, 3.65 ms, 258 ms. */
export const ms = (v: number | null | undefined): string => {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (v < 1) return `${v.toFixed(3)} ms`;
  if (v < 100) return `${v.toFixed(2)} ms`;
  return `${Math.round(v).toLocaleString('en-US')} ms`;
};

const speedupText = (q: QueryComparison) => {
  if (q.speedup === null) return '—';
  if (q.verdict === 'unchanged') return `${q.speedup.toFixed(2)}× (noise)`;
  if (q.verdict === 'inconclusive') return `${q.speedup.toFixed(2)}× (inconclusive)`;
  return q.speedup >= 1
    ? `${q.speedup >= 100 ? Math.round(q.speedup) : q.speedup.toFixed(1)}× faster`
    : `${(1 / q.speedup).toFixed(1)}× slower`;
};

const planText = (q: QueryComparison) => {
  const b = q.before ? `${q.before.plan}${q.before.form !== 'raw' ? ` [via ${q.before.form}]` : ''}` : '—';
  const a = q.after ? `${q.after.plan}${q.after.form !== 'raw' ? ` [via ${q.after.form}]` : ''}` : '—';
  return q.planChanged || q.before?.form !== q.after?.form ? `${b} → ${a}` : `${a} (same)`;
};

const buffersText = (q: QueryComparison) => `${q.before?.buffers ?? '—'} → ${q.after?.buffers ?? '—'}`;

/** One colour per verdict, wherever a verdict is printed (bench, compare, impact). */
export const paintVerdict = (c: ChalkInstance, verdict: Verdict, text: string = verdict): string =>
  verdict === 'faster' ? c.green(text) : verdict === 'slower' ? c.red(text) : verdict === 'unchanged' ? c.dim(text) : c.yellow(text);

const paint = (c: ChalkInstance, q: QueryComparison, text: string) => paintVerdict(c, q.verdict, text);

/** The performance comparison table: query | before p50 | after p50 | speedup | plan | buffers. */
export function renderComparison(cmp: Comparison, c: ChalkInstance): string {
  const t = new Table({
    head: ['query', 'before p50', 'after p50', 'speedup', 'plan before → after', 'buffers'].map((h) => c.bold(h)),
    style: { head: [], border: [] },
    colAligns: ['left', 'right', 'right', 'right', 'left', 'right'],
    colWidths: [null, null, null, null, 70, null] as unknown as number[],
    wordWrap: true,
  });
  for (const q of cmp.queries) {
    t.push([q.name, ms(q.before?.median), ms(q.after?.median), speedupText(q), planText(q), buffersText(q)].map((x) => paint(c, q, x)));
  }
  const warn = cmp.warnings.map((w) => c.yellow(`warning: ${w}`)).join('\n');
  const notes = verdictNotes(cmp).map((n) => (n.startsWith('inconclusive') ? c.yellow(n) : c.dim(n)));
  return [t.toString(), ...notes, verdictCounts(cmp), savedText(cmp), cmp.timing ? c.dim(cmp.timing) : '', warn].filter(Boolean).join('\n');
}

/** Where the workload says how often production runs each query (capture writes it). */
export function savedText(cmp: Comparison): string {
  if (cmp.savedMsPerHour === null) return '';
  const v = cmp.savedMsPerHour;
  const amount = Math.abs(v) >= 1000 ? `${(Math.abs(v) / 1000).toFixed(1)} s` : `${Math.abs(v).toFixed(1)} ms`;
  return `production time ${v >= 0 ? 'saved' : 'added'}: ${amount} per hour (each faster or slower query's median change × its calls per hour)`;
}

/** Every comparison ends with how many queries got each verdict. */
export function verdictCounts(cmp: Comparison): string {
  const order = ['faster', 'slower', 'unchanged', 'inconclusive', 'new', 'missing'] as const;
  const counts = order
    .map((v) => [v, cmp.queries.filter((q) => q.verdict === v).length] as const)
    .filter(([v, n]) => n > 0 || v === 'faster' || v === 'slower' || v === 'unchanged');
  return `${counts.map(([v, n]) => `${n} ${v}`).join(', ')} (Mann–Whitney U test, p < 0.01, and a change of at least 20% and 0.05 ms beyond the machine's drift; see README, "Verdicts")`;
}

/** Why each inconclusive row is so, and which verdicts the buffers decided. */
export function verdictNotes(cmp: Comparison): string[] {
  return cmp.queries
    .filter((q) => q.reason && (q.verdict === 'inconclusive' || q.verdict === 'faster' || q.verdict === 'slower'))
    .map((q) => `${q.verdict}: ${q.name} — ${q.reason}`);
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|');

export function renderComparisonMarkdown(cmp: Comparison): string {
  const lines = ['| query | before p50 | after p50 | speedup | plan before → after | buffers |', '|---|--:|--:|--:|---|--:|'];
  for (const q of cmp.queries) {
    lines.push(
      `| ${mdEscape(q.name)} | ${ms(q.before?.median)} | ${ms(q.after?.median)} | ${speedupText(q)} | ${mdEscape(planText(q))} | ${buffersText(q)} |`,
    );
  }
  const notes = verdictNotes(cmp);
  if (notes.length) lines.push('', ...notes.map((n) => `- ${mdEscape(n)}`));
  lines.push('', verdictCounts(cmp));
  if (savedText(cmp)) lines.push('', savedText(cmp));
  if (cmp.timing) lines.push('', mdEscape(cmp.timing));
  for (const w of cmp.warnings) lines.push('', `> warning: ${w}`);
  return lines.join('\n');
}

export function renderRun(r: BenchResult, c: ChalkInstance): string {
  const t = new Table({
    head: ['query', 'form', 'p50', 'p95', 'runs', 'rows', 'plan', 'buffers'].map((h) => c.bold(h)),
    style: { head: [], border: [] },
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'left', 'right'],
    colWidths: [null, null, null, null, null, null, 60, null] as unknown as number[],
    wordWrap: true,
  });
  for (const q of r.queries)
    t.push([
      q.name,
      q.form,
      ms(q.execution.median),
      ms(q.execution.p95),
      String(q.samples.length),
      String(q.rows),
      q.plan.headline,
      String(q.buffers.hit + q.buffers.read),
    ]);
  const failed = r.queries.flatMap((q) =>
    q.expectations.filter((e) => !e.ok).map((e) => c.red(`expectation failed: ${q.name}: ${e.text} — ${e.reason}`)),
  );
  return [
    t.toString(),
    `PostgreSQL ${r.server.version}, ${r.queries.length} queries, ${r.options.runs} runs each after ${r.options.warmup} warm-up`,
    ...(timingNote(r) ? [c.dim(timingNote(r)!)] : []),
    ...failed,
  ].join('\n');
}

export function renderRunMarkdown(r: BenchResult): string {
  const lines = ['| query | form | p50 | p95 | rows | plan |', '|---|---|--:|--:|--:|---|'];
  for (const q of r.queries)
    lines.push(`| ${q.name} | ${q.form} | ${ms(q.execution.median)} | ${ms(q.execution.p95)} | ${q.rows} | ${mdEscape(q.plan.headline)} |`);
  return lines.join('\n');
}

export function renderAccount(a: PackAccount, c: ChalkInstance): string {
  const t = new Table({
    head: ['object', 'kind', 'size', 'used by'].map((h) => c.bold(h)),
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: [null, null, null, 60] as unknown as number[],
  });
  for (const o of a.objects) {
    const use = o.sizeBytes === null ? c.dim('not in the database') : o.usedBy.length ? o.usedBy.join(', ') : c.yellow('no query');
    t.push([o.object, o.kind, formatBytes(o.sizeBytes), use]);
  }
  const warn = a.unused.map((u) =>
    c.yellow(`warning: index ${u} was used by no workload query: it costs space and write time for nothing`),
  );
  const absent = a.absent.length
    ? [
        c.dim(
          `${a.absent.length} of ${a.objects.length} objects of ${a.pack} are not in the database: apply the pack, then bench again to account for them`,
        ),
      ]
    : [];
  return [t.toString(), `pack ${a.pack} adds ${formatBytes(a.totalBytes)}`, ...warn, ...absent].join('\n');
}

export function renderAccountMarkdown(a: PackAccount): string {
  const lines = ['| object | kind | size | used by |', '|---|---|--:|---|'];
  for (const o of a.objects)
    lines.push(
      `| ${o.object} | ${o.kind} | ${formatBytes(o.sizeBytes)} | ${o.sizeBytes === null ? '_not in the database_' : o.usedBy.join(', ') || '**no query**'} |`,
    );
  lines.push('', `Total added: ${formatBytes(a.totalBytes)}`);
  return lines.join('\n');
}
