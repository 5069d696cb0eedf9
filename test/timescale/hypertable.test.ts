import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type pg from 'pg';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTimescaleDatabase, type TimescaleDatabase } from '../helpers/timescale.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/**
 * Packs on a TimescaleDB hypertable (issue 29): built without blocking writes (the root ON ONLY,
 * then each chunk concurrently), verified chunk by chunk, repaired by apply, rolled back without
 * leaving anything in _timescaledb_internal. A real TimescaleDB 2.28.3 on PostgreSQL 15.
 */
let db: TimescaleDatabase;
const DAYS = 14;
beforeAll(async () => {
  db = await createTimescaleDatabase('tsdb');
  await db.query(`CREATE TABLE events (id bigint NOT NULL, device int NOT NULL, ts timestamptz NOT NULL, v float8, note text)`);
  await db.query(`SELECT create_hypertable('events', by_range('ts', INTERVAL '1 day'))`);
  await db.query(
    `INSERT INTO events SELECT g, g % 500, '2026-01-01'::timestamptz + (g % (${DAYS} * 1440)) * INTERVAL '1 minute', random(), md5(g::text)
       FROM generate_series(1, 400000) g`,
  );
  await db.query('ANALYZE events');
});
afterAll(async () => db?.drop());

const PACK = `CREATE INDEX CONCURRENTLY IF NOT EXISTS ev_device_ts ON events (device, ts DESC);\n`;

/** Each chunk and the index on it that matches the root `root`, as TimescaleDB matches them. */
async function coverage(root: string): Promise<{ chunk: string; index: string | null; oid: number | null }[]> {
  return db.query(
    `WITH ci AS MATERIALIZED (SELECT i.indrelid, i.indexrelid FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indrelid
                               WHERE h.inhparent = 'events'::regclass),
          m AS (SELECT * FROM ci WHERE _timescaledb_functions.index_matches($1::regclass, indexrelid))
     SELECT k.relname AS chunk, x.relname AS index, m.indexrelid::int AS oid
       FROM pg_inherits h JOIN pg_class k ON k.oid = h.inhrelid LEFT JOIN m ON m.indrelid = k.oid LEFT JOIN pg_class x ON x.oid = m.indexrelid
      WHERE h.inhparent = 'events'::regclass ORDER BY k.oid`,
    [root],
  );
}

const chunkCount = async () => Number((await db.query(`SELECT count(*) AS n FROM show_chunks('events')`))[0].n);

/** A writer inserting into one day every 20 ms: how many inserts failed, and the longest one. */
function writer(client: pg.Client, day: string) {
  let stop = false;
  let failed = 0;
  let longest = 0;
  let n = 0;
  const done = (async () => {
    while (!stop) {
      const t = performance.now();
      await client
        .query(`INSERT INTO events VALUES ($1, 1, $2::timestamptz + random() * INTERVAL '23 hours', 0, 'w')`, [
          -++n - (day > '2026-01-05' ? 1e6 : 0),
          day,
        ])
        .catch(() => failed++);
      longest = Math.max(longest, performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      stop = true;
      await done;
      return { failed, longest, n };
    },
  };
}

/** Inserts that each open a new chunk (a day of its own, from March on), every 50 ms. */
function newChunks(client: pg.Client) {
  let stop = false;
  let failed = 0;
  let n = 0;
  const done = (async () => {
    while (!stop) {
      await client
        .query(`INSERT INTO events VALUES ($1, 2, '2026-03-01'::timestamptz + $2 * INTERVAL '1 day', 0, 'new chunk')`, [-(5e6 + n), n])
        .then(() => n++)
        .catch(() => failed++);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      stop = true;
      await done;
      return { failed, n };
    },
  };
}

describe('apply on a hypertable', () => {
  it('control: a plain CREATE INDEX holds every chunk, so a write to any chunk waits behind it', async () => {
    const holder = await db.connect();
    const probe = await db.connect();
    await holder.query(`BEGIN; CREATE INDEX ev_plain_probe ON events (v)`);
    await probe.query(`SET lock_timeout = '300ms'`);
    await expect(probe.query(`INSERT INTO events VALUES (-9, 1, '2026-01-01 03:00', 0, 'x')`)).rejects.toThrow(/lock timeout/);
    await holder.query('ROLLBACK');
  });

  it('plan names the hypertable, its chunks, and the per-chunk lock', async () => {
    const pack = writePack('tsdb-live', PACK);
    const r = await runCli(['plan', pack, '--db', db.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const step = JSON.parse(r.stdout).steps[0];
    expect(step.distribution).toBe(`hypertable by ts: ${await chunkCount()} chunks, each indexed on its own`);
    expect(step.lock).toBe('SHARE UPDATE EXCLUSIVE per chunk; SHARE on the hypertable for a moment');
    expect(step.action).toBe('create');
  });

  it('builds the root ON ONLY and each chunk concurrently under live inserts into old and new chunks: no insert fails, none stalls 1.5 s', async () => {
    const pack = writePack('tsdb-live', PACK);
    const [old, recent] = [writer(await db.connect(), '2026-01-01'), writer(await db.connect(), `2026-01-${DAYS}`)];
    // And chunks created while the build runs: each insert of this one opens a new day's chunk.
    const fresh = newChunks(await db.connect());
    const r = await runCli(['apply', pack, '--db', db.url]);
    const [a, b] = [await old.stop(), await recent.stop()];
    const made = await fresh.stop();
    expect(made.failed).toBe(0);
    expect(made.n).toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe(0);
    expect(a.failed + b.failed).toBe(0);
    expect(a.n).toBeGreaterThan(5);
    expect(Math.max(a.longest, b.longest)).toBeLessThan(1500);
    console.log(`--- longest insert during the hypertable build: ${Math.max(a.longest, b.longest).toFixed(0)} ms (${a.n + b.n} inserts)`);
    const cov = await coverage('ev_device_ts');
    expect(cov.length).toBe(await chunkCount());
    expect(cov.every((c) => c.index)).toBe(true);
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).objects[0].reason).toContain(`${cov.length}/${cov.length} chunks valid`);
  });

  it('bench credits the root index with what the plan read through its chunk indexes, and sizes it with them', async () => {
    const pack = writePack('tsdb-live', PACK);
    const dir = mkdtempSync(join(tmpdir(), 'tsdb-wl-'));
    const workload = join(dir, 'workload.sql');
    writeFileSync(
      workload,
      `-- name: device_recent\n-- params: SELECT g FROM generate_series(1, 400, 37) g\nSELECT id, ts, v FROM events WHERE device = $1 ORDER BY ts DESC LIMIT 20;\n`,
    );
    const b = await runCli(['bench', workload, '--pack', pack, '--runs', '3', '--warmup', '1', '--db', db.url, '--json']);
    expect(b.code, b.stderr).toBe(0);
    const bench = JSON.parse(b.stdout);
    const q = bench.run.queries.find((x: { name: string }) => x.name === 'device_recent');
    // The plan names only chunk indexes: never the root.
    expect(q.plan.indexes.length).toBeGreaterThan(0);
    expect(q.plan.indexes).not.toContain('ev_device_ts');
    const obj = bench.account.objects.find((o: { name: string }) => o.name === 'ev_device_ts');
    expect(obj.usedBy).toEqual(['device_recent']);
    expect(bench.account.unused).toEqual([]);
    // hypertable_index_size's measure: the root's 8 kB and every chunk's index.
    const size = Number((await db.query(`SELECT hypertable_index_size('ev_device_ts') AS s`))[0].s);
    expect(obj.sizeBytes).toBe(size);
    expect(size).toBeGreaterThan(14 * 8192);
  });

  it('a chunk index dropped by hand: verify fails naming the chunk and the count; apply builds only that one', async () => {
    const pack = writePack('tsdb-live', PACK);
    const before = await coverage('ev_device_ts');
    const victim = before[3];
    await db.query(`DROP INDEX _timescaledb_internal.${victim.index}`);
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code).toBe(1);
    const reason = JSON.parse(v.stdout).objects[0].reason as string;
    expect(reason).toContain(`${before.length - 1}/${before.length} chunks valid, missing on ${victim.chunk}`);
    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const after = await coverage('ev_device_ts');
    expect(after.every((c) => c.index)).toBe(true);
    // Every other chunk's index is the same one: nothing was dropped and rebuilt.
    for (let i = 0; i < after.length; i++) if (i !== 3) expect(after[i].oid).toBe(before[i].oid);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
  });

  it('a chunk created after the build is covered by TimescaleDB, and verify counts it', async () => {
    const pack = writePack('tsdb-live', PACK);
    const n = await chunkCount();
    await db.query(`INSERT INTO events VALUES (-77, 3, '2027-06-15 12:00', 0, 'later')`);
    expect(await chunkCount()).toBe(n + 1);
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).objects[0].reason).toContain(`${n + 1}/${n + 1} chunks valid`);
  });

  it('a compressed chunk keeps its index and is named as compressed: queries there read the compressed copy', async () => {
    const pack = writePack('tsdb-live', PACK);
    await db.query(`ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'device')`);
    const oldest = (await db.query(`SELECT c::text AS c FROM show_chunks('events') c ORDER BY c LIMIT 1`))[0].c;
    await db.query(`SELECT compress_chunk($1::regclass)`, [oldest]);
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code, v.stdout).toBe(0);
    expect(JSON.parse(v.stdout).objects[0].reason).toMatch(/chunks valid \(1 compressed: queries there read the compressed copy\)/);
    await db.query(`SELECT decompress_chunk($1::regclass)`, [oldest]);
  });

  it('rollback drops the chunk indexes concurrently and then the root: nothing is left in _timescaledb_internal', async () => {
    const pack = writePack('tsdb-live', PACK);
    const r = await runCli(['rollback', 'tsdb-live', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname = 'ev_device_ts'`)).toEqual([]);
    expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE '%ev_device_ts%'`)).toEqual([]);
    void pack;
  });
});

describe('TimescaleDB leaves a half-built index: verify counts the holes, apply repairs it', () => {
  const EXPR = `((CASE WHEN id = -555 THEN note::int ELSE 0 END))`;
  it('a per-chunk build that failed half-way (INVALID root, some chunks done): verify fails with the count; once the data allows, apply drops and builds it again', async () => {
    await db.query(`INSERT INTO events VALUES (-555, 1, '2026-01-05 10:00', 0, 'not a number')`);
    // The control: TimescaleDB's own per-chunk build, by hand, stops at the bad row's chunk.
    await expect(db.query(`CREATE INDEX ev_expr ON events ${EXPR} WITH (timescaledb.transaction_per_chunk)`)).rejects.toThrow(
      /invalid input syntax/,
    );
    const pack = writePack('tsdb-expr', `CREATE INDEX CONCURRENTLY IF NOT EXISTS ev_expr ON events ${EXPR};\n`);
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    expect(v.code).toBe(1);
    const reason = JSON.parse(v.stdout).objects[0].reason as string;
    expect(reason).toMatch(/^root index is INVALID, with \d+\/\d+ chunks valid, missing on _hyper_/);
    await db.query(`UPDATE events SET note = '7' WHERE id = -555`);
    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect((await db.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'ev_expr'::regclass`))[0].indisvalid).toBe(true);
    expect((await coverage('ev_expr')).every((c) => c.index)).toBe(true);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
    expect((await runCli(['rollback', 'tsdb-expr', '--db', db.url])).code).toBe(0);
  });

  it('a build of pgopt that fails on one chunk leaves nothing: no root, no chunk index, nothing claimed', async () => {
    await db.query(`INSERT INTO events VALUES (-556, 1, '2026-01-07 10:00', 0, 'not a number either')`);
    const expr = EXPR.replace('-555', '-556');
    const pack = writePack('tsdb-fail', `CREATE INDEX CONCURRENTLY IF NOT EXISTS ev_fail ON events ${expr};\n`);
    const r = await runCli(['apply', pack, '--db', db.url]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/invalid input syntax/);
    expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE '%ev_fail%'`)).toEqual([]);
    expect(await db.query(`SELECT 1 FROM pgopt.objects WHERE pack = 'tsdb-fail'`)).toEqual([]);
    await db.query(`DELETE FROM events WHERE id = -556`);
  });

  it('a UNIQUE index without the time column is refused before anything runs, naming the column; with it, it is built chunk by chunk', async () => {
    const bad = writePack('tsdb-uniq', `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ev_uid ON events (id);\n`);
    const refused = await runCli(['apply', bad, '--db', db.url]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr + refused.stdout).toContain('must include its partitioning column ts');
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname LIKE 'ev_uid%'`)).toEqual([]);
    const good = writePack('tsdb-uniq', `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ev_uid ON events (id, ts);\n`);
    const r = await runCli(['apply', good, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect((await coverage('ev_uid')).every((c) => c.index)).toBe(true);
    await expect(db.query(`INSERT INTO events VALUES (5, 1, (SELECT ts FROM events WHERE id = 5), 0, 'dup')`)).rejects.toThrow(
      /duplicate key/,
    );
    expect((await runCli(['rollback', 'tsdb-uniq', '--db', db.url])).code).toBe(0);
  });
});

describe('kill -9 in the middle of a per-chunk build, then an immediate rerun', () => {
  it('verify names the holes; the rerun builds what is missing and verify passes', async () => {
    const pack = writePack('tsdb-kill', `CREATE INDEX ev_note ON events (note);\n`);
    let child: ChildProcess | undefined;
    const run = runCli(['apply', pack, '--db', db.url], { onSpawn: (p) => (child = p) });
    const built = async () => (await db.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'ev_note\\_%'`))[0].n as number;
    const end = Date.now() + 60_000;
    while ((await built()) < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    child!.kill('SIGKILL');
    await run;
    // The killed run's backend ends when the server notices; a rerun waits for its run lock.
    const v = await runCli(['verify', pack, '--db', db.url, '--json']);
    const reason = JSON.parse(v.stdout).objects[0].reason as string;
    expect(v.code).toBe(1);
    expect(reason).toMatch(/\d+\/\d+ chunks valid, (missing|INVALID) on _hyper_/);
    const again = await runCli(['apply', pack, '--db', db.url, '--wait', '30s']);
    expect(again.code, again.stderr).toBe(0);
    expect((await coverage('ev_note')).every((c) => c.index)).toBe(true);
    expect((await runCli(['verify', pack, '--db', db.url])).code).toBe(0);
    expect((await runCli(['rollback', 'tsdb-kill', '--db', db.url])).code).toBe(0);
  });
});
