/**
 * libpq's connection strings, read the way libpq reads them: URLs (with several hosts),
 * keyword/value strings, service files and password files. Pure text handling: nothing here
 * opens a connection. Each reader follows libpq's own (fe-connect.c) step by step, and the
 * conformance test (test/unit/libpq-conformance.test.ts) holds it to the system's libpq. Messages
 * name the problem and never echo a value: a value may be the password.
 */
import { PgoptError } from '../errors.js';

/** Connection parameters by libpq keyword (host, port, dbname, user, sslmode, …). */
export type Params = Record<string, string>;

export const ENCODE_HINT = 'percent-encode @ # % / : in the user name and password (%40 %23 %25 %2F %3A)';

/** Every keyword libpq 18 knows. An unknown one is an error, as in libpq. */
export const LIBPQ_KEYWORDS = new Set([
  'service',
  'user',
  'password',
  'passfile',
  'channel_binding',
  'connect_timeout',
  'dbname',
  'host',
  'hostaddr',
  'port',
  'client_encoding',
  'options',
  'application_name',
  'fallback_application_name',
  'keepalives',
  'keepalives_idle',
  'keepalives_interval',
  'keepalives_count',
  'tcp_user_timeout',
  'sslmode',
  'sslnegotiation',
  'sslcompression',
  'sslcert',
  'sslkey',
  'sslcertmode',
  'sslpassword',
  'sslrootcert',
  'sslcrl',
  'sslcrldir',
  'sslsni',
  'requirepeer',
  'require_auth',
  'min_protocol_version',
  'max_protocol_version',
  'ssl_min_protocol_version',
  'ssl_max_protocol_version',
  'gssencmode',
  'krbsrvname',
  'gsslib',
  'gssdelegation',
  'replication',
  'target_session_attrs',
  'load_balance_hosts',
  'scram_client_key',
  'scram_server_key',
  'oauth_issuer',
  'oauth_client_id',
  'oauth_client_secret',
  'oauth_scope',
]);

/**
 * Prisma's and JDBC's query parameters, in URLs pgopt reads from a project's .env. libpq refuses
 * them; pgopt skips them, so the URL the application uses works here too (an intended difference).
 */
const FOREIGN_URL_PARAMS = new Set([
  'schema',
  'connection_limit',
  'pool_timeout',
  'socket_timeout',
  'statement_cache_size',
  'sslaccept',
  'sslidentity',
  'pgbouncer',
]);

/** libpq's conninfo_storeval: requiressl is the old spelling of sslmode. */
function store(p: Params, key: string, value: string, bad: (what: string) => PgoptError, inUrl: boolean): void {
  if (key === 'requiressl') {
    p.sslmode = value.startsWith('1') ? 'require' : 'prefer';
    return;
  }
  if (!LIBPQ_KEYWORDS.has(key)) throw bad(inUrl ? `invalid URI query parameter "${key}"` : `invalid connection option "${key}"`);
  p[key] = value;
}

const HEX = /^[0-9a-fA-F]{2}$/;

/** libpq's conninfo_uri_decode: every %XX a byte, %00 refused, anything else after % an error. */
function uriDecode(part: string, where: string, source: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(part, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0x25) {
      bytes.push(raw[i]);
      continue;
    }
    const hex = raw.subarray(i + 1, i + 3).toString('latin1');
    if (!HEX.test(hex)) {
      throw new PgoptError('input', `the connection URL from ${source} has a stray '%' in the ${where}: ${ENCODE_HINT}`);
    }
    if (hex === '00') throw new PgoptError('input', `the connection URL from ${source} has a forbidden %00 in the ${where}`);
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('utf8');
}

export function isConnectionUrl(text: string): boolean {
  return text.startsWith('postgresql://') || text.startsWith('postgres://');
}

type Bad = (what: string) => PgoptError;

/** The host[:port] list after the credentials, as libpq's URI reader walks it. */
function urlHosts(s: string, start: number, bad: Bad, prefixLength: number) {
  const hosts: string[] = [];
  const ports: string[] = [];
  let i = start;
  for (;;) {
    if (s[i] === '[') {
      const close = s.indexOf(']', i + 1);
      if (close < 0) throw bad('end of string reached when looking for matching "]" in an IPv6 host address');
      if (close === i + 1) throw bad('IPv6 host address may not be empty');
      hosts.push(s.slice(i + 1, close));
      i = close + 1;
      if (i < s.length && !':/?,'.includes(s[i])) {
        throw bad(`unexpected character "${s[i]}" at position ${prefixLength + i + 1} (expected ":" or "/")`);
      }
    } else {
      const from = i;
      while (i < s.length && !':/?,'.includes(s[i])) i++;
      hosts.push(s.slice(from, i));
    }
    let port = '';
    if (s[i] === ':') {
      const from = ++i;
      while (i < s.length && !'/?,'.includes(s[i])) i++;
      port = s.slice(from, i);
    }
    ports.push(port);
    if (s[i] !== ',') return { host: hosts.join(','), port: ports.join(','), next: i };
    i++;
  }
}

/** ?keyword=value&…: each pair must have exactly one '='; libpq skips nothing, pgopt only Prisma's. */
function urlParams(q: string, p: Params, bad: Bad, source: string): void {
  for (let i = 0; i < q.length;) {
    const from = i;
    let eq = -1;
    while (i < q.length && q[i] !== '&') {
      if (q[i] === '=') {
        if (eq >= 0) throw bad(`extra key/value separator "=" in URI query parameter "${q.slice(from, eq)}"`);
        eq = i;
      }
      i++;
    }
    if (eq < 0) throw bad('a URI query parameter has no key/value separator "="');
    const key = uriDecode(q.slice(from, eq), 'query', source);
    const value = uriDecode(q.slice(eq + 1, i), `${key} parameter`, source);
    if (i < q.length) i++;
    if (key === 'ssl' && value === 'true') store(p, 'sslmode', 'require', bad, true);
    else if (key === 'pgbouncer') p.pgbouncer = value;
    else if (!FOREIGN_URL_PARAMS.has(key)) store(p, key, value, bad, true);
  }
}

/**
 * postgresql://[user[:password]@][host][:port][,host[:port]…][/dbname][?keyword=value&…], read
 * as libpq's conninfo_uri_parse_options reads it. One difference, on purpose: a second '@' before
 * the host (a password with a raw '@') is refused. libpq would take the rest of the password as
 * the host name and print it in its error.
 */
export function parseUrl(url: string, source: string): Params {
  const bad: Bad = (what) => new PgoptError('input', `the connection URL from ${source}: ${what}`);
  if (!isConnectionUrl(url)) throw bad('must start with postgres:// or postgresql://');
  const prefixLength = url.indexOf('://') + 3;
  const s = url.slice(prefixLength);
  const p: Params = {};
  let i = 0;
  while (i < s.length && s[i] !== '@' && s[i] !== '/') i++;
  if (s[i] === '@') {
    const colon = s.slice(0, i).indexOf(':');
    const user = colon < 0 ? s.slice(0, i) : s.slice(0, colon);
    if (user) p.user = uriDecode(user, 'user name', source);
    const password = colon < 0 ? undefined : s.slice(colon + 1, i);
    if (password) p.password = uriDecode(password, 'password', source);
    i++;
  } else i = 0;
  const { host, port, next } = urlHosts(s, i, bad, prefixLength);
  if (host.includes('@')) throw bad(`contains more than one '@' before the host: ${ENCODE_HINT}`);
  if (host) p.host = uriDecode(host, 'host', source);
  if (port) p.port = uriDecode(port, 'port', source);
  i = next;
  if (i < s.length && s[i] !== '?') {
    const from = ++i;
    while (i < s.length && s[i] !== '?') i++;
    if (i > from) p.dbname = uriDecode(s.slice(from, i), 'database name', source);
  }
  if (i < s.length) urlParams(s.slice(i + 1), p, bad, source);
  return p;
}

/** C's isspace, which libpq uses (not JavaScript's \s, which also takes Unicode spaces). */
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

/** One value: quoted ('…', backslash escapes) or up to the next space (backslash escapes too). */
function kvValue(text: string, start: number, bad: Bad): [string, number] {
  let i = start;
  let out = '';
  if (text[i] !== "'") {
    while (i < text.length && !isSpace(text[i])) {
      if (text[i] === '\\') i++;
      if (i < text.length) out += text[i++];
    }
    return [out, i];
  }
  for (i++; ;) {
    if (i >= text.length) throw bad('unterminated quoted string');
    if (text[i] === '\\') {
      if (++i < text.length) out += text[i++];
      continue;
    }
    if (text[i] === "'") return [out, i + 1];
    out += text[i++];
  }
}

/** `host=db port=5432 dbname='my db' password='it\'s'`: libpq's keyword/value form (conninfo_parse). */
export function parseKeywordValue(text: string, source: string): Params {
  const p: Params = {};
  const bad: Bad = (what) => new PgoptError('input', `the connection string from ${source}: ${what}`);
  let i = 0;
  while (i < text.length) {
    if (isSpace(text[i])) {
      i++;
      continue;
    }
    const from = i;
    while (i < text.length && text[i] !== '=' && !isSpace(text[i])) i++;
    const name = text.slice(from, i);
    while (isSpace(text[i])) i++;
    if (text[i] !== '=') throw bad(`missing "=" after "${name}"`);
    i++;
    while (isSpace(text[i])) i++;
    const [value, next] = kvValue(text, i, bad);
    store(p, name, value, bad, false);
    i = next;
  }
  return p;
}

/** A URL, or libpq's keyword/value form, as libpq tells them apart (the URL prefix, exactly). */
export function parseConnectionString(text: string, source: string): Params {
  if (isConnectionUrl(text)) return parseUrl(text, source);
  // libpq reads any other scheme as keyword/value text and fails on it, echoing it (password and all).
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new PgoptError('input', `the connection URL from ${source} must start with postgres:// or postgresql://`);
  }
  if (!text.includes('=')) {
    throw new PgoptError(
      'input',
      `the connection string from ${source} is neither a URL (postgres://user@host:port/database) nor keyword=value pairs (host=… dbname=…)`,
    );
  }
  return parseKeywordValue(text, source);
}

/**
 * One service's section of a pg_service.conf, as libpq's parseServiceFile reads it: lines
 * trimmed, `#` comments, the first `[name]` section only, and in it the first setting of each
 * keyword (a later one never overrides). Returns undefined when the file has no such section.
 */
export function readServiceSection(text: string, name: string, file: string): Params | undefined {
  let found: Params | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = trimC(lines[n]);
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      if (found) return found;
      if (line.startsWith(`[${name}]`)) found = {};
      continue;
    }
    if (!found) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq);
    if (key === 'service') throw new PgoptError('input', `${file}:${n + 1}: nested service specifications are not supported`);
    if (eq < 0 || !LIBPQ_KEYWORDS.has(key)) {
      throw new PgoptError('input', `${file}:${n + 1}: syntax error in service file (expected keyword=value with a libpq keyword)`);
    }
    if (!(key in found)) found[key] = line.slice(eq + 1);
  }
  return found;
}

function trimC(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s[a])) a++;
  while (b > a && isSpace(s[b - 1])) b--;
  return s.slice(a, b);
}

/**
 * libpq's pwdfMatchesString: the field matches the value exactly (`\` escapes the next character),
 * or is a lone `*`. Returns where the next field starts, or -1.
 */
function fieldMatches(line: string, at: number, value: string): number {
  if (line[at] === '*' && line[at + 1] === ':') return at + 2;
  let i = at;
  let k = 0;
  while (i < line.length) {
    let escaped = false;
    if (line[i] === '\\') {
      i++;
      escaped = true;
    }
    if (line[i] === ':' && k === value.length && !escaped) return i + 1;
    if (k === value.length || line[i] !== value[k]) return -1;
    i++;
    k++;
  }
  return -1;
}

/** The password field: up to the first unescaped ':', backslashes removed. */
function passwordField(line: string, at: number): string {
  let out = '';
  for (let i = at; i < line.length && line[i] !== ':'; i++) {
    if (line[i] === '\\' && i + 1 < line.length) i++;
    out += line[i];
  }
  return out;
}

/** The default Unix-socket directory of the system's libpq, which the password file calls `localhost`. */
export const DEFAULT_SOCKET_DIR = '/var/run/postgresql';

/**
 * The password a .pgpass file gives for host:port:database:user (the first matching line), as
 * libpq's passwordFromFile reads it. An empty host, and the default socket directory, are
 * `localhost`; any other socket directory is matched as written.
 */
export function pgpassLookup(
  text: string,
  want: { host: string; port: string; dbname: string; user: string },
  socketDir = DEFAULT_SOCKET_DIR,
): string | undefined {
  if (!want.dbname || !want.user) return undefined;
  const host = want.host === '' || want.host === socketDir ? 'localhost' : want.host;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[\r\n]+$/, '');
    if (!line || line.startsWith('#')) continue;
    let at = 0;
    for (const value of [host, want.port, want.dbname, want.user]) {
      at = fieldMatches(line, at, value);
      if (at < 0) break;
    }
    if (at >= 0) return passwordField(line, at);
  }
  return undefined;
}
