import type { ConnectionTarget } from './connection.js';
import { newClient, openSession, type OpenedSession } from './connect.js';
import { isStandby, prepareSession, Session } from './session.js';

/** Every session pgopt opens, so an interrupt can cancel what they run. */
const openSessions = new Set<OpenedSession>();

/**
 * Ask the server to cancel what each open session is running: pg_cancel_backend with the server's
 * own pid, from a side connection, so it also works through a session-mode pooler (whose protocol
 * pid and cancel key are its own).
 */
export async function cancelActiveQueries(): Promise<void> {
  await Promise.all(
    [...openSessions].map(async (s) => {
      const side = newClient({ ...s.config, application_name: 'pgopt cancel' });
      side.on('error', () => {});
      try {
        await side.connect();
        await side.query('SELECT pg_catalog.pg_cancel_backend($1)', [s.serverPid]);
      } catch {
        /* the connection may already be gone */
      } finally {
        await side.end().catch(() => {});
      }
    }),
  );
}

/** Open a connection for the duration of `fn`; closing it is never the caller's job. */
export async function withClient<T>(target: ConnectionTarget, applicationName: string, fn: (client: Session) => Promise<T>): Promise<T> {
  const s = await openSession(target, applicationName);
  openSessions.add(s);
  try {
    const session = new Session(s.client, s.serverPid);
    session.keepsPlans = !s.pooled;
    await prepareSession(session);
    return await fn(session);
  } finally {
    openSessions.delete(s);
    // Behind a session pooler the server connection outlives ours: leave nothing on it.
    if (s.pooled) await s.client.query('DISCARD ALL').catch(() => {});
    await s.client.end().catch(() => {});
  }
}

/** BEGIN … COMMIT around `fn`, ROLLBACK on any error. */
export async function withTransaction<T>(client: Session, fn: () => Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> {
  await client.query(opts.readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
  client.transactionDepth++;
  try {
    const out = await fn();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.transactionDepth--;
  }
}

/**
 * BEGIN … ROLLBACK: for dry runs, probes and measurements that must leave nothing behind.
 * `timeoutMs` is a statement_timeout local to the transaction (gone with the ROLLBACK).
 */
export async function withRolledBackTransaction<T>(
  client: Session,
  fn: () => Promise<T>,
  opts: { readOnly?: boolean; timeoutMs?: number } = {},
): Promise<T> {
  // Inside a transaction pgopt holds open (hygiene --measure: the indexes dropped in it), a
  // savepoint undoes the step and keeps the transaction; it cannot be made read-only.
  const nested = client.transactionDepth > 0;
  const savepoint = `pgopt_step_${client.transactionDepth}`;
  // READ WRITE spelled out: it is rolled back anyway, and a role whose sessions start read-only
  // (default_transaction_read_only) must still get its dry runs and probes. A standby refuses
  // READ WRITE outright: there the probe itself fails, with the server's reason.
  await client.query(
    nested ? `SAVEPOINT ${savepoint}` : opts.readOnly ? 'BEGIN READ ONLY' : isStandby(client) ? 'BEGIN' : 'BEGIN READ WRITE',
  );
  client.transactionDepth++;
  try {
    if (opts.timeoutMs !== undefined) await client.query(`SET LOCAL statement_timeout = ${Math.max(0, Math.round(opts.timeoutMs))}`);
    return await fn();
  } finally {
    client.transactionDepth--;
    await client.query(nested ? `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}` : 'ROLLBACK').catch(() => {});
  }
}

/**
 * BEGIN … ROLLBACK around fn, with fn's own rolled-back steps as savepoints inside it: what fn
 * changes (hygiene --measure drops indexes here) is undone at the end, whatever happens.
 */
export async function withHeldTransaction<T>(client: Session, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN READ WRITE');
  client.transactionDepth++;
  try {
    return await fn();
  } finally {
    client.transactionDepth--;
    await client.query('ROLLBACK').catch(() => {});
  }
}

/** statement_timeout for one long step outside a transaction, then none again (0 = no limit). */
export async function withStatementTimeout<T>(client: Session, ms: number, fn: () => Promise<T>): Promise<T> {
  await client.query(`SET statement_timeout = ${Math.max(0, Math.round(ms))}`);
  try {
    return await fn();
  } finally {
    await client.query('SET statement_timeout = 0').catch(() => {});
  }
}
