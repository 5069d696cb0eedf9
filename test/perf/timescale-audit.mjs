// npm run perf:timescale: the first user's plan B, audit_engine on TimescaleDB, against plain
// PostgreSQL with the plain pack, side by side on one server (a benchmark, not a test).
// One PostgreSQL 15 server with TimescaleDB 2.28.3 (../shared/timescaledb/tsdb-up.sh); two databases
// loaded with the same rows: `plain` (no extension; sql/audit_engine) and `hyper` (execution_history
// a hypertable, fixtures load --timescale; sql/audit_engine_timescale, whose statistics views are
// continuous aggregates). For each: bench before → apply → verify → bench after. Then the two
// "after" runs are compared with bench's verdict rule (plain first): a query "slower" there is
// slower on TimescaleDB. TS_SCALE (default 1). Results: test/perf/timescale-last.json and stdout.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareRuns } from '../../dist/bench/compare.js';

const SCALE = process.env.TS_SCALE ?? '1';
const PORT = Number(process.env.TS_PORT ?? 57650);
const RUNS = process.env.TS_RUNS ?? '20';
const root = fileURLToPath(new URL('../../', import.meta.url));
const TSDB_UP = [process.env.PGOPT_TSDB_UP, join(root, '../shared/timescaledb/tsdb-up.sh'), '/work/shared/timescaledb/tsdb-up.sh'].find(
  (p) => p && existsSync(p),
);
if (!TSDB_UP) throw new Error('needs ../shared/timescaledb/tsdb-up.sh (or PGOPT_TSDB_UP)');
const dir = mkdtempSync(join(tmpdir(), 'pgopt-tsdb-perf-'));
const url = (db) => `postgres://postgres@127.0.0.1:${PORT}/${db}?sslmode=disable`;
const log = (...a) => console.error(...a);

function pgopt(db, args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'bin/pgopt.js'), ...args, '--db', url(db)], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`pgopt ${args.join(' ')} (${db}) exited ${r.status}: ${r.stderr}`);
  return { ...r, ms: performance.now() - t0 };
}
const psql = (db, sql) =>
  execFileSync('/usr/lib/postgresql/15/bin/psql', ['-h', '127.0.0.1', '-p', String(PORT), '-U', 'postgres', '-XAtq', '-c', sql, db], {
    encoding: 'utf8',
  }).trim();

execFileSync(TSDB_UP, ['start', String(PORT), dir], { stdio: 'inherit' });
const anchor = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000).toISOString();
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, scale: Number(SCALE), anchor };
const WORKLOAD = 'fixtures/audit_engine/workload.sql';
try {
  out.server = psql('postgres', 'SHOW server_version');
  out.timescaledb = psql('postgres', `SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`);
  psql('postgres', 'CREATE DATABASE plain');
  psql('postgres', 'CREATE DATABASE hyper');
  psql('hyper', 'CREATE EXTENSION timescaledb');
  const side = {};
  for (const [db, pack, extra] of [
    ['plain', 'sql/audit_engine', []],
    ['hyper', 'sql/audit_engine_timescale', ['--timescale']],
  ]) {
    log(`${db}: loading audit_engine at scale ${SCALE}…`);
    const s = (side[db] = {});
    s.loadMs = Math.round(pgopt(db, ['fixtures', 'load', 'audit_engine', '--scale', SCALE, '--anchor', anchor, ...extra]).ms);
    const before = join(dir, `${db}-before.json`);
    log(`${db}: bench before…`);
    pgopt(db, ['bench', WORKLOAD, '--runs', RUNS, '--save', before]);
    log(`${db}: apply ${pack}…`);
    s.applyMs = Math.round(pgopt(db, ['apply', pack]).ms);
    s.verify = JSON.parse(pgopt(db, ['verify', pack, '--json']).stdout).objects.map((o) => `${o.object}: ${o.state}${o.reason ? ` (${o.reason})` : ''}`);
    log(`${db}: bench after…`);
    const after = join(dir, `${db}-after.json`);
    pgopt(db, ['bench', WORKLOAD, '--runs', RUNS, '--save', after]);
    const cmp = compareRuns(JSON.parse(readFileSync(before, 'utf8')), JSON.parse(readFileSync(after, 'utf8')));
    s.queries = cmp.queries.map((q) => ({ name: q.name, before: q.before?.median, after: q.after?.median, verdict: q.verdict }));
    s.after = after;
  }
  log('plain + pack against TimescaleDB + pack…');
  const cmp = compareRuns(JSON.parse(readFileSync(side.plain.after, 'utf8')), JSON.parse(readFileSync(side.hyper.after, 'utf8')));
  out.plainVsTimescale = cmp.queries.map((q) => ({
    name: q.name,
    plain: q.before?.median,
    timescale: q.after?.median,
    speedup: q.speedup,
    verdict: q.verdict,
  }));
  out.slowerOnTimescale = out.plainVsTimescale.filter((q) => q.verdict === 'slower').map((q) => q.name);
  out.chunks = psql('hyper', `SELECT count(*) FROM show_chunks('execution_history')`);
  for (const s of Object.values(side)) delete s.after;
  out.side = side;
} finally {
  execFileSync(TSDB_UP, ['destroy', dir], { stdio: 'inherit' });
}
writeFileSync(join(root, 'test/perf/timescale-last.json'), JSON.stringify(out, null, 2) + '\n');
console.log(JSON.stringify(out, null, 2));
