// npm run perf:objects: pgopt's cost per object, where building is cheap (issue 24). N small partial
// CREATE INDEX CONCURRENTLY over 20 tables of 20k rows, at N = 20 and N = 200, side by side in one run:
//   psql -f of the pack file; pgopt apply; a no-op reapply; verify; plan;
// with the statements each pgopt command sent, counted from the server's own log (log_statement = all,
// by application_name) in a pass of their own: the timed runs have statement logging off, as a
// production server has, since logging every statement costs the one that sends more of them.
// PG_BIN: the server and psql (default Debian's PostgreSQL 15).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startFromBinaries } from '../../dist/embedded/binaries.js';

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const REPEATS = Number(process.env.PERF_REPEATS ?? 3);
const TABLES = 20;
const dir = mkdtempSync(join(tmpdir(), 'pgopt-perobj-'));
const log = (...a) => console.error(...a);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const BIN = new URL('../../bin/pgopt.js', import.meta.url).pathname;

const server = await startFromBinaries(PG_BIN);
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, pgBin: PG_BIN, repeats: REPEATS, sizes: {} };
try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  out.server = (await admin.query('SHOW server_version')).rows[0].server_version;
  await admin.query(`ALTER SYSTEM SET log_line_prefix = '%a|'`);
  const logStatements = async (on) => {
    await admin.query(on ? `ALTER SYSTEM SET log_statement = 'all'` : 'ALTER SYSTEM RESET log_statement');
    await admin.query('SELECT pg_reload_conf()');
  };
  const serverLog = join(server.dataDir, 'server.log');
  const pgoptStatements = (app) =>
    readFileSync(serverLog, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`pgopt ${app}`) && /\|LOG: {2}(statement|execute [^:]*):/.test(l)).length;

  for (const n of [20, 200]) {
    const db = `perobj_${n}`;
    await admin.query(`CREATE DATABASE ${db}`);
    const url = server.url.replace(/\/postgres$/, `/${db}`);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    for (let t = 0; t < TABLES; t++) {
      await c.query(`CREATE TABLE t${t} (id int PRIMARY KEY, a int, b int, c text)`);
      await c.query(`INSERT INTO t${t} SELECT g, g % 1000, g % 37, md5(g::text) FROM generate_series(1, 20000) g`);
    }
    await c.query('ANALYZE');
    const pack = join(dir, `p${n}.sql`);
    const lines = Array.from(
      { length: n },
      (_, i) => `CREATE INDEX CONCURRENTLY IF NOT EXISTS i${i} ON t${i % TABLES} (a) WHERE b = ${Math.floor(i / TABLES)};`,
    );
    writeFileSync(pack, lines.join('\n') + '\n');
    const time = (fn) => {
      const t0 = performance.now();
      fn();
      return performance.now() - t0;
    };
    const psql = (file) =>
      execFileSync(join(PG_BIN, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file], { stdio: 'pipe' });
    const cli = (...args) => execFileSync(process.execPath, [BIN, ...args, '--db', url], { stdio: 'pipe' });
    const drop = join(dir, `drop${n}.sql`);
    writeFileSync(drop, Array.from({ length: n }, (_, i) => `DROP INDEX IF EXISTS i${i};`).join('\n') + '\n');
    const r = { psql: [], apply: [], reapply: [], verify: [], plan: [] };
    for (let k = 0; k < REPEATS; k++) {
      r.psql.push(time(() => psql(pack)));
      psql(drop);
      r.apply.push(time(() => cli('apply', pack)));
      r.reapply.push(time(() => cli('apply', pack)));
      r.verify.push(time(() => cli('verify', pack)));
      r.plan.push(time(() => cli('plan', pack)));
      if (k === REPEATS - 1) {
        await logStatements(true);
        const before = { reapply: pgoptStatements('apply'), verify: pgoptStatements('verify') };
        cli('apply', pack);
        cli('verify', pack);
        out.sizes[n] = { statements: { reapply: pgoptStatements('apply') - before.reapply, verify: pgoptStatements('verify') - before.verify } };
        await logStatements(false);
      }
      cli('rollback', `p${n}`);
    }
    const m = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(median(v))]));
    out.sizes[n] = {
      ...out.sizes[n],
      medianMs: m,
      applyOverPsql: Number((m.apply / m.psql).toFixed(2)),
      perObjectMs: {
        reapply: Number((m.reapply / n).toFixed(2)),
        verify: Number((m.verify / n).toFixed(2)),
        plan: Number((m.plan / n).toFixed(2)),
      },
    };
    log(n, JSON.stringify(out.sizes[n]));
    await c.end();
  }
  await admin.end();
  console.log(JSON.stringify(out, null, 2));
  writeFileSync(new URL('./per-object-last.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
} finally {
  await server.stop();
}
