import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCitusDatabase, type CitusDatabase } from '../helpers/citus.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

let db: CitusDatabase;
beforeAll(async () => {
  db = await createCitusDatabase('cpart');
  for (const s of [
    `CREATE TABLE events (id bigint NOT NULL, "workflowId" int NOT NULL, at date NOT NULL, note text) PARTITION BY RANGE (at)`,
    `CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`,
    `CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
    `SELECT create_distributed_table('events', 'workflowId')`,
    `INSERT INTO events SELECT g, g % 100, '2025-01-01'::date + (g % 700), md5(g::text) FROM generate_series(1, 20000) g`,
  ])
    await db.query(s);
});
afterAll(async () => db?.drop());

const verify = async (pack: string) => {
  const r = await runCli(['verify', pack, '--db', db.url, '--json']);
  return { code: r.code, reason: JSON.parse(r.stdout).objects[0].reason as string };
};

describe('a distributed partitioned table', () => {
  it('verify checks the shards of every partition\u2019s index; a broken one is found and rebuilt; rollback leaves nothing', async () => {
    const pack = writePack('parted', `CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_events_note ON events (note);\n`);
    const a = await runCli(['apply', pack, '--db', db.url]);
    expect(a.code, a.stderr).toBe(0);
    // The parent's 32 shard indexes and those of its two partitions.
    expect(await verify(pack)).toEqual({ code: 0, reason: '96/96 shards valid' });

    // A partition's shard index left INVALID on a worker (what a failed build leaves there).
    const [shard] = await db.onWorker(
      db.workers[1],
      `SELECT c.relname FROM pg_class c WHERE c.relname ~ '^idx_events_note_events_2026_[0-9]+$' ORDER BY 1 LIMIT 1`,
    );
    await db.onWorker(db.workers[1], `UPDATE pg_index SET indisvalid = false WHERE indexrelid = '${shard.relname}'::regclass`);
    // The unsafe checks: the coordinator's index and the parent's own shards all say valid.
    expect(
      await db.query(`SELECT bool_and(indisvalid) AS v FROM pg_index WHERE indexrelid::regclass::text LIKE 'idx_events_note%'`),
    ).toEqual([{ v: true }]);
    const parentShards = await db.shardIndexes('idx_events_note_1');
    expect(parentShards.length).toBeGreaterThan(0);
    expect(parentShards.every((i) => i.valid)).toBe(true);
    const id = shard.relname.replace('idx_events_note_events_2026_', '');
    expect(await verify(pack)).toEqual({
      code: 1,
      reason: `95/96 shards valid, INVALID on shard ${id} (worker :${db.workers[1]}); apply drops and rebuilds it on every shard`,
    });

    const again = await runCli(['apply', pack, '--db', db.url]);
    expect(again.code, again.stderr).toBe(0);
    expect(await verify(pack)).toEqual({ code: 0, reason: '96/96 shards valid' });
    expect((await runCli(['rollback', 'parted', '--db', db.url])).code).toBe(0);
    expect(await db.shardIndexes('idx_events_note')).toEqual([]);
  });
});
