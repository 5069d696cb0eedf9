// npm run perf:impact: is impact's verdict true in both directions, on real traffic? (issue 25)
// A real server with pg_stat_statements; application traffic from plain clients with varying bind
// values, the mix of values and the machine's load changing between windows as production's do.
//   A/A: two windows of the same database state. Any faster/slower is a false change (target ≤ 1%).
//   Real changes of 2× or more, each way: an index created (10–100×) or dropped, and a table
//   halved or doubled (2×, the same plan doing half or twice the work). Each must be called in
//   its direction; a miss is "unchanged" or "inconclusive" where the change was real.
//   A/A under growth: between the two windows the data grows 2–10% (new rows, as a day's business
//   adds, then ANALYZE as autovacuum would), nothing else changes. A called change is false there too.
// PG_BIN: the server's binaries (default Debian's PostgreSQL 15). TRIALS: A/A pairs (default 40);
// GROWTH: A/A pairs under growth (default 20).
import { cpus } from 'node:os';
import pg from 'pg';
import { startFromBinaries } from '../../dist/embedded/binaries.js';
import { Session, prepareSession } from '../../dist/db/session.js';
import { ensureRegistry } from '../../dist/engine/registry.js';
import { takeSnapshot } from '../../dist/production/snapshots.js';
import { measureImpact } from '../../dist/production/impact.js';

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const TRIALS = Number(process.env.TRIALS ?? 40);
const CHANGES = Number(process.env.CHANGES ?? 6);
const GROWTH = Number(process.env.GROWTH ?? 20);
const log = (...a) => console.error(...a);

let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
/** A mix of values: uniform, or skewed to a few hot ones (as a busy customer is). */
const pick = (n, skewed) => (skewed ? 1 + Math.floor(n * rand() ** 4) : int(1, n));

const QUERIES = {
  by_acct: { sql: 'SELECT id, amount FROM t WHERE acct = $1', values: (s) => [pick(2000, s)] },
  by_grp: { sql: 'SELECT count(*) FROM t WHERE grp = $1 AND id < $2', values: (s) => [pick(50, s), int(1000, 50000)] },
  by_id: { sql: 'SELECT * FROM t WHERE id = $1', values: (s) => [pick(100000, s)] },
  acct_range: { sql: 'SELECT kind, sum(amount) FROM t WHERE acct BETWEEN $1 AND $1 + 20 GROUP BY kind', values: (s) => [pick(1980, s)] },
  half: { sql: 'SELECT count(*) FROM t2 WHERE grp = $1', values: (s) => [pick(50, s)] },
};

async function window(url, skewed, loaded) {
  const clients = await Promise.all([0, 1].map(async () => {
    const c = new pg.Client({ connectionString: url, application_name: 'app' });
    await c.connect();
    return c;
  }));
  // Load: a third client running a heavy aggregate throughout (CPU taken from the measured statements).
  let stop = false;
  const load = loaded
    ? (async () => {
        const l = new pg.Client({ connectionString: url });
        await l.connect();
        while (!stop) await l.query('SELECT count(DISTINCT md5(pad)) FROM t');
        await l.end();
      })()
    : null;
  const calls = int(40, 120);
  await Promise.all(
    clients.map(async (c, k) => {
      for (let i = 0; i < calls / 2; i++) for (const q of Object.values(QUERIES)) await c.query(q.sql, q.values(skewed !== (k === 1 && rand() < 0.3)));
    }),
  );
  stop = true;
  await load;
  for (const c of clients) await c.end();
}

const server = await startFromBinaries(PG_BIN, { shared_preload_libraries: 'pg_stat_statements' });
const out = { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, pgBin: PG_BIN, trials: TRIALS, aa: {}, changes: [] };
try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  out.server = (await admin.query('SHOW server_version')).rows[0].server_version;
  await admin.query('CREATE EXTENSION pg_stat_statements');
  await admin.query(`CREATE TABLE t (id int PRIMARY KEY, acct int, grp int, kind text, amount numeric, pad text)`);
  await admin.query(`INSERT INTO t SELECT g, 1 + (g * 7919) % 2000, g % 50, 'k' || g % 5, g % 997, md5(g::text) FROM generate_series(1, 100000) g`);
  await admin.query(`CREATE TABLE t2 AS SELECT g AS id, g % 50 AS grp, 1 AS copy, md5(g::text) AS pad FROM generate_series(1, 100000) g`);
  await admin.query('VACUUM ANALYZE');
  const s = new Session(admin);
  await prepareSession(s);
  await ensureRegistry(s);
  const tally = { verdicts: 0, false: 0, inconclusive: 0, examples: [] };
  const label = (() => {
    let n = 0;
    return (p) => `${p}-${++n}`;
  })();
  const judgeAround = async (change) => {
    await window(server.url, rand() < 0.5, rand() < 0.3);
    const l = label('w');
    await takeSnapshot(s, { label: l, moment: 'manual' });
    if (change) await change();
    await window(server.url, rand() < 0.5, rand() < 0.3);
    const r = await measureImpact(s, { at: l });
    await takeSnapshot(s, { moment: 'manual' });
    return r;
  };
  const verdictOf = (r, needle) => r.statements.find((x) => x.query.includes(needle));

  await takeSnapshot(s, { moment: 'manual' });
  for (let i = 0; i < TRIALS; i++) {
    const r = await judgeAround(null);
    for (const x of r.statements.filter((x) => Object.values(QUERIES).some((q) => q.sql === x.query))) {
      tally.verdicts++;
      if (x.verdict === 'faster' || x.verdict === 'slower') {
        tally.false++;
        tally.examples.push(`${x.query.slice(0, 40)}: ${x.verdict} (${x.reason})`);
      }
      if (x.verdict === 'inconclusive') tally.inconclusive++;
    }
    if (i % 10 === 9) log(`A/A ${i + 1}/${TRIALS}: ${tally.false} false of ${tally.verdicts}`);
  }
  out.aa = tally;

  // A/A under growth: rows added between the windows (the ids after the table's last), removed after.
  const grown = { verdicts: 0, false: 0, inconclusive: 0, examples: [], growth: [] };
  for (let i = 0; i < GROWTH; i++) {
    const pct = int(2, 10);
    grown.growth.push(pct);
    const r = await judgeAround(async () => {
      await admin.query(
        `INSERT INTO public.t SELECT g, 1 + (g * 7919) % 2000, g % 50, 'k' || g % 5, g % 997, md5(g::text)
           FROM generate_series(100001, 100000 + ${pct * 1000}) g`,
      );
      await admin.query('ANALYZE public.t');
    });
    for (const x of r.statements.filter((x) => Object.values(QUERIES).some((q) => q.sql === x.query))) {
      grown.verdicts++;
      if (x.verdict === 'faster' || x.verdict === 'slower') {
        grown.false++;
        grown.examples.push(`+${pct}%: ${x.query.slice(0, 40)}: ${x.verdict} (${x.reason})`);
      }
      if (x.verdict === 'inconclusive') grown.inconclusive++;
    }
    await admin.query('DELETE FROM public.t WHERE id > 100000');
    await admin.query('VACUUM ANALYZE public.t');
    await takeSnapshot(s, { moment: 'manual' });
    if (i % 5 === 4) log(`A/A under growth ${i + 1}/${GROWTH}: ${grown.false} false of ${grown.verdicts}`);
  }
  out.aaGrowth = grown;

  const expect = (name, r, needle, want) => {
    const x = verdictOf(r, needle);
    out.changes.push({ change: name, statement: needle, want, got: x?.verdict ?? 'missing', speedup: x?.speedup ?? null, reason: x?.reason ?? '' });
    log(`${name}: ${needle} ${x?.verdict} (${x?.reason})`);
  };
  for (let k = 0; k < CHANGES; k++) {
    let r = await judgeAround(() => admin.query('CREATE INDEX t_acct ON public.t (acct)'));
    expect('index created', r, 'acct = $1', 'faster');
    expect('index created', r, 'acct BETWEEN', 'faster');
    r = await judgeAround(() => admin.query('DROP INDEX public.t_acct'));
    expect('index dropped', r, 'acct = $1', 'slower');
    expect('index dropped', r, 'acct BETWEEN', 'slower');
    r = await judgeAround(async () => {
      await admin.query('INSERT INTO public.t2 SELECT id, grp, 2, pad FROM public.t2');
      await admin.query('VACUUM ANALYZE public.t2');
    });
    expect('table doubled', r, 't2 WHERE', 'slower');
    r = await judgeAround(async () => {
      await admin.query('DELETE FROM public.t2 WHERE copy = 2');
      await admin.query('VACUUM FULL public.t2');
      await admin.query('ANALYZE public.t2');
    });
    expect('table halved', r, 't2 WHERE', 'faster');
  }
  out.misses = out.changes.filter((c) => c.got !== c.want).length;
  await admin.end();
} finally {
  await server.stop();
}
console.log(JSON.stringify(out, null, 2));
