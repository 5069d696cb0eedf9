import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject } from 'vitest';

/** ../shared/timescaledb/tsdb-up.sh beside the repository, or PGOPT_TSDB_UP. */
export const TSDB_UP = [
  process.env.PGOPT_TSDB_UP,
  fileURLToPath(new URL('../../../shared/timescaledb/tsdb-up.sh', import.meta.url)),
  '/work/shared/timescaledb/tsdb-up.sh',
].find((p): p is string => !!p && existsSync(p));

export interface TimescaleDatabase {
  url: string;
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  /** A connection of its own (a writer, a lock holder). */
  connect(): Promise<pg.Client>;
  drop(): Promise<void>;
}

/** A fresh database with the timescaledb extension, per test file. */
export async function createTimescaleDatabase(prefix: string): Promise<TimescaleDatabase> {
  const port = inject('tsdbPort');
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = `postgres://postgres@127.0.0.1:${port}/${name}?sslmode=disable`;
  const clients: pg.Client[] = [];
  const connect = async () => {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  const main = await connect();
  await main.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  return {
    url,
    query: async (sql, params) => (await main.query(sql, params as unknown[])).rows,
    connect,
    drop: async () => {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      const a = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
