import { describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConnectionString, parseKeywordValue, parseUrl, pgpassLookup, readServiceSection } from '../../src/db/conninfo.js';
import { resolveConnection } from '../../src/db/connection.js';
import type { PgoptError } from '../../src/errors.js';
import { sessionAttrsMismatch } from '../../src/db/connect.js';

const home = () => mkdtempSync(join(tmpdir(), 'home-'));

describe('URLs as libpq reads them', () => {
  it('several hosts, each with its port, and target_session_attrs', () => {
    const p = parseUrl('postgresql://me:pw@h1:5432,h2:5433/app?target_session_attrs=read-write', 'DATABASE_URL');
    expect(p).toMatchObject({
      user: 'me',
      password: 'pw',
      host: 'h1,h2',
      port: '5432,5433',
      dbname: 'app',
      target_session_attrs: 'read-write',
    });
    const t = resolveConnection({ db: 'postgresql://me@h1:5432,h2:5433/app?target_session_attrs=read-write', env: { HOME: home() } });
    expect(t.hosts.map((h) => `${h.host}:${h.port}`)).toEqual(['h1:5432', 'h2:5433']);
    expect(t.targetSessionAttrs).toBe('read-write');
    expect(t.display).toBe('me@h1:5432,h2:5433/app');
  });
  it('IPv6 literals, a percent-encoded socket directory, and Prisma parameters libpq has no use for', () => {
    expect(parseUrl('postgres://u@[::1]:6000/db', 's')).toMatchObject({ host: '::1', port: '6000' });
    expect(parseUrl('postgres://u@%2Fvar%2Frun%2Fpostgresql/db?schema=public&connection_limit=1', 's')).toEqual({
      user: 'u',
      host: '/var/run/postgresql',
      dbname: 'db',
    });
  });
  it.each([
    ['an @', 'postgres://u:Zq@Xk@db:5432/app', "more than one '@'"],
    ['a %', 'postgres://u:Zq%Xk@db:5432/app', "a stray '%' in the password"],
    ['a /', 'postgres://u:Zq/Xk@db:5432/app', 'invalid integer value for connection option "port"'],
  ])('an unencoded %s in the password: say how to encode it, show nothing of it', (_what, url, reason) => {
    let message = '';
    let hint = '';
    try {
      resolveConnection({ db: url, env: { HOME: home() } });
    } catch (err) {
      message = (err as Error).message;
      hint = (err as PgoptError).hint ?? '';
    }
    expect(message).toContain(reason);
    expect(`${message} ${hint}`).toContain('percent-encode @ # %');
    for (const piece of ['Zq', 'Xk']) expect(hint).not.toContain(piece);
    for (const piece of ['Zq', 'Xk']) expect(message).not.toContain(piece);
  });
});

describe('keyword/value strings', () => {
  it('quotes, escapes and spaces around =', () => {
    expect(parseKeywordValue(`host=db port = 5433 dbname='my app' password='it\\'s a \\\\ secret' user=me`, 'x')).toEqual({
      host: 'db',
      port: '5433',
      dbname: 'my app',
      password: "it's a \\ secret",
      user: 'me',
    });
  });
  it('errors name the problem and never the value', () => {
    expect(() => parseKeywordValue(`host=db password='open`, '--db')).toThrow(/unterminated quoted string/);
    expect(() => parseKeywordValue(`host db`, '--db')).toThrow(/missing "=" after "host"/);
    expect(() => parseConnectionString('db.example.com', '--db')).toThrow(/neither a URL .* nor keyword=value pairs/);
  });
  it('resolve like a URL, and libpq keywords pgopt cannot honour are refused, not ignored', () => {
    const t = resolveConnection({ db: 'host=db1,db2 port=5432 dbname=app user=me sslmode=disable', env: { HOME: home() } });
    expect(t).toMatchObject({ display: 'me@db1:5432,db2:5432/app', sslmode: 'disable' });
    expect(() => resolveConnection({ db: 'host=db gssencmode=require', env: {} })).toThrow(/gssencmode=require is not supported/);
    expect(() => resolveConnection({ db: 'host=db colour=blue', env: {} })).toThrow(/invalid connection option "colour"/);
    expect(() => resolveConnection({ db: 'host=a,b,c port=1,2', env: {} })).toThrow(/could not match 2 port numbers to 3 hosts/);
  });
});

describe('services (PGSERVICE, pg_service.conf)', () => {
  const dir = home();
  const file = join(dir, 'services.conf');
  writeFileSync(
    file,
    `# ours\n[other]\nhost=wrong\n\n[reporting]\nhost=db.internal\nport=6543\ndbname=reports\nuser=analyst\nsslmode=disable\n`,
  );
  it('the named section fills what the string and the environment leave unset', () => {
    const t = resolveConnection({ env: { PGSERVICE: 'reporting', PGSERVICEFILE: file, HOME: dir } });
    expect(t).toMatchObject({ display: 'analyst@db.internal:6543/reports (service reporting)', sslmode: 'disable' });
    // The connection string wins over the service; the service over the environment (libpq's order).
    const t2 = resolveConnection({ db: 'service=reporting dbname=other', env: { PGSERVICEFILE: file, PGUSER: 'envuser', HOME: dir } });
    expect(t2.display).toBe('analyst@db.internal:6543/other (service reporting)');
  });
  it('the system file (PGSYSCONFDIR) when the user file has no such service; a missing one is an error', () => {
    const sys = home();
    writeFileSync(join(sys, 'pg_service.conf'), `[shared]\nhost=sys.db\n`);
    expect(resolveConnection({ env: { PGSERVICE: 'shared', PGSERVICEFILE: file, PGSYSCONFDIR: sys, PGUSER: 'u' } }).display).toBe(
      'u@sys.db:5432/u (service shared)',
    );
    expect(() => resolveConnection({ env: { PGSERVICE: 'nope', PGSERVICEFILE: file, PGSYSCONFDIR: sys } })).toThrow(
      /definition of service "nope" not found/,
    );
  });
  it('a raw # in the password is a character, as in libpq (no fragment)', () => {
    expect(resolveConnection({ db: 'postgres://u:Zq#Xk@db:5432/app', env: { HOME: home() } }).hosts[0].password).toBe('Zq#Xk');
  });
  it('a malformed line is named by file and line', () => {
    expect(() => readServiceSection('[a]\nhost=x\njunk\n', 'a', 'svc.conf')).toThrow(/^svc\.conf:3: syntax error/);
  });
});

describe('the password file', () => {
  const text = `# comment\nother:*:*:*:nope\ndb.internal:5432:app:me:s3cr\\:et\n*:*:*:me:fallback\nlocalhost:5432:*:me:socketpw\n`;
  it('first matching line wins; \\: escapes; localhost matches a socket', () => {
    expect(pgpassLookup(text, { host: 'db.internal', port: '5432', dbname: 'app', user: 'me' })).toBe('s3cr:et');
    expect(pgpassLookup(text, { host: 'elsewhere', port: '1', dbname: 'x', user: 'me' })).toBe('fallback');
    expect(pgpassLookup(text, { host: 'other', port: '5432', dbname: 'app', user: 'zz' })).toBe('nope');
    expect(pgpassLookup(text, { host: 'x', port: '5432', dbname: 'app', user: 'zz' })).toBeUndefined();
  });
  it('read by pgopt (no driver warning); a file others can read is ignored with a warning, as libpq does', () => {
    const dir = home();
    const pass = join(dir, '.pgpass');
    writeFileSync(pass, 'h:5432:app:me:pw-from-file\n');
    chmodSync(pass, 0o600);
    const t = resolveConnection({ db: 'postgres://me@h/app', env: { HOME: dir } });
    expect(t.hosts[0].password).toBe('pw-from-file');
    expect(t.warnings).toEqual([]);
    chmodSync(pass, 0o644);
    const open = resolveConnection({ db: 'postgres://me@h/app', env: { HOME: dir } });
    expect(open.hosts[0].password).toBeUndefined();
    expect(open.warnings[0]).toMatch(/has group or world access/);
  });
});

describe('the PGSSL* files', () => {
  it('PGSSLROOTCERT, PGSSLCERT and PGSSLKEY are read, as in psql; ~/.postgresql/root.crt is the default CA', () => {
    const dir = home();
    for (const [f, body] of [
      ['ca.pem', 'CA'],
      ['c.pem', 'CERT'],
      ['k.pem', 'KEY'],
    ])
      writeFileSync(join(dir, f), body);
    const t = resolveConnection({
      env: {
        HOME: dir,
        PGHOST: 'h',
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: join(dir, 'ca.pem'),
        PGSSLCERT: join(dir, 'c.pem'),
        PGSSLKEY: join(dir, 'k.pem'),
      },
    });
    expect(t.config.ssl).toMatchObject({ ca: 'CA', cert: 'CERT', key: 'KEY' });
    mkdirSync(join(dir, '.postgresql'));
    writeFileSync(join(dir, '.postgresql', 'root.crt'), 'DEFAULT-CA');
    expect(resolveConnection({ env: { HOME: dir, PGHOST: 'h', PGSSLMODE: 'verify-ca' } }).config.ssl).toMatchObject({ ca: 'DEFAULT-CA' });
    // As in libpq: a root certificate that does not exist is no check under require, and an error under verify-*.
    expect(
      resolveConnection({ env: { HOME: '/nonexistent', PGHOST: 'h', PGSSLMODE: 'require', PGSSLROOTCERT: join(dir, 'gone.pem') } }).config
        .ssl,
    ).toMatchObject({
      rejectUnauthorized: false,
    });
    expect(() =>
      resolveConnection({ env: { HOME: dir, PGHOST: 'h', PGSSLMODE: 'verify-ca', PGSSLROOTCERT: join(dir, 'gone.pem') } }),
    ).toThrow(/needs a root certificate \(".*gone\.pem" does not exist\)/);
  });
});

describe('target_session_attrs (pure)', () => {
  const primary = { standby: false, readOnly: false };
  const standby = { standby: true, readOnly: true };
  it('each value accepts what libpq accepts', () => {
    expect(sessionAttrsMismatch('read-write', primary, 1)).toBeNull();
    expect(sessionAttrsMismatch('read-write', standby, 1)).toBe('read-only');
    expect(sessionAttrsMismatch('primary', standby, 1)).toBe('a standby');
    expect(sessionAttrsMismatch('standby', primary, 1)).toBe('not a standby');
    expect(sessionAttrsMismatch('read-only', standby, 1)).toBeNull();
    expect(sessionAttrsMismatch('prefer-standby', primary, 1)).toBe('not a standby');
    expect(sessionAttrsMismatch('prefer-standby', primary, 2)).toBeNull();
    expect(sessionAttrsMismatch('any', standby, 1)).toBeNull();
  });
});

describe('sslrootcert=system (libpq 16+, which the libpq 15 oracle cannot judge)', () => {
  it('makes verify-full the default, so prefer never falls back to plain text', () => {
    const t = resolveConnection({ db: 'host=h sslrootcert=system', env: { HOME: home() } });
    expect(t.sslmode).toBe('verify-full');
    // The control: without it the default stays prefer, which may fall back.
    expect(resolveConnection({ db: 'host=h', env: { HOME: home() } }).sslmode).toBe('prefer');
  });
  it('refuses a weaker sslmode, as libpq does', () => {
    expect(() => resolveConnection({ db: 'host=h sslrootcert=system sslmode=require', env: { HOME: home() } })).toThrow(
      /weak sslmode "require" may not be used with sslrootcert=system/,
    );
    expect(resolveConnection({ db: 'host=h sslrootcert=system sslmode=verify-full', env: { HOME: home() } }).sslmode).toBe('verify-full');
  });
});

describe('what the driver cannot do is refused after libpq resolves it', () => {
  it.each([
    ['PGCLIENTENCODING', 'LATIN1', /client_encoding=LATIN1 is not supported/],
    ['PGGSSENCMODE', 'require', /gssencmode=require is not supported/],
  ])('%s=%s', (variable, value, message) => {
    expect(() => resolveConnection({ db: 'host=h', env: { HOME: home(), [variable]: value } })).toThrow(message);
  });
  it('PGCHANNELBINDING=require is honoured, not ignored', () => {
    expect(resolveConnection({ db: 'host=h', env: { HOME: home(), PGCHANNELBINDING: 'require' } }).channelBinding).toBe('require');
  });
});
