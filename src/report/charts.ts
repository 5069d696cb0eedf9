/**
 * Per-query before/after charts, drawn by Vega-Lite and rendered to SVG by vega's own renderer at
 * generation time: axes, ticks and the log scale are the library's, the page needs no script.
 * Colours are Okabe–Ito (colour-blind safe), and before/after also differ by shape.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

export const BEFORE_COLOR = '#0072B2';
export const AFTER_COLOR = '#D55E00';

export interface ChartSide {
  label: 'before' | 'after';
  samples: number[];
  median: number;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
};

/** Milliseconds on a log axis so 0.02 ms and 300 ms share it: every sample, the p5–p95 spread, the median. */
export async function queryChart(sides: ChartSide[]): Promise<string> {
  const floor = (v: number) => Math.max(v, 0.001); // a log scale has no zero
  const points = sides.flatMap((s) => s.samples.map((ms) => ({ side: s.label, ms: floor(ms) })));
  const spans = sides.map((s) => ({
    side: s.label,
    p5: floor(quantile(s.samples, 0.05)),
    p95: floor(quantile(s.samples, 0.95)),
    median: floor(s.median),
  }));
  const y = { field: 'side', type: 'nominal' as const, sort: ['before', 'after'], title: null };
  const color = {
    field: 'side',
    type: 'nominal' as const,
    scale: { domain: ['before', 'after'], range: [BEFORE_COLOR, AFTER_COLOR] },
    legend: null,
  };
  const x = { type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'execution time (ms, log scale)' };
  const spec: vl.TopLevelSpec = {
    width: 520,
    height: 64,
    background: 'transparent',
    config: { view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 11, gridOpacity: 0.35 } },
    layer: [
      {
        data: { values: spans },
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: { y, x: { ...x, field: 'p5' }, x2: { field: 'p95' }, color },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, opacity: 0.45, size: 22 },
        encoding: {
          y,
          x: { ...x, field: 'ms' },
          color,
          shape: { field: 'side', type: 'nominal', scale: { domain: ['before', 'after'], range: ['circle', 'square'] }, legend: null },
        },
      },
      { data: { values: spans }, mark: { type: 'tick', thickness: 3, size: 22 }, encoding: { y, x: { ...x, field: 'median' }, color } },
    ],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Every query on one log axis: before and after medians joined, so the whole change reads at a glance. */
export async function overviewChart(rows: { query: string; before: number | null; after: number | null }[]): Promise<string> {
  const floor = (v: number) => Math.max(v, 0.001);
  const both = rows.filter((r) => r.before !== null && r.after !== null);
  const points = rows.flatMap((r) => [
    ...(r.before !== null ? [{ query: r.query, side: 'before', ms: floor(r.before) }] : []),
    ...(r.after !== null ? [{ query: r.query, side: 'after', ms: floor(r.after) }] : []),
  ]);
  const y = { field: 'query', type: 'nominal' as const, sort: rows.map((r) => r.query), title: null };
  const x = { field: 'ms', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'median execution time (ms, log scale)' };
  const spec: vl.TopLevelSpec = {
    width: 560,
    height: { step: 18 },
    background: 'transparent',
    config: { view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 11, gridOpacity: 0.35, labelLimit: 220 } },
    layer: [
      {
        data: { values: both.map((r) => ({ query: r.query, from: floor(r.before!), to: floor(r.after!) })) },
        mark: { type: 'rule', strokeWidth: 1.5, opacity: 0.6 },
        encoding: { y, x: { ...x, field: 'from' }, x2: { field: 'to' }, color: { value: '#888888' } },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          y,
          x,
          color: {
            field: 'side',
            type: 'nominal',
            scale: { domain: ['before', 'after'], range: [BEFORE_COLOR, AFTER_COLOR] },
            legend: null,
          },
          shape: { field: 'side', type: 'nominal', scale: { domain: ['before', 'after'], range: ['circle', 'square'] }, legend: null },
        },
      },
    ],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
