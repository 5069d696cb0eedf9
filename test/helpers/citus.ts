import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject } from 'vitest';
import type { TestDatabase } from './db.js';

/**
 * The shared script that builds Citus from the vendored source and runs a coordinator plus two
 * workers (../shared/citus/citus-up.sh beside the repository, or PGOPT_CITUS_UP).
 */
export const CITUS_UP = [
  process.env.PGOPT_CITUS_UP,
  fileURLToPath(new URL('../../../shared/citus/citus-up.sh', import.meta.url)),
  '/work/shared/citus/citus-up.sh',
].find((p): p is string => !!p && existsSync(p));

const url = (port: number, db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;

async function onNode<T>(port: number, db: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url(port, db) });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * Two test files adding their workers at once failed 2 set-ups in 120 here with "failure on
 * connection marked as essential": citus_add_node propagates roles to the worker, and two of those
 * on one worker collide on the shared catalog ("tuple concurrently updated"). Setting up one
 * database at a time, under a lock in the coordinator's postgres database, avoids it.
 */
async function oneAtATime(base: number, fn: () => Promise<void>): Promise<void> {
  await onNode(base, 'postgres', async (c) => {
    await c.query('SELECT pg_advisory_lock(hashtext($1))', ['pgopt-test-citus-setup']);
    await fn();
  });
}

export interface CitusDatabase extends TestDatabase {
  /** Worker ports, in order. */
  workers: number[];
  /** A query on one worker, with the shards visible (Citus hides them from ordinary sessions). */
  onWorker<T = any>(port: number, sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * Every index on every worker whose name starts with `prefix`: shard indexes, and (`shard`
   * false) the index of the worker's copy of the coordinator's table, which metadata sync keeps.
   */
  shardIndexes(prefix: string): Promise<{ port: number; name: string; valid: boolean; shard: boolean }[]>;
}

/**
 * A fresh Citus database per test file: created on the coordinator and on both workers, the
 * extension in each, the workers added — what citus-up.sh does for its own database.
 */
export async function createCitusDatabase(prefix: string): Promise<CitusDatabase> {
  const base = inject('citusBasePort');
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const ports = [base, base + 1, base + 2];
  await oneAtATime(base, async () => {
    for (const p of ports) {
      await onNode(p, 'postgres', (c) => c.query(`CREATE DATABASE ${name}`));
      await onNode(p, name, (c) => c.query('CREATE EXTENSION citus'));
    }
    await onNode(base, name, async (c) => {
      await c.query(`SELECT citus_set_coordinator_host('127.0.0.1', $1)`, [base]);
      for (const p of ports.slice(1)) await c.query(`SELECT citus_add_node('127.0.0.1', $1)`, [p]);
    });
  });
  const clients: pg.Client[] = [];
  const connect = async () => {
    const client = new pg.Client({ connectionString: url(base, name) });
    client.on('error', () => {});
    await client.connect();
    clients.push(client);
    return client;
  };
  const main = await connect();
  const onWorker = async (port: number, sql: string, params?: unknown[]) =>
    onNode(port, name, async (c) => {
      await c.query('SET citus.override_table_visibility = off');
      return (await c.query(sql, params as unknown[])).rows;
    });
  return {
    name,
    url: url(base, name),
    workers: ports.slice(1),
    query: async (sql, params) => (await main.query(sql, params as unknown[])).rows,
    connect,
    onWorker,
    shardIndexes: async (prefix: string) => {
      const out: { port: number; name: string; valid: boolean; shard: boolean }[] = [];
      for (const port of ports.slice(1)) {
        const rows = await onWorker(
          port,
          `SELECT c.relname AS name, i.indisvalid AND i.indisready AS valid, relation_is_a_known_shard(i.indrelid) AS shard
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE starts_with(c.relname, $1) ORDER BY 1`,
          [prefix],
        );
        out.push(...rows.map((r) => ({ port, name: r.name as string, valid: r.valid as boolean, shard: r.shard as boolean })));
      }
      return out;
    },
    drop: async () => {
      for (const cl of clients) await cl.end().catch(() => {});
      for (const p of ports) await onNode(p, 'postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => {});
    },
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    citusBasePort: number;
  }
}
