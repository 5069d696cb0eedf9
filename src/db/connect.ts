/**
 * Opening a session the way libpq does: each host in turn, TLS by sslmode (prefer falls back to
 * plain text, allow to TLS), target_session_attrs checked on the server — and then the checks
 * pgopt adds: the server's real pid (a pooler makes up the one in the protocol), and a refusal of
 * transaction-mode poolers, which would scatter pgopt's session over other clients' connections.
 */
import { isIP } from 'node:net';
import pg from 'pg';
import {
  authAllowed,
  MIN_SCRUBBED_SECRET,
  redact,
  redactCredentials,
  type AuthMethod,
  type AuthPolicy,
  type ChannelBinding,
  type ConnectionTarget,
  type HostPort,
  type HostSlot,
  type SessionAttrs,
} from './connection.js';
import { PgoptError } from '../errors.js';
import { translatePgError } from './pg-errors.js';

export interface OpenedSession {
  client: pg.Client;
  /** What the client was opened with, for side connections (cancel, the pooler probe). */
  config: pg.ClientConfig;
  /** pg_backend_pid(): the server process, also behind a pooler. */
  serverPid: number;
  /** A pooler sits between pgopt and the server (the protocol's pid is not the server's). */
  pooled: boolean;
}

interface ServerFacts {
  pid: number;
  standby: boolean;
  readOnly: boolean;
}

/** host:port pairs that answered "no TLS" in this process: sslmode=prefer does not ask them again. */
const plainOnly = new Set<string>();

const PROBE_WAIT_MS = 3_000;

function sslAttempts(target: ConnectionTarget, h: HostPort): pg.ClientConfig['ssl'][] {
  const tls = target.config.ssl ?? false;
  // libpq never uses TLS over a Unix socket.
  if (h.host.startsWith('/') || target.sslmode === 'disable') return [false];
  if (target.sslmode === 'allow') return [false, tls];
  if (target.sslmode === 'prefer') return plainOnly.has(`${h.host}:${h.port}`) ? [false] : [tls, false];
  return [tls];
}

function passwordFor(h: HostPort & { password?: string }): () => Promise<string> {
  return async () => {
    // libpq treats an empty password as none given.
    if (h.password) return h.password;
    throw new PgoptError('database', `the server at ${h.host}:${h.port} asks for a password and none was given`, {
      hint: 'give it in the URL (percent-encoded), in PGPASSWORD, or in ~/.pgpass',
    });
  };
}

/** The protocol's authentication requests, by the require_auth name of their method. */
const AUTH_REQUESTS: [string, AuthMethod][] = [
  ['authenticationCleartextPassword', 'password'],
  ['authenticationMD5Password', 'md5'],
  ['authenticationSASL', 'scram-sha-256'],
];

/**
 * Connect, holding the server to require_auth as libpq does: the password is handed over only
 * when the server asked for it in a way the policy allows (never in clear text to a server that
 * asks for it under require_auth=scram-sha-256), and a server that asks for nothing fails where
 * `none` is not allowed. The driver asks pgopt's password function after the request arrives.
 */
async function connectOnce(
  config: pg.ClientConfig,
  policy: AuthPolicy | null = null,
  binding: ChannelBinding = 'prefer',
): Promise<pg.Client> {
  let asked: AuthMethod | null = null;
  const give = config.password;
  const client = newClient({
    ...config,
    enableChannelBinding: binding === 'require',
    password: async () => {
      if (asked && !authAllowed(policy, asked)) throw authRefused(asked, policy!);
      return typeof give === 'function' ? give() : (give ?? '');
    },
  });
  const con = (client as unknown as { connection: { on(event: string, fn: () => void): void } }).connection;
  for (const [event, method] of AUTH_REQUESTS) con.on(event, () => (asked = method));
  // Read before the driver's own handler of the same message, which drops its SASL session.
  let mechanism: string | undefined;
  con.on('authenticationSASLFinal', () => (mechanism = saslMechanism(client)));
  // An idle client can still emit 'error' (server restart); without a listener Node would crash.
  client.on('error', () => {});
  try {
    await client.connect();
    if (!asked && !authAllowed(policy, 'none')) throw authRefused('none', policy!);
    if (binding === 'require' && mechanism !== 'SCRAM-SHA-256-PLUS') throw unboundChannel();
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
}

/**
 * The driver reads PG* variables for whatever its config leaves unset, some with other meanings
 * than libpq's (PGREPLICATION would open a replication connection). Everything libpq reads is
 * already in the config, so the driver sees none of them. The constructor reads them
 * synchronously, so no other code runs while they are away.
 */
export function newClient(config: pg.ClientConfig): pg.Client {
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('PG'));
  for (const [k] of saved) delete process.env[k];
  try {
    return new pg.Client(config);
  } finally {
    for (const [k, v] of saved) process.env[k] = v;
  }
}

const saslMechanism = (c: pg.Client) => (c as unknown as { saslSession?: { mechanism?: string } }).saslSession?.mechanism;

function unboundChannel(): PgoptError {
  return new PgoptError('database', 'channel_binding=require, but the server authenticated this client without channel binding', {
    hint: 'channel binding needs TLS and SCRAM-SHA-256 authentication on the server (pg_hba.conf)',
  });
}

function authRefused(method: AuthMethod, policy: AuthPolicy): PgoptError {
  const what = method === 'none' ? 'asked for no authentication at all' : `asked for ${method} authentication`;
  return new PgoptError(
    'database',
    `the server ${what}, which require_auth=${policy.negated ? policy.methods.map((m) => `!${m}`).join(',') : policy.methods.join(',')} does not allow: nothing was sent`,
    {
      hint: 'check that this is the server you meant (and its pg_hba.conf), or change require_auth',
    },
  );
}

/**
 * application_name is shown to every role (pg_stat_activity) and written to the server log: the
 * name pgopt gives its session is built from what the user typed (a pack path, which may be a URL
 * given by mistake), so credentials by shape, and the session's own password by value, are removed.
 */
export function publicApplicationName(name: string, secret?: string): string {
  return redact(redactCredentials(name), secret && secret.length >= MIN_SCRUBBED_SECRET ? secret : undefined);
}

/** The server answered (an ErrorResponse has a SQLSTATE): libpq then stops, whatever hosts are left. */
const serverAnswered = (err: unknown) => /^[0-9A-Z]{5}$/.test(String((err as { code?: unknown })?.code ?? ''));

/** The TLS handshake failed (no TLS, or a certificate that does not verify): prefer then tries plain text. */
const tlsFailed = (err: unknown) =>
  !serverAnswered(err) &&
  /CERT|SSL|TLS|EPROTO|UNABLE_TO|does not support SSL/i.test(`${(err as { code?: unknown })?.code ?? ''} ${(err as Error)?.message ?? ''}`);

/** TLS options for one host: with hostaddr, the certificate is checked against the host's name, as libpq does. */
function tlsFor(ssl: pg.ClientConfig['ssl'], h: HostSlot): pg.ClientConfig['ssl'] {
  if (!ssl || !h.hostaddr || h.host === h.hostaddr || isIP(h.host)) return ssl;
  return { ...(ssl === true ? {} : ssl), servername: h.host };
}

/**
 * One host, with TLS as sslmode asks: prefer retries in plain text when TLS fails (also a
 * certificate that does not verify against a root certificate, as libpq does), allow retries
 * with TLS when the server wants encryption.
 */
async function connectHost(target: ConnectionTarget, h: ConnectionTarget['hosts'][number], appName: string) {
  let last: unknown;
  for (const ssl of sslAttempts(target, h)) {
    const config: pg.ClientConfig = {
      ...target.config,
      host: h.hostaddr ?? h.host,
      port: h.port,
      password: passwordFor(h),
      ssl: tlsFor(ssl, h),
      application_name: appName,
    };
    try {
      return { client: await connectOnce(config, target.requireAuth, target.channelBinding), config };
    } catch (err) {
      last = err;
      const msg = String((err as Error)?.message ?? '');
      if (ssl && /does not support SSL/i.test(msg)) plainOnly.add(`${h.host}:${h.port}`);
      const retry = ssl ? tlsFailed(err) : /no encryption/i.test(msg);
      if (!retry) break;
    }
  }
  throw last;
}

async function serverFacts(c: pg.Client): Promise<ServerFacts> {
  const r = await c.query(
    `SELECT pg_catalog.pg_backend_pid() AS pid, pg_catalog.pg_is_in_recovery() AS standby,
            pg_catalog.current_setting('transaction_read_only') = 'on' AS ro`,
  );
  return { pid: r.rows[0].pid, standby: r.rows[0].standby, readOnly: r.rows[0].ro };
}

/** Why a server does not suit target_session_attrs, or null when it does (libpq's tests). */
export function sessionAttrsMismatch(attrs: SessionAttrs, f: { standby: boolean; readOnly: boolean }, pass: 1 | 2): string | null {
  switch (attrs) {
    case 'read-write':
      return f.readOnly ? 'read-only' : null;
    case 'read-only':
      return f.readOnly ? null : 'not read-only';
    case 'primary':
      return f.standby ? 'a standby' : null;
    case 'standby':
      return f.standby ? null : 'not a standby';
    case 'prefer-standby':
      return pass === 1 && !f.standby ? 'not a standby' : null;
    default:
      return null;
  }
}

const protocolPid = (c: pg.Client): number => (c as unknown as { processID: number }).processID;

function timeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/**
 * Behind a pooler, does this client keep its server connection between transactions? A second
 * client opens a transaction: in transaction mode it is handed our (idle) server connection, or
 * our next query gets another one; in session mode neither can happen. Leaves nothing on any
 * server connection: the probe only reads pg_backend_pid() and rolls back.
 */
async function keepsServerConnection(s: OpenedSession, policy: AuthPolicy | null): Promise<boolean> {
  const other = await connectOnce({ ...s.config, application_name: 'pgopt pooler check' }, policy);
  let ours: Promise<unknown> | undefined;
  try {
    if ((await timeout(other.query('BEGIN'), PROBE_WAIT_MS)) === 'timeout') return true; // no server connection to spare
    const theirs = await other.query('SELECT pg_catalog.pg_backend_pid() AS pid');
    if (theirs.rows[0].pid === s.serverPid) return false;
    ours = s.client.query('SELECT pg_catalog.pg_backend_pid() AS pid');
    const r = await timeout(ours, PROBE_WAIT_MS);
    return r !== 'timeout' && (r as pg.QueryResult).rows[0].pid === s.serverPid;
  } catch {
    return false; // a statement-mode pooler refuses the transaction
  } finally {
    await other.end().catch(() => {});
    await ours?.catch(() => {});
  }
}

function transactionPoolerError(target: ConnectionTarget): PgoptError {
  return new PgoptError(
    'database',
    `${target.display} (from ${target.source}) goes through a pooler in transaction mode${target.pgbouncerHint ? ' (the URL says pgbouncer=true)' : ''}: ` +
      'pgopt needs one server session for the whole run (CREATE INDEX CONCURRENTLY, its advisory run lock, its SET settings) ' +
      "and would leave them on other clients' connections. Nothing was changed",
    { hint: 'connect directly to PostgreSQL, or through a session-mode pool: set DIRECT_URL (Prisma directUrl) or pass --direct-url' },
  );
}

async function tryHosts(target: ConnectionTarget, appName: string, pass: 1 | 2, failures: string[]) {
  for (const h of target.hosts) {
    const where = h.host.startsWith('/') ? h.host : `${h.host}:${h.port}`;
    let opened: Awaited<ReturnType<typeof connectHost>>;
    try {
      opened = await connectHost(target, h, appName);
    } catch (err) {
      // libpq goes on to the next host only when this one could not be reached: a server that
      // refused the password, or has no such database, ends the attempt with its error.
      if (target.hosts.length === 1 || serverAnswered(err) || err instanceof PgoptError) {
        throw translatePgError(err, `connecting to ${target.display} (from ${target.source})`);
      }
      failures.push(`${where}: ${translatePgError(err, 'connecting').message.replace(/^connecting: /, '')}`);
      continue;
    }
    const facts = await serverFacts(opened.client).catch(async (err) => {
      await opened.client.end().catch(() => {});
      throw translatePgError(err, `connecting to ${target.display} (from ${target.source})`);
    });
    const mismatch = sessionAttrsMismatch(target.targetSessionAttrs, facts, pass);
    if (!mismatch) return { ...opened, facts };
    failures.push(`${where}: ${mismatch}`);
    await opened.client.end().catch(() => {});
  }
  return undefined;
}

/** Open pgopt's session on the first host that suits target_session_attrs; refuse a transaction pooler. */
export async function openSession(target: ConnectionTarget, name: string): Promise<OpenedSession> {
  const appName = publicApplicationName(name, target.secret);
  const failures: string[] = [];
  const found =
    (await tryHosts(target, appName, 1, failures)) ??
    (target.targetSessionAttrs === 'prefer-standby' ? await tryHosts(target, appName, 2, failures) : undefined);
  if (!found) {
    throw new PgoptError(
      'database',
      `connecting to ${target.display} (from ${target.source}): no server suits target_session_attrs=${target.targetSessionAttrs} (${failures.join('; ')})`,
    );
  }
  const s: OpenedSession = {
    client: found.client,
    config: found.config,
    serverPid: found.facts.pid,
    pooled: protocolPid(found.client) !== found.facts.pid,
  };
  if (!s.pooled) return s;
  const keeps = await keepsServerConnection(s, target.requireAuth).catch((err) =>
    translatePgError(err, `connecting to ${target.display} (from ${target.source})`),
  );
  if (keeps !== true) {
    await s.client.end().catch(() => {});
    throw keeps === false ? transactionPoolerError(target) : keeps;
  }
  return s;
}
