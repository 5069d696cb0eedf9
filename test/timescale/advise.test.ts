import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTimescaleDatabase, type TimescaleDatabase } from '../helpers/timescale.js';
import { runCli } from '../helpers/cli.js';

/** advise on a hypertable (issue 29): it proposes root indexes, never chunk indexes, sized with their chunks. */
let db: TimescaleDatabase;
beforeAll(async () => {
  db = await createTimescaleDatabase('tsadv');
  await db.query(`CREATE TABLE events (id bigint NOT NULL, device int NOT NULL, ts timestamptz NOT NULL, v float8, note text)`);
  await db.query(`SELECT create_hypertable('events', by_range('ts', INTERVAL '1 day'))`);
  await db.query(
    `INSERT INTO events SELECT g, g % 500, '2026-01-01'::timestamptz + (g % (14 * 1440)) * INTERVAL '1 minute', random(), md5(g::text)
       FROM generate_series(1, 300000) g`,
  );
  await db.query('ANALYZE events');
});
afterAll(async () => db?.drop());

describe('advise on a hypertable', () => {
  it('proposes indexes on the hypertable itself, sized with their chunk indexes, and the pack applies chunk by chunk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsadv-'));
    const workload = join(dir, 'workload.sql');
    writeFileSync(
      workload,
      `-- name: note_lookup\n-- params: SELECT md5(g::text) FROM generate_series(1, 400, 37) g\nSELECT id FROM events WHERE note = $1;\n`,
    );
    const out = join(dir, 'pack.sql');
    const r = await runCli(['advise', workload, '--db', db.url, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const pack = readFileSync(out, 'utf8');
    expect(pack).toMatch(/ON "public"\."events" \(note\)/);
    expect(pack).not.toMatch(/_hyper_|_timescaledb_internal/);
    const kept = JSON.parse(r.stdout).trials.filter((c: { outcome: string }) => c.outcome === 'kept');
    expect(kept.length).toBeGreaterThan(0);
    // The root alone is one 8 kB page; the chunks hold the index.
    for (const k of kept) expect(k.sizeBytes).toBeGreaterThan(14 * 8192);
    // Nothing of the trials is left behind.
    expect(await db.query(`SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE '%events_note%'`)).toEqual([]);
    const a = await runCli(['apply', out, '--db', db.url]);
    expect(a.code, a.stderr).toBe(0);
    const v = await runCli(['verify', out, '--db', db.url, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).objects[0].reason).toMatch(/^\d+\/\d+ chunks valid/);
  });
});
