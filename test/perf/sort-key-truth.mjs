// npm run perf:sortkeys: both errors of advise's rules on how many rows a key value has (candidates.ts:
// sortPays, for ORDER BY keys after the equalities; equalityKeys, for an equality of a handful of rows a
// value), on the schemas pgopt was never written for (test/perf/unseen). Each index the rules shorten,
// and each sort key they keep, is benched alone against the shorter index, side by side, with bench's
// verdict of the short one against the long one:
//  - shortened, and the short one slower: a win the rules left on the table;
//  - kept, and the short one not slower: bytes the rules spent for nothing;
//  - measured (only the most common values have more rows than the query returns): advise's round two
//    decides with the workload's values; the pair shows what it should decide.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadWorkload } from '../../dist/bench/workload.js';
import { bench, compare, DEFAULT_BENCH_OPTIONS } from '../../dist/index.js';
import { onBorrowedClient } from '../../dist/db/session.js';
import { columnStatistics, tableColumns } from '../../dist/db/catalog.js';
import { BRIN_CORRELATION, FEW_VALUES, candidatesForQuery, keyText } from '../../dist/advise/candidates.js';
import { ensureParser, parseTrusted } from '../../dist/sql/parse.js';
import { createDatabase, log, startServer } from './perf-setup.mjs';

const SCHEMAS = (process.env.UNSEEN ?? 'ci,social,billing').split(',');
const BENCH = { ...DEFAULT_BENCH_OPTIONS, runs: 20, warmup: 3, budgetMs: 10_000 };
const { server, out } = await startServer();
out.rows = [];
await ensureParser();

/** Every table of `schema` as advise sees it: columns and statistics. */
async function lookupOf(c, schema) {
  const tables = (
    await c.query(
      `SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    )
  ).rows;
  const facts = await onBorrowedClient(c, async (s) =>
    Promise.all(
      tables.map(async (t) => ({
        schema,
        name: t.relname,
        columns: await tableColumns(s, t.oid),
        ...(await columnStatistics(s, t.oid, FEW_VALUES, BRIN_CORRELATION)),
      })),
    ),
  );
  return (sch, name) => facts.find((f) => f.name === name && (!sch || sch === schema));
}

const ddl = (cand, keys, name) => `CREATE INDEX ${name} ON ${cand.table.schema}.${cand.table.name} (${keys.map(keyText).join(', ')})`;

/** The query benched with one index standing, and that index's bytes. */
async function withIndex(c, sql, name, workload) {
  await c.query(sql);
  await c.query('ANALYZE');
  try {
    const bytes = Number((await c.query(`SELECT pg_relation_size($1::regclass)::float8 AS b`, [name])).rows[0].b);
    return { bytes, run: await bench(c, workload, BENCH) };
  } finally {
    await c.query(`DROP INDEX ${name}`);
  }
}

const plain = (cs) => cs.filter((c) => c.method === 'btree' && !c.include.length && !c.where);
const keysOf = (c) => c.keys.map(keyText);
const same = (a, b) => a.table.name === b.table.name && keysOf(a).join() === keysOf(b).join();

/**
 * The pairs to measure for one query: each index the rules shorten (its keys without the rules,
 * against the shorter one they propose), and each sort key they keep (against the equalities alone).
 */
function pairsOf(q, lookup) {
  const tree = parseTrusted(q.forms[0].sql);
  const on = plain(candidatesForQuery(q.name, tree, lookup));
  const off = plain(candidatesForQuery(q.name, tree, (s, n) => ((t) => t && { ...t, mostRows: new Map() })(lookup(s, n))));
  const pairs = [];
  for (const long of off.filter((l) => !on.some((c) => same(c, l)))) {
    const short = on.find(
      (c) => c.table.name === long.table.name && c.keys.length < long.keys.length && keysOf(c).every((k) => keysOf(long).includes(k)),
    );
    if (short) pairs.push({ rule: 'drops', long, short: short.keys });
  }
  // Where only the most common values would need the sort key, advise's round two decides by measuring both.
  for (const long of on.filter((c) => c.widens)) pairs.push({ rule: 'measures', long, short: long.widens });
  const sorts = tree.SelectStmt?.sortClause?.length ?? 0;
  for (const long of on.filter((c) => /ORDER BY/.test(c.why) && /equality/.test(c.why) && c.keys.length > sorts))
    pairs.push({ rule: 'keeps', long, short: long.keys.slice(0, long.keys.length - sorts) });
  return pairs;
}

try {
  for (const schema of SCHEMAS) {
    const { client: c, version } = await createDatabase(server, `sortkeys_${schema}`);
    out.server = version;
    log(`${schema}: loading…`);
    await c.query(readFileSync(`test/perf/unseen/${schema}/schema.sql`, 'utf8'));
    const lookup = await lookupOf(c, schema);
    const workload = await loadWorkload(`test/perf/unseen/${schema}/workload.sql`);
    for (const q of workload.queries) {
      for (const { rule, long, short } of pairsOf(q, lookup)) {
        const one = { ...workload, queries: [q] };
        log(
          `${schema}.${q.name}: (${keysOf(long).join(', ')}) against (${short.map(keyText).join(', ')}); the rules ${{ keeps: 'keep', drops: 'drop', measures: 'measure' }[rule]} the difference`,
        );
        // What the server refuses to index (a stable function in an ORDER BY expression) advise drops too.
        const L = await withIndex(c, ddl(long, long.keys, 'rule_long'), `${schema}.rule_long`, one).catch(
          (err) => (log(`  refused: ${err.message}`), null),
        );
        if (!L) continue;
        const S = await withIndex(c, ddl(long, short, 'rule_short'), `${schema}.rule_short`, one);
        const cmp = compare(L.run, S.run).queries[0];
        out.rows.push({
          schema,
          query: q.name,
          rule,
          long: keysOf(long).join(', '),
          short: short.map(keyText).join(', '),
          longMs: cmp.before?.median,
          shortMs: cmp.after?.median,
          shortVerdict: cmp.verdict,
          reason: cmp.reason,
          longBytes: L.bytes,
          shortBytes: S.bytes,
        });
        writeFileSync('test/perf/sortkeys-last.json', JSON.stringify(out, null, 2) + '\n');
      }
    }
    await c.end();
  }
  const f = (v) => (v < 1 ? v.toFixed(3) : v.toFixed(1));
  log(
    `\n${'query'.padEnd(30)} ${'rule'.padEnd(6)} ${'long ms'.padStart(8)} ${'short ms'.padStart(8)} ${'short'.padEnd(13)} ${'long MB'.padStart(8)} ${'short MB'.padStart(8)}`,
  );
  for (const r of out.rows)
    log(
      `${(r.schema + '.' + r.query).padEnd(30)} ${r.rule.padEnd(6)} ${f(r.longMs).padStart(8)} ${f(r.shortMs).padStart(8)} ${r.shortVerdict.padEnd(13)} ${(r.longBytes / 2 ** 20).toFixed(1).padStart(8)} ${(r.shortBytes / 2 ** 20).toFixed(1).padStart(8)}`,
    );
} finally {
  await server.stop();
}
