// Why was the calibration query 70–80% slower right after apply in the demo (issue 8)? Measures
// the calibration on the connection that applied and on a fresh one, right after apply and later,
// and counts the autovacuum workers running meanwhile. CAL_SCALE (default 0.5).
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbedded } from '../../dist/embedded/server.js';
import { loadFixture } from '../../dist/fixture-loader/load-fixture.js';
import { loadPack } from '../../dist/pack/load-pack.js';
import { applyPack } from '../../dist/engine/apply.js';
import { DEFAULT_RUN_OPTIONS } from '../../dist/engine/run-options.js';
import { CALIBRATION_SQL as DEFAULT_SQL } from '../../dist/bench/runner.js';
const CALIBRATION_SQL = process.env.CAL_SQL ?? DEFAULT_SQL;
import { summarize } from '../../dist/bench/stats.js';

const SCALE = Number(process.env.CAL_SCALE ?? 0.5);
const log = (...a) => console.error(...a);
const server = await startEmbedded();
const connect = async (db) => {
  const c = new pg.Client({ connectionString: server.url.replace(/\/postgres$/, `/${db}`) });
  c.on('error', () => {});
  await c.connect();
  return c;
};
/** 30 timed calibration runs (EXPLAIN ANALYZE execution time) and how many autovacuum workers were busy. */
async function calibrate(c, watcher) {
  const ms = [];
  let autovacuum = 0;
  for (let i = 0; i < 30; i++) {
    const r = await c.query(`EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${CALIBRATION_SQL}`);
    ms.push(r.rows[0]['QUERY PLAN'][0]['Execution Time']);
    autovacuum += Number((await watcher.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`)).rows[0].n);
  }
  return { median: summarize(ms).median, autovacuumSeen: autovacuum };
}
const rows = [];
try {
  const admin = await connect('postgres');
  await admin.query('CREATE DATABASE cal');
  const c = await connect('cal');
  const watcher = await connect('cal');
  log(`loading audit_engine at scale ${SCALE}`);
  await loadFixture(c, 'audit_engine', { scale: SCALE, seed: 42, replace: false });
  rows.push(['before apply, same connection', await calibrate(c, watcher)]);
  const pack = await loadPack(fileURLToPath(new URL('../../sql/audit_engine', import.meta.url)));
  const t0 = Date.now();
  const r = await applyPack(c, pack, { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false, jobs: 1 });
  if (r.error) throw r.error;
  log(`applied in ${Date.now() - t0} ms`);
  rows.push(['right after apply, same connection', await calibrate(c, watcher)]);
  const fresh = await connect('cal');
  rows.push(['right after apply, fresh connection', await calibrate(fresh, watcher)]);
  await new Promise((res) => setTimeout(res, 30_000));
  rows.push(['30 s later, same connection', await calibrate(c, watcher)]);
  rows.push(['30 s later, fresh connection', await calibrate(fresh, watcher)]);
  for (const x of [c, fresh, watcher, admin]) await x.end();
} finally {
  await server.stop();
}
console.log(`${cpus().length} × ${cpus()[0].model}, audit_engine scale ${SCALE}, calibration: ${CALIBRATION_SQL}`);
console.log('| when | calibration median | autovacuum workers seen (30 samples) |\n|---|--:|--:|');
for (const [label, x] of rows) console.log(`| ${label} | ${x.median.toFixed(3)} ms | ${x.autovacuumSeen} |`);
