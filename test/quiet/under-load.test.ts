import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('load');
  await db.query(
    `CREATE TABLE events (id bigserial PRIMARY KEY, account int NOT NULL, kind int NOT NULL, at timestamptz NOT NULL DEFAULT now(), payload text)`,
  );
  await db.query(
    `INSERT INTO events (account, kind, at, payload) SELECT g % 5000, g % 17, now() - g * interval '1 second', md5(g::text) FROM generate_series(1, 1500000) g`,
  );
  // The same data, partitioned by kind: its index is built per partition (partitioned.ts).
  await db.query(
    `CREATE TABLE pevents (id bigint NOT NULL, account int NOT NULL, kind int NOT NULL, at timestamptz NOT NULL DEFAULT now(), payload text) PARTITION BY LIST (kind)`,
  );
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
function writer(c: pg.Client, insert: string) {
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

/**
 * Run `work` while a writer inserts on its own connection (from 300 ms before it starts until
 * 100 ms after it ends); returns how long the work took and what the writer saw.
 */
async function whileWriting<T>(insert: string, work: () => Promise<T>) {
  const w = writer(await db.connect(), insert);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  const result = await work();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 100));
  return { result, ms, writes: await w.stop() };
}

/**
 * apply of `pack` must never stall the writer; the unsafe way, a plain CREATE INDEX (`plainSql`)
 * holding SHARE for its whole build, must stall it, so the test is known to be able to fail.
 */
async function applyVersusPlainBuild(label: string, insert: string, pack: string, plainSql: string) {
  const apply = await whileWriting(insert, () => runCli(['apply', pack, '--db', db.url]));
  expect(apply.result.code, apply.result.stderr).toBe(0);
  expect(apply.writes.failures).toBe(0);
  expect(apply.writes.latencies.length).toBeGreaterThan(20);
  expect(apply.writes.longest).toBeLessThan(1000);

  const plain = await db.connect();
  const blocking = await whileWriting(insert, () => plain.query(plainSql));
  expect(blocking.ms).toBeGreaterThan(300);
  expect(blocking.writes.longest).toBeGreaterThan(blocking.ms * 0.5);
  expect(blocking.writes.longest).toBeGreaterThan(apply.writes.longest);
  console.log(
    `${label}: apply ${apply.ms.toFixed(0)} ms: longest insert ${apply.writes.longest.toFixed(1)} ms over ${apply.writes.latencies.length} inserts; plain build ${blocking.ms.toFixed(0)} ms: longest insert ${blocking.writes.longest.toFixed(0)} ms`,
  );
}

describe('apply under live writes', () => {
  it('concurrent builds never stall the writer (< 1 s); a plain CREATE INDEX stalls it for its whole build', async () => {
    const pack = writePack(
      'live',
      `CREATE INDEX idx_ev_account ON events (account, at DESC);
CREATE INDEX idx_ev_kind ON events (kind, at DESC);
CREATE INDEX idx_ev_payload ON events (payload);
`,
    );
    await applyVersusPlainBuild(
      'table',
      `INSERT INTO events (account, kind, payload) VALUES (42, 1, 'live')`,
      pack,
      `CREATE INDEX idx_ev_plain ON events (payload, account)`,
    );
  });

  it('on a partitioned table too: each partition is built concurrently, so the writer never stalls; a plain build stalls it', async () => {
    const pack = writePack('plive', `CREATE INDEX idx_pev_account ON pevents (account, at DESC);\n`);
    // The plain build on the partitioned table holds SHARE on every partition.
    await applyVersusPlainBuild(
      'partitioned',
      `INSERT INTO pevents (id, account, kind, payload) VALUES (0, 42, 1, 'live')`,
      pack,
      `CREATE INDEX idx_pev_plain ON pevents (payload, account)`,
    );
    const parts = await db.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'idx_pev_account'::regclass`);
    expect(parts[0].n).toBe(4);
  });
});
