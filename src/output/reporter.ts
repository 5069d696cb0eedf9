import { Chalk, type ChalkInstance } from 'chalk';
import type { ProgressEvent } from '../engine/progress.js';
import { MIN_SCRUBBED_SECRET, redact, redactCredentials } from '../db/connection.js';
import { describeSessions } from '../engine/locks.js';
import { inert, inertDeep } from './inert.js';

export interface ReporterOptions {
  json: boolean;
  color: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

const PLAIN_PROGRESS_EVERY_MS = 5_000;

type Spinner = { text: string; start(): Spinner; stop(): Spinner; succeed(t?: string): Spinner; fail(t?: string): Spinner };

/**
 * The only writer to stdout/stderr. Results go to stdout (one JSON document with --json);
 * progress and diagnostics to stderr; spinners only on a TTY and never with --json.
 * Every line passes through redaction of the connection password.
 */
export class Reporter {
  readonly json: boolean;
  readonly c: ChalkInstance;
  private readonly stdout: NodeJS.WriteStream;
  private readonly stderr: NodeJS.WriteStream;
  private secrets: string[] = [];
  private spinner: Spinner | null = null;

  constructor(opts: ReporterOptions) {
    this.json = opts.json;
    this.stdout = opts.stdout ?? process.stdout;
    this.stderr = opts.stderr ?? process.stderr;
    this.c = new Chalk({ level: opts.color ? 1 : 0 });
  }

  get interactive(): boolean {
    // A terminal that reports no width (some pseudo-terminals) would make the spinner's line
    // arithmetic divide by zero: treat it as no terminal.
    return !this.json && !!this.stderr.isTTY && (this.stderr.columns ?? 0) > 0;
  }

  /**
   * A password to remove from messages by value. Not one that is too short, or that is also the
   * user or database name (`postgres:postgres`): replacing it would garble ordinary text, so
   * the reporter says once that it cannot, and relies on credentials never being printed.
   */
  addSecret(secret?: string, names: string[] = []): void {
    if (!secret) return;
    if (secret.length < MIN_SCRUBBED_SECRET || names.includes(secret)) {
      this.info(
        `note: the password is ${secret.length < MIN_SCRUBBED_SECRET ? 'too short' : 'also the user or database name'}, so it is not scrubbed from messages by value (pgopt never prints connection passwords)`,
      );
      return;
    }
    this.secrets.push(secret);
  }

  /** Messages: credentials by shape, and the known password by value. */
  scrub(text: string): string {
    return this.secrets.reduce((t, s) => redact(t, s), redactCredentials(text));
  }

  /** JSON: every string value scrubbed before serialising, so numbers and the document's syntax are never touched. */
  private scrubValues(value: unknown): unknown {
    if (typeof value === 'string') return this.scrub(value);
    if (Array.isArray(value)) return value.map((v) => this.scrubValues(v));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.scrubValues(v)]));
    return value;
  }

  /** Render a result for humans, every string from the database made inert first (inert.ts). */
  render<T>(value: T, fn: (v: T, c: ChalkInstance) => string): void {
    if (this.json) return;
    this.result(fn(inertDeep(value), this.c));
  }

  /** A result for humans (skipped with --json: the JSON document is the result). */
  result(text: string): void {
    if (this.json) return;
    this.stdout.write(this.scrub(text) + '\n');
  }

  /** True once the command's JSON document is out: there must never be a second. */
  documentWritten = false;

  document(doc: unknown): void {
    if (this.documentWritten) return;
    this.documentWritten = true;
    this.stdout.write(JSON.stringify(this.scrubValues(JSON.parse(JSON.stringify(doc ?? null))), null, 2) + '\n');
  }

  info(text: string): void {
    this.pauseSpinner(() => this.stderr.write(this.scrub(text) + '\n'));
  }

  warn(text: string): void {
    this.info(this.c.yellow(`warning: ${inert(text)}`));
  }

  error(text: string): void {
    this.stopSpinner();
    this.stderr.write(this.scrub(this.c.red(`error: ${inert(text)}`)) + '\n');
  }

  /** A stack trace (--verbose), line by line through the same scrubbing as every other line. */
  trace(text: string): void {
    for (const line of text.split('\n')) this.stderr.write(this.scrub(inert(line)) + '\n');
  }

  private pauseSpinner(fn: () => void): void {
    const s = this.spinner;
    if (s) s.stop();
    fn();
    if (s) s.start();
  }

  async startSpinner(text: string): Promise<void> {
    // Without a terminal there is no spinner; the steps report themselves as plain lines.
    if (!this.interactive) return;
    // ora is loaded only when a spinner is shown, to keep start-up fast.
    const { default: ora } = await import('ora');
    this.spinner = ora({ text: this.scrub(text), stream: this.stderr }).start() as unknown as Spinner;
  }

  private lastLine = '';
  private lastGroup = '';
  private lastProgressAt = new Map<string, number>();

  setSpinnerText(text: string): void {
    if (this.spinner) this.spinner.text = this.scrub(text);
    else if (text !== this.lastLine) this.info(text);
    this.lastLine = text;
  }

  stopSpinner(): void {
    this.spinner?.stop();
    this.spinner = null;
  }

  /** Progress events from the core, as spinner text on a TTY and plain lines otherwise. */
  progress = (event: ProgressEvent): void => {
    const e = inertDeep(event);
    switch (e.type) {
      case 'step':
        if (this.spinner || !e.group) this.setSpinnerText(e.message);
        else if (e.group !== this.lastGroup) this.info(e.group);
        this.lastGroup = e.group ?? '';
        break;
      case 'waiting-for-transactions':
        this.warn(
          `the concurrent build of ${e.object} waits for ${e.sessions.length} older transaction(s): ${describeSessions(e.sessions)}`,
        );
        break;
      case 'lock-retry':
        this.warn(
          `${e.what}: lock not granted in time (attempt ${e.attempt}); ${e.blockers.length ? `blocked by ${describeSessions(e.blockers)}; ` : ''}retrying`,
        );
        break;
      case 'build-progress': {
        const pct = e.percent === null ? '' : ` ${e.percent.toFixed(0)}%`;
        const text = `${e.object}: ${e.phase}${pct}, ${(e.elapsedMs / 1000).toFixed(1)} s`;
        if (this.spinner) {
          this.spinner.text = this.scrub(text);
        } else {
          // Without a terminal, a plain line every few seconds per object.
          const last = this.lastProgressAt.get(e.object) ?? 0;
          if (e.elapsedMs - last >= PLAIN_PROGRESS_EVERY_MS) {
            this.lastProgressAt.set(e.object, e.elapsedMs);
            this.info(text);
          }
        }
        break;
      }
      case 'warning':
        this.warn(e.message);
        break;
      case 'done':
        this.info(e.message);
        break;
    }
  };
}
