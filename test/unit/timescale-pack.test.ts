import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * sql/audit_engine_timescale is the plain pack with its statistics views as continuous aggregates:
 * a pack is one directory, so its index files are copies. They must stay copies, or the
 * perf:timescale comparison would compare two different sets of indexes.
 */
const SQL = fileURLToPath(new URL('../../sql', import.meta.url));
const read = (pack: string, file: string) => readFileSync(join(SQL, pack, file), 'utf8');

describe('the TimescaleDB pack of audit_engine', () => {
  it.each(['010_users.sql', '020_workflows.sql', '030_execution_history.sql', '040_files.sql'])('%s is the plain pack’s', (file) => {
    expect(read('audit_engine_timescale', file)).toBe(read('audit_engine', file));
  });
  it('differs only in its views and the settings file’s heading', () => {
    const settings = (pack: string) =>
      read(pack, '000_settings.sql')
        .split('\n')
        .filter((l) => !l.startsWith('--'));
    expect(settings('audit_engine_timescale')).toEqual(settings('audit_engine'));
    expect(read('audit_engine_timescale', '050_views.sql')).toContain(
      'WITH (timescaledb.continuous, timescaledb.create_group_indexes = false)',
    );
  });
});
