/**
 * libpq's connection strings, read the way libpq reads them: URLs (with several hosts),
 * keyword/value strings, service files and password files. Pure text handling: nothing here
 * opens a connection. Reference: PostgreSQL docs, "Connection Strings", "The Connection Service
 * File", "The Password File".
 */
import { PgoptError } from '../errors.js';

/** Connection parameters by libpq keyword (host, port, dbname, user, sslmode, …). */
export type Params = Record<string, string>;

const ENCODE_HINT = 'percent-encode @ # % / : in the user name and password (%40 %23 %25 %2F %3A)';

function decode(part: string, where: string, source: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    // Never echo the text: it may be the password.
    throw new PgoptError('input', `the connection URL from ${source} has a stray '%' in the ${where}: ${ENCODE_HINT}`);
  }
}

/** Prisma and JDBC query parameters in URLs pgopt reads from a project's .env; they mean nothing to libpq. */
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

function splitHosts(hostspec: string, source: string): { host: string; port: string } {
  const hosts: string[] = [];
  const ports: string[] = [];
  for (const h of hostspec.split(',')) {
    const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(h);
    if (!m) throw new PgoptError('input', `the connection URL from ${source} has a host that is not host[:port]: ${ENCODE_HINT}`);
    hosts.push(decode(m[1].replace(/^\[|\]$/g, ''), 'host', source));
    ports.push(m[2] ?? '');
  }
  return { host: hosts.join(','), port: ports.some((p) => p) ? ports.join(',') : '' };
}

/**
 * postgresql://[user[:password]@][host][:port][,host[:port]…][/dbname][?keyword=value&…]
 * Everything percent-decoded. Raw `@ # %` in a password cannot be read back safely, and the
 * message never shows any of it.
 */
export function parseUrl(url: string, source: string): Params {
  const m = /^postgres(?:ql)?:\/\/(.*)$/s.exec(url.trim());
  if (!m) throw new PgoptError('input', `the connection URL from ${source} must start with postgres:// or postgresql://`);
  if (m[1].includes('#')) throw new PgoptError('input', `the connection URL from ${source} contains a raw '#': ${ENCODE_HINT}`);
  const [beforeQuery, query = ''] = splitOnce(m[1], '?');
  const slash = beforeQuery.indexOf('/');
  const authority = slash < 0 ? beforeQuery : beforeQuery.slice(0, slash);
  const path = slash < 0 ? '' : beforeQuery.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  if (authority.indexOf('@') !== at) {
    throw new PgoptError('input', `the connection URL from ${source} contains more than one '@' before the host: ${ENCODE_HINT}`);
  }
  const p: Params = {};
  if (at >= 0) {
    const [user, password] = splitOnce(authority.slice(0, at), ':');
    if (user) p.user = decode(user, 'user name', source);
    if (password !== undefined) p.password = decode(password, 'password', source);
  }
  const { host, port } = splitHosts(authority.slice(at + 1), source);
  if (host.replace(/,/g, '')) p.host = host;
  if (port) p.port = port;
  if (path) p.dbname = decode(path, 'database name', source);
  for (const pair of query.split('&').filter(Boolean)) {
    const [k, v = ''] = splitOnce(pair, '=');
    const key = decode(k, 'query', source);
    if (key === 'ssl' && (v === 'true' || v === '1')) p.sslmode ??= 'require';
    else if (!FOREIGN_URL_PARAMS.has(key) && key !== 'ssl') p[key] = decode(v.replace(/\+/g, ' '), `${key} parameter`, source);
  }
  if (query.split('&').some((kv) => /^pgbouncer=true$/i.test(kv))) p['pgbouncer'] = 'true';
  return p;
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** `host=db port=5432 dbname='my db' password='it\'s'`: libpq's keyword/value form. */
export function parseKeywordValue(text: string, source: string): Params {
  const p: Params = {};
  let i = 0;
  const bad = (what: string) => new PgoptError('input', `the connection string from ${source}: ${what}`);
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  while (true) {
    skipSpace();
    if (i >= text.length) return p;
    const key = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))?.[0];
    if (!key) throw bad(`expected keyword=value at character ${i + 1}`);
    i += key.length;
    skipSpace();
    if (text[i] !== '=') throw bad(`missing "=" after "${key}"`);
    i++;
    skipSpace();
    const [value, next] = readValue(text, i, () => bad(`unterminated quoted value for "${key}"`));
    p[key] = value;
    i = next;
  }
}

function readValue(text: string, start: number, unterminated: () => Error): [string, number] {
  let i = start;
  let out = '';
  const quoted = text[i] === "'";
  if (quoted) i++;
  while (i < text.length) {
    const ch = text[i];
    if (quoted ? ch === "'" : /\s/.test(ch)) return [out, quoted ? i + 1 : i];
    if (ch === '\\' && i + 1 < text.length) {
      out += text[i + 1];
      i += 2;
      continue;
    }
    out += ch;
    i++;
  }
  if (quoted) throw unterminated();
  return [out, i];
}

/** A URL, or libpq's keyword/value form, as psql's -d takes either. */
export function parseConnectionString(text: string, source: string): Params {
  if (/^\s*[a-z][a-z0-9+.-]*:\/\//i.test(text)) return parseUrl(text, source);
  if (/^\s*[A-Za-z_]\w*\s*=/.test(text)) return parseKeywordValue(text, source);
  throw new PgoptError(
    'input',
    `the connection string from ${source} is neither a URL (postgres://user@host:port/database) nor keyword=value pairs (host=… dbname=…)`,
  );
}

/**
 * One service's section of a pg_service.conf: `[name]` then keyword=value lines, `#` comments.
 * Returns undefined when the file has no such section.
 */
export function readServiceSection(text: string, name: string, file: string): Params | undefined {
  let inSection = false;
  let found: Params | undefined;
  text.split(/\r?\n/).forEach((raw, n) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const section = /^\[(.*)\]$/.exec(line);
    if (section) {
      inSection = section[1] === name;
      if (inSection) found ??= {};
      return;
    }
    if (!inSection) return;
    const eq = line.indexOf('=');
    if (eq < 0) throw new PgoptError('input', `${file}:${n + 1}: syntax error in service file (expected keyword=value)`);
    const key = line.slice(0, eq).trim();
    if (key === 'service') throw new PgoptError('input', `${file}:${n + 1}: nested service specifications are not supported`);
    found![key] = line.slice(eq + 1).trim();
  });
  return found;
}

/** One field of a .pgpass line: `\:` and `\\` are escapes, `*` matches anything. */
function pgpassFields(line: string): string[] {
  const fields: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\' && i + 1 < line.length) cur += line[++i];
    else if (line[i] === ':' && fields.length < 4) {
      fields.push(cur);
      cur = '';
    } else cur += line[i];
  }
  fields.push(cur);
  return fields;
}

/**
 * The password a .pgpass file gives for host:port:database:user (the first matching line).
 * As in libpq, `localhost` in the file also matches a Unix-socket connection.
 */
export function pgpassLookup(text: string, want: { host: string; port: string; dbname: string; user: string }): string | undefined {
  const host = want.host.startsWith('/') || want.host === '' ? 'localhost' : want.host;
  for (const raw of text.split(/\r?\n/)) {
    if (!raw.trim() || raw.startsWith('#')) continue;
    const f = pgpassFields(raw);
    if (f.length < 5) continue;
    const match = (field: string, value: string) => field === '*' || field === value;
    if (match(f[0], host) && match(f[1], want.port) && match(f[2], want.dbname) && match(f[3], want.user)) return f[4];
  }
  return undefined;
}
