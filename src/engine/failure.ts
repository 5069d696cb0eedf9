import { PgoptError } from '../errors.js';
import { translatePgError } from '../db/pg-errors.js';

/** A failure in the middle of work: interrupted if the user asked, else the server's reason. */
export function failure(err: unknown, what: string, signal?: AbortSignal): PgoptError {
  if (signal?.aborted) return new PgoptError('interrupted', `${what}: interrupted`, { cause: err });
  return translatePgError(err, what);
}
