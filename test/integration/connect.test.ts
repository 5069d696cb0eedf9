import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';
import {
  addHbaLines,
  makeCerts,
  PGBOUNCER,
  startFromBinaries,
  startPgBouncer,
  startStandby,
  STANDBY_BIN,
  SUITE_BIN,
  type BinaryServer,
  type Bouncer,
  type Certs,
  type Standby,
} from '../helpers/servers.js';
import { resolveConnection } from '../../src/db/connection.js';
import { withClient } from '../../src/db/scoped.js';

/**
 * Connecting as teams deploy PostgreSQL: TLS with a private CA, libpq's files and strings, a
 * streaming standby, and PgBouncer in both pool modes — each a real component, none mocked.
 */
let server: BinaryServer;
let certs: Certs;
const APP = 'app';
const appUrl = (extra = '', user = 'postgres', password?: string) =>
  server.url
    .replace(/\/postgres$/, `/${APP}`)
    .replace(/^postgres:\/\/postgres:[^@]*@/, `postgres://${user}:${encodeURIComponent(password ?? server.password)}@`) + extra;

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url, ssl: false });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

const PACK = `CREATE INDEX idx_conn_a ON app.t (a);\nCREATE INDEX idx_conn_b ON app.t (b, a);\n`;

beforeAll(async () => {
  certs = makeCerts();
  server = await startFromBinaries(SUITE_BIN, { ssl: 'on', ssl_cert_file: certs.cert, ssl_key_file: certs.key });
  await sql(server.url, `CREATE DATABASE ${APP}`);
  await sql(
    appUrl(),
    `CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, a int, b text); CREATE TABLE app.side (id int);
     INSERT INTO app.t SELECT g, g % 100, md5(g::text) FROM generate_series(1, 200000) g;
     CREATE ROLE tlsonly LOGIN PASSWORD 'tls-only-pw' SUPERUSER;`,
  );
  await addHbaLines(server, ['hostnossl all tlsonly 127.0.0.1/32 reject']);
}, 120_000);
afterAll(async () => server?.stop());

const status = (args: string[], env: Record<string, string | undefined> = {}) => runCli(['status', '--json', ...args], { env });

describe('TLS with a private CA: sslmode as libpq means it', () => {
  it('require encrypts without verifying: a self-signed server connects, as with psql', async () => {
    const r = await status(['--db', appUrl('?sslmode=require')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/SECURITY WARNING|DeprecationWarning/);
  });

  it('verify-ca and verify-full check the certificate; a wrong CA or host name is refused', async () => {
    expect((await status(['--db', appUrl(`?sslmode=verify-ca&sslrootcert=${certs.ca}`)])).code).toBe(0);
    expect((await status(['--db', appUrl(`?sslmode=verify-full&sslrootcert=${certs.ca}`)])).code).toBe(0);
    const wrongCa = await status(['--db', appUrl(`?sslmode=verify-ca&sslrootcert=${certs.otherCa}`)]);
    expect(wrongCa.code).toBe(3);
    expect(wrongCa.stderr).toMatch(/certificate/i);
    // The certificate names 127.0.0.1 only: verify-full to "localhost" must fail, verify-ca passes.
    const byName = (mode: string) => status(['--db', appUrl(`?sslmode=${mode}&sslrootcert=${certs.ca}`).replace('127.0.0.1', 'localhost')]);
    expect((await byName('verify-ca')).code).toBe(0);
    const mismatch = await byName('verify-full');
    expect(mismatch.code).toBe(3);
    expect(mismatch.stderr).toMatch(/localhost|altnames|host ?name/i);
  });

  it('PGSSLROOTCERT and PGSSLMODE from the environment, as psql reads them', async () => {
    const env = { PGHOST: '127.0.0.1', PGPORT: String(server.port), PGUSER: 'postgres', PGPASSWORD: server.password, PGDATABASE: APP };
    expect((await status([], { ...env, PGSSLMODE: 'verify-full', PGSSLROOTCERT: certs.ca })).code).toBe(0);
    const wrong = await status([], { ...env, PGSSLMODE: 'verify-full', PGSSLROOTCERT: certs.otherCa });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/certificate/i);
  });

  it('the session is encrypted under the default sslmode (prefer), and plain text where the server has no TLS', async () => {
    const encrypted = await withClient(resolveConnection({ db: appUrl(), env: {} }), 'pgopt test', async (c) => {
      return (await c.query(`SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()`)).rows[0].ssl;
    });
    expect(encrypted).toBe(true);
    // The control: sslmode=disable on the same server is plain text.
    const plain = await withClient(resolveConnection({ db: appUrl('?sslmode=disable'), env: {} }), 'pgopt test', async (c) => {
      return (await c.query(`SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()`)).rows[0].ssl;
    });
    expect(plain).toBe(false);
  });

  it('a server that requires TLS: the message says so and how to ask for it, not "check the password"', async () => {
    const r = await status(['--db', appUrl('?sslmode=disable', 'tlsonly', 'tls-only-pw')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('the server requires TLS');
    expect(r.stderr).toContain('sslmode=require');
    expect(r.stderr).not.toContain('check the user and password');
    // prefer (the default) and allow get there, as psql does.
    expect((await status(['--db', appUrl('', 'tlsonly', 'tls-only-pw')])).code).toBe(0);
    expect((await status(['--db', appUrl('?sslmode=allow', 'tlsonly', 'tls-only-pw')])).code).toBe(0);
  });
});

describe("libpq's files and strings", () => {
  it('a keyword/value string, with the password quoted', async () => {
    const kv = `host=127.0.0.1 port=${server.port} dbname=${APP} user=postgres password='${server.password}' sslmode=require`;
    const r = await status(['--db', kv]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).not.toContain(server.password);
  });

  it('PGSERVICE with a pg_service.conf (PGSERVICEFILE)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svc-'));
    const file = join(dir, 'pg_service.conf');
    writeFileSync(file, `[reporting]\nhost=127.0.0.1\nport=${server.port}\ndbname=${APP}\nuser=postgres\nsslmode=require\n`);
    const r = await status([], { PGSERVICE: 'reporting', PGSERVICEFILE: file, PGPASSWORD: server.password, HOME: dir });
    expect(r.code, r.stderr).toBe(0);
    // The control: without the service pgopt has nowhere to go but the defaults, and fails.
    const none = await status([], { PGSERVICEFILE: file, PGPASSWORD: server.password, HOME: dir, PGHOST: '127.0.0.1', PGPORT: '1' });
    expect(none.code).toBe(3);
  });

  it('a password from ~/.pgpass, without any driver warning', async () => {
    const home = mkdtempSync(join(tmpdir(), 'home-'));
    writeFileSync(join(home, '.pgpass'), `127.0.0.1:${server.port}:*:postgres:${server.password}\n`);
    chmodSync(join(home, '.pgpass'), 0o600);
    const r = await status(['--db', `postgres://postgres@127.0.0.1:${server.port}/${APP}`], { HOME: home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    // No password anywhere: a clear message, not a driver error about SASL.
    const none = await status(['--db', `postgres://postgres@127.0.0.1:${server.port}/${APP}`], { HOME: mkdtempSync(join(tmpdir(), 'h-')) });
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('asks for a password and none was given');
  });
});

if (!STANDBY_BIN) console.warn('no pg_basebackup here (Debian: postgresql-15): the standby tests are skipped');
if (!PGBOUNCER) console.warn('pgbouncer is not installed (Debian: apt-get install pgbouncer): the PgBouncer tests are skipped');

describe.runIf(STANDBY_BIN)('a streaming standby (pg_basebackup -R)', () => {
  let primary: BinaryServer;
  let standby: Standby;
  beforeAll(async () => {
    primary = await startFromBinaries(STANDBY_BIN!);
    await sql(
      primary.url,
      `CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, a int, b text); INSERT INTO app.t SELECT g, g % 10, 'x' FROM generate_series(1, 5000) g`,
    );
    standby = await startStandby(STANDBY_BIN!, primary);
  }, 120_000);
  afterAll(async () => {
    standby?.stop();
    await primary?.stop();
  });

  const waitReplayed = async () => {
    const lsn = (await sql(primary.url, 'SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
    for (let i = 0; i < 200; i++) {
      const r = await sql(standby.url, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS done`);
      if (r.rows[0].done) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('the standby did not replay');
  };

  it('apply, rollback and refresh are refused before anything runs (exit 3), naming the fix', async () => {
    const pack = writePack('conn', PACK);
    for (const verb of ['apply', 'rollback', 'refresh']) {
      const r = await runCli([verb, pack, '--db', standby.url]);
      expect(r.code, `${verb}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain('read-only standby');
      expect(r.stderr).toContain('primary');
      expect(r.stderr).not.toMatch(/\.sql:\d+/);
    }
  });

  it('after the primary applies, verify, status, plan and lint pass on the standby and write nothing', async () => {
    const pack = writePack('conn', PACK);
    expect((await runCli(['apply', pack, '--db', primary.url])).code).toBe(0);
    await waitReplayed();
    const v = await runCli(['verify', pack, '--db', standby.url]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('verified');
    const s = await runCli(['status', '--json', '--db', standby.url]);
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).packs.map((p: { pack: string }) => p.pack)).toContain('conn');
    const lint = await runCli(['lint', pack, '--db', standby.url]);
    expect([0, 1]).toContain(lint.code);
    expect(lint.stderr).not.toContain('read-only transaction');
    const plan = await runCli(['plan', pack, '--db', standby.url]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stderr).not.toContain('read-only transaction');
  });

  it('on the standby, verify still finds problems, says what it cannot judge, and bench measures (also with --pack)', async () => {
    const pack = writePack('conn', PACK);
    await sql(primary.url, `DROP INDEX app.idx_conn_b`);
    await waitReplayed();
    const missing = await runCli(['verify', pack, '--db', standby.url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr + missing.stdout).toContain('app.idx_conn_b');
    // Recreated by hand as recorded: the registry's rendering from the primary stands in for a dry run.
    await sql(primary.url, `CREATE INDEX idx_conn_b ON app.t (b, a)`);
    await waitReplayed();
    expect((await runCli(['verify', pack, '--db', standby.url])).code).toBe(0);
    // Made by a migration for a pack pgopt never applied: nothing recorded, and nothing can be built here.
    const migrated = writePack('migrated', `CREATE INDEX IF NOT EXISTS idx_mig ON app.t (a, b);\n`);
    await sql(primary.url, `CREATE INDEX idx_mig ON app.t (a, b)`);
    await waitReplayed();
    const unrecorded = await runCli(['verify', migrated, '--json', '--db', standby.url]);
    expect(unrecorded.code).toBe(1);
    expect(JSON.parse(unrecorded.stdout).objects.map((o: { state: string }) => o.state)).toEqual(['unverifiable']);
    // On the primary the same object is judged by a dry run, and holds.
    expect((await runCli(['verify', migrated, '--db', primary.url])).code).toBe(0);
    const wl = writePack('wl', `-- name: by_a\n-- Audit: the standby serves reads\nSELECT count(*) FROM app.t WHERE a = 3;\n`);
    const b = await runCli(['bench', wl, '--runs', '3', '--warmup', '0', '--pack', pack, '--db', standby.url]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain('by_a');
  });

  it('a multi-host URL with target_session_attrs picks the right server', async () => {
    const sPort = new URL(standby.url).port;
    const multi = (attrs: string, first: string, second: string) =>
      primary.url.replace(`127.0.0.1:${primary.port}`, `127.0.0.1:${first},127.0.0.1:${second}`) + `?target_session_attrs=${attrs}`;
    const pack = writePack('conn2', `CREATE INDEX idx_conn2 ON app.t (b);\n`);
    // The standby is listed first; read-write skips it.
    const a = await runCli(['apply', pack, '--db', multi('read-write', sPort, String(primary.port))]);
    expect(a.code, a.stderr).toBe(0);
    const standbyFirst = await runCli(['apply', pack, '--db', multi('any', sPort, String(primary.port))]);
    expect(standbyFirst.code).toBe(3);
    const none = await runCli(['status', '--db', multi('standby', String(primary.port), String(primary.port))]);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('no server suits target_session_attrs=standby');
  });
});

describe.runIf(PGBOUNCER)('PgBouncer', () => {
  let bouncer: Bouncer;
  const via = (db: 'txn' | 'sess') => `postgres://postgres@127.0.0.1:${bouncer.port}/${db}?sslmode=disable`;
  beforeAll(async () => {
    bouncer = await startPgBouncer(server, APP);
  });
  afterAll(() => bouncer?.stop());

  /** Every server connection of the transaction pool at once, each asked what it carries. */
  async function pooledSettings(): Promise<string[]> {
    const clients = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = new pg.Client({ connectionString: via('txn') });
        await c.connect();
        await c.query('BEGIN');
        return c;
      }),
    );
    const seen: string[] = [];
    for (const c of clients) {
      const r = await c.query(
        `SELECT current_setting('search_path') AS sp, current_setting('work_mem') AS wm, current_setting('statement_timeout') AS st,
                (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())::int AS locks`,
      );
      seen.push(JSON.stringify(r.rows[0]));
    }
    for (const c of clients) await c.end();
    return seen;
  }
  /** End the pool's server connections (PgBouncer opens new ones): a clean start. */
  const freshPool = async () => {
    await sql(appUrl(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${APP}' AND pid <> pg_backend_pid()`);
    await new Promise((r) => setTimeout(r, 200));
  };
  const CLEAN = JSON.stringify({ sp: '"$user", public', wm: '4MB', st: '0', locks: 0 });

  it('control: through a transaction pooler, a SET lands on a server connection other clients get', async () => {
    const a = new pg.Client({ connectionString: via('txn') });
    await a.connect();
    await a.query(`SET work_mem = '64MB'`);
    await a.end();
    expect((await pooledSettings()).some((s) => s.includes('64MB'))).toBe(true);
    await freshPool();
  });

  it('transaction mode is refused (exit 3) before anything runs, and no pooled connection keeps anything', async () => {
    await freshPool();
    expect(await pooledSettings()).toEqual(Array(4).fill(CLEAN));
    const pack = writePack('conn', PACK.replace(/idx_conn/g, 'idx_txn'));
    for (const args of [['apply', pack], ['status'], ['verify', pack]]) {
      const r = await runCli([...args, '--db', via('txn')]);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain('transaction mode');
      expect(r.stderr).toContain('DIRECT_URL');
    }
    expect((await sql(appUrl(), `SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'idx_txn%'`)).rows[0].n).toBe(0);
    for (const s of await pooledSettings()) expect(s).toBe(CLEAN);
  });

  it('session mode: apply, verify, status and rollback work; nothing is left on the server connection', async () => {
    const pack = writePack('sess', PACK.replace(/idx_conn/g, 'idx_sess'));
    for (const args of [['apply', pack], ['verify', pack], ['status'], ['rollback', pack]]) {
      const r = await runCli([...args, '--db', via('sess')]);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(0);
    }
    const c = new pg.Client({ connectionString: via('sess') });
    await c.connect();
    const r = await c.query(
      `SELECT current_setting('search_path') AS sp, (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')::int AS locks`,
    );
    await c.end();
    expect(r.rows[0]).toEqual({ sp: '"$user", public', locks: 0 });
  });

  it('session mode: Ctrl-C cancels the build on the server and exits 130', async () => {
    const pack = writePack('ctrlc', `CREATE INDEX idx_sess_ctrlc ON app.t (b, id);\n`);
    const blocker = new pg.Client({ connectionString: appUrl(), ssl: false });
    await blocker.connect();
    // A snapshot the build must wait out, on another table (so the cleanup's drop need not wait for it).
    await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await blocker.query('SELECT count(*) FROM app.side');
    let child: ChildProcess | undefined;
    const run = runCli(['apply', pack, '--db', via('sess')], { onSpawn: (p) => (child = p) });
    const exists = async () =>
      (await sql(appUrl(), `SELECT count(*)::int AS n FROM pg_class WHERE relname = 'idx_sess_ctrlc'`)).rows[0].n > 0;
    for (let i = 0; i < 600 && !(await exists()); i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    child!.kill('SIGINT');
    const r = await run;
    await blocker.query('ROLLBACK');
    await blocker.end();
    expect(r.code, r.stderr).toBe(130);
    expect(await exists(), r.stderr).toBe(false);
    // The control: the pid in the protocol is PgBouncer's own; cancelling it cancels nothing.
    const c = new pg.Client({ connectionString: via('sess') });
    await c.connect();
    const fake = (c as unknown as { processID: number }).processID;
    const real = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await c.end();
    expect(fake).not.toBe(real);
  });
});

describe('require_auth and ./.env (issue 23, item 11)', () => {
  const log = () => readFileSync(join(server.dataDir, 'server.log'), 'utf8');
  const failedFor = (user: string) => log().split(`password authentication failed for user "${user}"`).length - 1;
  beforeAll(async () => {
    await sql(appUrl(), `CREATE ROLE clear_pw LOGIN PASSWORD 'right-one'`);
    await addHbaLines(server, ['host all clear_pw 127.0.0.1/32 password']);
  });

  it('control: without require_auth the password goes to a server that asks for it in clear text', async () => {
    const before = failedFor('clear_pw');
    const r = await status(['--db', appUrl('?sslmode=disable', 'clear_pw', 'wrong-one')]);
    expect(r.code).toBe(3);
    expect(failedFor('clear_pw')).toBe(before + 1);
  });

  it('require_auth=scram-sha-256: refused before the password is sent (exit 3, nothing reaches the server)', async () => {
    const before = failedFor('clear_pw');
    const r = await status(['--db', appUrl('?sslmode=disable&require_auth=scram-sha-256', 'clear_pw', 'wrong-one')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('asked for password authentication, which require_auth=scram-sha-256 does not allow: nothing was sent');
    expect(failedFor('clear_pw')).toBe(before);
    // PGREQUIREAUTH means the same; a method the server does use passes.
    const env = await status(['--db', appUrl('?sslmode=disable', 'clear_pw', 'wrong-one')], { PGREQUIREAUTH: '!password' });
    expect(env.code).toBe(3);
    expect(failedFor('clear_pw')).toBe(before);
    const ok = await status(['--db', appUrl('?sslmode=disable&require_auth=scram-sha-256')]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('an exported DATABASE_URL wins over ./.env; a target taken from ./.env is said on stderr', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'dotenv-'));
    writeFileSync(join(cwd, '.env'), `DIRECT_URL=postgres://nobody@127.0.0.1:1/elsewhere\n`);
    const exported = await runCli(['status', '--json'], { cwd, env: { DATABASE_URL: appUrl() } });
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).not.toContain('from ./.env');
    writeFileSync(join(cwd, '.env'), `DATABASE_URL=${appUrl()}\n`);
    const fromFile = await runCli(['status', '--json'], { cwd });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stderr).toContain(`connecting to postgres@127.0.0.1:${server.port}/${APP}, from ./.env (DATABASE_URL)`);
  });
});
