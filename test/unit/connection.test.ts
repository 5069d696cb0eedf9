import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redact, resolveConnection } from '../../src/db/connection.js';

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
