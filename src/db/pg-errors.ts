import { PgoptError } from '../errors.js';

interface PgLikeError {
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
  routine?: string;
}

/** SQLSTATEs that mean "the server refused the input", not "the server is in trouble". */
const CLASS_SYNTAX_OR_ACCESS = '42';

/**
 * Turn a driver or server error into a PgoptError with a sentence a DBA can act on.
 * `what` names the action (e.g. "connecting to alice@db:5432/app").
 */
export function translatePgError(err: unknown, what: string): PgoptError {
  if (err instanceof PgoptError) return err;
  const e = (err ?? {}) as PgLikeError & { errno?: string; syscall?: string };
  const code = e.code ?? '';
  const msg = e.message ?? String(err);
  switch (code) {
    case '28000':
      // pg_hba.conf has only hostssl lines for this client: the server demands TLS.
      if (/no encryption/i.test(msg)) {
        return new PgoptError('database', `${what}: the server requires TLS for this connection`, {
          cause: err,
          hint: 'add sslmode=require to the URL (or verify-full with sslrootcert to check the server), or set PGSSLMODE',
        });
      }
      return authFailed(err, what, msg);
    case '28P01':
      return authFailed(err, what, msg);
    case '3D000':
      return new PgoptError('database', `${what}: ${msg}`, { cause: err });
    case '42501':
      return new PgoptError('database', `${what}: permission denied — ${msg}`, {
        cause: err,
        hint: 'pgopt needs to own the tables it indexes (or be granted that role)',
      });
    case '55P03':
      return new PgoptError('database', `${what}: lock timeout — ${msg}`, { cause: err });
    case '57014':
      return new PgoptError('database', `${what}: cancelled (statement timeout or cancel request) — ${msg}`, { cause: err });
    case 'ECONNREFUSED':
      return new PgoptError('database', `${what}: connection refused — is the server running and accepting TCP connections?`, {
        cause: err,
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new PgoptError('database', `${what}: host not found`, { cause: err });
    case 'ETIMEDOUT':
      return new PgoptError('database', `${what}: connection timed out`, { cause: err });
  }
  if (/timeout expired|Connection terminated due to connection timeout/i.test(msg)) {
    return new PgoptError('database', `${what}: connection timed out`, { cause: err });
  }
  const kind = code.startsWith(CLASS_SYNTAX_OR_ACCESS) && code !== '42501' ? 'input' : 'database';
  const detail = e.detail ? ` (${e.detail})` : '';
  return new PgoptError(kind, `${what}: ${msg}${detail}`, { cause: err, hint: e.hint });
}

function authFailed(err: unknown, what: string, msg: string): PgoptError {
  return new PgoptError('database', `${what}: authentication failed (${msg.replace(/ for user .*/, '')})`, {
    cause: err,
    hint: 'check the user and password',
  });
}
