/** Exit codes are part of pgopt's contract (README, "Exit codes"). */
export const EXIT_CODES = {
  ok: 0,
  check: 1,
  input: 2,
  database: 3,
  interrupted: 130,
} as const;

/** What went wrong, from the user's point of view; decides the exit code. */
export type ErrorKind = 'check' | 'input' | 'database' | 'interrupted';

/** A place in a pack or workload file, for messages like `pack.sql:12:5`. */
export interface SourceLocation {
  file: string;
  line: number;
  column?: number;
}

/**
 * The one error type the core throws. The CLI funnel turns it into a one-line
 * message and an exit code; library users can switch on `kind`.
 */
export class PgoptError extends Error {
  readonly kind: ErrorKind;
  readonly location?: SourceLocation;
  readonly hint?: string;
  readonly details?: unknown;

  constructor(
    kind: ErrorKind,
    message: string,
    opts: { location?: SourceLocation; hint?: string; details?: unknown; cause?: unknown } = {},
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
}

export const inputError = (message: string, location?: SourceLocation, hint?: string) =>
  new PgoptError('input', message, { location, hint });

export const formatLocation = (loc?: SourceLocation): string =>
  loc ? `${loc.file}:${loc.line}${loc.column ? `:${loc.column}` : ''}` : '';
