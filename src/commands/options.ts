import { Option } from 'commander';
import { PgoptError } from '../errors.js';
import { resolveConnection, type ConnectionTarget } from '../db/connection.js';
import { Reporter } from '../output/reporter.js';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../engine/run-options.js';

/** Flags every command takes (README: "Global flags"). */
export interface GlobalOptions {
  directUrl?: string;
  db?: string;
  json?: boolean;
  color?: boolean;
  connectTimeout?: string;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, min: 60_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "3s", "2min", "1h", "7d" or a bare number of seconds. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h|d)?$/.exec(String(value).trim());
  if (!m) throw new PgoptError('input', `${flag}: "${value}" is not a duration (examples: 500ms, 3s, 10min, 1h)`);
  return Number(m[1]) * UNITS[m[2] ?? 's'];
}

export function parseCount(flag: string, value: string, min = 0): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new PgoptError('input', `${flag}: "${value}" is not a whole number >= ${min}`);
  return n;
}

export interface CommandContext {
  reporter: Reporter;
  target: () => ConnectionTarget;
  /** Another server named on the command line (a standby: --replica), with the same password scrubbing. */
  targetOf: (db: string) => ConnectionTarget;
  /** Aborted by Ctrl-C: the core then reports what it was doing as interrupted. */
  signal: AbortSignal;
}

export function makeContext(g: GlobalOptions, reporter: Reporter, signal: AbortSignal): CommandContext {
  let announced = false;
  return {
    reporter,
    signal,
    target: () => {
      const t = resolve(g.directUrl, g.db);
      // A .env in the working directory chose the server: say so, once, before anything is sent there.
      if (t.source.startsWith('.env') && !announced) {
        announced = true;
        reporter.info(`connecting to ${t.display}, from ./.env (${t.source === '.env' ? 'DATABASE_URL' : 'DIRECT_URL'})`);
      }
      return t;
    },
    targetOf: (db) => resolve(undefined, db),
  };

  function resolve(directUrl: string | undefined, db: string | undefined): ConnectionTarget {
    const t = resolveConnection({ directUrl, db, connectTimeoutMs: parseDuration('--connect-timeout', g.connectTimeout ?? '5s') });
    for (const password of new Set(t.hosts.map((h) => h.password))) {
      reporter.addSecret(
        password,
        [t.user, t.database].filter((x): x is string => !!x),
      );
    }
    for (const w of t.warnings) reporter.warn(w);
    return t;
  }
}

/** Flags shared by bench and compare, declared once. */
export const reportFlags = () => [
  new Option('--format <format>', 'table, json or markdown').default('table'),
  new Option('--fail-on-regression <pct>', 'exit 1 when a query is significantly slower than the baseline by more than pct'),
  new Option('--html <file>', 'also write the comparison as a self-contained HTML report with charts'),
];

/** Flags shared by apply and rollback, declared once. */
export const runFlags = () => [
  new Option('--lock-timeout <duration>', 'lock_timeout for statements whose lock would block the application').default('3s'),
  new Option('--lock-retries <n>', 'retries after a lock timeout, with backoff').default('3'),
  new Option('--build-timeout <duration>', 'time limit for one concurrent build or drop (0 = none)').default('60min'),
  new Option('--wait <duration>', 'wait this long for another pgopt run on the same database').default('0s'),
  new Option('--no-concurrently', 'build and drop indexes without CONCURRENTLY (empty tables, maintenance windows)'),
];

export interface RunFlagValues {
  lockTimeout: string;
  lockRetries: string;
  buildTimeout: string;
  wait: string;
  concurrently: boolean;
}

export function runOptionsFrom(f: RunFlagValues, ctx: CommandContext): RunOptions {
  return {
    ...DEFAULT_RUN_OPTIONS,
    concurrently: f.concurrently,
    lockTimeoutMs: parseDuration('--lock-timeout', f.lockTimeout),
    lockRetries: parseCount('--lock-retries', f.lockRetries),
    buildTimeoutMs: parseDuration('--build-timeout', f.buildTimeout),
    waitMs: parseDuration('--wait', f.wait),
    onProgress: ctx.reporter.progress,
    signal: ctx.signal,
  };
}
