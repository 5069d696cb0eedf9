import type { ProgressListener } from './progress.js';

/** Knobs shared by apply and rollback (README: "apply" and "rollback"). */
export interface RunOptions {
  /** Build and drop indexes CONCURRENTLY (default true). */
  concurrently: boolean;
  /** lock_timeout for statements whose queued lock would block the application. */
  lockTimeoutMs: number;
  /** Retries after a lock timeout, with exponential backoff. */
  lockRetries: number;
  /** statement_timeout for one concurrent build or drop (0 = none). */
  buildTimeoutMs: number;
  /** How long to wait for another run's advisory lock. */
  waitMs: number;
  /** Transactions older than this are named before a concurrent build. */
  longTransactionSeconds: number;
  /** Set by apply, shared by its lanes: until when no transaction can be that old (warnAboutLongTransactions). */
  quietUntil?: { ms: number };
  onProgress?: ProgressListener;
  /** Set by apply when it has a monitor connection: live progress of each build. */
  watch?: import('./watch.js').Watch;
  /** Aborted when the user interrupts (Ctrl-C): a failure after that is reported as interrupted. */
  signal?: AbortSignal;
  /** For tests: backoff between lock retries. */
  backoffMs?: (attempt: number) => number;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  concurrently: true,
  lockTimeoutMs: 3_000,
  lockRetries: 3,
  buildTimeoutMs: 3_600_000,
  waitMs: 0,
  longTransactionSeconds: 5,
};
