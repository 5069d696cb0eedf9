import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { writePack } from '../helpers/packs.js';
import { packText } from '../../src/advise/pack-text.js';
import {
  adviseWorkload,
  applyPack,
  DEFAULT_BENCH_OPTIONS,
  DEFAULT_RUN_OPTIONS,
  loadPack,
  loadWorkload,
  rollbackPack,
} from '../../src/index.js';

/**
 * The peers' own index cases as a floor for advise: Dexter's statement tests (ankane/dexter,
 * test/statement_test.rb on its test/support/schema.sql) and Supabase index_advisor's regression
 * tests. For each case, the plan with advise's pack must cost no more than with the peer's expected
 * index (by 10%), on the case and on a probe with another constant, so an index fitted to one literal
 * fails. Plans, not timings: `npm run perf:peers` measures the same cases with bench (BENCHMARKS.md).
 */
let db: TestDatabase;

const SCHEMA = `
CREATE TABLE posts (id int, blog_id int, user_id int, indexed int);
INSERT INTO posts SELECT n, n % 1000, n % 10, n FROM generate_series(1, 40000) n;
CREATE INDEX ON posts (indexed);
CREATE VIEW posts_view AS SELECT id AS view_id FROM posts;
CREATE TABLE blogs (id int PRIMARY KEY);
INSERT INTO blogs SELECT n FROM generate_series(1, 1000) n;
CREATE SCHEMA "Bar";
CREATE TABLE "Bar"."Foo" ("Id" int);
INSERT INTO "Bar"."Foo" SELECT generate_series(1, 40000);
CREATE TABLE book_plain (id int, name text);
INSERT INTO book_plain SELECT g, 'b' || g FROM generate_series(1, 40000) g;
ANALYZE;
`;

// [case, statement, the peer's expected index, probe with another constant]
const CASES: [string, string, string, string | null][] = [
  ['basic_index', 'SELECT * FROM posts WHERE id = 1', 'posts (id)', 'SELECT * FROM posts WHERE id = 2'],
  [
    'multicolumn',
    'SELECT * FROM posts WHERE user_id = 1 AND blog_id = 2',
    'posts (user_id, blog_id)',
    'SELECT * FROM posts WHERE user_id = 3 AND blog_id = 4',
  ],
  [
    'multicolumn_order',
    'SELECT * FROM posts WHERE user_id = 1 ORDER BY blog_id LIMIT 1000',
    'posts (user_id, blog_id)',
    'SELECT * FROM posts WHERE user_id = 2 ORDER BY blog_id LIMIT 1000',
  ],
  [
    'join',
    'SELECT * FROM posts INNER JOIN blogs ON blogs.id = posts.blog_id WHERE blogs.id = 1',
    'posts (blog_id)',
    'SELECT * FROM posts INNER JOIN blogs ON blogs.id = posts.blog_id WHERE blogs.id = 2',
  ],
  ['view', 'SELECT * FROM posts_view WHERE view_id = 1', 'posts (id)', 'SELECT * FROM posts_view WHERE view_id = 2'],
  ['cte', 'WITH cte AS (SELECT * FROM posts WHERE id = 1) SELECT * FROM cte', 'posts (id)', null],
  ['cte_fence', 'WITH cte AS (SELECT * FROM posts) SELECT * FROM cte WHERE id = 1', 'posts (id)', null],
  ['order', 'SELECT * FROM posts ORDER BY user_id DESC LIMIT 10', 'posts (user_id)', null],
  ['order_column_number', 'SELECT user_id FROM posts ORDER BY 1 DESC LIMIT 10', 'posts (user_id)', null],
  ['order_column_alias', 'SELECT user_id AS u FROM posts ORDER BY u DESC LIMIT 10', 'posts (user_id)', null],
  ['order_multiple', 'SELECT * FROM posts ORDER BY user_id, blog_id LIMIT 10', 'posts (user_id, blog_id)', null],
  ['schema', 'SELECT * FROM "Bar"."Foo" WHERE "Id" = 10000', '"Bar"."Foo" ("Id")', 'SELECT * FROM "Bar"."Foo" WHERE "Id" = 20000'],
  ['update', 'UPDATE posts SET indexed = indexed WHERE id = 7', 'posts (id)', 'UPDATE posts SET indexed = indexed WHERE id = 8'],
  ['index_advisor_integration', 'SELECT * FROM book_plain WHERE id = 12', 'book_plain (id)', 'SELECT * FROM book_plain WHERE id = 13'],
];

const cost = async (sql: string): Promise<number> =>
  (await db.query(`EXPLAIN (FORMAT JSON) ${sql}`))[0]['QUERY PLAN'][0].Plan['Total Cost'];

/** Each statement's planned cost with whatever indexes stand. */
const costs = async () => {
  const out = new Map<string, number>();
  for (const [name, sql, , probe] of CASES) {
    out.set(name, await cost(sql));
    if (probe) out.set(`${name} (probe)`, await cost(probe));
  }
  return out;
};

let advised = new Map<string, number>();
let peer = new Map<string, number>();
let before = new Map<string, number>();
/** What advise decided for each case's candidates, said when a case fails (a failure explains itself). */
const decided = new Map<string, string>();

beforeAll(async () => {
  db = await createTestDatabase('peers');
  await db.query(SCHEMA);
  before = await costs();
  const wfile = writePack('peer-cases', 'SELECT 1;\n').replace(/[^/]+$/, 'workload.sql');
  writeFileSync(wfile, CASES.map(([name, sql]) => `-- name: ${name}\n${sql};\n`).join('\n'));
  const c = await db.connect();
  try {
    const workload = await loadWorkload(wfile);
    const advice = await adviseWorkload(c, workload, {
      ...DEFAULT_RUN_OPTIONS,
      maxIndexes: 50,
      maxSizeBytes: Infinity,
      maxTrials: 40,
      dryRun: false,
      installHypopg: false,
      bench: { ...DEFAULT_BENCH_OPTIONS, runs: 7, warmup: 1, budgetMs: 2000 },
    });
    if (advice.error) throw advice.error;
    for (const [name] of CASES)
      decided.set(
        name,
        advice.trials
          .filter((t) => t.candidate.queries.includes(name))
          .map(
            (t) =>
              `${t.name} ${t.outcome}${t.reason ? ` (${t.reason})` : ''} ${JSON.stringify(t.effects.map((e) => [e.query, e.beforeMs, e.afterMs, e.verdict, e.reason]))}`,
          )
          .concat(advice.refused.filter((r) => r.name === name).map((r) => `refused by the server: ${r.message}`))
          .join('; ') || 'no candidate',
      );
    const pack = join(wfile, '..', 'advised.sql');
    writeFileSync(pack, packText(advice, '18'));
    const applied = await applyPack(c, await loadPack(pack), { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false });
    if (applied.error) throw applied.error;
    advised = await costs();
    await rollbackPack(c, 'advised', DEFAULT_RUN_OPTIONS);
    const expected = [...new Set(CASES.map((x) => x[2]))];
    for (const [i, d] of expected.entries()) await db.query(`CREATE INDEX peer_${i} ON ${d}`);
    peer = await costs();
  } finally {
    await c.end();
  }
}, 300_000);
afterAll(async () => db?.drop());

describe("the peers' cases: advise's pack plans each at most 10% above the peer's own index", () => {
  for (const [name, , , probe] of CASES) {
    it(name, () => {
      for (const k of [name, ...(probe ? [`${name} (probe)`] : [])]) {
        // The control: the peer's index helps this case, so a pack without one would fail here.
        expect(peer.get(k)!, `${k}: the peer's index must help`).toBeLessThan(before.get(k)! * 0.9);
        expect(
          advised.get(k)!,
          `${k}: advised ${advised.get(k)} against the peer's ${peer.get(k)}; advise decided: ${decided.get(name)}`,
        ).toBeLessThanOrEqual(peer.get(k)! * 1.1);
      }
    });
  }
});
