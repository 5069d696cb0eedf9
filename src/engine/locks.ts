import { nodeAs } from '../sql/tree.js';
import { PgoptError } from '../errors.js';
import { lockHolders, type SessionInfo } from '../db/catalog.js';
import type { PackStatement } from '../pack/types.js';
import type { RunOptions } from './run-options.js';
import type { Session } from '../db/session.js';

/** The lock each kind of statement takes on the relation it touches (as in the PostgreSQL docs, "Explicit Locking"). */
export function lockOf(s: PackStatement, concurrently: boolean): { lock: string; concurrent: boolean } {
  switch (s.kind) {
    case 'create-index':
      return concurrently ? { lock: 'SHARE UPDATE EXCLUSIVE', concurrent: true } : { lock: 'SHARE', concurrent: false };
    case 'create-matview':
      return { lock: 'ACCESS SHARE', concurrent: false };
    case 'analyze':
    case 'comment':
      return { lock: 'SHARE UPDATE EXCLUSIVE', concurrent: false };
    case 'refresh': {
      const node = nodeAs(s.ast, 'RefreshMatViewStmt');
      return node?.concurrent ? { lock: 'EXCLUSIVE', concurrent: true } : { lock: 'ACCESS EXCLUSIVE', concurrent: false };
    }
    case 'set':
    case 'drop-own':
      return { lock: 'none', concurrent: false };
    case 'cagg-policy':
      return { lock: 'none (a TimescaleDB job)', concurrent: false };
    default:
      return { lock: 'ACCESS EXCLUSIVE (assumed)', concurrent: false };
  }
}

export interface LockPolicy {
  lockTimeoutMs: number;
  retries: number;
  /** Backoff before retry n (1-based). */
  backoffMs: (attempt: number) => number;
  onRetry?: (attempt: number, blockers: SessionInfo[]) => void;
}

export const defaultBackoff = (attempt: number) => Math.min(30_000, 1000 * 2 ** (attempt - 1));

const describe = (b: SessionInfo & { mode?: string }) =>
  `pid ${b.pid}${b.node ? ` on ${b.node}` : ''} (${b.user}${b.applicationName ? `, ${b.applicationName}` : ''}, ${b.mode ? `holds ${b.mode}, ` : ''}${b.state ?? 'unknown'} for ${b.ageSeconds}s: ${b.query.replace(/\s+/g, ' ').slice(0, 80)})`;

export const describeSessions = (list: SessionInfo[]) => list.map(describe).join('; ');

/**
 * Run `fn` with lock_timeout set, retrying a lock timeout with backoff. The application's
 * queries queue behind a waiting lock request, so we never wait long: we give up, let them
 * through, and try again. `fn` must set LOCAL settings inside its own transaction, or the
 * caller resets them; here lock_timeout is set for the session around each attempt.
 */
export async function withLockRetry<T>(
  c: Session,
  what: string,
  relationOids: number[],
  policy: LockPolicy,
  fn: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      await c.query(`SET lock_timeout = ${Math.max(1, Math.round(policy.lockTimeoutMs))}`);
      return await fn();
    } catch (err) {
      if ((err as { code?: string })?.code !== '55P03') throw err;
      const blockers = (await Promise.all(relationOids.map((oid) => lockHolders(c, oid).catch(() => [])))).flat();
      if (attempt > policy.retries) {
        throw new PgoptError(
          'database',
          `${what}: could not get its lock within ${policy.lockTimeoutMs} ms after ${attempt} attempts; blocked by ${blockers.length ? describeSessions(blockers) : 'a session that has since finished'}`,
          { hint: 'retry when the blocking transaction has finished, or raise --lock-timeout', cause: err, details: { blockers } },
        );
      }
      policy.onRetry?.(attempt, blockers);
      await new Promise((r) => setTimeout(r, policy.backoffMs(attempt)));
    } finally {
      await c.query('SET lock_timeout = 0').catch(() => {});
    }
  }
}

/** The lock policy of a run's options, reporting each retry as progress. */
export const lockPolicy = (o: RunOptions, what: string): LockPolicy => ({
  lockTimeoutMs: o.lockTimeoutMs,
  retries: o.lockRetries,
  backoffMs: o.backoffMs ?? defaultBackoff,
  onRetry: (attempt, blockers) => o.onProgress?.({ type: 'lock-retry', what, attempt, blockers }),
});

/** The run lock's options from a run's: its --wait, and progress when a killed run's session is still ending. */
export const runLockOptions = (o: RunOptions) => ({
  waitMs: o.waitMs,
  onWait: (message: string) => o.onProgress?.({ type: 'warning', message }),
});
