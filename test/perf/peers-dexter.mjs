// npm run perf:peers: the peers' own index cases, translated case by case, as the floor for advise (a
// benchmark, not a test). SUITE=dexter (default; ankane/dexter's test/statement_test.rb on its
// test/support/schema.sql), dexter_batching (its test/batching_test.rb), index_advisor (supabase/
// index_advisor's test/sql and test/expected) or pghero.
// Dexter estimates with HypoPG; pgopt measures. One workload holds every case, and for a case whose
// constant is written in its text, a probe with another constant, so an index fitted to the one
// literal shows. In one run: advise on the workload; then bench before, with Dexter's expected
// indexes, and with advise's pack; each case is judged by bench's verdict rule, advise's pack against
// Dexter's indexes, on the case and on its probe. PG_BIN: server binaries (default: embedded 18).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packText } from '../../dist/advise/pack-text.js';
import { adviseOptions, createDatabase, log, startServer, withPack } from './perf-setup.mjs';
import { adviseWorkload, bench, compare, DEFAULT_BENCH_OPTIONS, loadWorkload } from '../../dist/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pgopt-peers-'));
const { server, out } = await startServer();
const BENCH = { ...DEFAULT_BENCH_OPTIONS, runs: 15, warmup: 2, budgetMs: 5000 };

// Dexter's schema (test/support/schema.sql), without what needs hypopg or a foreign server.
const DEXTER_SCHEMA = `
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE TABLE posts (id int, blog_id int, user_id int, json json, jsonb jsonb, hstore hstore, point point, indexed int);
INSERT INTO posts (id, blog_id, user_id, indexed) SELECT n, n % 1000, n % 10, n FROM generate_series(1, 100000) n;
CREATE INDEX ON posts (indexed);
CREATE VIEW posts_view AS SELECT id AS view_id FROM posts;
CREATE MATERIALIZED VIEW posts_materialized AS SELECT * FROM posts;
ANALYZE posts; ANALYZE posts_materialized;
CREATE TABLE blogs (id int PRIMARY KEY);
INSERT INTO blogs (id) SELECT n FROM generate_series(1, 1000) n;
ANALYZE blogs;
CREATE TABLE events (id int, blog_id int) PARTITION BY HASH (blog_id);
CREATE TABLE events_0 PARTITION OF events FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE events_1 PARTITION OF events FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE events_2 PARTITION OF events FOR VALUES WITH (MODULUS 3, REMAINDER 2);
INSERT INTO events (id, blog_id) SELECT n, n FROM generate_series(1, 100000) n;
ANALYZE events;
CREATE SCHEMA "Bar";
CREATE TABLE "Bar"."Foo"("Id" int);
INSERT INTO "Bar"."Foo" SELECT * FROM generate_series(1, 100000);
ANALYZE "Bar"."Foo";
`;

// [case, statement, the peer's expected index (null: none), probe with another constant (or null)]
const DEXTER_CASES = [
  ['basic_index', 'SELECT * FROM posts WHERE id = 1', 'posts (id)', 'SELECT * FROM posts WHERE id = 2'],
  ['basic_no_index', 'SELECT * FROM posts', null, null],
  ['multicolumn', 'SELECT * FROM posts WHERE user_id = 1 AND blog_id = 2', 'posts (user_id, blog_id)', 'SELECT * FROM posts WHERE user_id = 3 AND blog_id = 4'],
  ['multicolumn_3pass', 'SELECT * FROM posts WHERE user_id = 1 AND blog_id < 10', 'posts (blog_id)', 'SELECT * FROM posts WHERE user_id = 2 AND blog_id < 12'],
  ['multicolumn_order', 'SELECT * FROM posts WHERE user_id = 1 ORDER BY blog_id LIMIT 1000', 'posts (user_id, blog_id)', 'SELECT * FROM posts WHERE user_id = 2 ORDER BY blog_id LIMIT 1000'],
  ['join', 'SELECT * FROM posts INNER JOIN blogs ON blogs.id = posts.blog_id WHERE blogs.id = 1', 'posts (blog_id)', 'SELECT * FROM posts INNER JOIN blogs ON blogs.id = posts.blog_id WHERE blogs.id = 2'],
  ['update', 'UPDATE posts SET user_id = 2 WHERE user_id = 1', 'posts (user_id)', 'UPDATE posts SET user_id = 4 WHERE user_id = 3'],
  ['delete', 'DELETE FROM posts WHERE user_id = 1', 'posts (user_id)', 'DELETE FROM posts WHERE user_id = 3'],
  ['view', 'SELECT * FROM posts_view WHERE view_id = 1', 'posts (id)', 'SELECT * FROM posts_view WHERE view_id = 2'],
  ['materialized_view', 'SELECT * FROM posts_materialized WHERE id = 1', 'posts_materialized (id)', 'SELECT * FROM posts_materialized WHERE id = 2'],
  ['partitioned_table', 'SELECT * FROM events WHERE blog_id = 1', 'events (blog_id)', 'SELECT * FROM events WHERE blog_id = 2'],
  ['cte', 'WITH cte AS (SELECT * FROM posts WHERE id = 1) SELECT * FROM cte', 'posts (id)', 'WITH cte AS (SELECT * FROM posts WHERE id = 2) SELECT * FROM cte'],
  ['cte_fence', 'WITH cte AS (SELECT * FROM posts) SELECT * FROM cte WHERE id = 1', 'posts (id)', 'WITH cte AS (SELECT * FROM posts) SELECT * FROM cte WHERE id = 2'],
  ['materialized_cte', 'WITH cte AS MATERIALIZED (SELECT * FROM posts) SELECT * FROM cte WHERE id = 1', null, null],
  ['not_materialized_cte', 'WITH cte AS NOT MATERIALIZED (SELECT * FROM posts) SELECT * FROM cte WHERE id = 1', 'posts (id)', 'WITH cte AS NOT MATERIALIZED (SELECT * FROM posts) SELECT * FROM cte WHERE id = 2'],
  ['order', 'SELECT * FROM posts ORDER BY user_id DESC LIMIT 10', 'posts (user_id)', null],
  ['order_column_number', 'SELECT user_id FROM posts ORDER BY 1 DESC LIMIT 10', 'posts (user_id)', null],
  ['order_column_alias', 'SELECT user_id AS u FROM posts ORDER BY u DESC LIMIT 10', 'posts (user_id)', null],
  ['order_multiple', 'SELECT * FROM posts ORDER BY user_id, blog_id LIMIT 10', 'posts (user_id, blog_id)', null],
  ['schema', 'SELECT * FROM "Bar"."Foo" WHERE "Id" = 10000', '"Bar"."Foo" ("Id")', 'SELECT * FROM "Bar"."Foo" WHERE "Id" = 20000'],
  ['normalized', 'SELECT * FROM posts WHERE id = $1', 'posts (id)', null],
  ['indexed', 'SELECT * FROM posts WHERE indexed = 1', null, null],
  ['no_tables', 'SELECT 1', null, null],
];

// Supabase index_advisor's regression tests (test/sql, test/expected), their tables filled so timings mean something.
const INDEX_ADVISOR_SCHEMA = `
CREATE TABLE book_plain (id int, name text);
INSERT INTO book_plain SELECT g, 'b' || g FROM generate_series(1, 200000) g;
CREATE TABLE book_json (id int, meta json);
INSERT INTO book_json SELECT g, json_build_object('k', g) FROM generate_series(1, 200000) g;
CREATE TABLE author (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE publisher (id serial PRIMARY KEY, name text NOT NULL, corporate_address text);
CREATE TABLE book (id serial PRIMARY KEY, author_id int NOT NULL REFERENCES author(id), publisher_id int NOT NULL REFERENCES publisher(id), title text);
CREATE TABLE review (id serial PRIMARY KEY, book_id int REFERENCES book(id), body text NOT NULL);
INSERT INTO author (name) SELECT 'a' || g FROM generate_series(1, 10000) g;
INSERT INTO publisher (name) SELECT 'p' || g FROM generate_series(1, 1000) g;
INSERT INTO book (author_id, publisher_id, title) SELECT 1 + g % 10000, 1 + g % 1000, 't' || g FROM generate_series(1, 200000) g;
INSERT INTO review (book_id, body) SELECT 1 + g % 200000, 'r' || g FROM generate_series(1, 400000) g;
CREATE FUNCTION get_info(x int) RETURNS text LANGUAGE sql AS $$ SELECT 'foo' $$;
ANALYZE;
`;
const MULTI = `SELECT book.id, book.title, publisher.name AS publisher_name, author.name AS author_name, review.body AS review_body
  FROM book JOIN publisher ON book.publisher_id = publisher.id JOIN author ON book.author_id = author.id JOIN review ON book.id = review.book_id
 WHERE author.id = $1 AND publisher.id = $2`;
const POSTGREST = `WITH pgrst_source AS (WITH pgrst_payload AS (SELECT $1 AS json_data), pgrst_body AS ( SELECT CASE WHEN json_typeof(json_data) = $4 THEN json_data ELSE json_build_array(json_data) END AS val FROM pgrst_payload), pgrst_args AS ( SELECT * FROM json_to_recordset((SELECT val FROM pgrst_body)) AS _("x" integer) )SELECT "public"."get_info"("x" := (SELECT "x" FROM pgrst_args LIMIT $5)) AS pgrst_scalar) SELECT $6::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, coalesce((json_agg(_postgrest_t.pgrst_scalar)->$7)::text, $8) AS body, nullif(current_setting($9, $10), $11) AS response_headers, nullif(current_setting($12, $13), $14) AS response_status FROM (SELECT "get_info".* FROM "pgrst_source" AS "get_info"    LIMIT $2 OFFSET $3) _postgrest_t`;
const INDEX_ADVISOR_CASES = [
  ['integration', 'SELECT * FROM book_plain WHERE id = $1', 'book_plain (id)', null, 'SELECT g FROM generate_series(1, 50) g'],
  ['semicolon_in_comment', '-- some comment with a semicolon;\nSELECT * FROM book_plain WHERE id = $1', 'book_plain (id)', null, 'SELECT g FROM generate_series(51, 100) g'],
  ['issue_1', 'SELECT * FROM book_json WHERE id = $1', 'book_json (id)', null, 'SELECT g FROM generate_series(1, 50) g'],
  ['multi_index', MULTI, ['book (author_id)', 'book (publisher_id)', 'review (book_id)'], null, 'SELECT a, 1 + a % 1000 FROM generate_series(1, 50) a'],
  // PostgREST's query: 14 parameters no one gave values for (capture's marker): advise plans it generically.
  ['postgrest_query', POSTGREST, null, null, '-- values-from: none\n-- mean-ms: 1'],
  ['unknown_parameter_type', `SELECT concat(schemaname, $1, tablename, $2, policyname) AS policy FROM pg_policies ORDER BY 1 DESC`, null, null, "SELECT '.', '.'"],
];

// PgHero's best-index and suggested-index tests (test/best_index_test.rb, test/suggested_indexes_test.rb
// on test/internal/db/schema.rb with its own indexes), users grown from 5,000 to 200,000 rows.
const PGHERO_SCHEMA = `
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE TABLE users (id bigserial PRIMARY KEY, city_id int, login_attempts int, email varchar, zip_code varchar, active boolean,
  country varchar, tree_path ltree, range int4range, last_known_ip inet, metadata jsonb, created_at timestamp, updated_at timestamp);
INSERT INTO users (city_id, login_attempts, email, zip_code, active, country, tree_path, range, metadata, created_at, updated_at)
  SELECT i % 100, floor(random() * 30)::int, 'person' || i || '@example.org', CASE WHEN i % 40 = 0 THEN NULL ELSE '12345' END, true,
         'Test ' || floor(random() * 30)::int, ('path' || floor(random() * 30)::int)::ltree, int4range(0, 1 + floor(random() * 5)::int),
         '{"favorite_color": "red"}', now() - i * interval '1 second', now() - i * interval '1 second'
    FROM generate_series(0, 199999) i;
CREATE INDEX ON users (id);
CREATE INDEX ON users (updated_at);
CREATE INDEX ON users USING hash (login_attempts);
CREATE INDEX ON users USING gist (country gist_trgm_ops);
CREATE INDEX ON users USING gist (tree_path);
CREATE INDEX ON users USING gist (range);
CREATE INDEX ON users USING brin (created_at);
CREATE INDEX ON users USING gist (last_known_ip inet_ops);
CREATE INDEX ON users USING gin (metadata);
ANALYZE users;
`;
const TRGM = 'users USING gist (email gist_trgm_ops)';
const PGHERO_CASES = [
  ['basic', `SELECT * FROM users WHERE email = 'person1@example.org'`, 'users (email)', `SELECT * FROM users WHERE email = 'person7@example.org'`],
  ['where', 'SELECT * FROM users WHERE city_id = 1', 'users (city_id)', 'SELECT * FROM users WHERE city_id = 2'],
  ['all_values', 'SELECT * FROM users WHERE login_attempts = 1 ORDER BY created_at', 'users (login_attempts, created_at)', 'SELECT * FROM users WHERE login_attempts = 2 ORDER BY created_at'],
  ['where_multiple_columns', 'SELECT * FROM users WHERE city_id = 1 and login_attempts = 2', 'users (city_id, login_attempts)', 'SELECT * FROM users WHERE city_id = 3 and login_attempts = 4'],
  ['where_unique', `SELECT * FROM users WHERE city_id = 1 AND email = 'person2@example.org'`, 'users (email)', `SELECT * FROM users WHERE city_id = 5 AND email = 'person5@example.org'`],
  ['order', 'SELECT * FROM users ORDER BY created_at', 'users (created_at)', null],
  ['order_multiple', 'SELECT * FROM users ORDER BY login_attempts, created_at', 'users (login_attempts, created_at)', null],
  ['order_multiple_direction', 'SELECT * FROM users ORDER BY login_attempts DESC, created_at', 'users (login_attempts)', null],
  ['order_multiple_unique', 'SELECT * FROM users ORDER BY id, created_at', 'users (id)', null],
  ['where_unique_order', `SELECT * FROM users WHERE email = 'person2@example.org' ORDER BY created_at`, 'users (email)', `SELECT * FROM users WHERE email = 'person9@example.org' ORDER BY created_at`],
  ['where_order', 'SELECT * FROM users WHERE login_attempts = 1 ORDER BY created_at', 'users (login_attempts, created_at)', 'SELECT * FROM users WHERE login_attempts = 3 ORDER BY created_at'],
  ['where_order_unknown', 'SELECT * FROM users WHERE login_attempts = 1 ORDER BY NOW()', 'users (login_attempts)', 'SELECT * FROM users WHERE login_attempts = 3 ORDER BY NOW()'],
  ['where_in', 'SELECT * FROM users WHERE city_id IN (1, 2)', 'users (city_id)', 'SELECT * FROM users WHERE city_id IN (3, 4)'],
  ['like', 'SELECT * FROM users WHERE email LIKE $1', TRGM, null, "SELECT '%person12%'"],
  ['like_where', 'SELECT * FROM users WHERE city_id = $1 AND email LIKE $2', 'users (city_id)', null, "SELECT 12, '%person12%'"],
  ['like_where2', 'SELECT * FROM users WHERE email LIKE $1 AND active = $2', TRGM, null, "SELECT '%person12%', true"],
  ['ilike', 'SELECT * FROM users WHERE email ILIKE $1', TRGM, null, "SELECT '%PERSON12%'"],
  ['not_equals', 'SELECT * FROM users WHERE city_id != $1 and login_attempts = 2', 'users (login_attempts)', null, 'SELECT 5'],
  ['not_in', 'SELECT * FROM users WHERE city_id NOT IN ($1) and login_attempts = 2', 'users (login_attempts)', null, 'SELECT 5'],
  ['between', 'SELECT * FROM users WHERE city_id BETWEEN 1 AND 2', 'users (city_id)', 'SELECT * FROM users WHERE city_id BETWEEN 3 AND 4'],
  ['multiple_range', 'SELECT * FROM users WHERE city_id > $1 and login_attempts > $2', 'users (city_id)', null, 'SELECT 97, 25'],
  ['where_prepared', 'SELECT * FROM users WHERE city_id = $1', 'users (city_id)', null, 'SELECT g FROM generate_series(1, 50) g'],
  ['is_null', 'SELECT * FROM users WHERE zip_code IS NULL', 'users (zip_code)', null],
  ['is_null_equal', 'SELECT * FROM users WHERE zip_code IS NULL AND login_attempts = $1', 'users (zip_code, login_attempts)', null, 'SELECT g FROM generate_series(0, 29) g'],
  ['is_not_null', 'SELECT * FROM users WHERE zip_code IS NOT NULL AND login_attempts = $1', 'users (login_attempts)', null, 'SELECT g FROM generate_series(0, 29) g'],
  ['update', `UPDATE users SET email = 'test' WHERE city_id = 1`, 'users (city_id)', `UPDATE users SET email = 'test' WHERE city_id = 2`],
  ['delete', 'DELETE FROM users WHERE city_id = 1', 'users (city_id)', 'DELETE FROM users WHERE city_id = 2'],
];

// Dexter's batching tests (test/batching_test.rb) on 100,000 rows: many queries sharing columns (its
// 100 columns' 4,950 pairs, here the first 10 columns' 45), where one single-column index per column
// serves every query (Dexter finds one index a column); and one query of 100 equalities, more than an
// index can hold (Dexter limits its candidates and finds one).
const NC = 100;
const col = (i) => `c${String(i).padStart(2, '0')}`;
const BATCHING_SCHEMA = `
CREATE TABLE t (${Array.from({ length: NC }, (_, i) => `${col(i)} int`).join(', ')});
INSERT INTO t SELECT ${Array.from({ length: NC }, () => 'n').join(', ')} FROM generate_series(1, 100000) n;
ANALYZE t;
`;
const BATCHING_CASES = [
  ...Array.from({ length: 10 }, (_, i) =>
    Array.from({ length: 9 - i }, (_, k) => {
      const j = i + 1 + k;
      return [`many_queries_${col(i)}_${col(j)}`, `SELECT * FROM t WHERE ${col(i)} = 0 AND ${col(j)} = 1`, [`t (${col(i)})`, `t (${col(j)})`], `SELECT * FROM t WHERE ${col(i)} = 500 AND ${col(j)} = 500`];
    }),
  ).flat(),
  ['many_columns', `SELECT * FROM t WHERE ${Array.from({ length: NC }, (_, i) => `${col(i)} = 1`).join(' AND ')}`, 't (c00)', `SELECT * FROM t WHERE ${Array.from({ length: NC }, (_, i) => `${col(i)} = 700`).join(' AND ')}`],
];

const SUITES = {
  dexter_batching: { schema: BATCHING_SCHEMA, cases: BATCHING_CASES },
  pghero: { schema: PGHERO_SCHEMA, cases: PGHERO_CASES },
  dexter: { schema: DEXTER_SCHEMA, cases: DEXTER_CASES },
  index_advisor: { schema: INDEX_ADVISOR_SCHEMA, cases: INDEX_ADVISOR_CASES },
};
const SUITE = process.env.SUITE ?? 'dexter';
/** `"public"."users" (a, b)` and `users (a, b)` alike: the table's name unqualified, no quotes. */
const normalized = (def) => def.replace(/"/g, '').replace(/^public\./, '').replace(/\s+/g, ' ').trim();
const { schema: SCHEMA, cases: CASES } = SUITES[SUITE];

const workloadText = CASES.flatMap(([name, sql, , probe, params]) => [
  `-- name: ${name}${!sql.includes('$1') ? '' : params?.startsWith('--') ? `\n${params}` : `\n-- params: ${params ?? 'SELECT g FROM generate_series(1, 50) g'}`}\n${sql};\n`,
  ...(probe ? [`-- name: probe_${name}\n${probe};\n`] : []),
]).join('\n');

try {
  const { version, client: c } = await createDatabase(server, 'peers');
  out.server = version;
  await c.query(SCHEMA);
  const wfile = join(dir, `${SUITE}.sql`);
  writeFileSync(wfile, workloadText);
  const workload = await loadWorkload(wfile);
  // advise sees only the cases; the probes are for judging its pack.
  const cases = { ...workload, queries: workload.queries.filter((q) => !q.name.startsWith('probe_')) };
  log('advise…');
  const advice = await adviseWorkload(c, cases, adviseOptions(60, { runs: 12, warmup: 2, budgetMs: 3000 }));
  if (advice.error) throw advice.error;
  const advisedFile = join(dir, 'advised.sql');
  writeFileSync(advisedFile, packText(advice, out.server));
  const peerIndexes = [...new Set(CASES.flatMap((x) => x[2] ?? []))];
  const peerFile = join(dir, `${SUITE}-expected.sql`);
  writeFileSync(peerFile, peerIndexes.map((d, i) => `CREATE INDEX CONCURRENTLY IF NOT EXISTS peer_${i} ON ${d};`).join('\n') + '\n');

  // What advise left out (the server refuses it as written) is left out of the comparison too.
  const refusedNames = new Set(advice.refused.flatMap((r) => [r.name, `probe_${r.name}`]));
  const measured = { ...workload, queries: workload.queries.filter((q) => !refusedNames.has(q.name)) };
  const measuredPack = (path, name) =>
    withPack(c, path, name, () => {
      log(`bench: ${name}`);
      return bench(c, measured, BENCH);
    });
  log('bench: before');
  const before = await bench(c, measured, BENCH);
  const peer = await measuredPack(peerFile, SUITE.replace(/_/g, '-'));
  const advised = await measuredPack(advisedFile, 'advised');
  const vsPeer = compare(peer, advised).queries;
  const med = (run, name) => run.queries.find((q) => q.name === name)?.execution.median ?? null;
  const verdict = (name) => vsPeer.find((q) => q.name === name)?.verdict ?? null;
  out.cases = CASES.map(([name, sql, expected, probe]) => {
    const kept = advice.trials.filter((t) => t.outcome === 'kept' && t.candidate.queries.includes(name)).map((t) => t.sql.replace(/^.* ON /, ''));
    const refused = advice.refused.find((r) => r.name === name)?.message ?? null;
    const worse = [name, probe && `probe_${name}`].filter(Boolean).some((n) => verdict(n) === 'slower');
    const better = [name, probe && `probe_${name}`].filter(Boolean).some((n) => verdict(n) === 'faster');
    const helps = expected && verdict(name) !== null && compare(before, peer).queries.find((q) => q.name === name)?.verdict === 'faster';
    // The peer's own index for this case, exactly: as good by definition. Measured against the peer's
    // whole pack it can still lose, to another case's index the planner prefers for this query.
    const identical = !!expected && kept.length === 1 && [expected].flat().some((e) => normalized(kept[0]) === normalized(e));
    const measuredOutcome = refused ? 'left out (refused by the server as written)' : worse ? (kept.length ? 'worse' : 'no index where the peer helps') : better ? 'better' : 'same';
    const outcome = identical && measuredOutcome === 'worse' ? 'same' : measuredOutcome;
    return {
      name,
      sql,
      expected,
      kept,
      outcome: !expected && !kept.length ? 'same' : outcome,
      identicalToPeer: identical,
      ...(identical && measuredOutcome !== outcome ? { againstPeerPack: measuredOutcome } : {}),
      // No index of its own: served (or not) by those the other cases brought into the pack.
      ownIndex: kept.length > 0,
      peerHelps: !!helps,
      beforeMs: med(before, name),
      peerMs: med(peer, name),
      advisedMs: med(advised, name),
      probe: probe ? { beforeMs: med(before, `probe_${name}`), peerMs: med(peer, `probe_${name}`), advisedMs: med(advised, `probe_${name}`) } : null,
      refused,
    };
  });
  // Every trial's end, with advise's reason: why an index the peer has was not kept.
  out.trials = advice.trials.map((t) => ({ index: t.sql.replace(/^.* ON /, ''), outcome: t.outcome, reason: t.reason ?? '' }));
  await c.end();
  const tally = {};
  for (const x of out.cases) tally[x.outcome] = (tally[x.outcome] ?? 0) + 1;
  out.tally = tally;
  writeFileSync(`test/perf/peers-${SUITE}-last.json`, JSON.stringify(out, null, 2) + '\n');
  const f = (v) => (v === null ? '-' : v < 1 ? v.toFixed(3) : v.toFixed(1));
  log(`\n${'case'.padEnd(22)} ${'before'.padStart(8)} ${'peer'.padStart(8)} ${'advised'.padStart(8)} ${'probe p'.padStart(8)} ${'probe a'.padStart(8)}  outcome / advised index`);
  for (const x of out.cases)
    log(
      `${x.name.padEnd(22)} ${f(x.beforeMs).padStart(8)} ${f(x.peerMs).padStart(8)} ${f(x.advisedMs).padStart(8)} ${f(x.probe?.peerMs ?? null).padStart(8)} ${f(x.probe?.advisedMs ?? null).padStart(8)}  ${x.outcome}${x.expected && !x.ownIndex ? ' (no index of its own)' : ''}: ${x.kept.join('; ') || '(none)'}${x.refused ? ` [${x.refused}]` : ''}`,
    );
  log(`\n${JSON.stringify(tally)}`);
} finally {
  await server.stop();
}
