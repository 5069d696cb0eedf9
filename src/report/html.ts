/**
 * The comparison as one self-contained HTML page: styles inline, charts as inline SVG, no script,
 * no network. Every string from the runs (query names, plans, settings) is escaped: a report
 * travels as a CI artifact and is opened in a browser.
 */
import type { PackAccount } from '../bench/accounting.js';
import { VERDICTS, type Comparison, type QueryComparison, type Verdict } from '../bench/compare.js';
import type { BenchResult, QueryResult } from '../bench/runner.js';
import { AFTER_COLOR, BEFORE_COLOR, overviewChart, queryChart } from './charts.js';

export interface ReportInput {
  title: string;
  before: BenchResult;
  after: BenchResult;
  comparison: Comparison;
  account?: PackAccount;
}

export interface Headline {
  verdicts: Record<Verdict, number>;
  /** Σ (before − after median) over the workload's queries measured in both runs: one pass, ms. */
  savedMs: number;
  bytesAdded: number | null;
  writes: { probe: string; beforeMs: number; afterMs: number }[];
}

const isProbe = (name: string) => /^(insert|update):/.test(name);

/** The numbers at the top of the page (also what a test compares with the JSON comparison). */
export function reportHeadline(r: ReportInput): Headline {
  const verdicts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as Record<Verdict, number>;
  for (const q of r.comparison.queries) if (!isProbe(q.name)) verdicts[q.verdict]++;
  const both = r.comparison.queries.filter((q) => q.before && q.after);
  return {
    verdicts,
    savedMs: both.filter((q) => !isProbe(q.name)).reduce((s, q) => s + (q.before!.median - q.after!.median), 0),
    bytesAdded: r.account ? r.account.totalBytes : null,
    writes: both.filter((q) => isProbe(q.name)).map((q) => ({ probe: q.name, beforeMs: q.before!.median, afterMs: q.after!.median })),
  };
}

export const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
export const ms = (v: number) => (Math.abs(v) < 1 ? v.toFixed(3) : Math.abs(v) < 100 ? v.toFixed(2) : v.toFixed(0));
const bytes = (n: number) => (n < 1 << 20 ? `${(n / 1024).toFixed(0)} kB` : `${(n / (1 << 20)).toFixed(1)} MB`);
export const VERDICT_SYMBOL: Record<Verdict, string> = {
  faster: '▲',
  slower: '▼',
  unchanged: '●',
  inconclusive: '?',
  new: '+',
  missing: '−',
};

function headlineHtml(h: Headline): string {
  const counts = VERDICTS.filter((v) => h.verdicts[v] > 0)
    .map((v) => `<span class="count v-${v}"><b data-headline="${v}">${h.verdicts[v]}</b> ${VERDICT_SYMBOL[v]} ${v}</span>`)
    .join(' ');
  const bytesLine =
    h.bytesAdded === null ? '' : `<div><b data-headline="bytes">${esc(bytes(h.bytesAdded))}</b> added by the pack's objects</div>`;
  const writes = h.writes.length
    ? `<div>write cost: ${h.writes.map((w) => `${esc(w.probe)} ${ms(w.beforeMs)} → ${ms(w.afterMs)} ms`).join('; ')}</div>`
    : '';
  return `<section class="headline"><div class="counts">${counts}</div>
<div><b data-headline="saved">${ms(h.savedMs)} ms</b> saved per pass over the workload (sum of median changes)</div>${bytesLine}${writes}</section>`;
}

function planHtml(q: QueryComparison, b: QueryResult | undefined, a: QueryResult | undefined): string {
  if (!b || !a) return '';
  const change = q.planChanged ? 'plan changed' : 'same plan';
  const folded = `<details><summary>full plans</summary><h4>before</h4><pre>${esc(JSON.stringify(b.profile, null, 1))}</pre><h4>after</h4><pre>${esc(JSON.stringify(a.profile, null, 1))}</pre></details>`;
  return `<dl class="plan"><dt>${change}</dt><dd>${esc(b.plan.headline)} <span class="arrow">→</span> ${esc(a.plan.headline)}</dd>
<dt>buffers</dt><dd>${q.before!.buffers} → ${q.after!.buffers}</dd>
<dt>indexes used</dt><dd>${a.plan.indexes.length ? a.plan.indexes.map(esc).join(', ') : 'none'}</dd></dl>${folded}`;
}

async function queryHtml(q: QueryComparison, r: ReportInput): Promise<string> {
  const b = r.before.queries.find((x) => x.name === q.name);
  const a = r.after.queries.find((x) => x.name === q.name);
  const sides = [
    b && { label: 'before' as const, samples: b.samples, median: b.execution.median },
    a && { label: 'after' as const, samples: a.samples, median: a.execution.median },
  ];
  const chart = await queryChart(sides.filter((s): s is NonNullable<typeof s> => !!s));
  const speed =
    q.speedup === null
      ? ''
      : q.speedup >= 1
        ? `${q.speedup >= 10 ? q.speedup.toFixed(0) : q.speedup.toFixed(2)}× faster`
        : `${(1 / q.speedup).toFixed(2)}× slower`;
  const medians = [q.before && `before ${ms(q.before.median)} ms`, q.after && `after ${ms(q.after.median)} ms`].filter(Boolean).join(' · ');
  return `<section class="query" data-query="${esc(q.name)}">
<h3>${esc(q.name)} <span class="verdict v-${q.verdict}" data-verdict="${q.verdict}">${VERDICT_SYMBOL[q.verdict]} ${q.verdict}</span> <span class="speed">${esc(speed)}</span></h3>
<p class="medians">${medians}${q.reason ? ` — <span class="reason">${esc(q.reason)}</span>` : ''}</p>
<figure class="chart">${chart}</figure>${planHtml(q, b, a)}</section>`;
}

function accountHtml(acc: PackAccount | undefined): string {
  if (!acc) return '';
  const rows = acc.objects
    .map((o) => {
      const unused = o.kind === 'index' && o.sizeBytes !== null && !o.usedBy.length;
      return `<tr class="${unused ? 'unused' : ''}"><td>${esc(o.object)}</td><td>${o.kind}</td><td>${o.sizeBytes === null ? 'absent' : esc(bytes(o.sizeBytes))}</td><td>${unused ? '⚠ no query used it' : o.usedBy.map(esc).join(', ')}</td></tr>`;
    })
    .join('\n');
  return `<section class="account"><h2>Index accounting: pack ${esc(acc.pack)}</h2><table><thead><tr><th>object</th><th>kind</th><th>size</th><th>used by</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function metaHtml(r: ReportInput): string {
  const diff = Object.entries(r.before.settings).filter(([k, v]) => r.after.settings[k] !== undefined && r.after.settings[k] !== v);
  const settings = diff.length
    ? diff.map(([k, v]) => `<li>${esc(k)}: ${esc(v)} → ${esc(r.after.settings[k])}</li>`).join('')
    : '<li>no plan setting differs</li>';
  const warnings = r.comparison.warnings.map((w) => `<li>${esc(w)}</li>`).join('');
  const inconclusive = r.comparison.queries
    .filter((q) => q.verdict === 'inconclusive')
    .map((q) => `<li>${esc(q.name)}: ${esc(q.reason)}</li>`)
    .join('');
  return `<section class="meta"><h2>Runs</h2><ul><li>before: PostgreSQL ${esc(r.before.server.version)}, ${esc(r.before.startedAt)}, ${r.before.options.runs} runs per query</li>
<li>after: PostgreSQL ${esc(r.after.server.version)}, ${esc(r.after.startedAt)}, ${r.after.options.runs} runs per query</li>
<li>machine drift (calibration query, after / before): ${r.comparison.drift.toFixed(3)}</li>${r.comparison.timing ? `<li>${esc(r.comparison.timing)}</li>` : ''}</ul>
<h3>Settings that differ</h3><ul>${settings}</ul>${warnings ? `<h3>Warnings</h3><ul>${warnings}</ul>` : ''}${inconclusive ? `<h3>Inconclusive, and why</h3><ul>${inconclusive}</ul>` : ''}</section>`;
}

export const REPORT_CSS = `
:root { color-scheme: light dark; --fg: #1b1b1f; --bg: #ffffff; --muted: #5b5b66; --line: #d8d8e0; --card: #f6f6f9; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8e8ee; --bg: #16161a; --muted: #a4a4b0; --line: #3a3a44; --card: #202027; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 980px; padding: 24px; color: var(--fg); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 0 0 4px; }
.sub, .medians, .reason { color: var(--muted); }
.headline { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin: 16px 0; }
.count { display: inline-block; margin-right: 14px; font-size: 15px; }
.query { border-top: 1px solid var(--line); padding: 14px 0; break-inside: avoid; page-break-inside: avoid; }
.verdict { font-size: 12px; font-weight: 600; border: 1.5px solid currentColor; border-radius: 10px; padding: 0 8px; margin-left: 6px; }
.v-faster { color: #009E73; } .v-slower { color: #CC79A7; } .v-unchanged, .v-new, .v-missing { color: var(--muted); } .v-inconclusive { color: #E69F00; }
.speed { font-size: 13px; color: var(--muted); margin-left: 6px; }
figure.chart, figure.overview { margin: 6px 0; } figure svg { max-width: 100%; height: auto; }
figure.overview { break-inside: avoid; }
figure svg text { fill: var(--fg); } figure svg .role-axis-domain line, figure svg .role-axis-tick line { stroke: var(--muted); }
figure svg .role-axis-grid line { stroke: var(--line); }
dl.plan { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; font-size: 13px; }
dl.plan dt { color: var(--muted); } dl.plan dd { margin: 0; word-break: break-word; }
details pre { max-height: 320px; overflow: auto; background: var(--card); padding: 8px; font-size: 11px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; } th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 4px 6px; vertical-align: top; }
tr.unused td { font-weight: 600; }
.legend span { margin-right: 14px; }
@page { size: A4; margin: 12mm; }
@media print { body { max-width: none; padding: 0; } details { display: none; } .query { break-inside: avoid; } }
`;

/** The whole page; written by the CLI (compare --html, bench --compare --html, demo --html). */
export async function htmlReport(r: ReportInput): Promise<string> {
  const h = reportHeadline(r);
  const queries: string[] = [];
  for (const q of r.comparison.queries) queries.push(await queryHtml(q, r));
  const overview = await overviewChart(
    r.comparison.queries.map((q) => ({
      query: q.name,
      before: q.before?.median ?? null,
      after: q.after?.median ?? null,
      verdict: q.verdict,
    })),
  );
  const legend = `<p class="legend"><span style="color:${BEFORE_COLOR}">● before</span><span style="color:${AFTER_COLOR}">■ after</span> each dot a measured run; the bar spans p5–p95, the tick is the median</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.title)}</title><style>${REPORT_CSS}</style></head>
<body><h1>${esc(r.title)}</h1><p class="sub">workload “${esc(r.after.workload.name)}” · ${r.comparison.queries.length} queries · generated by pgopt</p>
${headlineHtml(h)}
<h2>All queries: median before → after</h2><p class="legend"><span style="color:${BEFORE_COLOR}">● before</span><span style="color:${AFTER_COLOR}">■ after</span></p><figure class="overview">${overview}</figure>
<h2>Per query</h2>${legend}
${queries.join('\n')}
${accountHtml(r.account)}
${metaHtml(r)}
</body></html>
`;
}
