import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestDatabase {
  name: string;
  url: string;
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  /** A second, long-lived connection (for holding locks or transactions). */
  connect(): Promise<pg.Client>;
  drop(): Promise<void>;
}

const withUrlDatabase = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

/** A fresh database per test file on the suite's server, so tests never see each other. */
export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const admin = inject('adminUrl');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const url = withUrlDatabase(admin, name);
  const clients: pg.Client[] = [];
  const connect = async () => {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    await client.connect();
    clients.push(client);
    return client;
  };
  const main = await connect();
  return {
    name,
    url,
    query: async (sql, params) => (await main.query(sql, params as unknown[])).rows,
    connect,
    drop: async () => {
      for (const cl of clients) await cl.end().catch(() => {});
      const a = new pg.Client({ connectionString: admin });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end();
    },
  };
}

/** Everything a failed run must leave untouched: relations, indexes and the registry. */
export async function catalogSnapshot(db: TestDatabase): Promise<string> {
  const rels = await db.query(
    `SELECT n.nspname, c.relname, c.relkind, i.indisvalid
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_index i ON i.indexrelid = c.oid
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
      ORDER BY 1, 2`,
  );
  const reg = await db.query(`SELECT to_regclass('pgopt.objects') IS NOT NULL AS has`);
  const rows = reg[0].has
    ? await db.query(`SELECT pack, schema_name, object_name, state, pre_existing FROM pgopt.objects ORDER BY 1, 2, 3`)
    : [];
  return JSON.stringify({ rels, rows });
}

/** The test database's URL, logged in as another role with its password. */
export function urlAs(url: string, role: string, password: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return u.toString();
}

/** Roles are the server's, not the database's: a file drops the ones it made once its database is gone. */
export async function dropRoles(url: string, roles: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: url.replace(/\/[^/]+$/, '/postgres') });
  await admin.connect();
  for (const r of roles) await admin.query(`DROP ROLE IF EXISTS ${r}`).catch(() => {});
  await admin.end();
}
