/** Exit codes are part of pgopt's contract (README, "Exit codes"). */
export const EXIT_CODES = {
  ok: 0,
  check: 1,
  input: 2,
  database: 3,
  /** A bug in pgopt itself (EX_SOFTWARE): anything thrown that is not a PgoptError. */
  internal: 70,
  interrupted: 130,
} as const;

/** What went wrong, from the user's point of view; decides the exit code. */
export type ErrorKind = 'check' | 'input' | 'database' | 'internal' | 'interrupted';

/** A place in a pack or workload file, for messages like `pack.sql:12:5`. */
export interface SourceLocation {
  file: string;
  line: number;
  column?: number;
}

/**
 * What an error carries besides its message, for programs (`--json`, library callers). Each field
 * is set by one kind of failure; anything read from the database is data, never code.
 */
export interface ErrorDetails {
  /** apply stopped before changing anything: each object that needs a human decision. */
  problems?: string[];
  /** apply stopped on lint errors: the findings (file, line, rule, message). */
  findings?: { rule: string; severity: string; location: SourceLocation; object: string; message: string; hint: string }[];
  /** A failed concurrent build left this INVALID index that could not be dropped at once. */
  leftover?: string;
  /** Sessions a build or a lock waited for. */
  blockers?: { pid: number; user?: string; applicationName?: string; state?: string | null; ageSeconds?: number; query?: string }[];
  /** The session holding pgopt's run lock. */
  holder?: { pid: number; applicationName: string; user: string; clientAddr: string | null; since: string };
}

/**
 * The one error type the core throws. The CLI funnel turns it into a one-line
 * message and an exit code; library users can switch on `kind`.
 */
export class PgoptError extends Error {
  readonly kind: ErrorKind;
  readonly location?: SourceLocation;
  readonly hint?: string;
  readonly details?: ErrorDetails;

  constructor(
    kind: ErrorKind,
    message: string,
    opts: { location?: SourceLocation; hint?: string; details?: ErrorDetails; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PgoptError';
    this.kind = kind;
    this.location = opts.location;
    this.hint = opts.hint;
    this.details = opts.details;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }

  /** The one JSON shape of an error, wherever it is reported (the funnel, apply/refresh/rollback results). */
  toJSON(): ErrorJson {
    return {
      kind: this.kind,
      message: this.message,
      location: this.location ?? null,
      hint: this.hint ?? null,
      details: this.details ?? null,
    };
  }
}

export interface ErrorJson {
  kind: ErrorKind;
  message: string;
  location: SourceLocation | null;
  hint: string | null;
  details: ErrorDetails | null;
}

/**
 * Any thrown value as a PgoptError. A driver or server error (it carries a SQLSTATE or a
 * system error code) is the database's; anything else is a bug in pgopt.
 */
export function asPgoptError(err: unknown, translate: (err: unknown) => PgoptError): PgoptError {
  if (err instanceof PgoptError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && (/^[0-9A-Z]{5}$/.test(code) || /^E[A-Z]+$/.test(code))) return translate(err);
  const message = err instanceof Error ? err.message : String(err);
  // The driver's own words for a connection that broke (the server went away): the database's, not a bug.
  if (/is not queryable|Connection terminated|terminating connection/i.test(message)) return translate(err);
  return new PgoptError('internal', `internal error (a bug in pgopt; run again with --verbose and report it): ${message}`, { cause: err });
}

export const inputError = (message: string, location?: SourceLocation, hint?: string) =>
  new PgoptError('input', message, { location, hint });

export const formatLocation = (loc?: SourceLocation): string => (loc ? `${loc.file}:${loc.line}${loc.column ? `:${loc.column}` : ''}` : '');
