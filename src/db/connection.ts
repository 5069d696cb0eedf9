import { parseEnv } from 'node:util';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { parse } from 'pg-connection-string';
import { PgoptError } from '../errors.js';
import { DEFAULT_SOCKET_DIR, ENCODE_HINT, parseConnectionString, pgpassLookup, readServiceSection, type Params } from './conninfo.js';

/** Where the connection settings came from, for messages (never the password). */
export type ConnectionSource = '--direct-url' | '--db' | 'DIRECT_URL' | '.env (DIRECT_URL)' | 'DATABASE_URL' | '.env' | 'libpq environment';

export interface ConnectionTarget {
  /** The first host's settings; the opener (connect.ts) tries each of `hosts` in turn. */
  config: pg.ClientConfig;
  hosts: (HostSlot & { password?: string })[];
  sslmode: SslMode;
  /** libpq's channel_binding: require insists on SCRAM-SHA-256-PLUS over TLS. */
  channelBinding: ChannelBinding;
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

export type ChannelBinding = 'disable' | 'prefer' | 'require';
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export type SessionAttrs = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';
export interface HostPort {
  host: string;
  port: number;
}

/** libpq's environment variables, by the keyword each one supplies (libpq's PQconninfoOptions). */
const ENV_KEYWORDS: [string, string][] = [
  ['PGSERVICE', 'service'],
  ['PGUSER', 'user'],
  ['PGPASSWORD', 'password'],
  ['PGPASSFILE', 'passfile'],
  ['PGCHANNELBINDING', 'channel_binding'],
  ['PGCONNECT_TIMEOUT', 'connect_timeout'],
  ['PGDATABASE', 'dbname'],
  ['PGHOST', 'host'],
  ['PGHOSTADDR', 'hostaddr'],
  ['PGPORT', 'port'],
  ['PGCLIENTENCODING', 'client_encoding'],
  ['PGOPTIONS', 'options'],
  ['PGAPPNAME', 'application_name'],
  ['PGSSLMODE', 'sslmode'],
  ['PGSSLNEGOTIATION', 'sslnegotiation'],
  ['PGSSLCOMPRESSION', 'sslcompression'],
  ['PGSSLCERT', 'sslcert'],
  ['PGSSLKEY', 'sslkey'],
  ['PGSSLCERTMODE', 'sslcertmode'],
  ['PGSSLROOTCERT', 'sslrootcert'],
  ['PGSSLCRL', 'sslcrl'],
  ['PGSSLCRLDIR', 'sslcrldir'],
  ['PGREQUIREPEER', 'requirepeer'],
  ['PGREQUIREAUTH', 'require_auth'],
  ['PGSSLMINPROTOCOLVERSION', 'ssl_min_protocol_version'],
  ['PGSSLMAXPROTOCOLVERSION', 'ssl_max_protocol_version'],
  ['PGGSSENCMODE', 'gssencmode'],
  ['PGKRBSRVNAME', 'krbsrvname'],
  ['PGGSSLIB', 'gsslib'],
  ['PGGSSDELEGATION', 'gssdelegation'],
  ['PGTARGETSESSIONATTRS', 'target_session_attrs'],
  ['PGLOADBALANCEHOSTS', 'load_balance_hosts'],
  ['PGMINPROTOCOLVERSION', 'min_protocol_version'],
  ['PGMAXPROTOCOLVERSION', 'max_protocol_version'],
];

/** The values libpq accepts for its enumerated keywords; anything else is an error there and here. */
const LIBPQ_VALUES: Record<string, readonly string[]> = {
  sslmode: ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'],
  gssencmode: ['disable', 'prefer', 'require'],
  channel_binding: ['disable', 'prefer', 'require'],
  target_session_attrs: ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'],
  load_balance_hosts: ['disable', 'random'],
  sslnegotiation: ['postgres', 'direct'],
};
/** Keywords libpq reads as integers when it processes the options. */
const LIBPQ_INTEGERS = ['port'];

/**
 * What pgopt cannot do. A keyword that changes nothing pgopt relies on is accepted; one that asks
 * for something pgopt's driver cannot give is refused with its value, never silently ignored
 * (README "Connecting": the intended differences from libpq).
 */
const UNSUPPORTED_UNLESS: Record<string, readonly string[]> = {
  gssencmode: ['disable', 'prefer'],
  channel_binding: ['disable', 'prefer', 'require'],
  sslnegotiation: ['postgres'],
  client_encoding: ['UTF8', 'utf8', 'UTF-8', 'utf-8', 'auto'],
  replication: ['0', 'false', 'off', 'no'],
  gsslib: ['', 'gssapi'],
  requirepeer: [''],
  sslcertmode: ['disable', 'allow'],
  sslcrl: [''],
  sslcrldir: [''],
};

/** libpq's own checks of the values it reads (connectOptions2): the same inputs fail in both. */
function checkLibpqValues(p: Params, source: string): void {
  for (const [k, allowed] of Object.entries(LIBPQ_VALUES)) {
    if (p[k] !== undefined && !allowed.includes(p[k])) {
      throw new PgoptError('input', `the connection settings from ${source}: invalid ${k} value "${p[k]}" (one of ${allowed.join(', ')})`);
    }
  }
  for (const k of LIBPQ_INTEGERS) {
    for (const piece of (p[k] ?? '').split(',')) {
      if (piece && !/^\s*[+-]?\d+\s*$/.test(piece)) {
        // Never the value: in a URL, a password with a raw '/' ends up here (libpq prints it).
        throw new PgoptError('input', `the connection settings from ${source}: invalid integer value for connection option "${k}"`, {
          hint: `if this came from a URL, ${ENCODE_HINT}`,
        });
      }
    }
  }
}

/** pgopt's own refusals, after libpq's checks pass. */
function checkSupported(p: Params, source: string): void {
  for (const [k, allowed] of Object.entries(UNSUPPORTED_UNLESS)) {
    if (p[k] !== undefined && !allowed.includes(p[k])) {
      throw new PgoptError(
        'input',
        `the connection settings from ${source}: ${k}=${p[k]} is not supported by pgopt (use ${allowed.filter(Boolean).join(' or ') || 'none'})`,
      );
    }
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

/**
 * A service's settings, looked up as libpq does: PGSERVICEFILE (which must exist) or
 * ~/.pg_service.conf, then the system's pg_service.conf when the first has no such section.
 */
function serviceParams(name: string, env: NodeJS.ProcessEnv, home: string): Params {
  const userFile = env.PGSERVICEFILE ?? join(home, '.pg_service.conf');
  if (env.PGSERVICEFILE !== undefined && !existsSync(userFile)) throw new PgoptError('input', `service file "${userFile}" not found`);
  const files = [userFile, join(env.PGSYSCONFDIR ?? '/etc/postgresql-common', 'pg_service.conf')];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const section = readServiceSection(readFileSync(file, 'utf8'), name, file);
    if (section) return section;
  }
  throw new PgoptError('input', `definition of service "${name}" not found (looked in ${files.join(' and ')})`);
}

/**
 * Where libpq connects with no host: the Unix-socket directory it was built with. That is
 * /var/run/postgresql on Debian, Ubuntu and Red Hat, and /tmp in PostgreSQL's own builds; never TCP.
 */
export function defaultSocketDir(): string {
  return existsSync(DEFAULT_SOCKET_DIR) ? DEFAULT_SOCKET_DIR : '/tmp';
}

/** One host slot, as libpq's connectOptions2 fills it. */
export interface HostSlot {
  /** The name: for TLS, the password file, and messages. */
  host: string;
  /** The address to connect to instead of resolving `host` (libpq's hostaddr). */
  hostaddr?: string;
  port: number;
  /** The port as written ('5432' when none was), which the password file matches. */
  portText: string;
}

const pieces = (text: string | undefined) => (text ? text.split(',') : []);

/** Hosts, their addresses and their ports, matched as libpq matches them (same errors, same defaults). */
export function hostSlots(p: Params, source: string, socketDir = defaultSocketDir()): HostSlot[] {
  const bad = (what: string) => new PgoptError('input', `the connection settings from ${source}: ${what}`);
  const addrs = pieces(p.hostaddr);
  const names = pieces(p.host);
  const n = addrs.length || names.length || 1;
  if (names.length && names.length !== n) throw bad(`could not match ${names.length} host names to ${n} hostaddr values`);
  const ports = pieces(p.port);
  if (ports.length > 1 && ports.length !== n) throw bad(`could not match ${ports.length} port numbers to ${n} hosts`);
  return Array.from({ length: n }, (_, i) => {
    const hostaddr = addrs[i] || undefined;
    const portText = (ports.length > 1 ? ports[i] : ports[0])?.trim() || '5432';
    const port = Number(portText);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw bad(`invalid port number "${portText}"`);
    return { host: names[i] || hostaddr || socketDir, hostaddr, port, portText };
  });
}

/**
 * The password for each host from the password file (passfile, PGPASSFILE or ~/.pgpass), read
 * here so the driver never reads it (its reader is deprecated and prints a warning). As in libpq,
 * a file others may read is ignored, with a warning.
 */
function passfilePasswords(p: Params, hosts: HostSlot[], home: string, warnings: string[]): (string | undefined)[] {
  const file = p.passfile || join(home, '.pgpass');
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
  const socketDir = defaultSocketDir();
  return hosts.map((h) => pgpassLookup(text, { host: h.host, port: h.portText, dbname: p.dbname!, user: p.user! }, socketDir));
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
 * TLS options with libpq's meaning of each sslmode. Whenever a root certificate exists
 * (sslrootcert, else ~/.postgresql/root.crt), libpq checks the server's certificate against it,
 * whatever the sslmode: require then works as verify-ca, and prefer's TLS attempt too (it falls
 * back to plain text when TLS fails, connect.ts). Only verify-full also checks the host name.
 * `sslrootcert=system` trusts the system's CAs and implies verify-full (libpq 16+).
 */
function tlsOptions(p: Params, mode: SslMode, home: string, source: string): ConnectionOptions | false {
  if (mode === 'disable') return false;
  const dflt = (file: string) => (existsSync(join(home, '.postgresql', file)) ? join(home, '.postgresql', file) : undefined);
  const system = p.sslrootcert === 'system';
  const root = system ? undefined : p.sslrootcert ? (existsSync(p.sslrootcert) ? p.sslrootcert : undefined) : dflt('root.crt');
  if (mode.startsWith('verify') && !root && !system) {
    throw new PgoptError(
      'input',
      `the connection settings from ${source}: sslmode=${mode} needs a root certificate${p.sslrootcert ? ` ("${p.sslrootcert}" does not exist)` : ''}`,
      { hint: 'set sslrootcert (or PGSSLROOTCERT) to the CA file, put it in ~/.postgresql/root.crt, or use sslrootcert=system' },
    );
  }
  const q = new URLSearchParams({ sslmode: system || mode === 'verify-full' ? 'verify-full' : root ? 'verify-ca' : 'prefer' });
  const files = { sslrootcert: root, sslcert: p.sslcert || dflt('postgresql.crt'), sslkey: p.sslkey || dflt('postgresql.key') };
  for (const [keyword, path] of Object.entries(files)) {
    if (!path) continue;
    readCertFile(keyword, path, source); // our message for an unreadable file, before the driver reads it
    q.set(keyword, path);
  }
  const ssl = (parse(`postgres://x/?${q}`, { useLibpqCompat: true }).ssl ?? {}) as ConnectionOptions;
  if (p.sslpassword) ssl.passphrase = p.sslpassword;
  return ssl;
}

/** sslmode as libpq settles it: `sslrootcert=system` makes verify-full the default, and refuses a weaker one. */
function effectiveSslMode(p: Params, source: string): SslMode {
  if (p.sslrootcert !== 'system') return (p.sslmode ?? 'prefer') as SslMode;
  if (p.sslmode !== undefined && p.sslmode !== 'verify-full') {
    throw new PgoptError(
      'input',
      `the connection settings from ${source}: weak sslmode "${p.sslmode}" may not be used with sslrootcert=system (use "verify-full")`,
    );
  }
  return 'verify-full';
}

/**
 * Every setting, in libpq's order (conninfo_add_defaults): the connection string, then its
 * service, then the environment (a variable set to '' counts, as in libpq), then the defaults.
 */
function gatherParams(opts: ConnectionFlags, env: NodeJS.ProcessEnv, home: string) {
  const given = pickConnectionString(opts, env);
  const source: ConnectionSource = given?.source ?? 'libpq environment';
  const fromString = given ? parseConnectionString(given.text, given.source) : {};
  const service = fromString.service ?? env.PGSERVICE;
  const p: Params = { ...(service ? serviceParams(service, env, home) : {}), ...fromString };
  for (const [v, k] of ENV_KEYWORDS) if (p[k] === undefined && env[v] !== undefined) p[k] = env[v]!;
  // The old PGREQUIRESSL, as libpq still reads it: "1…" means require, below PGSSLMODE.
  if (p.sslmode === undefined && env.PGREQUIRESSL?.startsWith('1')) p.sslmode = 'require';
  checkLibpqValues(p, source);
  if (!p.user) p.user = osUser(env);
  if (!p.dbname) p.dbname = p.user;
  return { p, source, service };
}

function osUser(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? 'postgres';
  }
}

/** What libpq itself resolves: every keyword, and each host slot with its password. No pgopt refusals yet. */
export interface LibpqResolution {
  params: Params;
  hosts: (HostSlot & { password?: string })[];
  source: ConnectionSource;
  service?: string;
  warnings: string[];
}

/**
 * Resolve the settings exactly as libpq would (README "Connecting"): the connection string from
 * --direct-url, --db, DIRECT_URL, DATABASE_URL (environment, then ./.env), a URL or
 * keyword/value pairs; then its service (PGSERVICE); then the libpq environment variables; then
 * the password file for each host, unless a non-empty password was given.
 */
export function resolveLibpq(opts: ConnectionFlags = {}): LibpqResolution {
  const env = opts.env ?? process.env;
  const home = env.HOME || homedir();
  const { p, source, service } = gatherParams(opts, env, home);
  const slots = hostSlots(p, source);
  const warnings: string[] = [];
  const fromFile = p.password ? slots.map(() => undefined) : passfilePasswords(p, slots, home, warnings);
  const hosts = slots.map((h, i) => ({ ...h, password: fromFile[i] ?? p.password }));
  return { params: p, hosts, source, service, warnings };
}

/**
 * The target database, as psql would reach it (resolveLibpq), with what pgopt cannot do refused
 * by name rather than ignored, and the TLS options for the driver.
 */
export function resolveConnection(opts: ConnectionFlags = {}): ConnectionTarget {
  const env = opts.env ?? process.env;
  const home = env.HOME || homedir();
  const { params: p, hosts, source, service, warnings } = resolveLibpq(opts);
  checkSupported(p, source);
  if (p.load_balance_hosts === 'random') hosts.sort(() => Math.random() - 0.5);
  const sslmode = effectiveSslMode(p, source);
  const timeout = p.connect_timeout ? Math.max(2, Number(p.connect_timeout)) * 1000 : (opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  const where = hosts.map((h) => (h.host.startsWith('/') ? h.host : `${h.host}:${h.port}`)).join(',');
  const display = `${p.user}@${where}/${p.dbname}${service ? ` (service ${service})` : ''}`;
  return {
    config: {
      host: hosts[0].hostaddr ?? hosts[0].host,
      port: hosts[0].port,
      user: p.user,
      database: p.dbname,
      password: hosts[0].password,
      options: p.options,
      ssl: tlsOptions(p, sslmode, home, source),
      connectionTimeoutMillis: timeout,
    },
    hosts,
    sslmode,
    channelBinding: (p.channel_binding ?? 'prefer') as ChannelBinding,
    targetSessionAttrs: (p.target_session_attrs ?? 'any') as SessionAttrs,
    pgbouncerHint: p.pgbouncer === 'true',
    source,
    display,
    secret: hosts.find((h) => h.password)?.password,
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
