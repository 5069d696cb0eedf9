import pg from 'pg';
import type { ConnectionTarget } from './connection.js';
import { translatePgError } from './pg-errors.js';
import { prepareSession } from './session.js';

export type Client = pg.Client;

/** Every client pgopt opens, with how to reach its server, so an interrupt can cancel what they run. */
const openClients = new Map<pg.Client, pg.ClientConfig>();

/** Ask the server to cancel what each open client is running (pg_cancel_backend, from a side connection). */
export async function cancelActiveQueries(): Promise<void> {
  await Promise.all(
    [...openClients].map(async ([client, config]) => {
      const pid = (client as unknown as { processID?: number }).processID;
      if (!pid) return;
      const side = new pg.Client({ ...config, application_name: 'pgopt cancel' });
      side.on('error', () => {});
      try {
        await side.connect();
        await side.query('SELECT pg_cancel_backend($1)', [pid]);
      } catch {
        /* the connection may already be gone */
      } finally {
        await side.end().catch(() => {});
      }
    }),
  );
}

/** Open a connection for the duration of `fn`; closing it is never the caller's job. */
export async function withClient<T>(target: ConnectionTarget, applicationName: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...target.config, application_name: applicationName });
  // An idle client can still emit 'error' (server restart); without a listener Node would crash.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw translatePgError(err, `connecting to ${target.display} (from ${target.source})`);
  }
  openClients.set(client, target.config);
  try {
    await prepareSession(client);
    return await fn(client);
  } finally {
    openClients.delete(client);
    await client.end().catch(() => {});
  }
}

/** BEGIN … COMMIT around `fn`, ROLLBACK on any error. */
export async function withTransaction<T>(client: pg.Client, fn: () => Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> {
  await client.query(opts.readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
  try {
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/**
 * BEGIN … ROLLBACK: for dry runs, probes and measurements that must leave nothing behind.
 * `timeoutMs` is a statement_timeout local to the transaction (gone with the ROLLBACK).
 */
export async function withRolledBackTransaction<T>(
  client: pg.Client,
  fn: () => Promise<T>,
  opts: { readOnly?: boolean; timeoutMs?: number } = {},
): Promise<T> {
  // READ WRITE spelled out: it is rolled back anyway, and a role whose sessions start read-only
  // (default_transaction_read_only) must still get its dry runs and probes.
  await client.query(opts.readOnly ? 'BEGIN READ ONLY' : 'BEGIN READ WRITE');
  try {
    if (opts.timeoutMs !== undefined) await client.query(`SET LOCAL statement_timeout = ${Math.max(0, Math.round(opts.timeoutMs))}`);
    return await fn();
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
}

/** statement_timeout for one long step outside a transaction, then none again (0 = no limit). */
export async function withStatementTimeout<T>(client: pg.Client, ms: number, fn: () => Promise<T>): Promise<T> {
  await client.query(`SET statement_timeout = ${Math.max(0, Math.round(ms))}`);
  try {
    return await fn();
  } finally {
    await client.query('SET statement_timeout = 0').catch(() => {});
  }
}
