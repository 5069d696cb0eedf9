import { hostname } from 'node:os';
import { PgoptError } from '../errors.js';
import { RUN_LOCK, findRunLockHolder, type LockHolder } from './catalog.js';
import { holdSessionLock, releaseSessionLock, type Session } from './session.js';
import { redactCredentials } from './connection.js';

/**
 * One apply, rollback or refresh at a time per database: a session advisory lock. Each run's
 * application_name ends with `[<os pid>@<host>]`, so a rerun on the same machine can tell a
 * lock held by a run that is still alive from one whose pgopt process was killed (its backend
 * lives on until the server notices the client is gone).
 */
export const clientTag = (pid = process.pid, host = hostname()) => `[${pid}@${host.slice(0, 20)}]`;

/** application_name on our connections: DBAs see "pgopt apply <pack> [pid@host]" in pg_stat_activity. */
export function runApplicationName(verb: string, pack: string, tag = clientTag()): string {
  const head = `pgopt ${verb} `;
  // Before clipping: a URL clipped inside its password would no longer look like one (publicApplicationName).
  let name = redactCredentials(pack);
  while (Buffer.byteLength(`${head}${name} ${tag}`) > 63 && name.length) name = name.slice(0, -1);
  return `${head}${name} ${tag}`;
}

/** The pgopt process behind a lock holder, when it ran on this host and is gone. */
export function orphanedClient(holder: LockHolder, here = hostname(), alive: (pid: number) => boolean = processAlive): number | null {
  const m = /\[(\d+)@([^\]]+)\]$/.exec(holder.applicationName ?? '');
  if (!m || !holder.applicationName.startsWith('pgopt ') || m[2] !== here.slice(0, 20)) return null;
  const pid = Number(m[1]);
  return alive(pid) ? null : pid;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** How long a rerun waits for the session of a killed run to end (the server cancels it within about a second). */
export const ORPHAN_WAIT_MS = 30_000;

const describeHolder = (h: LockHolder | null) =>
  h
    ? `"${h.applicationName || 'unknown application'}" (pid ${h.pid}, user ${h.user}${h.clientAddr ? ` from ${h.clientAddr}` : ''}, connected since ${h.since})`
    : 'another session';

export interface RunLockOptions {
  /** How long to wait for another live run. */
  waitMs: number;
  /** Told once when the holder is a killed run whose session is still ending. */
  onWait?: (message: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

/** Run `fn` holding the run lock; waits for a killed run's session to end rather than blaming "another run". */
export async function withAdvisoryLock<T>(client: Session, o: RunLockOptions, fn: () => Promise<T>): Promise<T> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let deadline = Date.now() + o.waitMs;
  let orphanSeen = false;
  for (;;) {
    const got = await client.query('SELECT pg_catalog.pg_try_advisory_lock($1::int, $2::int) AS ok', [RUN_LOCK.classid, RUN_LOCK.objid]);
    if (got.rows[0].ok) break;
    if (Date.now() >= deadline) {
      const holder = await findRunLockHolder(client);
      const orphan = holder ? orphanedClient(holder) : null;
      if (holder && orphan !== null && !orphanSeen) {
        orphanSeen = true;
        deadline = Date.now() + ORPHAN_WAIT_MS;
        o.onWait?.(
          `the run lock is held by a pgopt run whose process (pid ${orphan}) is gone: waiting up to ${ORPHAN_WAIT_MS / 1000} s for its session (backend pid ${holder.pid}) to end`,
        );
      } else {
        throw lockHeld(holder, orphan);
      }
    }
    await sleep(Math.min(500, Math.max(50, deadline - Date.now())));
  }
  try {
    return await fn();
  } finally {
    await client.query('SELECT pg_catalog.pg_advisory_unlock($1::int, $2::int)', [RUN_LOCK.classid, RUN_LOCK.objid]).catch(() => {});
  }
}

function lockHeld(holder: LockHolder | null, orphan: number | null): PgoptError {
  if (holder && orphan !== null) {
    return new PgoptError(
      'database',
      `the run lock is still held by the session of a killed pgopt run (its process, pid ${orphan}, is gone; backend pid ${holder.pid}): its statement is still running on the server`,
      {
        hint: `end it with SELECT pg_terminate_backend(${holder.pid}); then run again (PostgreSQL 14+ ends it by itself within a second)`,
        details: { holder: holder ?? undefined },
      },
    );
  }
  return new PgoptError('database', `another pgopt run holds this database's run lock: ${describeHolder(holder)}`, {
    hint: 'wait for it to finish, or pass --wait <seconds> to wait longer',
    details: { holder: holder ?? undefined },
  });
}

/**
 * A lock an advise run holds on its own key (its trial pack's) for as long as its session lives, so
 * a later run cleans up only the trial packs of runs that are gone: a killed run's session ends
 * within a second (client_connection_check_interval), a live run's does not.
 */
const RUN_KEY_CLASS = 0x70676f61; /* 'pgoa' */

export const holdRunKey = (c: Session, key: number): Promise<void> => holdSessionLock(c, RUN_KEY_CLASS, key);

export const releaseRunKey = (c: Session, key: number): Promise<void> => releaseSessionLock(c, RUN_KEY_CLASS, key);

/** Some session in this database holds `key`: the run that owns it is alive. */
export async function runKeyHeld(c: Session, key: number): Promise<boolean> {
  const r = await c.query(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                       AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
                       AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid) AS held`,
    [RUN_KEY_CLASS, key >>> 0],
  );
  return r.rows[0].held;
}
