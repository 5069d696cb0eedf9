import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, randomPassword, serverUser, type EmbeddedServer } from './host.js';

export { EMBEDDED_BIN, serverUser } from './host.js';

export interface BinaryServer extends EmbeddedServer {
  /** pg_ctl restart: "fast" (clean shutdown) or "immediate" (crash, recovery on start). */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
}

/**
 * Start a throwaway server from a directory of PostgreSQL binaries (e.g. Debian's
 * /usr/lib/postgresql/15/bin), so the same suite runs on another major version.
 */
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
