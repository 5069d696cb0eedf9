import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBaseline, saveBaseline } from '../../src/bench/baseline.js';
import type { BenchResult } from '../../src/bench/runner.js';

/** A saved run must come back whole: a field the loader drops is a fact a later comparison loses. */
describe('saved runs', () => {
  it('round-trip every field a run records, the optional ones too (server.citus, sequencesAdvanced)', () => {
    const run = JSON.parse(readFileSync(new URL('../report/after.json', import.meta.url), 'utf8')) as BenchResult;
    const full: BenchResult = {
      ...run,
      server: { ...run.server, citus: '13.2-1' },
      sequencesAdvanced: [{ sequence: 'public.ticket_id_seq', by: 35 }],
    };
    const file = join(mkdtempSync(join(tmpdir(), 'baseline-')), 'run.json');
    saveBaseline(file, full);
    expect(loadBaseline(file)).toEqual(full);
    // Control: the file itself holds the fields, so a loader that dropped them would fail the line above.
    expect(JSON.parse(readFileSync(file, 'utf8')).server.citus).toBe('13.2-1');
  });
});
