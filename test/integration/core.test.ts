import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogSnapshot, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, SMALL_PACK, writePack } from '../helpers/packs.js';

let db: TestDatabase;
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);
const indexNames = async () =>
  (await db.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'app' AND tablename IN ('Execution', 'exec_daily') ORDER BY 1`)).map(
    (r) => r.indexname,
  );

beforeAll(async () => {
  db = await createTestDatabase('core');
  await loadSmallSchema(db);
});
afterAll(async () => db?.drop());

describe('apply / verify / rollback round trip', () => {
  const pack = writePack('small', SMALL_PACK);

  it('plan shows every statement pending, with its lock, before anything exists', async () => {
    const r = await cli('plan', pack, '--json');
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.pack).toBe('small');
    expect(plan.steps.map((s: any) => s.kind)).toEqual([
      'set',
      'create-index',
      'create-index',
      'create-index',
      'create-index',
      'create-matview',
      'create-index',
    ]);
    const idx = plan.steps[1];
    expect(idx).toMatchObject({
      object: 'app.idx_exec_wf_time',
      lock: 'SHARE UPDATE EXCLUSIVE',
      concurrent: true,
      state: 'pending',
      action: 'create',
    });
    expect(plan.steps[5]).toMatchObject({ object: 'app.exec_daily', state: 'pending' });
    expect(await indexNames()).toEqual(['Execution_pkey']);
  });

  it('verify before apply fails, naming each object as not applied', async () => {
    const r = await cli('verify', pack);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('app.idx_exec_wf_time (pending)');
  });

  it('apply builds every object, valid, concurrently, and records it', async () => {
    const r = await cli('apply', pack, '--json');
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.statements.filter((s: any) => s.outcome === 'created')).toHaveLength(6);
    expect([...res.analyzed].sort()).toEqual(['app."Execution"', 'app.exec_daily'].sort());
    const invalid = await db.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`);
    expect(invalid[0].n).toBe(0);
    const rows = await db.query(
      `SELECT object_name, state, pre_existing, applied_by, applied_by = current_user AS by_me FROM pgopt.objects ORDER BY ordinal`,
    );
    expect(rows.map((x) => x.object_name)).toEqual([
      'idx_exec_wf_time',
      'idx_exec_active',
      'idx_exec_result',
      'idx_exec_lower',
      'exec_daily',
      'exec_daily_key',
    ]);
    expect(rows.every((x) => x.state === 'applied' && !x.pre_existing && x.by_me)).toBe(true);
    const pop = await db.query(`SELECT relispopulated FROM pg_class WHERE relname = 'exec_daily'`);
    expect(pop[0].relispopulated).toBe(true);
  });

  it('a second apply changes nothing and says so', async () => {
    const before = await catalogSnapshot(db);
    const r = await cli('apply', pack);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('already applied: nothing to do');
    expect(await catalogSnapshot(db)).toBe(before);
  });

  it('verify passes and status shows who applied what and how long it took', async () => {
    const v = await cli('verify', pack, '--json');
    expect(v.code).toBe(0);
    // Each object's size is its own, read from the catalog.
    const sizes = await db.query(
      `SELECT relname, pg_relation_size(oid)::float8 AS size FROM pg_class WHERE relname IN ('idx_exec_wf_time', 'idx_exec_result')`,
    );
    for (const { relname, size } of sizes) {
      expect(size).toBeGreaterThan(0);
      expect(JSON.parse(v.stdout).objects.find((o: any) => o.object.endsWith(relname)).sizeBytes).toBe(size);
    }
    const s = JSON.parse((await cli('status', '--json')).stdout);
    expect(s.packs[0].pack).toBe('small');
    expect(s.packs[0].objects).toHaveLength(6);
    expect(s.packs[0].objects[0]).toMatchObject({ name: 'idx_exec_wf_time', appliedBy: 'postgres', state: 'applied' });
    expect(typeof s.packs[0].objects[0].durationMs).toBe('number');
    expect(s.events.some((e: any) => e.action === 'verify' && e.outcome === 'passed')).toBe(true);
  });

  it('an index dropped by hand: verify exits 1 naming it, apply recreates it', async () => {
    await db.query(`DROP INDEX app.idx_exec_active`);
    const v = await cli('verify', pack);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain('app.idx_exec_active (missing)');
    expect(v.stderr.trim().split('\n')).toHaveLength(1);
    const a = await cli('apply', pack, '--json');
    expect(a.code).toBe(0);
    const res = JSON.parse(a.stdout);
    expect(res.statements.find((s: any) => s.object === 'app.idx_exec_active').outcome).toBe('created');
    expect((await cli('verify', pack)).code).toBe(0);
  });

  it('an index changed by hand is reported as changed, not as applied', async () => {
    await db.query(`DROP INDEX app.idx_exec_lower; CREATE INDEX idx_exec_lower ON app."Execution" (lower(status))`);
    const v = await cli('verify', pack, '--json');
    expect(v.code).toBe(1);
    const o = JSON.parse(v.stdout).objects.find((x: any) => x.object === 'app.idx_exec_lower');
    expect(o).toMatchObject({ state: 'changed-since-applied', ok: false });
    const a = await cli('apply', pack);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('apply stopped before changing anything');
    const r = await cli('apply', pack, '--replace-changed');
    expect(r.code).toBe(0);
    expect((await cli('verify', pack)).code).toBe(0);
  });

  it('a pack file edited after apply: verify reports "changed-since-applied"', async () => {
    const edited = writePack('small', SMALL_PACK.replace(`("workflowId", "createdAt" DESC)`, `("workflowId", "createdAt")`));
    const v = await cli('verify', edited, '--json');
    expect(v.code).toBe(1);
    const o = JSON.parse(v.stdout).objects.find((x: any) => x.object === 'app.idx_exec_wf_time');
    expect(o.state).toBe('changed-since-applied');
    expect(o.reason).toContain('pack statement changed');
  });

  it('a layout-only edit (comments, whitespace, CONCURRENTLY) is not a change', async () => {
    const relaid = writePack(
      'small',
      SMALL_PACK.replace(
        'CREATE INDEX idx_exec_wf_time ON',
        '/* hot path; see ticket */ CREATE INDEX CONCURRENTLY idx_exec_wf_time\n   ON',
      ),
    );
    expect((await cli('verify', relaid)).code).toBe(0);
  });

  it('rollback drops exactly what it created, newest first; verify then reports all pending', async () => {
    const r = await cli('rollback', pack, '--json');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.objects.map((o: any) => o.object)).toEqual([
      'app.exec_daily_key',
      'app.exec_daily',
      'app.idx_exec_lower',
      'app.idx_exec_result',
      'app.idx_exec_active',
      'app.idx_exec_wf_time',
    ]);
    expect(res.objects.every((o: any) => o.outcome === 'dropped')).toBe(true);
    expect(await indexNames()).toEqual(['Execution_pkey']);
    expect(await db.query(`SELECT * FROM pgopt.objects`)).toEqual([]);
    const v = await cli('verify', pack, '--json');
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout).objects.every((o: any) => o.state === 'pending')).toBe(true);
  });

  it('rollback --only drops one object and leaves the rest', async () => {
    expect((await cli('apply', pack)).code).toBe(0);
    const r = await cli('rollback', pack, '--only', 'idx_exec_result');
    expect(r.code).toBe(0);
    expect(await indexNames()).not.toContain('idx_exec_result');
    expect(await indexNames()).toContain('idx_exec_wf_time');
    expect((await cli('rollback', pack)).code).toBe(0);
  });
});

describe('objects pgopt did not create', () => {
  it('a pre-existing index is recorded, kept by rollback; a naive rollback would have dropped it', async () => {
    await db.query(`CREATE INDEX idx_pre ON app."Execution" ("projectId")`);
    const pack = writePack('pre', `CREATE INDEX idx_pre ON app."Execution" ("projectId");\nCREATE INDEX idx_new ON app.projects (name);\n`);
    const plan = JSON.parse((await cli('plan', pack, '--json')).stdout);
    expect(plan.steps[0]).toMatchObject({ state: 'pre-existing', action: 'record' });
    expect((await cli('apply', pack)).code).toBe(0);
    const rows = await db.query(`SELECT object_name, pre_existing FROM pgopt.objects WHERE pack = 'pre' ORDER BY 1`);
    expect(rows).toEqual([
      { object_name: 'idx_new', pre_existing: false },
      { object_name: 'idx_pre', pre_existing: true },
    ]);
    const r = JSON.parse((await cli('rollback', pack, '--json')).stdout);
    expect(r.objects.find((o: any) => o.object === 'app.idx_pre').outcome).toBe('kept');
    const left = await indexNames();
    expect(left).toContain('idx_pre');
    expect(left).not.toContain('idx_new');
    // The unsafe way: the pack's derived rollback, run blindly, drops the DBA's index.
    const naive = await db.connect();
    await naive.query(`DROP INDEX CONCURRENTLY IF EXISTS app.idx_pre`);
    expect(await indexNames()).not.toContain('idx_pre');
  });

  it('a pre-existing index with a different definition stops apply before it changes anything', async () => {
    await db.query(`CREATE INDEX idx_other ON app."Execution" (status)`);
    const pack = writePack(
      'other',
      `CREATE INDEX idx_first ON app.projects (id, name);\nCREATE INDEX idx_other ON app."Execution" ("createdAt");\n`,
    );
    const before = await catalogSnapshot(db);
    const r = await cli('apply', pack);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('app.idx_other: an object of this name already exists with a different definition');
    expect(await catalogSnapshot(db)).toBe(before);
  });
});

describe('INVALID indexes', () => {
  it('a failed concurrent UNIQUE build outside pgopt leaves INVALID; verify flags it; apply repairs it once data is fixed', async () => {
    await db.query(`CREATE TABLE app.users (id int, email text)`);
    await db.query(
      `INSERT INTO app.users SELECT g, 'u' || g || '@x' FROM generate_series(1, 1000) g; INSERT INTO app.users VALUES (1001, 'u1@x')`,
    );
    const pack = writePack('uniq', `CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON app.users (email);\n`);
    // The unsafe way: a plain concurrent build on duplicate data leaves an INVALID index behind.
    const psql = await db.connect();
    await expect(psql.query(`CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON app.users (email)`)).rejects.toThrow(
      /could not create unique index/,
    );
    const inv = await db.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'app.users_email_key'::regclass`);
    expect(inv[0].indisvalid).toBe(false);
    const v = await cli('verify', pack);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain('app.users_email_key (invalid)');
    // With the duplicates still there, pgopt refuses before building (lint finds them) and
    // changes nothing: the leftover stays as it was, nothing is claimed.
    const failed = await cli('apply', pack);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('UNIQUE index over data with duplicates');
    expect(await db.query(`SELECT * FROM pgopt.objects WHERE pack = 'uniq'`)).toEqual([]);
    await db.query(`DELETE FROM app.users WHERE id = 1001`);
    const ok = await cli('apply', pack, '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).statements[0].outcome).toBe('rebuilt');
    expect((await cli('verify', pack)).code).toBe(0);
  });

  it("pgopt's own concurrent build that fails leaves no INVALID index and claims nothing", async () => {
    // An error only the build meets: the dry run ran on an empty clone, and lint evaluates no key
    // expression of a non-unique index. The concurrent build fails in its second phase, after the
    // INVALID index was already committed.
    await db.query(`CREATE TABLE app.members (id int, email text); INSERT INTO app.members VALUES (1, 'A@x'), (2, 'a@x')`);
    const pack = writePack('members', `CREATE INDEX members_ratio ON app.members ((1 / (id - 2)));\n`);
    const r = await cli('apply', pack);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('division by zero');
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname = 'members_ratio'`)).toEqual([]);
    expect(await db.query(`SELECT * FROM pgopt.objects WHERE pack = 'members'`)).toEqual([]);
  });

  it('an INVALID leftover with the pack definition is dropped and rebuilt by apply', async () => {
    await db.query(
      `CREATE TABLE app.tags (id int, tag text); INSERT INTO app.tags SELECT g, 't' || (g % 3) FROM generate_series(1, 100) g`,
    );
    const psql = await db.connect();
    await expect(psql.query(`CREATE UNIQUE INDEX CONCURRENTLY tags_tag_key ON app.tags (tag)`)).rejects.toThrow();
    await db.query(`DELETE FROM app.tags WHERE id > 3`);
    const pack = writePack('tags', `CREATE UNIQUE INDEX tags_tag_key ON app.tags (tag);\n`);
    expect(JSON.parse((await cli('plan', pack, '--json')).stdout).steps[0]).toMatchObject({ state: 'invalid', action: 'rebuild' });
    const r = JSON.parse((await cli('apply', pack, '--json')).stdout);
    expect(r.statements[0].outcome).toBe('rebuilt');
    const v = await db.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'app.tags_tag_key'::regclass`);
    expect(v[0].indisvalid).toBe(true);
  });
});

describe('packs as DBAs write them', () => {
  it('dollar quotes, strings and comments holding semicolons; a directory taken in file-name order', async () => {
    const pack = writePack('tricky', {
      '020_view.sql': `/* a; b; c */
CREATE MATERIALIZED VIEW app.labels AS
  SELECT id, $$semi;colon$$ AS label, 'it''s; fine' AS note -- trailing; comment
    FROM app.projects;
CREATE UNIQUE INDEX labels_id ON app.labels (id);
COMMENT ON MATERIALIZED VIEW app.labels IS 'one; two';
`,
      '010_index.sql': `-- first file; runs first
CREATE INDEX idx_proj_name ON app.projects (name) WHERE name <> $tag$x;y$tag$;
`,
    });
    const r = await cli('apply', pack, '--json');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.statements.map((s: any) => `${s.kind}@${s.location.file.split('/').pop()}:${s.location.line}`)).toEqual([
      'create-index@010_index.sql:2',
      'create-matview@020_view.sql:2',
      'create-index@020_view.sql:5',
      'comment@020_view.sql:6',
    ]);
    const label = await db.query(`SELECT label, note FROM app.labels LIMIT 1`);
    expect(label[0]).toEqual({ label: 'semi;colon', note: "it's; fine" });
    expect((await cli('verify', pack)).code).toBe(0);
    expect((await cli('rollback', pack)).code).toBe(0);
  });

  it('-- pgopt:rollback overrides the derived rollback', async () => {
    const pack = writePack(
      'override',
      `CREATE INDEX idx_override ON app.projects (id DESC);
-- pgopt:rollback DROP INDEX IF EXISTS app.idx_override;
`,
    );
    expect((await cli('apply', pack)).code).toBe(0);
    const row = await db.query(`SELECT rollback_sql FROM pgopt.objects WHERE object_name = 'idx_override'`);
    expect(row[0].rollback_sql).toEqual(['DROP INDEX IF EXISTS app.idx_override']);
    expect((await cli('rollback', pack)).code).toBe(0);
    expect(await db.query(`SELECT 1 FROM pg_class WHERE relname = 'idx_override'`)).toEqual([]);
  });
});

describe('one run at a time', () => {
  it('a second run fails naming who holds the run lock, or waits for it with --wait', async () => {
    const pack = writePack('locked', `CREATE INDEX idx_locked ON app.projects (name, id);\n`);
    const holder = await db.connect();
    await holder.query(`SET application_name = 'pgopt apply other'`);
    await holder.query(`SELECT pg_advisory_lock(${0x70676f70}, 1)`);
    const before = await catalogSnapshot(db);
    const r = await cli('apply', pack);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/another pgopt run holds this database's run lock: "pgopt apply other" \(pid \d+/);
    expect(await catalogSnapshot(db)).toBe(before);
    setTimeout(() => void holder.query(`SELECT pg_advisory_unlock(${0x70676f70}, 1)`), 1500);
    const waited = await cli('apply', pack, '--wait', '20s');
    expect(waited.code).toBe(0);
    await cli('rollback', pack);
  });

  it('two applies at once: both finish, the objects are built once and recorded once', async () => {
    const pack = writePack(
      'twice',
      `CREATE INDEX idx_t1 ON app."Execution" ("projectId", "createdAt");\nCREATE INDEX idx_t2 ON app."Execution" (status, "workflowId");\n`,
    );
    const [a, b] = await Promise.all([cli('apply', pack, '--wait', '60s', '--json'), cli('apply', pack, '--wait', '60s', '--json')]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const outcomes = [JSON.parse(a.stdout), JSON.parse(b.stdout)].map((r) => r.statements.map((s: any) => s.outcome).join(','));
    expect(outcomes.sort()).toEqual(['created,created', 'skipped,skipped']);
    const rows = await db.query(`SELECT count(*)::int AS n FROM pgopt.objects WHERE pack = 'twice'`);
    expect(rows[0].n).toBe(2);
    await cli('rollback', pack);
  });
});
