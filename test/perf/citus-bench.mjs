// npm run perf:citus: audit_engine on a real Citus cluster (a benchmark, not a test).
// A coordinator and 2 workers (PostgreSQL 15, Citus built by ../shared/citus/citus-up.sh), the
// fixture loaded with --citus, then with the CLI exactly as a user runs it, side by side in one run:
//   bench (before) → apply sql/audit_engine → verify (per placement) → bench --compare --pack
//   → rollback, and what is left on the workers.
// CITUS_SCALE (default 1) sets the data volume. Results: test/perf/citus-last.json and stdout.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareRuns } from '../../dist/bench/compare.js';

const SCALE = process.env.CITUS_SCALE ?? '1';
const PORT = Number(process.env.CITUS_PORT ?? 57600);
const root = fileURLToPath(new URL('../../', import.meta.url));
const CITUS_UP = [process.env.PGOPT_CITUS_UP, join(root, '../shared/citus/citus-up.sh'), '/work/shared/citus/citus-up.sh'].find(
  (p) => p && existsSync(p),
);
if (!CITUS_UP) throw new Error('needs ../shared/citus/citus-up.sh (or PGOPT_CITUS_UP)');
const dir = mkdtempSync(join(tmpdir(), 'pgopt-citus-perf-'));
const url = `postgres://postgres@127.0.0.1:${PORT}/postgres`;
const log = (...a) => console.error(...a);

function pgopt(args, { allowFail = false } = {}) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'bin/pgopt.js'), ...args, '--db', url], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - t0;
  if (r.status !== 0 && !allowFail) throw new Error(`pgopt ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ...r, ms };
}
const psql = (port, sql) =>
  execFileSync(
    '/usr/lib/postgresql/15/bin/psql',
    ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-XAtq', '-c', sql, 'postgres'],
    {
      encoding: 'utf8',
    },
  ).trim();

execFileSync(CITUS_UP, ['start', String(PORT), dir], { stdio: 'inherit' });
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, scale: Number(SCALE) };
try {
  out.server = psql(PORT, 'SHOW server_version');
  out.citus = psql(PORT, `SELECT extversion FROM pg_extension WHERE extname = 'citus'`);
  log(`loading audit_engine --citus at scale ${SCALE}…`);
  out.loadMs = Math.round(pgopt(['fixtures', 'load', 'audit_engine', '--citus', '--scale', SCALE]).ms);
  out.layout = psql(
    PORT,
    `SELECT string_agg(table_name || ' ' || citus_table_type || coalesce(' by ' || nullif(distribution_column, '<none>'), '') || ' (' || shard_count || ')', '; ' ORDER BY table_name) FROM citus_tables`,
  );
  const before = join(dir, 'before.json');
  log('bench before…');
  pgopt(['bench', 'fixtures/audit_engine/workload.sql', '--save', before]);
  log('apply…');
  out.applyMs = Math.round(pgopt(['apply', 'sql/audit_engine']).ms);
  const v = pgopt(['verify', 'sql/audit_engine', '--json']);
  out.verifyMs = Math.round(v.ms);
  out.verify = JSON.parse(v.stdout).objects.map((o) => `${o.object}: ${o.state}${o.reason ? ` (${o.reason})` : ''}`);
  log('bench after…');
  const afterFile = join(dir, 'after.json');
  const after = pgopt(['bench', 'fixtures/audit_engine/workload.sql', '--compare', before, '--save', afterFile, '--format', 'markdown']);
  out.comparison = after.stdout;
  const cmp = compareRuns(JSON.parse(readFileSync(before, 'utf8')), JSON.parse(readFileSync(afterFile, 'utf8')));
  out.queries = cmp.queries.map((q) => ({
    name: q.name,
    before: q.before?.median,
    after: q.after?.median,
    speedup: q.speedup,
    verdict: q.verdict,
  }));
  out.timing = cmp.timing;
  const account = pgopt(['bench', 'fixtures/audit_engine/workload.sql', '--pack', 'sql/audit_engine', '--runs', '5', '--json']);
  out.account = JSON.parse(account.stdout).account.objects.map(
    (o) => `${o.name}: ${o.sizeBytes} B, used by ${o.usedBy.join(', ') || 'no query'}`,
  );
  log('rollback…');
  out.rollbackMs = Math.round(pgopt(['rollback', 'audit_engine']).ms);
  // Anything of the pack's on a worker after rollback: shard indexes, the worker's copy of the
  // coordinator's indexes, views (the user's schema only; the catalog has pg_stats & co.).
  const names = ['idx\\_%', 'workflow\\_execution\\_stats%', 'project\\_daily\\_stats%', 'node\\_type\\_usage%'];
  out.leftOnWorkers = [PORT + 1, PORT + 2].map((p) =>
    Number(
      psql(
        p,
        `SET citus.override_table_visibility = off; SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND (${names.map((x) => `c.relname LIKE '${x}'`).join(' OR ')})`,
      )
        .split('\n')
        .pop(),
    ),
  );
  out.leftOnCoordinator = Number(
    psql(
      PORT,
      `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND (${names.map((x) => `c.relname LIKE '${x}'`).join(' OR ')})`,
    ),
  );
} finally {
  execFileSync(CITUS_UP, ['destroy', dir], { stdio: 'inherit' });
}
writeFileSync(join(root, 'test/perf/citus-last.json'), JSON.stringify(out, null, 2) + '\n');
console.log(JSON.stringify({ ...out, comparison: undefined }, null, 2));
console.log(out.comparison);
