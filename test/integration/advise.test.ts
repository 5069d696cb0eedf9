import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';

/**
 * advise on small schemas where the right index is known, through the real CLI: candidates from
 * the parse trees, real trial builds, measured verdicts — and the database left as it was.
 */
let db: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'advise-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

beforeAll(async () => {
  db = await createTestDatabase('advise');
  await db.query(`
    CREATE SCHEMA app;
    CREATE TYPE app.state AS ENUM ('pending', 'running', 'success', 'error', 'crashed');
    CREATE TABLE app.users (id bigserial PRIMARY KEY, email text NOT NULL, org_id int NOT NULL);
    CREATE TABLE app."Execution" (id bigserial PRIMARY KEY, "workflowId" int NOT NULL, status app.state NOT NULL,
                                  "createdAt" timestamptz NOT NULL, data jsonb NOT NULL);
    INSERT INTO app.users (email, org_id) SELECT 'User' || g || '@Example.com', g % 300 FROM generate_series(1, 40000) g;
    INSERT INTO app."Execution" ("workflowId", status, "createdAt", data)
      SELECT g % 1000, (ARRAY['success','success','success','success','success','success','success','success','pending','error','crashed']::app.state[])[1 + g % 11],
             now() - g * interval '1 second', jsonb_build_object('kind', g % 40)
        FROM generate_series(1, 80000) g;
    CREATE INDEX users_org ON app.users (org_id);
    ANALYZE;
  `);
});
afterAll(async () => db?.drop());

const WORKLOAD = `-- The shapes advise must recognise.
-- name: login
-- Audit: case-insensitive sign-in
-- See: https://example.com/login
-- params: SELECT upper(email) FROM app.users ORDER BY id LIMIT 20
SELECT id FROM app.users WHERE lower(email) = lower($1);

-- name: failures
SELECT id, "createdAt" FROM app."Execution" WHERE status IN ('error', 'crashed') ORDER BY "createdAt" DESC LIMIT 50;

-- name: history
-- params: SELECT g FROM generate_series(1, 40) g
SELECT id, status FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 20;

-- name: by_kind
SELECT count(*) FROM app."Execution" WHERE data @> '{"kind": 7}';

-- name: totals
SELECT status, count(*) FROM app."Execution" GROUP BY status;

-- name: org_members
-- params: SELECT g FROM generate_series(1, 40) g
SELECT id FROM app.users WHERE org_id = $1;
`;

const FAST = ['--runs', '8', '--time-budget', '1min'];
const trialLeftovers = async () => ({
  indexes: (await db.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE '%\\_idx' ESCAPE '\\' AND relkind = 'i'`))[0].n,
  rows: (await db.query(`SELECT count(*)::int AS n FROM pgopt.objects WHERE pack LIKE 'pgopt-advise-%'`).catch(() => [{ n: 0 }]))[0].n,
});

describe('pgopt advise', () => {
  let pack = '';
  let json: {
    trials: { candidate: { queries: string[] }; outcome: string; sql: string; reason: string }[];
    hypopg: string;
    writes: unknown[];
    analyzed: string[];
  };

  it('finds, proves and writes the known right indexes, and leaves the database as it was', async () => {
    // The application's schema; advise's own bookkeeping (schema pgopt) is what makes a kill -9 recoverable.
    const appIndexes = () =>
      db.query(
        `SELECT indexrelid::regclass::text AS i, indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = 'app'::regnamespace ORDER BY 1`,
      );
    const before = await appIndexes();
    const out = join(dir, 'advised.sql');
    const r = await runCli(['advise', file('w.sql', WORKLOAD), '--out', out, '--json', ...FAST, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    json = JSON.parse(r.stdout);
    pack = readFileSync(out, 'utf8');
    // First-round losers are dropped at once, before round two builds anything more.
    const losers = json.trials.filter((t) =>
      ['no query of the workload used it', 'no query it served was significantly faster'].includes(t.reason),
    );
    if (losers.length) expect(r.stderr).toMatch(/dropping \d+ trial index\(es\) that made no query faster/);
    expect(pack).toMatch(/ON "app"\."users" \(lower\(email\)\)/);
    expect(pack).toMatch(/ON "app"\."Execution" \("createdAt" DESC\) WHERE status IN \('error', 'crashed'\)/);
    expect(pack).toMatch(/ON "app"\."Execution" \("workflowId", "createdAt" DESC\)/);
    expect(pack).toMatch(/ON "app"\."Execution" USING gin \(data jsonb_path_ops\)/);
    expect(pack).toMatch(/-- {3}history: [\d.]+ ms → [\d.]+ ms \(\d+×, faster\) measured/);
    // The write cost, measured with bench --writes' probes (rolled back).
    expect(pack).toMatch(/-- {3}writes on app\.users with all \d+ trial index\(es\) on it: insert [\d.]+ ms → [\d.]+ ms, update/);
    expect(json.writes.length).toBeGreaterThan(0);
    // The expression index needed statistics on lower(email): that ANALYZE is the one change left, and said.
    expect(json.analyzed).toEqual(['app.users']);
    const text = await runCli([
      'advise',
      file('one-expr.sql', `-- name: login\nSELECT id FROM app.users WHERE lower(email) = 'x';\n`),
      ...FAST,
      '--db',
      db.url,
    ]);
    expect(text.stdout + text.stderr).toMatch(/ANALYZE ran on app\.users for the trial builds/);
    expect(await appIndexes()).toEqual(before);
    expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
  });

  it('suggests nothing for a whole-table aggregate, nor where an existing index already serves the query', () => {
    const forQuery = (q: string) => json.trials.filter((t) => t.candidate.queries.includes(q));
    expect(forQuery('totals')).toEqual([]);
    expect(forQuery('org_members').length).toBeGreaterThan(0);
    expect(forQuery('org_members').every((t) => t.outcome === 'covered')).toBe(true);
    const kept = json.trials.filter((t) => t.outcome === 'kept');
    expect(kept.some((t) => t.candidate.queries.includes('org_members') || t.candidate.queries.includes('totals'))).toBe(false);
  });

  it('the pack it writes applies, verifies and rolls back like any pack', async () => {
    const p = join(dir, 'advised.sql');
    expect((await runCli(['apply', p, '--db', db.url])).code).toBe(0);
    expect((await runCli(['verify', p, '--db', db.url])).code).toBe(0);
    expect((await runCli(['rollback', p, '--db', db.url])).code).toBe(0);
  });

  it('--dry-run lists candidates and builds nothing, and leaves no temporary file behind', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'advise-tmp-'));
    const r = await runCli(['advise', file('w.sql', WORKLOAD), '--dry-run', '--json', '--db', db.url], { env: { TMPDIR: tmp } });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(tmp)).toEqual([]);
    const doc = JSON.parse(r.stdout);
    expect(doc.pack).toBeNull();
    expect(doc.trials.every((t: { sizeBytes: number | null }) => t.sizeBytes === null)).toBe(true);
    expect(r.stderr).not.toContain('builds candidate indexes for real');
  });
});

describe('a candidate the server cannot index', () => {
  it('is dropped with its reason and the run goes on; a window function or a grouped ORDER BY gives none', async () => {
    const w = file(
      'refused.sql',
      `-- name: shuffled
-- A volatile key, written over several lines by the deparser: the server refuses it, and only it.
SELECT id FROM app.users ORDER BY CASE WHEN org_id > 5 THEN random() ELSE 0 END LIMIT 5;

-- name: ranked
-- params: SELECT g FROM generate_series(1, 5) g
SELECT id, rank() OVER (PARTITION BY org_id ORDER BY id) AS r FROM app.users WHERE org_id = $1
 ORDER BY rank() OVER (PARTITION BY org_id ORDER BY id) LIMIT 5;

-- name: biggest_orgs
SELECT org_id, count(*) FROM app.users GROUP BY org_id ORDER BY count(*) DESC LIMIT 10;

-- name: history
-- params: SELECT g FROM generate_series(1, 40) g
SELECT id, status FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 20;
`,
    );
    const r = await runCli(['advise', w, '--dry-run', '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const trials = (
      JSON.parse(r.stdout).trials as { sql: string; candidate: { queries: string[] }; outcome: string; reason: string }[]
    ).map((t) => ({ ...t, queries: t.candidate.queries }));
    const shuffled = trials.filter((t) => t.queries.includes('shuffled'));
    expect(shuffled.length).toBeGreaterThan(0);
    for (const t of shuffled) expect(t).toMatchObject({ outcome: 'invalid', reason: expect.stringContaining('IMMUTABLE') });
    // The refusal is pinned on its own trial: the one after it in the file is not marked.
    expect(trials.filter((t) => t.queries.includes('history')).every((t) => t.outcome !== 'invalid')).toBe(true);
    // No key holds a window function or a count ("covering" in a trial's name is no OVER).
    expect(trials.some((t) => /\bOVER\s*\(|\bcount\(/i.test(t.sql))).toBe(false);
  });
});

describe('a join whose plan reads two trial indexes at once', () => {
  it('keeps both (the saving was measured with both), and the pack is measured once more as it will be applied', async () => {
    await db.query(`
      CREATE TABLE app.parents (id int PRIMARY KEY, code text NOT NULL);
      CREATE TABLE app.kids (id int PRIMARY KEY, parent_id int NOT NULL, note text);
      INSERT INTO app.parents SELECT g, 'P' || g FROM generate_series(1, 20000) g;
      INSERT INTO app.kids SELECT g, 1 + g % 20000, 'n' FROM generate_series(1, 200000) g;
      ANALYZE app.parents; ANALYZE app.kids;`);
    try {
      const w = file(
        'join.sql',
        `-- name: kids_of
-- params: SELECT 'P' || g FROM generate_series(1, 40) g
SELECT k.id FROM app.kids k JOIN app.parents p ON p.id = k.parent_id WHERE p.code = $1;
`,
      );
      const r = await runCli(['advise', w, ...FAST, '--json', '--db', db.url]);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      const kept = doc.trials.filter((t: { outcome: string }) => t.outcome === 'kept');
      expect(kept.map((t: { sql: string }) => /ON "app"\."(\w+)" \((\w+)\)/.exec(t.sql)!.slice(1).join('.')).sort()).toEqual([
        'kids.parent_id',
        'parents.code',
      ]);
      // Each kept index's numbers come from the last measurement, both standing and nothing else.
      for (const t of kept) expect(t.effects[0]).toMatchObject({ query: 'kids_of', verdict: 'faster', with: [expect.any(String)] });
      expect(doc.pack).toContain('kids_of');
      // The control: one of them alone (what a per-index choice kept) leaves the other table to a Seq Scan.
      const c = await db.connect();
      try {
        await c.query(`CREATE INDEX parents_code_only ON app.parents (code)`);
        const plan = JSON.stringify(
          (await c.query(`EXPLAIN (FORMAT JSON) SELECT k.id FROM app.kids k JOIN app.parents p ON p.id = k.parent_id WHERE p.code = 'P7'`))
            .rows[0],
        );
        expect(plan).toMatch(/"Node Type":"Seq Scan"[^}]*"Relation Name":"kids"/);
      } finally {
        await c.query('DROP INDEX app.parents_code_only');
      }
      expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
    } finally {
      await db.query('DROP TABLE app.kids, app.parents');
    }
  });
});

describe("pg_trgm with the user's consent (--install-extension pg_trgm)", () => {
  const installed = async () => (await db.query(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'`))[0].n as number;
  const pattern = `-- name: by_fragment\nSELECT id FROM app.notes WHERE body ILIKE '%abcd1%';\n`;

  it('without it: no trigram candidate, the flag named, nothing installed; with it: built, kept, and the extension stays for the pack', async () => {
    await db.query(`CREATE TABLE app.notes (id bigserial PRIMARY KEY, body text NOT NULL);
      INSERT INTO app.notes (body) SELECT md5(g::text) FROM generate_series(1, 300000) g;`);
    await db.query('VACUUM ANALYZE app.notes');
    try {
      const w = file('trgm.sql', pattern);
      const plain = await runCli(['advise', w, ...FAST, '--json', '--db', db.url]);
      expect(plain.code, plain.stderr).toBe(0);
      const without = JSON.parse(plain.stdout);
      expect(without.trigram).toBe('absent');
      expect(without.trials.filter((t: { sql: string }) => /gin_trgm_ops/.test(t.sql))).toEqual([]);
      expect((await runCli(['advise', w, ...FAST, '--dry-run', '--db', db.url])).stdout).toContain('--install-extension pg_trgm');
      expect(await installed()).toBe(0);

      const out = join(dir, 'trgm-pack.sql');
      const r = await runCli(['advise', w, ...FAST, '--install-extension', 'pg_trgm', '--out', out, '--json', '--db', db.url]);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.trigram).toBe('installed');
      expect(doc.trials.find((t: { sql: string }) => /gin_trgm_ops/.test(t.sql))?.outcome).toBe('kept');
      expect(await installed()).toBe(1);
      expect(readFileSync(out, 'utf8')).toContain('first CREATE EXTENSION IF NOT EXISTS pg_trgm');
      expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
    } finally {
      await db.query('DROP TABLE app.notes; DROP EXTENSION IF EXISTS pg_trgm;');
    }
  });

  it('removed again when no kept index needs it (a table of 50 rows reads faster without one): the database ends as it began', async () => {
    await db.query(`CREATE TABLE app.notes (id bigserial PRIMARY KEY, body text NOT NULL);
      INSERT INTO app.notes (body) SELECT md5(g::text) FROM generate_series(1, 50) g; ANALYZE app.notes;`);
    try {
      const r = await runCli([
        'advise',
        file('trgm-small.sql', pattern),
        ...FAST,
        '--install-extension',
        'pg_trgm',
        '--json',
        '--db',
        db.url,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      // The control: it was installed and a trigram index was built during the run.
      expect(doc.trials.find((t: { sql: string }) => /gin_trgm_ops/.test(t.sql))?.sizeBytes).not.toBeNull();
      expect(doc.trigram).toBe('removed');
      expect(await installed()).toBe(0);
      expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
    } finally {
      await db.query('DROP TABLE app.notes; DROP EXTENSION IF EXISTS pg_trgm;');
    }
  });

  it('an extension advise does not use is bad input: exit 2, one line, nothing installed', async () => {
    const r = await runCli(['advise', file('trgm-bad.sql', pattern), '--install-extension', 'postgis', '--db', db.url]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--install-extension: "postgis" is not one advise uses');
    expect(await installed()).toBe(0);
  });
});

describe('a sort key only the heaviest values need is kept only when the workload sends them', () => {
  interface T {
    sql: string;
    outcome: string;
    reason: string;
    sizeBytes: number | null;
  }
  const query = (params: string) =>
    `-- name: followers\n-- params: ${params}\nSELECT follower_id FROM app.follows WHERE followee_id = $1 ORDER BY created_at DESC LIMIT 20;\n`;
  const advise = async (params: string) => {
    const r = await runCli(['advise', file('followers.sql', query(params)), ...FAST, '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout).trials as T[]).filter((t) => / ON "app"."follows" /.test(t.sql));
  };
  const sortKey = (t: T) => /\(followee_id, created_at DESC\)/.test(t.sql);

  it('users followed by 7 get the short index; 20 stars with 15,000 followers each get the sort key', async () => {
    await db.query(`CREATE TABLE app.follows (follower_id bigint NOT NULL, followee_id bigint NOT NULL, created_at timestamptz NOT NULL);
      INSERT INTO app.follows SELECT g, g % 100000, now() - g * interval '1 second' FROM generate_series(1, 700000) g;
      INSERT INTO app.follows SELECT g, 1000000 + g % 20, now() - g * interval '1 second' FROM generate_series(1, 300000) g;`);
    await db.query('VACUUM ANALYZE app.follows');
    try {
      const light = await advise('SELECT g FROM generate_series(1, 40) g');
      // The control: the index with the sort key was built and measured against the short one.
      const wide = light.find((t) => sortKey(t) && t.sizeBytes !== null);
      expect(wide, JSON.stringify(light)).toBeDefined();
      expect(wide!.outcome, JSON.stringify(light)).not.toBe('kept');
      expect(light.filter((t) => t.outcome === 'kept').map((t) => t.sql)).toEqual([expect.stringMatching(/\(followee_id\)/)]);

      const heavy = await advise('SELECT 1000000 + g FROM generate_series(0, 19) g');
      expect(
        heavy.filter((t) => t.outcome === 'kept').map((t) => t.sql),
        JSON.stringify(heavy),
      ).toEqual([expect.stringMatching(/\(followee_id, created_at DESC\)/)]);
    } finally {
      await db.query('DROP TABLE app.follows');
    }
  });
});

describe('index kinds beyond the plain btree', () => {
  it("LIKE a prefix gets the pattern operator class, an infix pg_trgm's GIN, a range on a column in disk order BRIN: each built and measured", async () => {
    await db.query(`
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
      CREATE TABLE app.log (id bigserial PRIMARY KEY, at timestamptz NOT NULL, who text NOT NULL, msg text NOT NULL);
      INSERT INTO app.log (at, who, msg)
        SELECT timestamptz '2026-01-01' + g * interval '1 second', 'user' || (g % 5000), md5(g::text) FROM generate_series(1, 300000) g;`);
    await db.query('VACUUM ANALYZE app.log');
    try {
      const w = file(
        'kinds.sql',
        `-- name: by_prefix
-- params: SELECT 'user' || g || '%' FROM generate_series(100, 140) g
SELECT id FROM app.log WHERE who LIKE $1;

-- name: by_fragment
SELECT id FROM app.log WHERE msg ILIKE '%abcd1%';

-- name: one_hour
-- params: SELECT timestamptz '2026-01-02' + g * interval '1 hour' FROM generate_series(0, 20) g
SELECT count(*) FROM app.log WHERE at >= $1 AND at < $1 + interval '1 hour';
`,
      );
      const r = await runCli(['advise', w, ...FAST, '--max-trials', '20', '--json', '--db', db.url]);
      expect(r.code, r.stderr).toBe(0);
      const trials = JSON.parse(r.stdout).trials as {
        sql: string;
        outcome: string;
        sizeBytes: number | null;
        effects: { verdict: string }[];
      }[];
      const find = (re: RegExp) => trials.filter((t) => re.test(t.sql));
      const pattern = find(/\(who text_pattern_ops\)/);
      expect(pattern).toHaveLength(1);
      expect(pattern[0].effects.some((e) => e.verdict === 'faster')).toBe(true);
      const trgm = find(/USING gin \(msg "public"\.gin_trgm_ops\)/);
      expect(trgm).toHaveLength(1);
      expect(trgm[0].outcome).toBe('kept');
      const brin = find(/USING brin \(at\)/);
      expect(brin).toHaveLength(1);
      expect(brin[0].sizeBytes).not.toBeNull();
      expect(brin[0].sizeBytes!).toBeLessThan(find(/ON "app"\."log" \(at\)$/)[0].sizeBytes! / 20);
      expect(trials.filter((t) => t.outcome === 'invalid')).toEqual([]);
      expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
    } finally {
      await db.query('DROP TABLE app.log; DROP EXTENSION pg_trgm;');
    }
  });
});

describe('materialized views for aggregate queries', () => {
  it('proposes the view at the grain the query filters on, keeps it when the rewrite returns the same rows faster, and the pack applies', async () => {
    const w = file(
      'aggregates.sql',
      `-- name: daily_runs
-- params: SELECT g FROM generate_series(1, 30) g
SELECT date_trunc('day', "createdAt") AS day, count(*) AS runs, count(*) FILTER (WHERE status = 'error') AS errors
  FROM app."Execution"
 WHERE "workflowId" % 50 = $1
 GROUP BY 1
 ORDER BY 1;

-- name: by_status
SELECT status, count(*) AS n, count(DISTINCT "workflowId") AS workflows FROM app."Execution" GROUP BY status ORDER BY status;

-- name: last_six_hours
-- A bound that does not fall on a day's start: the day's rows before it would be counted by a view on days.
-- params: SELECT now() - interval '6 hours'
SELECT date_trunc('day', "createdAt") AS day, count(*) AS runs FROM app."Execution" WHERE "createdAt" >= $1 GROUP BY 1 ORDER BY 1;
`,
    );
    const out = join(dir, 'views-pack.sql');
    const r = await runCli(['advise', w, ...FAST, '--out', out, '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const views = Object.fromEntries(doc.views.map((v: { query: string }) => [v.query, v]));
    // daily_runs filters on an expression, not a column: no view can hold it, and says so.
    expect(views.daily_runs).toMatchObject({ outcome: 'no-view', reason: expect.stringContaining('cannot hold') });
    expect(views.by_status).toMatchObject({ outcome: 'kept', checkedSets: 1 });
    expect(views.by_status.afterMs).toBeLessThan(views.by_status.beforeMs);
    expect(views.by_status.refreshMs).toBeGreaterThan(0);
    // The control: the rewrite on days would count the whole first day; the row check refuses it.
    expect(views.last_six_hours).toMatchObject({ outcome: 'different-rows' });
    const pack = readFileSync(out, 'utf8');
    expect(pack).toContain('CREATE MATERIALIZED VIEW IF NOT EXISTS "app"."by_status_mv"');
    expect(pack).toContain('CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "by_status_mv_key" ON "app"."by_status_mv" ("status")');
    expect(pack).toMatch(/once the application sends the rewritten query below instead/);
    expect(pack).toMatch(/-- {5}FROM app\.by_status_mv/);
    expect(pack).not.toContain('last_six_hours_mv');
    expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
    expect((await db.query(`SELECT count(*)::int AS n FROM pg_matviews WHERE schemaname = 'app'`))[0].n).toBe(0);
    // The pack applies like any pack, and REFRESH … CONCURRENTLY works on the view it makes.
    expect((await runCli(['apply', out, '--db', db.url])).code).toBe(0);
    await db.query('REFRESH MATERIALIZED VIEW CONCURRENTLY app.by_status_mv');
    expect((await runCli(['rollback', out, '--db', db.url])).code).toBe(0);
  });
});

describe('a literal in the query text', () => {
  it('on a column of many values is a parameter: the plain index serves every value; a partial index on the literal would serve only it', async () => {
    const w = file(
      'literals.sql',
      `-- name: one_workflow
SELECT id FROM app."Execution" WHERE "workflowId" = 17;

-- name: open_failures
SELECT id FROM app."Execution" WHERE "workflowId" = 17 AND status = 'error' ORDER BY "createdAt" DESC LIMIT 5;
`,
    );
    const r = await runCli(['advise', w, '--dry-run', '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const sqls = (JSON.parse(r.stdout).trials as { sql: string }[]).map((t) => t.sql);
    expect(sqls.some((x) => /\("workflowId"\)/.test(x) && !/WHERE/.test(x))).toBe(true);
    expect(sqls.filter((x) => /WHERE[^;]*"workflowId"/.test(x))).toEqual([]);
    // status (an enum of five values) is a fixed filter: its partial index is still proposed.
    expect(sqls.some((x) => /WHERE \(?status = 'error'/.test(x))).toBe(true);
    // The control: the partial index the literal would have made is useless for the next value.
    const c = await db.connect();
    try {
      await c.query(`CREATE INDEX literal_17 ON app."Execution" ("workflowId") WHERE "workflowId" = 17`);
      const plan = async (v: number) =>
        JSON.stringify((await c.query(`EXPLAIN (FORMAT JSON) SELECT id FROM app."Execution" WHERE "workflowId" = ${v}`)).rows[0]);
      expect(await plan(17)).toContain('literal_17');
      expect(await plan(18)).not.toContain('literal_17');
    } finally {
      await c.query('DROP INDEX app.literal_17');
    }
  });
});

describe('a filter through a view or an inlined CTE', () => {
  it("is a filter on the table beneath, as the planner folds it: the candidate is that table's", async () => {
    await db.query(`CREATE VIEW app.members AS SELECT id AS member_id, email AS address, org_id FROM app.users`);
    try {
      const w = file(
        'through.sql',
        `-- name: by_address
-- params: SELECT email FROM app.users ORDER BY id LIMIT 5
SELECT member_id FROM app.members WHERE address = $1;

-- name: recent_cte
-- params: SELECT g FROM generate_series(1, 5) g
WITH runs AS (SELECT * FROM app."Execution") SELECT id FROM runs WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 3;
`,
      );
      const r = await runCli(['advise', w, '--dry-run', '--json', '--db', db.url]);
      expect(r.code, r.stderr).toBe(0);
      const sqls = (JSON.parse(r.stdout).trials as { sql: string }[]).map((t) => t.sql);
      expect(sqls.some((x) => x.endsWith('ON "app"."users" (email)'))).toBe(true);
      expect(sqls.some((x) => x.endsWith('ON "app"."Execution" ("workflowId", "createdAt" DESC)'))).toBe(true);
    } finally {
      await db.query('DROP VIEW app.members');
    }
  });
});

describe('a query the server refuses', () => {
  it('is left out with its file, line and reason, and advise goes on with the rest; bench, which must run them all, stops at it', async () => {
    const w = file(
      'one-refused.sql',
      `-- name: history
-- params: SELECT g FROM generate_series(1, 40) g
SELECT id, status FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 20;

-- name: renamed_column
-- params: SELECT g FROM generate_series(1, 40) g
SELECT id FROM app."Execution"
 WHERE "workflowID" = $1;
`,
    );
    const r = await runCli(['advise', w, '--dry-run', '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.refused).toEqual([
      { name: 'renamed_column', location: { file: w, line: 8 }, message: expect.stringContaining('workflowID') },
    ]);
    expect(doc.trials.some((t: { candidate: { queries: string[] } }) => t.candidate.queries.includes('history'))).toBe(true);
    const text = await runCli(['advise', w, '--dry-run', '--db', db.url]);
    expect(text.stdout + text.stderr).toMatch(
      /left out: query "renamed_column" \(.*one-refused\.sql:8\), which the server refuses: .*workflowID/,
    );
    // The control: bench runs every query, and the refused one ends it.
    const bench = await runCli(['bench', w, '--runs', '1', '--warmup', '0', '--db', db.url]);
    expect(bench.code).not.toBe(0);
    expect(bench.stderr).toContain('renamed_column');
  });
});

describe('queries with no values (capture found none for their $n)', () => {
  it('are judged by their generic plan: the index it reads at half the cost or less is kept, said so; one it saves less (a range of unknown width) is not', async () => {
    const w = file(
      'no-values.sql',
      `-- name: by_email
-- values-from: none
-- mean-ms: 20
-- calls-per-hour: 600
SELECT id, org_id FROM app.users WHERE email = $1;

-- name: since
-- values-from: none
-- mean-ms: 15
SELECT id FROM app."Execution" WHERE "createdAt" > $1;
`,
    );
    const out = join(dir, 'no-values-advised.sql');
    const r = await runCli(['advise', w, '--out', out, '--json', ...FAST, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const trials = JSON.parse(r.stdout).trials as {
      sql: string;
      outcome: string;
      candidate: { queries: string[] };
      effects: { query: string; verdict: string; estimated?: boolean }[];
    }[];
    const email = trials.find((t) => /ON "app"\."users" \(email\)/.test(t.sql))!;
    expect(email.outcome).toBe('kept');
    expect(email.effects).toContainEqual(expect.objectContaining({ query: 'by_email', verdict: 'faster', estimated: true }));
    // A range of unknown width: the generic plan assumes a third of the table, so an index saves it too little.
    const since = trials.filter((t) => t.candidate.queries.includes('since'));
    expect(since.length).toBeGreaterThan(0);
    expect(since.every((t) => t.outcome !== 'kept')).toBe(true);
    expect(readFileSync(out, 'utf8')).toMatch(
      /-- {3}by_email: \d+×, faster by its generic plan \(no values to run it with: its generic plan's cost/,
    );
    expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
  });
});

describe("the workload's own writes (a captured workload with --include-writes)", () => {
  it('are measured before and with the trial indexes on their table, and weighed by how often production runs them; a write elsewhere is not', async () => {
    const w = file(
      'own-writes.sql',
      `-- name: history
-- params: SELECT g FROM generate_series(1, 40) g
SELECT id, status FROM app."Execution" WHERE "workflowId" = $1 ORDER BY "createdAt" DESC LIMIT 20;

-- name: finish_run
-- calls-per-hour: 3600
-- params: SELECT id, 'success'::app.state FROM app."Execution" ORDER BY id LIMIT 20
UPDATE app."Execution" SET status = $2, "workflowId" = "workflowId" + 0 WHERE id = $1;

-- name: sign_up
-- calls-per-hour: 60
-- params: SELECT 'new' || g || '@example.com', 1 FROM generate_series(1, 20) g
INSERT INTO app.users (email, org_id) VALUES ($1, $2);
`,
    );
    const out = join(dir, 'own-writes-advised.sql');
    const r = await runCli(['advise', w, '--out', out, '--json', ...FAST, '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const writes = JSON.parse(r.stdout).writes as {
      probe: string;
      source: string;
      table: string;
      callsPerHour?: number;
      afterMs: number;
    }[];
    const own = writes.filter((x) => x.source === 'production');
    expect(own).toEqual([expect.objectContaining({ probe: 'finish_run', table: 'app.Execution', callsPerHour: 3600 })]);
    expect(own[0].afterMs).toBeGreaterThan(0);
    // The control: app.users has no trial index, so its insert tells nothing about one and is not measured as a write cost.
    expect(writes.some((x) => x.probe === 'sign_up')).toBe(false);
    expect(readFileSync(out, 'utf8')).toMatch(/finish_run [\d.]+ ms → [\d.]+ ms \(-?[\d.]+ s per hour at production's rate\)/);
    expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
  });
});

describe('HypoPG', () => {
  it('screens the candidates where the server has it (--install-hypopg, the user consents), and is left out where it has not', async () => {
    const available = (await db.query(`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'hypopg'`))[0].n > 0;
    const r = await runCli(['advise', file('w.sql', WORKLOAD), '--dry-run', '--install-hypopg', '--json', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    if (!available) {
      console.warn('this server has no HypoPG (Debian: postgresql-15-hypopg): only the trial path runs here');
      expect(doc.hypopg).toBe('not-installed');
      return;
    }
    expect(doc.hypopg).toBe('installed');
    const login = doc.trials.find((t: { sql: string }) => /\(lower\(email\)\)$/.test(t.sql));
    expect(login.predicted[0].used).toBe(true);
    expect(login.predicted[0].costAfter).toBeLessThan(login.predicted[0].costBefore / 2);
    // A GIN candidate is not modelled by HypoPG: no estimate, it goes to the trial.
    expect(doc.trials.find((t: { sql: string }) => t.sql.includes('USING gin')).predicted).toBeNull();
    // The hypothetical indexes were this session's only: nothing in the catalog.
    expect((await db.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE '%btree%'`))[0].n).toBe(0);
    await db.query('DROP EXTENSION hypopg');
  });

  it("reads a candidate's definition in the user's search_path: an extension's operator (ltree's =) resolves; pgopt's pinned path would refuse it", async () => {
    const available =
      (await db.query(`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name IN ('hypopg', 'ltree')`))[0].n === 2;
    if (!available) {
      console.warn('this server has no HypoPG or no ltree: the screen of an extension operator is not checked here');
      return;
    }
    await db.query(`CREATE EXTENSION IF NOT EXISTS ltree;
      CREATE TABLE app.nodes (id int PRIMARY KEY, path ltree NOT NULL, at timestamptz NOT NULL);
      INSERT INTO app.nodes SELECT g, (ARRAY['top.a', 'top.b', 'top.c'])[1 + g % 3]::ltree, now() - g * interval '1 s' FROM generate_series(1, 5000) g;
      ANALYZE app.nodes;`);
    try {
      const w = file('ltree.sql', `-- name: recent_a\nSELECT id FROM app.nodes WHERE path = 'top.a' ORDER BY at DESC LIMIT 5;\n`);
      const r = await runCli(['advise', w, '--dry-run', '--install-hypopg', '--json', '--db', db.url]);
      expect(r.code, r.stderr).toBe(0);
      const partial = JSON.parse(r.stdout).trials.find((t: { sql: string }) => t.sql.includes(`WHERE path = 'top.a'`));
      expect(partial.predicted[0].used).toBe(true);
      // The control: the same definition under pgopt's pinned search_path is refused by the server.
      const c = await db.connect();
      try {
        await c.query(`SET search_path = pg_catalog, pg_temp`);
        await expect(
          c.query(`SELECT * FROM public.hypopg_create_index($1)`, [`CREATE INDEX ON app.nodes (at DESC) WHERE path = 'top.a'`]),
        ).rejects.toThrow(/operator does not exist/);
      } finally {
        await c.end();
      }
    } finally {
      await db.query('DROP TABLE app.nodes; DROP EXTENSION IF EXISTS hypopg; DROP EXTENSION ltree;');
    }
  });
});

/** A one-query advise that waits for the run lock: the run that comes after another. */
const adviseOne = () =>
  runCli([
    'advise',
    file('one.sql', `-- name: one\nSELECT id FROM app.users WHERE lower(email) = 'x';\n`),
    ...FAST,
    '--wait',
    '60s',
    '--db',
    db.url,
  ]);

describe('nothing is left behind', () => {
  const waitForTrial = async () => {
    for (let i = 0; i < 1500; i++) {
      const r = await db.query(`SELECT count(*)::int AS n FROM pgopt.objects WHERE pack LIKE 'pgopt-advise-%'`).catch(() => [{ n: 0 }]);
      if (r[0].n > 0) return;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error('no trial build started');
  };

  it('after a failed trial build (a build timeout): exit 3, every trial dropped', async () => {
    const r = await runCli(['advise', file('w.sql', WORKLOAD), '--build-timeout', '1ms', ...FAST, '--db', db.url]);
    expect(r.code, r.stderr).toBe(3);
    expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
  });

  it('after Ctrl-C: exit 130, every trial dropped', async () => {
    let child: ChildProcess | undefined;
    const run = runCli(['advise', file('w.sql', WORKLOAD), ...FAST, '--db', db.url], { onSpawn: (p) => (child = p) });
    await waitForTrial();
    child!.kill('SIGINT');
    const r = await run;
    expect(r.code, r.stderr).toBe(130);
    expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
  });

  it('after kill -9: the trials stay (the unsafe state), and the next advise rolls them back first', async () => {
    let child: ChildProcess | undefined;
    const run = runCli(['advise', file('w.sql', WORKLOAD), ...FAST, '--db', db.url], { onSpawn: (p) => (child = p) });
    await waitForTrial();
    await new Promise((res) => setTimeout(res, 300));
    child!.kill('SIGKILL');
    await run;
    const left = await trialLeftovers();
    expect(left.rows).toBeGreaterThan(0);
    const next = await adviseOne();
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout + next.stderr).toContain('rolled back what an interrupted run left');
    expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`)).toEqual([{ n: 0 }]);
  });

  it('after kill -9 of a run that installed pg_trgm: it stays (the unsafe state), and the next advise removes it; one the user built on, or installed, stays', async () => {
    const trgm = async () => (await db.query(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_trgm'`))[0].n as number;
    const killDuringTrial = async () => {
      let child: ChildProcess | undefined;
      const w = file('trgm-kill.sql', `-- name: by_fragment\nSELECT id FROM app.notes WHERE body ILIKE '%abcd1%';\n`);
      const run = runCli(['advise', w, ...FAST, '--install-extension', 'pg_trgm', '--db', db.url], { onSpawn: (p) => (child = p) });
      await waitForTrial();
      child!.kill('SIGKILL');
      await run;
      expect(await trgm()).toBe(1);
      // The server ends the dead client's session when it next checks (a build in progress first
      // finishes): until then its run is alive, and rightly left alone.
      for (let i = 0; i < 300 && (await runKeysHeld()) > 0; i++) await new Promise((res) => setTimeout(res, 100));
    };
    const runKeysHeld = async () =>
      (
        await db.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        )
      )[0].n as number;
    await db.query(`CREATE TABLE app.notes (id bigserial PRIMARY KEY, body text NOT NULL);
      INSERT INTO app.notes (body) SELECT md5(g::text) FROM generate_series(1, 50000) g; ANALYZE app.notes;`);
    try {
      await killDuringTrial();
      const next = await adviseOne();
      expect(next.code, next.stderr).toBe(0);
      expect(next.stdout + next.stderr).toContain('the extension pg_trgm it installed');
      expect(await trgm()).toBe(0);
      expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
      // Killed again, and the user builds on the extension before the next run: it is theirs now.
      await killDuringTrial();
      await db.query(`CREATE INDEX notes_body_trgm ON app.notes USING gin (body public.gin_trgm_ops)`);
      const kept = await adviseOne();
      expect(kept.code, kept.stderr).toBe(0);
      expect(kept.stdout + kept.stderr).not.toContain('pg_trgm it installed');
      expect(await trgm()).toBe(1);
      // And one the user installed, with nothing built on it, is never advise's to remove.
      await db.query('DROP INDEX app.notes_body_trgm; DROP EXTENSION pg_trgm; CREATE EXTENSION pg_trgm');
      expect((await adviseOne()).code).toBe(0);
      expect(await trgm()).toBe(1);
    } finally {
      await db.query('DROP TABLE app.notes; DROP EXTENSION IF EXISTS pg_trgm;');
    }
  });

  it('two advise runs at once both end well: the second leaves the first run\u2019s live trials alone', async () => {
    const a = runCli(['advise', file('w.sql', WORKLOAD), ...FAST, '--wait', '60s', '--db', db.url]);
    await waitForTrial();
    const live = (await db.query(`SELECT DISTINCT pack FROM pgopt.objects WHERE pack LIKE 'pgopt-advise-%'`)).map((r) => r.pack);
    const b = await adviseOne();
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout + b.stderr).not.toContain('rolled back what an interrupted run left');
    const ra = await a;
    expect(ra.code, ra.stderr).toBe(0);
    expect(live).toHaveLength(1);
    expect(await trialLeftovers()).toEqual({ indexes: 0, rows: 0 });
  });
});

describe('the trial prefix is reserved', () => {
  it('a user pack named pgopt-advise-… is refused (exit 2) before anything changes', async () => {
    const p = file('pgopt-advise-mine.sql', 'CREATE INDEX IF NOT EXISTS mine_idx ON app.users (email);\n');
    const r = await runCli(['apply', p, '--db', db.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pack name "pgopt-advise-mine" is reserved');
    expect(
      (
        await runCli([
          'apply',
          file('m.sql', 'CREATE INDEX IF NOT EXISTS mine_idx ON app.users (email);\n'),
          '--name',
          'pgopt-advise-0badc0de',
          '--db',
          db.url,
        ])
      ).code,
    ).toBe(2);
    expect((await db.query(`SELECT to_regclass('app.mine_idx') IS NULL AS gone`))[0].gone).toBe(true);
  });

  it('a pack of that name from an earlier pgopt is never rolled back by advise: only its own trial names are', async () => {
    const p = file('mine.sql', 'CREATE INDEX IF NOT EXISTS mine_idx ON app.users (email);\n');
    expect((await runCli(['apply', p, '--db', db.url])).code).toBe(0);
    await db.query(`UPDATE pgopt.objects SET pack = 'pgopt-advise-mine' WHERE pack = 'mine'`);
    const r = await adviseOne();
    expect(r.code, r.stderr).toBe(0);
    expect((await db.query(`SELECT to_regclass('app.mine_idx') IS NOT NULL AS kept`))[0].kept).toBe(true);
    await db.query(`UPDATE pgopt.objects SET pack = 'mine' WHERE pack = 'pgopt-advise-mine'`);
    expect((await runCli(['rollback', 'mine', '--db', db.url])).code).toBe(0);
  });
});
