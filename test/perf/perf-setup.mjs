// What the advise benchmarks share: a server (PG_BIN's binaries, else the embedded PostgreSQL 18), a
// fresh database on it, audit_engine loaded, and the options advise runs with through the library API.
import { cpus } from 'node:os';
import pg from 'pg';
import { startEmbedded } from '../../dist/embedded/server.js';
import { startFromBinaries } from '../../dist/embedded/binaries.js';
import { loadFixture } from '../../dist/fixture-loader/load-fixture.js';
import { applyPack, DEFAULT_BENCH_OPTIONS, DEFAULT_RUN_OPTIONS, loadPack, rollbackPack } from '../../dist/index.js';

export const log = (...a) => console.error(...a);

/** The server, stopped on Ctrl-C; `out` starts the record every benchmark writes. */
export async function startServer() {
  const server = process.env.PG_BIN ? await startFromBinaries(process.env.PG_BIN) : await startEmbedded();
  process.on('SIGINT', () => void server.stop().then(() => process.exit(130)));
  return { server, out: { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version } };
}

/** A new database `name`: its URL, the server's version, and a client on it (errors after the server stops are ignored). */
export async function createDatabase(server, name) {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const version = (await admin.query('SHOW server_version')).rows[0].server_version;
  await admin.end();
  const url = server.url.replace(/\/postgres$/, `/${name}`);
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  return { url, version, client };
}

/** audit_engine at `scale`, on a connection of its own (loadFixture is the core's and pins its own search_path). */
export async function loadAuditEngine(url, scale) {
  const loader = new pg.Client({ connectionString: url });
  await loader.connect();
  log(`loading audit_engine at scale ${scale}…`);
  try {
    return (await loadFixture(loader, 'audit_engine', { scale, seed: 42, replace: false })).totalMs;
  } finally {
    await loader.end();
  }
}

/** advise's options for a benchmark: no budget on indexes or bytes, progress on stderr, HypoPG where PG_BIN has it. */
export const adviseOptions = (maxTrials, bench) => ({
  ...DEFAULT_RUN_OPTIONS,
  maxIndexes: 50,
  maxSizeBytes: Infinity,
  maxTrials,
  dryRun: false,
  installHypopg: !!process.env.PG_BIN,
  bench: { ...DEFAULT_BENCH_OPTIONS, ...bench },
  onProgress: (e) => e.type === 'step' && log(`  ${e.message}`),
});

/** Apply the pack at `path` as `name`, run `fn` with it standing (a bench, a size), and roll it back. */
export async function withPack(c, path, name, fn) {
  const r = await applyPack(c, await loadPack(path, { name }), { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false });
  if (r.error) throw r.error;
  try {
    return await fn();
  } finally {
    await rollbackPack(c, name, DEFAULT_RUN_OPTIONS);
  }
}
