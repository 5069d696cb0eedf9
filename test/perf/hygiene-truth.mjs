// npm run perf:hygiene — hygiene on a schema pgopt has never seen (a shop: customers, products,
// orders, order items, events), with its real indexes plus planted waste. Measures:
//  1. which planted waste the drop pack removes, and whether it keeps every index a workload query needs;
//  2. every query benched before and after the drop pack is applied (bench's verdicts);
//  3. rollback: every index back with the same pg_get_indexdef;
//  4. the predicted rule on both errors: each index a workload plan reads, hidden (HypoPG 1.4) and
//     really dropped (in a rolled-back transaction), predicted "needed" against measured "slower";
//  5. drops and rebuilds under live writes: failed statements and the longest stall.
// PG_BIN=/usr/lib/postgresql/15/bin for HypoPG 1.4 (built from ../shared/vendor); else embedded 18.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { applyPack, bench, compare, DEFAULT_BENCH_OPTIONS, DEFAULT_RUN_OPTIONS, dropPackText, inspectIndexes, loadPack, loadWorkload, rollbackPack } from '../../dist/index.js';
import { onBorrowedClient } from '../../dist/db/session.js';
import { predictDrops } from '../../dist/hygiene/evidence.js';
import { measureDrops } from '../../dist/hygiene/measure.js';
import { plannedQueries } from '../../dist/advise/hypopg.js';
import { indexFacts } from '../../dist/db/index-facts.js';
import { createDatabase, log, startServer } from './perf-setup.mjs';

const SCALE = Number(process.env.SCALE ?? 1);
const n = (x) => Math.round(x * SCALE);

const SCHEMA = `
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, country text NOT NULL, created_at timestamptz NOT NULL, status text NOT NULL);
CREATE TABLE shop.products (id int PRIMARY KEY, sku text NOT NULL UNIQUE, category_id int NOT NULL, price numeric(10,2) NOT NULL, name text NOT NULL);
CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES shop.customers, status text NOT NULL, created_at timestamptz NOT NULL, total numeric(12,2) NOT NULL);
CREATE TABLE shop.order_items (order_id bigint NOT NULL REFERENCES shop.orders, product_id int NOT NULL REFERENCES shop.products, qty int NOT NULL, price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, product_id));
CREATE TABLE shop.events (id bigint PRIMARY KEY, customer_id int NOT NULL, kind text NOT NULL, at timestamptz NOT NULL, detail text);
INSERT INTO shop.customers SELECT g, 'c' || g || '@shop.example', (ARRAY['de','fr','us','jp','br','cn','in','gb'])[1 + g % 8] || CASE WHEN g % 500 = 0 THEN '-x' ELSE '' END,
  now() - (g % 1000) * interval '1 day', CASE WHEN g % 50 = 0 THEN 'blocked' ELSE 'active' END FROM generate_series(1, ${n(100000)}) g;
INSERT INTO shop.products SELECT g, 'SKU-' || g, g % 200, (g % 997) + 0.99, 'product ' || g FROM generate_series(1, ${n(20000)}) g;
INSERT INTO shop.orders SELECT g, 1 + ((g::bigint * 7919) % ${n(2000)})::int, CASE WHEN g % 100 = 0 THEN 'pending' WHEN g % 7 = 0 THEN 'shipped' ELSE 'delivered' END,
  now() - (g % 100000) * interval '5 minutes', (g % 5000) / 7.0 FROM generate_series(1, ${n(500000)}) g;
INSERT INTO shop.order_items SELECT o, 1 + (o * 31 + k * 7) % ${n(20000)}, 1 + k, 9.99 FROM generate_series(1, ${n(500000)}) o, generate_series(0, 1) k;
INSERT INTO shop.events SELECT g, 1 + g % ${n(100000)}, (ARRAY['view','cart','search','login'])[1 + g % 4], now() - g * interval '1 second', NULL FROM generate_series(1, ${n(500000)}) g;
-- the indexes the application needs
CREATE INDEX orders_customer_created ON shop.orders (customer_id, created_at DESC);
CREATE INDEX orders_pending ON shop.orders (created_at) WHERE status = 'pending';
CREATE INDEX items_product ON shop.order_items (product_id);
CREATE INDEX events_customer_at ON shop.events (customer_id, at);
CREATE INDEX products_category_price ON shop.products (category_id, price);
CREATE INDEX customers_country ON shop.customers (country);
-- planted waste
CREATE INDEX events_kind ON shop.events (kind);
CREATE INDEX customers_created ON shop.customers (created_at);
CREATE INDEX orders_total ON shop.orders (total);
CREATE INDEX orders_customer_created_copy ON shop.orders (customer_id, created_at DESC);
CREATE INDEX orders_customer ON shop.orders (customer_id);
CREATE INDEX items_order ON shop.order_items (order_id);
CREATE INDEX products_category ON shop.products (category_id);
ANALYZE;
`;
// A duplicate pair: one of the two is waste, either one.
const PAIR = ['orders_customer_created', 'orders_customer_created_copy'];
const REAL = ['orders_pending', 'items_product', 'events_customer_at', 'products_category_price', 'customers_country'];
const WASTE = ['events_kind', 'customers_created', 'orders_total', 'orders_customer', 'items_order', 'products_category', 'orders_customer_uq'];
const CONTROLS = ['customers_pkey', 'customers_email_key', 'products_pkey', 'products_sku_key', 'orders_pkey', 'order_items_pkey', 'events_pkey'];

const WORKLOAD = `-- name: recent_orders
-- params: SELECT 1 + (random() * ${n(1999)})::int
SELECT id, status, total FROM shop.orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20;

-- name: pending_queue
SELECT id, customer_id FROM shop.orders WHERE status = 'pending' ORDER BY created_at LIMIT 50;

-- name: product_sales
-- params: SELECT 1 + (random() * ${n(19999)})::int
SELECT count(*), sum(qty) FROM shop.order_items WHERE product_id = $1;

-- name: order_lines
-- params: SELECT 1 + (random() * ${n(499999)})::bigint
SELECT product_id, qty FROM shop.order_items WHERE order_id = $1;

-- name: customer_timeline
-- params: SELECT 1 + (random() * ${n(99999)})::int
SELECT kind, at FROM shop.events WHERE customer_id = $1 AND at > now() - interval '30 days' ORDER BY at;

-- name: category_page
-- params: SELECT (random() * 199)::int
SELECT id, name, price FROM shop.products WHERE category_id = $1 ORDER BY price LIMIT 24;

-- name: rare_country_report
SELECT count(*) FROM shop.customers WHERE country = 'de-x';
`;

/** The application's traffic: every query but the rare report, so their indexes have scans. */
async function traffic(url) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (let i = 1; i <= 50; i++) {
    await c.query('SELECT id FROM shop.orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20', [i]);
    await c.query(`SELECT id FROM shop.orders WHERE status = 'pending' ORDER BY created_at LIMIT 50`);
    await c.query('SELECT count(*) FROM shop.order_items WHERE product_id = $1', [i]);
    await c.query('SELECT product_id FROM shop.order_items WHERE order_id = $1', [i]);
    await c.query(`SELECT at FROM shop.events WHERE customer_id = $1 AND at > now() - interval '30 days'`, [i]);
    await c.query('SELECT id FROM shop.products WHERE category_id = $1 ORDER BY price LIMIT 24', [i % 200]);
  }
  if ((await c.query(`SELECT current_setting('server_version_num')::int >= 150000 AS f`)).rows[0].f) await c.query('SELECT pg_stat_force_next_flush()');
  await c.end();
}

const defs = async (c) =>
  (await c.query(`SELECT c.relname, pg_get_indexdef(c.oid) AS def FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'shop' AND c.relkind = 'i' ORDER BY 1`)).rows;

let id = 10_000_000;

/** A writer on its own connection while `fn` runs: every statement's latency, and those that failed. */
async function underWrites(url, fn) {
  const w = new pg.Client({ connectionString: url });
  await w.connect();
  let stop = false;
  const lat = [];
  let failed = 0;
  const loop = (async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        id++;
        await w.query(`INSERT INTO shop.orders VALUES ($1::bigint, (1 + $1::bigint % 1000)::int, 'pending', now(), 1)`, [id]);
        await w.query(`UPDATE shop.orders SET total = total + 1 WHERE id = $1::bigint`, [id - 1]);
        await w.query(`INSERT INTO shop.events VALUES ($1::bigint, (1 + $1::bigint % 1000)::int, 'view', now(), NULL)`, [id]);
      } catch (err) {
        if (!failed) log(`writer: ${err.message}`);
        failed++;
      }
      lat.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const t0 = performance.now();
  try {
    await fn();
  } finally {
    stop = true;
    await loop;
    await w.end();
  }
  lat.sort((a, b) => a - b);
  return { ms: Math.round(performance.now() - t0), rounds: lat.length, failed, maxMs: +lat[lat.length - 1].toFixed(1), p99Ms: +lat[Math.floor(lat.length * 0.99)].toFixed(1) };
}

const { server, out } = await startServer();
const dir = mkdtempSync(join(tmpdir(), 'pgopt-hygiene-'));
const BENCH = { ...DEFAULT_BENCH_OPTIONS, runs: 20, warmup: 3, budgetMs: 8000 };
try {
  const { url, version, client: c } = await createDatabase(server, 'hyg');
  out.server = version;
  out.scale = SCALE;
  log('loading the shop…');
  await c.query(SCHEMA);
  // An INVALID leftover: a unique build that failed on duplicates.
  await c.query('CREATE UNIQUE INDEX CONCURRENTLY orders_customer_uq ON shop.orders (customer_id)').catch(() => {});
  await traffic(url);
  const wfile = join(dir, 'shop.sql');
  writeFileSync(wfile, WORKLOAD);
  const workload = await loadWorkload(wfile);
  const installHypopg = !!process.env.PG_BIN;

  log('hygiene…');
  const t0 = performance.now();
  const r = await inspectIndexes(c, { minAgeSeconds: 0, workload, timeoutMs: 30_000, installHypopg });
  out.hygieneMs = Math.round(performance.now() - t0);
  out.prediction = r.prediction;
  const dropped = r.drops.map((d) => d.name);
  out.drops = dropped;
  out.kept = r.kept.map((k) => k.index);
  out.wasteRemoved = WASTE.filter((w) => dropped.includes(w));
  out.wasteLeft = WASTE.filter((w) => !dropped.includes(w));
  out.realDropped = REAL.filter((x) => dropped.includes(x));
  out.duplicatePairDropped = PAIR.filter((x) => dropped.includes(x)).length; // 1 is right: one goes, one stays
  out.controlsDropped = CONTROLS.filter((x) => dropped.includes(x));
  log(`drops: ${dropped.join(', ')}`);

  log('bench before…');
  const before = await bench(c, workload, BENCH);
  const packFile = join(dir, 'shop-drops.sql');
  writeFileSync(packFile, dropPackText(r));
  const defsBefore = await defs(c);
  log('writes alone (the stall without any DDL)…');
  out.writesAlone = await underWrites(url, () => new Promise((r) => setTimeout(r, 2000)));
  log('apply under writes…');
  out.applyUnderWrites = await underWrites(url, async () => {
    const a = await applyPack(c, await loadPack(packFile), { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false });
    if (a.error) throw a.error;
  });
  log('bench after…');
  const after = await bench(c, workload, BENCH);
  out.verdicts = compare(before, after).queries.map((q) => ({ name: q.name, before: q.before?.median, after: q.after?.median, verdict: q.verdict, reason: q.reason }));
  log('rollback under writes…');
  out.rollbackUnderWrites = await underWrites(url, async () => {
    const b = await rollbackPack(c, 'shop-drops', DEFAULT_RUN_OPTIONS);
    if (b.error) throw b.error;
  });
  const defsAfter = await defs(c);
  const valid = (rows) => rows.filter((x) => x.relname !== 'orders_customer_uq');
  out.rollbackIdentical = JSON.stringify(valid(defsAfter)) === JSON.stringify(valid(defsBefore));

  // The unsafe way beside it: a reader holds the table for 3 s (a report, a pg_dump), and the drop
  // queues behind it. A plain DROP INDEX's ACCESS EXCLUSIVE request then blocks every writer behind it.
  const withLongReader = async (fn) => {
    const rd = new pg.Client({ connectionString: url });
    await rd.connect();
    await rd.query('BEGIN');
    await rd.query('SELECT count(*) FROM shop.orders');
    const hold = rd.query('SELECT pg_sleep(3)').then(() => rd.query('COMMIT'));
    try {
      return await underWrites(url, fn);
    } finally {
      await hold;
      await rd.end();
    }
  };
  log('a drop behind a 3 s reader: plain DROP INDEX, then the drop pack…');
  out.behindReader = {
    plainDropIndex: await withLongReader(() => c.query('DROP INDEX shop.orders_total')),
  };
  await c.query('CREATE INDEX orders_total ON shop.orders (total)');
  const one = join(dir, 'one-drop.sql');
  writeFileSync(one, 'DROP INDEX CONCURRENTLY IF EXISTS shop.orders_total;\n');
  out.behindReader.dropPack = await withLongReader(async () => {
    const a = await applyPack(c, await loadPack(one), { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false });
    if (a.error) throw a.error;
  });
  await rollbackPack(c, 'one-drop', DEFAULT_RUN_OPTIONS);

  log('the predicted rule on both errors, index by index…');
  out.rule = await onBorrowedClient(c, async (s) => {
    const facts = (await indexFacts(s)).filter((f) => f.schema === 'shop' && f.valid && !f.roles.constraint && !f.roles.unique);
    const queries = [...(await plannedQueries(s, workload, 30_000)).values()];
    const rows = [];
    for (const ix of facts) {
      const p = await predictDrops(s, 'public', [ix], queries, 30_000).catch(() => null);
      if (!p?.hidden) return { skipped: 'no HypoPG 1.4 here: PG_BIN=/usr/lib/postgresql/15/bin' };
      const read = [...(p.vetoed.get(ix.oid) ?? []), ...(p.switched.get(ix.oid) ?? [])];
      if (!read.length) continue;
      const m = await measureDrops(s, workload, [ix], { ...BENCH, runs: 12 }, 5000);
      for (const ch of read) {
        const q = m.comparison.queries.find((x) => x.name === ch.query);
        rows.push({ index: ix.name, query: ch.query, costRatio: +(ch.costAfter / ch.costBefore).toFixed(3), predictedNeeded: p.vetoed.has(ix.oid), measured: q?.verdict, beforeMs: q?.before?.median, afterMs: q?.after?.median });
      }
    }
    return rows;
  });
  await c.end();
  writeFileSync(`test/perf/hygiene-last-pg${parseInt(version, 10)}.json`, JSON.stringify(out, null, 2) + '\n');
  log(JSON.stringify(out, null, 2));
} finally {
  await server.stop();
}
