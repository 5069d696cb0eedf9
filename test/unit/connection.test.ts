import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authAllowed, redact, resolveConnection } from '../../src/db/connection.js';

describe('resolveConnection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conn-'));
  writeFileSync(join(dir, '.env'), `# prisma\nDATABASE_URL="postgresql://envfile:pw1@h1:5433/app?schema=public"\n`);

  it('takes --db, then DATABASE_URL, then .env, then the libpq variables', () => {
    const env = { DATABASE_URL: 'postgres://fromenv:pw2@h2/db2', PGHOST: 'h3', PGUSER: 'u3', PGPASSWORD: 'pw3', PGDATABASE: 'd3' };
    expect(resolveConnection({ db: 'postgres://flag:pw0@h0/db0', env, cwd: dir }).display).toBe('flag@h0:5432/db0');
    expect(resolveConnection({ env, cwd: dir }).source).toBe('DATABASE_URL');
    expect(resolveConnection({ env: { PGHOST: 'h3' }, cwd: dir })).toMatchObject({
      source: '.env',
      display: 'envfile@h1:5433/app',
      secret: 'pw1',
    });
    const libpq = resolveConnection({
      env: { PGHOST: 'h3', PGPORT: '6000', PGUSER: 'u3', PGPASSWORD: 'pw3', PGDATABASE: 'd3', PGSSLMODE: 'require' },
      cwd: tmpdir(),
    });
    expect(libpq).toMatchObject({ source: 'libpq environment', display: 'u3@h3:6000/d3', secret: 'pw3' });
    expect(libpq.config).toMatchObject({ host: 'h3', port: 6000, user: 'u3', database: 'd3', ssl: { rejectUnauthorized: false } });
  });

  it('sets a connect timeout so an unreachable host fails in seconds', () => {
    expect(resolveConnection({ db: 'postgres://a@b/c' }).config.connectionTimeoutMillis).toBe(5000);
  });

  it('redacts the password, raw and URL-encoded', () => {
    expect(redact('postgres://u:p%40ss@h/db and p@ss', 'p@ss')).toBe('postgres://u:***@h/db and ***');
  });
});

describe('.env files as users write them (dotenv rules)', () => {
  const dirWith = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'dotenv-'));
    writeFileSync(join(dir, '.env'), text);
    return dir;
  };
  it.each([
    ['an inline comment', 'DATABASE_URL=postgres://u@h/b1   # local\n'],
    ['the export prefix', 'export DATABASE_URL=postgres://u@h/b1\n'],
    ['double quotes holding a #', 'DATABASE_URL="postgres://u@h/b1"  # quoted\n'],
    ['CRLF line ends', 'OTHER=1\r\nDATABASE_URL=postgres://u@h/b1\r\n'],
    ['a UTF-8 BOM', '\uFEFFDATABASE_URL=postgres://u@h/b1\n'],
  ])('%s', (_label, text) => {
    const t = resolveConnection({ env: {}, cwd: dirWith(text) });
    expect(t.source).toBe('.env');
    expect(t.display).toBe('u@h:5432/b1');
  });
  it('the old reader would have kept the comment in the database name', () => {
    const line = 'DATABASE_URL=postgres://u@h/b1   # local';
    const naive = line.slice(line.indexOf('=') + 1).trim();
    expect(new URL(naive).pathname).not.toBe('/b1');
  });
});

describe('DIRECT_URL: a connection that bypasses the pooler (Prisma directUrl)', () => {
  const dir = (text: string) => {
    const d = mkdtempSync(join(tmpdir(), 'direct-'));
    writeFileSync(join(d, '.env'), text);
    return d;
  };
  const pooled = 'postgres://u@pooler:6432/app';
  const direct = 'postgres://u@primary:5432/app';

  it('wins over DATABASE_URL from the same place: the environment, or ./.env', () => {
    expect(resolveConnection({ env: { DATABASE_URL: pooled, DIRECT_URL: direct } }).display).toBe('u@primary:5432/app');
    const d = dir(`DATABASE_URL=${pooled}\nDIRECT_URL=${direct}\n`);
    expect(resolveConnection({ env: {}, cwd: d })).toMatchObject({ source: '.env (DIRECT_URL)', display: 'u@primary:5432/app' });
  });

  it('the environment wins over ./.env for both names: a .env in the working directory never redirects an exported target', () => {
    // The issue-23 case: DATABASE_URL and PGPASSWORD exported for one server, a .env naming another.
    const env = { DATABASE_URL: 'postgres://u@mine:5432/app', PGPASSWORD: 'exported' };
    const t = resolveConnection({ env, cwd: dir(`DIRECT_URL=postgres://u@elsewhere:5432/app\n`) });
    expect(t).toMatchObject({ source: 'DATABASE_URL', display: 'u@mine:5432/app' });
    expect(resolveConnection({ env: { DIRECT_URL: direct }, cwd: dir(`DATABASE_URL=${pooled}\n`) }).source).toBe('DIRECT_URL');
    // Only where the environment names neither does .env decide.
    expect(resolveConnection({ env: {}, cwd: dir(`DIRECT_URL=postgres://u@elsewhere:5432/app\n`) }).source).toBe('.env (DIRECT_URL)');
  });

  it('--direct-url wins over everything, --db over the variables', () => {
    const env = { DATABASE_URL: pooled, DIRECT_URL: direct };
    expect(resolveConnection({ directUrl: 'postgres://u@flag/app', db: 'postgres://u@db/app', env }).source).toBe('--direct-url');
    expect(resolveConnection({ db: 'postgres://u@db/app', env }).source).toBe('--db');
  });

  it('without DIRECT_URL, DATABASE_URL is used as before', () => {
    expect(resolveConnection({ env: { DATABASE_URL: pooled }, cwd: dir('') }).source).toBe('DATABASE_URL');
  });
});

describe('sslmode in a URL means what it means to libpq (and to PGSSLMODE)', () => {
  const ssl = (mode: string) =>
    resolveConnection({ db: `postgres://u:pw@h/app?sslmode=${mode}` }).config.ssl as false | { rejectUnauthorized?: boolean } | undefined;
  it('require: encrypt without verifying the certificate (a self-signed server connects, as with psql)', () => {
    expect(ssl('require')).toMatchObject({ rejectUnauthorized: false });
    expect(resolveConnection({ env: { PGSSLMODE: 'require', PGHOST: 'h' } }).config.ssl).toMatchObject({ rejectUnauthorized: false });
  });
  it('verify-full verifies; disable is plain; no sslmode is prefer (TLS when offered, as libpq)', () => {
    const ca = join(mkdtempSync(join(tmpdir(), 'ca-')), 'root.crt');
    writeFileSync(ca, 'not checked until connecting\n');
    const full = resolveConnection({ db: `postgres://u@h/app?sslmode=verify-full&sslrootcert=${ca}` }).config.ssl;
    expect(full).toMatchObject({ ca: 'not checked until connecting\n' });
    expect((full as { rejectUnauthorized?: boolean }).rejectUnauthorized).not.toBe(false);
    expect(ssl('disable')).toBe(false);
    expect(resolveConnection({ db: 'postgres://u@h/app' })).toMatchObject({
      sslmode: 'prefer',
      config: { ssl: { rejectUnauthorized: false } },
    });
  });
  it("pg's own reading prints an 8-line security warning; pgopt's prints nothing", async () => {
    const warnings: unknown[] = [];
    const listener = (w: unknown) => warnings.push(w);
    process.on('warning', listener);
    ssl('prefer');
    ssl('require');
    await new Promise((r) => setTimeout(r, 10));
    expect(warnings).toEqual([]);
    // Control: the driver's default reading of the same URL warns.
    const { parse } = await import('pg-connection-string');
    parse('postgres://u@h/app?sslmode=require');
    await new Promise((r) => setTimeout(r, 10));
    process.off('warning', listener);
    expect(String(warnings[0])).toContain('SECURITY WARNING');
  });
  it('a bad sslmode setup is a one-line input error naming the source', () => {
    const env = { HOME: mkdtempSync(join(tmpdir(), 'home-')) };
    expect(() => resolveConnection({ db: 'postgres://u@h/app?sslmode=verify-ca', env })).toThrow(
      /^the connection settings from --db: sslmode=verify-ca needs a root certificate$/,
    );
    expect(() => resolveConnection({ db: 'postgres://u@h/app?sslmode=verify', env })).toThrow(/invalid sslmode value "verify"/);
  });
});

describe('require_auth, as libpq reads it', () => {
  it('a list, or a list of negations, of known methods; from the URL or PGREQUIREAUTH', () => {
    expect(resolveConnection({ db: 'postgres://u@h/app?require_auth=scram-sha-256' }).requireAuth).toEqual({
      methods: ['scram-sha-256'],
      negated: false,
    });
    expect(resolveConnection({ env: { PGHOST: 'h', PGREQUIREAUTH: '!password,!md5' } }).requireAuth).toEqual({
      methods: ['password', 'md5'],
      negated: true,
    });
    expect(resolveConnection({ db: 'postgres://u@h/app' }).requireAuth).toBeNull();
    expect(() => resolveConnection({ db: 'postgres://u@h/app?require_auth=password,!md5' })).toThrow(/mixes negated and plain/);
    expect(() => resolveConnection({ db: 'postgres://u@h/app?require_auth=kerberos' })).toThrow(/unknown method "kerberos"/);
  });

  it('allows exactly what it names', () => {
    const only = { methods: ['scram-sha-256' as const], negated: false };
    const not = { methods: ['password' as const, 'none' as const], negated: true };
    expect([authAllowed(only, 'scram-sha-256'), authAllowed(only, 'password'), authAllowed(only, 'none')]).toEqual([true, false, false]);
    expect([authAllowed(not, 'scram-sha-256'), authAllowed(not, 'password'), authAllowed(not, 'none')]).toEqual([true, false, false]);
    expect(authAllowed(null, 'password')).toBe(true);
  });
});
