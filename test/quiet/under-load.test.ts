import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('load');
  await db.query(`CREATE TABLE events (id bigserial PRIMARY KEY, account int NOT NULL, kind int NOT NULL, at timestamptz NOT NULL DEFAULT now(), payload text)`);
  await db.query(`INSERT INTO events (account, kind, at, payload) SELECT g % 5000, g % 17, now() - g * interval '1 second', md5(g::text) FROM generate_series(1, 1500000) g`);
  // The same data, partitioned by kind: its index is built per partition (partitioned.ts).
  await db.query(`CREATE TABLE pevents (id bigint NOT NULL, account int NOT NULL, kind int NOT NULL, at timestamptz NOT NULL DEFAULT now(), payload text) PARTITION BY LIST (kind)`);
  for (let p = 0; p < 4; p++) {
    const kinds = Array.from({ length: 17 }, (_, k) => k).filter((k) => k % 4 === p);
    await db.query(`CREATE TABLE pevents_${p} PARTITION OF pevents FOR VALUES IN (${kinds.join(', ')})`);
  }
  await db.query(`INSERT INTO pevents SELECT id, account, kind, at, payload FROM events`);
  await db.query('VACUUM ANALYZE events');
  await db.query('VACUUM ANALYZE pevents');
});
afterAll(async () => db?.drop());

/** Insert one row at a time on its own connection until stopped; returns every insert's latency. */
function writer(c: pg.Client, insert = `INSERT INTO events (account, kind, payload) VALUES (42, 1, 'live')`) {
  let running = true;
  const latencies: number[] = [];
  let failures = 0;
  const done = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        await c.query(insert);
      } catch {
        failures++;
      }
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return { latencies, failures, longest: Math.max(...latencies) };
    },
  };
}

describe('apply under live writes', () => {
  it('concurrent builds never stall the writer (< 1 s); a plain CREATE INDEX stalls it for its whole build', async () => {
    const pack = writePack('live', `CREATE INDEX idx_ev_account ON events (account, at DESC);
CREATE INDEX idx_ev_kind ON events (kind, at DESC);
CREATE INDEX idx_ev_payload ON events (payload);
`);
    const w = writer(await db.connect());
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const r = await runCli(['apply', pack, '--db', db.url]);
    const applyMs = performance.now() - t0;
    const during = await w.stop();
    expect(r.code, r.stderr).toBe(0);
    expect(during.failures).toBe(0);
    expect(during.latencies.length).toBeGreaterThan(20);
    expect(during.longest).toBeLessThan(1000);

    // The unsafe way: the same kind of build without CONCURRENTLY holds SHARE on the table, and
    // every insert waits for the whole build.
    const w2 = writer(await db.connect());
    await new Promise((r) => setTimeout(r, 300));
    const plain = await db.connect();
    const b0 = performance.now();
    await plain.query(`CREATE INDEX idx_ev_plain ON events (payload, account)`);
    const buildMs = performance.now() - b0;
    await new Promise((r) => setTimeout(r, 100));
    const blocked = await w2.stop();
    expect(buildMs).toBeGreaterThan(300);
    expect(blocked.longest).toBeGreaterThan(buildMs * 0.5);
    expect(blocked.longest).toBeGreaterThan(during.longest);
    console.log(`apply ${applyMs.toFixed(0)} ms: longest insert ${during.longest.toFixed(1)} ms over ${during.latencies.length} inserts; plain build ${buildMs.toFixed(0)} ms: longest insert ${blocked.longest.toFixed(0)} ms`);
  });

  it('on a partitioned table too: each partition is built concurrently, so the writer never stalls; a plain build stalls it', async () => {
    const insert = `INSERT INTO pevents (id, account, kind, payload) VALUES (0, 42, 1, 'live')`;
    const pack = writePack('plive', `CREATE INDEX idx_pev_account ON pevents (account, at DESC);\n`);
    const w = writer(await db.connect(), insert);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const r = await runCli(['apply', pack, '--db', db.url]);
    const applyMs = performance.now() - t0;
    const during = await w.stop();
    expect(r.code, r.stderr).toBe(0);
    expect(during.failures).toBe(0);
    expect(during.longest).toBeLessThan(1000);
    const parts = await db.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'idx_pev_account'::regclass`);
    expect(parts[0].n).toBe(4);

    // The unsafe way: a plain CREATE INDEX on the partitioned table holds SHARE on every partition.
    const w2 = writer(await db.connect(), insert);
    await new Promise((r) => setTimeout(r, 300));
    const plain = await db.connect();
    const b0 = performance.now();
    await plain.query(`CREATE INDEX idx_pev_plain ON pevents (payload, account)`);
    const buildMs = performance.now() - b0;
    await new Promise((r) => setTimeout(r, 100));
    const blocked = await w2.stop();
    expect(buildMs).toBeGreaterThan(300);
    expect(blocked.longest).toBeGreaterThan(buildMs * 0.5);
    expect(blocked.longest).toBeGreaterThan(during.longest);
    console.log(`partitioned: apply ${applyMs.toFixed(0)} ms: longest insert ${during.longest.toFixed(1)} ms over ${during.latencies.length} inserts; plain build ${buildMs.toFixed(0)} ms: longest insert ${blocked.longest.toFixed(0)} ms`);
  });
});
