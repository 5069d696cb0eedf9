import { parseEnv } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { parse } from 'pg-connection-string';
import { PgoptError } from '../errors.js';

/** Where the connection settings came from, for messages (never the password). */
export type ConnectionSource = '--direct-url' | '--db' | 'DIRECT_URL' | '.env (DIRECT_URL)' | 'DATABASE_URL' | '.env' | 'libpq environment';

export interface ConnectionTarget {
  config: pg.ClientConfig;
  source: ConnectionSource;
  /** user@host:port/db, safe to print. */
  display: string;
  /** Kept only so every output path can scrub it. */
  secret?: string;
  /** Who and where, when known: a password equal to one of them cannot be scrubbed by value. */
  user?: string;
  database?: string;
}

export interface ConnectionOptions {
  /** --direct-url: a connection that bypasses any pooler (Prisma's directUrl). */
  directUrl?: string;
  db?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  connectTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/**
 * A .env file read with dotenv's rules, as Node implements them (util.parseEnv): quotes, inline
 * `# comments`, the `export` prefix, CRLF, and a UTF-8 BOM from editors that write one.
 */
export function readDotEnv(path: string): Record<string, string> {
  const text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  return parseEnv(text) as Record<string, string>;
}

/**
 * A URL read the way libpq reads it: `sslmode=require` encrypts without verifying the certificate
 * (pg's own reading treats it as verify-full and prints an 8-line warning), `verify-ca` checks the
 * CA named by `sslrootcert`, `verify-full` also the host name. As in psql, the same word means the
 * same thing in a URL and in PGSSLMODE.
 */
function libpqConfig(url: string, parsed: URL, source: ConnectionSource): pg.ClientConfig {
  try {
    const own = parsed.searchParams.has('uselibpqcompat');
    const c = parse(url, own ? {} : { useLibpqCompat: true });
    return { ...c, port: c.port ? Number(c.port) : undefined, ssl: c.ssl ?? undefined } as pg.ClientConfig;
  } catch (err) {
    throw new PgoptError('input', `the connection URL from ${source}: ${(err as Error).message.split('\n')[0]}`);
  }
}

function fromUrl(url: string, source: ConnectionSource, timeout: number): ConnectionTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PgoptError('input', `the connection URL from ${source} is not a valid URL (expected postgres://user@host:port/database)`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new PgoptError('input', `the connection URL from ${source} must start with postgres:// or postgresql://`);
  }
  const secret = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  const db = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || '(default)';
  const user = decodeURIComponent(parsed.username) || '(default)';
  const display = `${user}@${parsed.hostname || 'localhost'}:${parsed.port || '5432'}/${db}`;
  return {
    config: { ...libpqConfig(url, parsed, source), connectionTimeoutMillis: timeout },
    source,
    display,
    secret,
    user: decodeURIComponent(parsed.username) || undefined,
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || undefined,
  };
}

/**
 * Resolve the target database: --db, then DATABASE_URL, then DATABASE_URL in ./.env,
 * then the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE).
 */
export function resolveConnection(opts: ConnectionOptions = {}): ConnectionTarget {
  const env = opts.env ?? process.env;
  const timeout = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (opts.directUrl) return fromUrl(opts.directUrl, '--direct-url', timeout);
  if (opts.db) return fromUrl(opts.db, '--db', timeout);
  // DIRECT_URL before DATABASE_URL, as Prisma's migrations do: pgopt needs a session of its own
  // (concurrent builds, an advisory lock, SET), which a transaction pooler in DATABASE_URL breaks.
  const dotenvPath = join(opts.cwd ?? process.cwd(), '.env');
  const dotenv = existsSync(dotenvPath) ? readDotEnv(dotenvPath) : {};
  if (env.DIRECT_URL) return fromUrl(env.DIRECT_URL, 'DIRECT_URL', timeout);
  if (dotenv.DIRECT_URL) return fromUrl(dotenv.DIRECT_URL, '.env (DIRECT_URL)', timeout);
  if (env.DATABASE_URL) return fromUrl(env.DATABASE_URL, 'DATABASE_URL', timeout);
  if (dotenv.DATABASE_URL) return fromUrl(dotenv.DATABASE_URL, '.env', timeout);
  const host = env.PGHOST ?? 'localhost';
  const port = Number(env.PGPORT ?? 5432);
  const user = env.PGUSER ?? env.USER ?? 'postgres';
  const database = env.PGDATABASE ?? user;
  const sslmode = env.PGSSLMODE;
  const ssl =
    sslmode && !['disable', 'allow', 'prefer'].includes(sslmode)
      ? { rejectUnauthorized: sslmode === 'verify-full' || sslmode === 'verify-ca' }
      : undefined;
  return {
    config: { host, port, user, database, password: env.PGPASSWORD, ssl, connectionTimeoutMillis: timeout },
    source: 'libpq environment',
    display: `${user}@${host}:${port}/${database}`,
    secret: env.PGPASSWORD || undefined,
    user,
    database,
  };
}

/** Scrub a secret from a message (by value, and URL-encoded). */
export function redact(text: string, secret?: string): string {
  if (!secret) return text;
  let out = text.split(secret).join('***');
  const encoded = encodeURIComponent(secret);
  if (encoded !== secret) out = out.split(encoded).join('***');
  return out;
}

/**
 * Credentials by their shape, whatever they are: `scheme://user:password@` and a conninfo
 * `password=…`. Applied to every line and every JSON string, also before any connection is
 * resolved (a URL given where a pack path goes, say).
 */
export function redactCredentials(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi, '$1***@')
    .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)/gi, '$1***');
}

/** Shorter than this, a password would match ordinary text (digits of a duration, say). */
export const MIN_SCRUBBED_SECRET = 4;
