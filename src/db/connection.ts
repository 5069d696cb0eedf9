import { parseEnv } from 'node:util';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { parse } from 'pg-connection-string';
import { PgoptError } from '../errors.js';
import { parseConnectionString, pgpassLookup, readServiceSection, type Params } from './conninfo.js';

/** Where the connection settings came from, for messages (never the password). */
export type ConnectionSource = '--direct-url' | '--db' | 'DIRECT_URL' | '.env (DIRECT_URL)' | 'DATABASE_URL' | '.env' | 'libpq environment';

export interface ConnectionTarget {
  /** The first host's settings; the opener (connect.ts) tries each of `hosts` in turn. */
  config: pg.ClientConfig;
  hosts: (HostPort & { password?: string })[];
  sslmode: SslMode;
  targetSessionAttrs: SessionAttrs;
  /** The URL says pgbouncer=true (Prisma's flag for a transaction-mode PgBouncer). */
  pgbouncerHint: boolean;
  /** Said to the user before connecting (an unsafe password file, say). */
  warnings: string[];
  source: ConnectionSource;
  /** user@host:port/db, safe to print. */
  display: string;
  /** Kept only so every output path can scrub it. */
  secret?: string;
  /** libpq's require_auth: the authentication methods the server may ask for (null: any). */
  requireAuth: AuthPolicy | null;
  /** Who and where, when known: a password equal to one of them cannot be scrubbed by value. */
  user?: string;
  database?: string;
}

export interface ConnectionFlags {
  /** --direct-url: a connection that bypasses any pooler (Prisma's directUrl). */
  directUrl?: string;
  db?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  connectTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** The methods libpq's require_auth names; pgopt's driver speaks password, md5 and scram-sha-256. */
export const AUTH_METHODS = ['password', 'md5', 'gss', 'sspi', 'scram-sha-256', 'none'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
/** require_auth=a,b (only these) or !a,!b (any but these), as libpq reads it. */
export interface AuthPolicy {
  methods: AuthMethod[];
  negated: boolean;
}

/** Read a require_auth value with libpq's rules: a comma list, all negated or none, known methods only. */
export function parseRequireAuth(value: string, source: string): AuthPolicy {
  const items = value.split(',').map((x) => x.trim());
  const negated = items[0]?.startsWith('!') ?? false;
  const methods: AuthMethod[] = [];
  for (const item of items) {
    if (item.startsWith('!') !== negated) {
      throw new PgoptError('input', `the connection settings from ${source}: require_auth "${value}" mixes negated and plain methods`);
    }
    const m = item.replace(/^!/, '');
    if (!(AUTH_METHODS as readonly string[]).includes(m)) {
      throw new PgoptError(
        'input',
        `the connection settings from ${source}: require_auth has an unknown method "${m}" (one of ${AUTH_METHODS.join(', ')})`,
      );
    }
    methods.push(m as AuthMethod);
  }
  return { methods, negated };
}

/** Whether the policy lets the server authenticate this way (pure). */
export const authAllowed = (policy: AuthPolicy | null, method: AuthMethod): boolean =>
  !policy || policy.methods.includes(method) !== policy.negated;

/**
 * A .env file read with dotenv's rules, as Node implements them (util.parseEnv): quotes, inline
 * `# comments`, the `export` prefix, CRLF, and a UTF-8 BOM from editors that write one.
 */
export function readDotEnv(path: string): Record<string, string> {
  const text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  return parseEnv(text) as Record<string, string>;
}

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export type SessionAttrs = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';
export interface HostPort {
  host: string;
  port: number;
}

/** The libpq environment variables pgopt reads, by the keyword each one supplies. */
const ENV_KEYWORDS: [string, string][] = [
  ['PGHOST', 'host'],
  ['PGHOSTADDR', 'hostaddr'],
  ['PGPORT', 'port'],
  ['PGDATABASE', 'dbname'],
  ['PGUSER', 'user'],
  ['PGPASSWORD', 'password'],
  ['PGPASSFILE', 'passfile'],
  ['PGOPTIONS', 'options'],
  ['PGSSLMODE', 'sslmode'],
  ['PGSSLCERT', 'sslcert'],
  ['PGSSLKEY', 'sslkey'],
  ['PGSSLROOTCERT', 'sslrootcert'],
  ['PGCONNECT_TIMEOUT', 'connect_timeout'],
  ['PGTARGETSESSIONATTRS', 'target_session_attrs'],
  ['PGLOADBALANCEHOSTS', 'load_balance_hosts'],
  ['PGREQUIREAUTH', 'require_auth'],
];

const USED = new Set([...ENV_KEYWORDS.map(([, k]) => k), 'service', 'sslpassword']);
/** Keywords libpq knows that change nothing pgopt relies on (pgopt names its own sessions). */
const HARMLESS = new Set([
  'application_name',
  'fallback_application_name',
  'keepalives',
  'keepalives_idle',
  'keepalives_interval',
  'keepalives_count',
  'tcp_user_timeout',
  'sslcompression',
  'sslsni',
  'ssl_min_protocol_version',
  'ssl_max_protocol_version',
  'uselibpqcompat',
  'pgbouncer',
]);
/** Keywords pgopt accepts only with the values that ask for nothing it cannot do. */
const ONLY_VALUES: Record<string, string[]> = {
  gssencmode: ['disable', 'prefer'],
  channel_binding: ['disable', 'prefer'],
  sslnegotiation: ['postgres'],
  client_encoding: ['UTF8', 'utf8', 'UTF-8', 'auto'],
};
const SSL_MODES: SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const SESSION_ATTRS: SessionAttrs[] = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'];

function checkKeywords(p: Params, source: string): void {
  for (const [k, v] of Object.entries(p)) {
    if (USED.has(k) || HARMLESS.has(k)) continue;
    const allowed = ONLY_VALUES[k];
    if (!allowed) throw new PgoptError('input', `the connection settings from ${source}: invalid connection option "${k}"`);
    if (!allowed.includes(v)) {
      throw new PgoptError(
        'input',
        `the connection settings from ${source}: ${k}=${v} is not supported by pgopt (use ${allowed.join(' or ')})`,
      );
    }
  }
  if (p.sslmode && !SSL_MODES.includes(p.sslmode as SslMode)) {
    throw new PgoptError(
      'input',
      `the connection settings from ${source}: invalid sslmode "${p.sslmode}" (one of ${SSL_MODES.join(', ')})`,
    );
  }
  if (p.target_session_attrs && !SESSION_ATTRS.includes(p.target_session_attrs as SessionAttrs)) {
    throw new PgoptError(
      'input',
      `the connection settings from ${source}: invalid target_session_attrs "${p.target_session_attrs}" (one of ${SESSION_ATTRS.join(', ')})`,
    );
  }
}

/** The connection string pgopt was given, and where it came from, in libpq's order of precedence. */
function pickConnectionString(opts: ConnectionFlags, env: NodeJS.ProcessEnv): { text: string; source: ConnectionSource } | undefined {
  if (opts.directUrl) return { text: opts.directUrl, source: '--direct-url' };
  if (opts.db) return { text: opts.db, source: '--db' };
  // DIRECT_URL before DATABASE_URL, as Prisma's migrations do: pgopt needs a session of its own
  // (concurrent builds, an advisory lock, SET), which a transaction pooler in DATABASE_URL breaks.
  const dotenvPath = join(opts.cwd ?? process.cwd(), '.env');
  const dotenv = existsSync(dotenvPath) ? readDotEnv(dotenvPath) : {};
  // The environment before ./.env, for both names: a .env in the working directory (another
  // checkout, a file someone else wrote) must never pick the server a password exported for
  // another one goes to.
  if (env.DIRECT_URL) return { text: env.DIRECT_URL, source: 'DIRECT_URL' };
  if (env.DATABASE_URL) return { text: env.DATABASE_URL, source: 'DATABASE_URL' };
  if (dotenv.DIRECT_URL) return { text: dotenv.DIRECT_URL, source: '.env (DIRECT_URL)' };
  if (dotenv.DATABASE_URL) return { text: dotenv.DATABASE_URL, source: '.env' };
  return undefined;
}

/** A service's settings: the user's file (PGSERVICEFILE or ~/.pg_service.conf), then the system's. */
function serviceParams(name: string, env: NodeJS.ProcessEnv, home: string): Params {
  const files = [
    env.PGSERVICEFILE ?? join(home, '.pg_service.conf'),
    join(env.PGSYSCONFDIR ?? '/etc/postgresql-common', 'pg_service.conf'),
  ];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const section = readServiceSection(readFileSync(file, 'utf8'), name, file);
    if (section) return section;
  }
  throw new PgoptError('input', `definition of service "${name}" not found (looked in ${files.join(' and ')})`);
}

/** Where libpq would connect with no host: the Unix socket directory that has this port's socket, else localhost. */
function defaultHost(port: string): string {
  for (const dir of ['/var/run/postgresql', '/tmp']) if (existsSync(join(dir, `.s.PGSQL.${port.split(',')[0] || '5432'}`))) return dir;
  return 'localhost';
}

function hostList(p: Params, source: string): HostPort[] {
  if (p.hostaddr && p.host)
    throw new PgoptError('input', `the connection settings from ${source}: hostaddr together with host is not supported (give one)`);
  const hosts = (p.host ?? p.hostaddr ?? '').split(',');
  const ports = (p.port ?? '').split(',');
  if (ports.length > 1 && ports.length !== hosts.length) {
    throw new PgoptError('input', `the connection settings from ${source}: ${hosts.length} hosts but ${ports.length} ports`);
  }
  return hosts.map((h, i) => {
    const portText = (ports.length > 1 ? ports[i] : ports[0]) || '5432';
    const port = Number(portText);
    if (!Number.isInteger(port) || port <= 0 || port > 65535)
      throw new PgoptError('input', `the connection settings from ${source}: invalid port "${portText}"`);
    return { host: h || defaultHost(portText), port };
  });
}

/**
 * The password for each host from the password file (passfile, PGPASSFILE or ~/.pgpass), read
 * here so the driver never reads it (its reader is deprecated and prints a warning). As in libpq,
 * a file others may read is ignored, with a warning.
 */
function passfilePasswords(p: Params, hosts: HostPort[], home: string, warnings: string[]): (string | undefined)[] {
  const file = p.passfile ?? join(home, '.pgpass');
  if (!existsSync(file)) return hosts.map(() => undefined);
  const st = statSync(file);
  if (!st.isFile()) {
    warnings.push(`password file "${file}" is not a plain file`);
    return hosts.map(() => undefined);
  }
  if (st.mode & 0o077) {
    warnings.push(`password file "${file}" has group or world access; permissions should be u=rw (0600) or less: it was not read`);
    return hosts.map(() => undefined);
  }
  const text = readFileSync(file, 'utf8');
  return hosts.map((h) => pgpassLookup(text, { host: h.host, port: String(h.port), dbname: p.dbname!, user: p.user! }));
}

function readCertFile(keyword: string, path: string, source: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new PgoptError(
      'input',
      `the connection settings from ${source}: ${keyword} "${path}" cannot be read (${(err as NodeJS.ErrnoException).code})`,
    );
  }
}

/**
 * TLS options with libpq's meaning of each sslmode, from the driver's own libpq-compatible
 * reading (pg-connection-string's useLibpqCompat): require encrypts without verifying, verify-ca
 * checks the CA, verify-full also the host name. The certificate files default to libpq's
 * ~/.postgresql/{root.crt,postgresql.crt,postgresql.key}; `sslrootcert=system` trusts the
 * system's CAs and, as in libpq, implies verify-full.
 */
function tlsOptions(p: Params, mode: SslMode, home: string, source: string): ConnectionOptions | false {
  if (mode === 'disable') return false;
  const dflt = (file: string) => (existsSync(join(home, '.postgresql', file)) ? join(home, '.postgresql', file) : undefined);
  const root = p.sslrootcert ?? (mode.startsWith('verify') ? dflt('root.crt') : undefined);
  if (mode.startsWith('verify') && !root) {
    throw new PgoptError('input', `the connection settings from ${source}: sslmode=${mode} needs a root certificate`, {
      hint: 'set sslrootcert (or PGSSLROOTCERT) to the CA file, put it in ~/.postgresql/root.crt, or use sslrootcert=system',
    });
  }
  // allow and prefer never verify (libpq): the driver's "prefer" reading says so.
  const q = new URLSearchParams({ sslmode: root === 'system' ? 'verify-full' : mode === 'allow' ? 'prefer' : mode });
  const files = {
    sslrootcert: root === 'system' ? undefined : root,
    sslcert: p.sslcert ?? dflt('postgresql.crt'),
    sslkey: p.sslkey ?? dflt('postgresql.key'),
  };
  for (const [keyword, path] of Object.entries(files)) {
    if (!path) continue;
    readCertFile(keyword, path, source); // our message for a missing file, before the driver reads it
    q.set(keyword, path);
  }
  const ssl = (parse(`postgres://x/?${q}`, { useLibpqCompat: true }).ssl ?? {}) as ConnectionOptions;
  if (p.sslpassword) ssl.passphrase = p.sslpassword;
  return ssl;
}

/** Every setting, in libpq's order: the connection string, then its service, then the environment. */
function gatherParams(opts: ConnectionFlags, env: NodeJS.ProcessEnv, home: string) {
  const given = pickConnectionString(opts, env);
  const source: ConnectionSource = given?.source ?? 'libpq environment';
  const fromString = given ? parseConnectionString(given.text, given.source) : {};
  const service = fromString.service ?? env.PGSERVICE;
  const p: Params = { ...(service ? serviceParams(service, env, home) : {}), ...fromString };
  for (const [v, k] of ENV_KEYWORDS) if (p[k] === undefined && env[v] !== undefined && env[v] !== '') p[k] = env[v]!;
  checkKeywords(p, source);
  p.user ??= osUser(env);
  p.dbname ??= p.user;
  return { p, source, service };
}

function osUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? 'postgres';
  }
}

/**
 * Resolve the target database as psql would (README "Connecting"): the connection string from
 * --direct-url, --db, DIRECT_URL, DATABASE_URL (environment, then ./.env) — a URL or
 * keyword/value pairs — then its service (PGSERVICE), then the libpq environment variables.
 */
export function resolveConnection(opts: ConnectionFlags = {}): ConnectionTarget {
  const env = opts.env ?? process.env;
  const home = env.HOME ?? homedir();
  const { p, source, service } = gatherParams(opts, env, home);
  const hosts = hostList(p, source);
  if (p.load_balance_hosts === 'random') hosts.sort(() => Math.random() - 0.5);
  const warnings: string[] = [];
  const passwords = p.password !== undefined ? hosts.map(() => p.password) : passfilePasswords(p, hosts, home, warnings);
  const sslmode = (p.sslmode ?? 'prefer') as SslMode;
  const timeout = p.connect_timeout ? Math.max(2, Number(p.connect_timeout)) * 1000 : (opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  const where = hosts.map((h) => (h.host.startsWith('/') ? h.host : `${h.host}:${h.port}`)).join(',');
  const display = `${p.user}@${where}/${p.dbname}${service ? ` (service ${service})` : ''}`;
  return {
    config: {
      host: hosts[0].host,
      port: hosts[0].port,
      user: p.user,
      database: p.dbname,
      password: passwords[0],
      options: p.options,
      ssl: tlsOptions(p, sslmode, home, source),
      connectionTimeoutMillis: timeout,
    },
    hosts: hosts.map((h, i) => ({ ...h, password: passwords[i] })),
    sslmode,
    targetSessionAttrs: (p.target_session_attrs ?? 'any') as SessionAttrs,
    pgbouncerHint: p.pgbouncer === 'true',
    source,
    display,
    secret: passwords.find((x) => x) || undefined,
    requireAuth: p.require_auth ? parseRequireAuth(p.require_auth, source) : null,
    user: p.user,
    database: p.dbname,
    warnings,
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
