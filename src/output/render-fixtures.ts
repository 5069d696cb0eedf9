import Table from 'cli-table3';
import type { ChalkInstance } from 'chalk';
import type { LoadFixtureResult } from '../fixture-loader/load-fixture.js';
import { formatMs } from './render-pack.js';

export function renderFixtureLoad(r: LoadFixtureResult, c: ChalkInstance): string {
  const steps = new Table({ head: [c.bold('step'), c.bold('time')], style: { head: [], border: [] } });
  for (const s of r.steps) steps.push([s.label, formatMs(s.durationMs)]);
  const rows = new Table({ head: [c.bold('table'), c.bold('rows')], style: { head: [], border: [] }, colAligns: ['left', 'right'] });
  for (const [t, n] of Object.entries(r.rows)) rows.push([t, n.toLocaleString('en-US')]);
  return `${steps.toString()}\n${rows.toString()}\n${c.green(`fixture ${r.fixture} loaded at scale ${r.scale} (seed ${r.seed}, history ending ${r.anchor}) in ${formatMs(r.totalMs)}`)}`;
}
