/**
 * Where psql lands and where pgopt lands, on real servers, for the cases where libpq's behaviour
 * (not only its parsing) matters (issue 28): TLS with ~/.postgresql/root.crt, several hosts when
 * the first one refuses, the password file over Unix sockets, host with hostaddr, channel
 * binding, and PG* variables libpq does not know. Each case is run by psql (libpq) and by pgopt's
 * own connection code, with the same string and the same environment, and both must land on the
 * same server, database and encryption, or both fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  addHbaLines,
  makeCerts,
  PG15_BIN,
  startFromBinaries,
  startStandby,
  STANDBY_BIN,
  SUITE_BIN,
  type BinaryServer,
  type Certs,
  type Standby,
} from '../helpers/servers.js';
import { resolveConnection } from '../../src/db/connection.js';
import { newClient } from '../../src/db/connect.js';
import { withClient } from '../../src/db/scoped.js';

const PSQL = [join(PG15_BIN, 'psql'), '/usr/bin/psql', join(SUITE_BIN, 'psql')].find((p) => existsSync(p));
if (!PSQL) console.warn('--- no psql here (Debian: postgresql-client): the live libpq comparisons are skipped');

const WHERE = `SELECT current_setting('port') || '|' || pg_catalog.current_database() || '|' ||
  coalesce((SELECT ssl::text FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()), 'false')`;

let a: BinaryServer;
let b: BinaryServer;
let certs: Certs;

async function sql(url: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, ssl: false });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

/** A HOME of its own for each case, with the files a case asks for. */
function home(files: { rootCrt?: string; pgpass?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'libpq-live-'));
  if (files.rootCrt) {
    mkdirSync(join(dir, '.postgresql'));
    copyFileSync(files.rootCrt, join(dir, '.postgresql', 'root.crt'));
  }
  if (files.pgpass !== undefined) {
    writeFileSync(join(dir, '.pgpass'), files.pgpass);
    chmodSync(join(dir, '.pgpass'), 0o600);
  }
  return dir;
}

/** port|database|ssl where psql lands, or 'failed'. */
function psqlLands(conninfo: string, env: Record<string, string>): string {
  const r = spawnSync(PSQL!, ['-XAtqw', '-d', conninfo, '-c', WHERE], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return r.status === 0 ? r.stdout.trim() : 'failed';
}

/** The same, through pgopt's resolver and its session opener. */
async function pgoptLands(conninfo: string, env: Record<string, string>): Promise<string> {
  try {
    const target = resolveConnection({ db: conninfo, env, cwd: env.HOME });
    return await withClient(target, 'pgopt libpq test', async (c) => (await c.query<{ w: string }>(`${WHERE} AS w`)).rows[0].w);
  } catch {
    return 'failed';
  }
}

async function both(conninfo: string, env: Record<string, string>) {
  return { psql: psqlLands(conninfo, env), pgopt: await pgoptLands(conninfo, env) };
}

beforeAll(async () => {
  certs = makeCerts();
  const tls = { ssl: 'on', ssl_cert_file: certs.cert, ssl_key_file: certs.key };
  [a, b] = await Promise.all([startFromBinaries(SUITE_BIN, tls), startFromBinaries(SUITE_BIN, tls)]);
  for (const [s, pw] of [
    [a, 'pw-on-a'],
    [b, 'pw-on-b'],
  ] as const) {
    await sql(s.url, `CREATE ROLE multi LOGIN SUPERUSER PASSWORD '${pw}'; CREATE ROLE sock LOGIN SUPERUSER PASSWORD 'sock-pw'`);
  }
  await sql(b.url, 'CREATE DATABASE only_on_b');
  // Password authentication over the socket for "sock", so the password file decides.
  await addHbaLines(a, ['local all sock scram-sha-256']);
}, 120_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe.runIf(PSQL)('TLS: a root certificate in ~/.postgresql is checked, whatever the sslmode', () => {
  const url = (mode: string) => `postgres://postgres:${encodeURIComponent(a.password)}@127.0.0.1:${a.port}/postgres?sslmode=${mode}`;

  it('require with root.crt from another CA: psql and pgopt both refuse the server', async () => {
    const env = { HOME: home({ rootCrt: certs.otherCa }) };
    expect(await both(url('require'), env)).toEqual({ psql: 'failed', pgopt: 'failed' });
  });

  it('control: the unsafe way (encrypt, verify nothing) connects to that same server', async () => {
    const c = newClient({
      host: '127.0.0.1',
      port: a.port,
      user: 'postgres',
      password: a.password,
      database: 'postgres',
      ssl: { rejectUnauthorized: false },
    });
    await c.connect();
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await c.end();
  });

  it('require with root.crt from the CA that signed it: both land encrypted', async () => {
    const env = { HOME: home({ rootCrt: certs.ca }) };
    expect(await both(url('require'), env)).toEqual({ psql: `${a.port}|postgres|true`, pgopt: `${a.port}|postgres|true` });
  });

  it('prefer with root.crt from another CA: both fall back to plain text, as libpq does', async () => {
    const env = { HOME: home({ rootCrt: certs.otherCa }) };
    expect(await both(url('prefer'), env)).toEqual({ psql: `${a.port}|postgres|false`, pgopt: `${a.port}|postgres|false` });
  });

  it('host names the certificate, hostaddr the address: verify-full checks the name, not the address', async () => {
    const kv = (host: string) =>
      `host=${host} hostaddr=127.0.0.1 port=${a.port} user=postgres password=${a.password} dbname=postgres sslmode=verify-full sslrootcert=${certs.ca}`;
    expect(await both(kv('127.0.0.1'), { HOME: home() })).toEqual({ psql: `${a.port}|postgres|true`, pgopt: `${a.port}|postgres|true` });
    expect(await both(kv('db.wrong.name'), { HOME: home() })).toEqual({ psql: 'failed', pgopt: 'failed' });
  });

  it('channel_binding=require: over TLS with SCRAM both bind; without TLS both refuse', async () => {
    const kv = (mode: string) =>
      `host=127.0.0.1 port=${a.port} user=postgres password=${a.password} dbname=postgres sslmode=${mode} channel_binding=require`;
    expect(await both(kv('require'), { HOME: home() })).toEqual({ psql: `${a.port}|postgres|true`, pgopt: `${a.port}|postgres|true` });
    expect(await both(kv('disable'), { HOME: home() })).toEqual({ psql: 'failed', pgopt: 'failed' });
    // The control: the same plain-text session with binding only preferred connects, in both.
    const prefer = kv('disable').replace('channel_binding=require', 'channel_binding=prefer');
    expect(await both(prefer, { HOME: home() })).toEqual({ psql: `${a.port}|postgres|false`, pgopt: `${a.port}|postgres|false` });
  });
});

describe.runIf(PSQL)('several hosts: the next one is tried only when this one cannot be reached', () => {
  const hosts = (first: number, second: number, db = 'postgres', pw = 'pw-on-b') =>
    `postgres://multi:${pw}@127.0.0.1:${first},127.0.0.1:${second}/${db}?sslmode=disable`;

  it('the first host refuses the password: both stop there, neither reaches the second', async () => {
    expect(await both(hosts(a.port, b.port), { HOME: home() })).toEqual({ psql: 'failed', pgopt: 'failed' });
  });

  it('the first host has no such database: both stop there', async () => {
    const r = await both(
      `postgres://postgres:${encodeURIComponent(b.password)}@127.0.0.1:${a.port},127.0.0.1:${b.port}/only_on_b?sslmode=disable`,
      {
        HOME: home(),
      },
    );
    expect(r).toEqual({ psql: 'failed', pgopt: 'failed' });
  });

  it('control: the first host cannot be reached: both go on and land on the second', async () => {
    const closed = 1; // nothing listens on port 1
    expect(await both(hosts(closed, b.port), { HOME: home() })).toEqual({
      psql: `${b.port}|postgres|false`,
      pgopt: `${b.port}|postgres|false`,
    });
  });

  it('each host gets its own line of the password file', async () => {
    const pgpass = `127.0.0.1:${a.port}:*:multi:pw-on-a\n127.0.0.1:${b.port}:*:multi:pw-on-b\n`;
    const url = `postgres://multi@127.0.0.1:${a.port},127.0.0.1:${b.port}/postgres?sslmode=disable&target_session_attrs=any`;
    expect(await both(url, { HOME: home({ pgpass }) })).toEqual({ psql: `${a.port}|postgres|false`, pgopt: `${a.port}|postgres|false` });
  });
});

describe.runIf(PSQL)('the password file over a Unix socket', () => {
  const viaSocket = () => `host=${a.dataDir} port=${a.port} user=sock dbname=postgres`;

  it('a line naming the socket directory is used', async () => {
    const env = { HOME: home({ pgpass: `${a.dataDir}:${a.port}:*:sock:sock-pw\n` }) };
    expect(await both(viaSocket(), env)).toEqual({ psql: `${a.port}|postgres|false`, pgopt: `${a.port}|postgres|false` });
  });

  it('a localhost line is not sent to a socket in another directory (only the default one is "localhost")', async () => {
    const env = { HOME: home({ pgpass: `localhost:${a.port}:*:sock:sock-pw\n` }) };
    expect(await both(viaSocket(), env)).toEqual({ psql: 'failed', pgopt: 'failed' });
  });

  it('an empty password in the string still reads the file, as libpq does', async () => {
    const env = { HOME: home({ pgpass: `${a.dataDir}:${a.port}:*:sock:sock-pw\n` }) };
    expect(await both(`${viaSocket()} password=''`, env)).toEqual({ psql: `${a.port}|postgres|false`, pgopt: `${a.port}|postgres|false` });
  });
});

describe.runIf(PSQL)('PG* variables libpq does not read never reach the driver', () => {
  it('PGREPLICATION=database: psql and pgopt both open an ordinary session', async () => {
    const env = { HOME: home(), PGREPLICATION: 'database' };
    const url = `postgres://postgres:${encodeURIComponent(a.password)}@127.0.0.1:${a.port}/postgres?sslmode=disable`;
    // In pgopt's own environment too: that is where the driver would look.
    process.env.PGREPLICATION = 'database';
    try {
      expect(await both(url, env)).toEqual({ psql: `${a.port}|postgres|false`, pgopt: `${a.port}|postgres|false` });
    } finally {
      delete process.env.PGREPLICATION;
    }
  });

  it('control: the driver left to read it opens a replication session, where a parameterized query fails', async () => {
    const saved = process.env.PGREPLICATION;
    process.env.PGREPLICATION = 'database';
    const c = new pg.Client({ host: '127.0.0.1', port: a.port, user: 'postgres', password: a.password, database: 'postgres', ssl: false });
    try {
      await c.connect();
      await expect(c.query('SELECT $1::int AS x', [1])).rejects.toThrow();
    } finally {
      if (saved === undefined) delete process.env.PGREPLICATION;
      else process.env.PGREPLICATION = saved;
      await c.end().catch(() => {});
    }
  });
});

describe.runIf(PSQL && STANDBY_BIN)('a primary and its standby: target_session_attrs picks the same server for both', () => {
  let primary: BinaryServer;
  let standby: Standby;
  let standbyPort: number;
  beforeAll(async () => {
    primary = await startFromBinaries(STANDBY_BIN!);
    standby = await startStandby(STANDBY_BIN!, primary);
    standbyPort = Number(/:(\d+)\//.exec(standby.url)![1]);
  }, 120_000);
  afterAll(async () => {
    standby?.stop();
    await primary?.stop();
  });

  const attrs = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'];
  it.each(attrs)('target_session_attrs=%s, with the standby listed first and then last', async (attr) => {
    const env = { HOME: home({ pgpass: `127.0.0.1:*:*:postgres:${primary.password}\n` }) };
    for (const order of [
      [standbyPort, primary.port],
      [primary.port, standbyPort],
    ]) {
      const url = `postgres://postgres@127.0.0.1:${order[0]},127.0.0.1:${order[1]}/postgres?sslmode=disable&target_session_attrs=${attr}`;
      const r = await both(url, env);
      expect(r.pgopt, `${attr}, ${order.join(',')}`).toBe(r.psql);
      expect(r.psql).not.toBe('failed');
      // So that a resolver ignoring the attribute would fail here: these name one server, whatever the order.
      if (attr === 'standby' || attr === 'read-only' || attr === 'prefer-standby') expect(r.psql.split('|')[0]).toBe(String(standbyPort));
      if (attr === 'primary' || attr === 'read-write') expect(r.psql.split('|')[0]).toBe(String(primary.port));
    }
  });
});
