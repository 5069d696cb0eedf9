import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalogSnapshot, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { loadSmallSchema, writePack } from '../helpers/packs.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('bad');
  await loadSmallSchema(db, 1000);
});
afterAll(async () => db?.drop());

const GOOD = `CREATE INDEX idx_ok ON app.projects (name);\n`;

/** [case, pack text, expected message, expected line] — each must exit 2 and change nothing. */
const BAD_PACKS: [string, string, string | RegExp, number | null][] = [
  ['syntax error', `${GOOD}CREATE INDEX idx_x ON app.projects (name;\n`, 'syntax error at or near ";"', 2],
  ['DROP TABLE', `${GOOD}\nDROP TABLE app.projects;\n`, 'refused: DROP TABLE is not an additive optimization', 3],
  ['TRUNCATE', `${GOOD}TRUNCATE app.projects;\n`, 'refused: TRUNCATE', 2],
  ['INSERT', `${GOOD}INSERT INTO app.projects (name) VALUES ('x');\n`, 'refused: INSERT', 2],
  ['UPDATE', `${GOOD}UPDATE app.projects SET name = 'x';\n`, 'refused: UPDATE', 2],
  ['DELETE', `${GOOD}DELETE FROM app.projects;\n`, 'refused: DELETE', 2],
  ['ALTER TABLE', `${GOOD}ALTER TABLE app.projects ADD COLUMN x int;\n`, 'refused: ALTER TABLE', 2],
  // A drop of another index is a tracked drop (hygiene's drop packs); with CASCADE it could not be undone.
  [
    'drop of a foreign index with CASCADE',
    `${GOOD}DROP INDEX app."Execution_pkey" CASCADE;\n`,
    'DROP INDEX … CASCADE would drop what depends on app."Execution_pkey" too',
    2,
  ],
  [
    'drop of a foreign materialized view',
    `${GOOD}DROP MATERIALIZED VIEW app.mv_other;\n`,
    'refused: DROP app.mv_other, which is not an object this pack creates',
    2,
  ],
  ['VACUUM FULL', `${GOOD}VACUUM FULL app.projects;\n`, 'refused: VACUUM FULL', 2],
  ['SET ROLE', `SET ROLE postgres;\n${GOOD}`, 'refused: SET ROLE changes who pgopt acts as', 1],
  ['SET search_path', `SET search_path = app, public;\n${GOOD}`, 'SET search_path in a pack would make apply build elsewhere', 1],
  [
    'SET standard_conforming_strings',
    `SET standard_conforming_strings = off;\n${GOOD}`,
    'standard_conforming_strings changes how the server reads string literals',
    1,
  ],
  [
    'SET of a setting off the allow-list',
    `SET statement_timeout = 0;\n${GOOD}`,
    'SET statement_timeout is not one of the settings a pack may change',
    1,
  ],
  ['RESET ALL', `${GOOD}RESET ALL;\n`, 'RESET ALL resets more than the pack set', 2],
  ['bare VACUUM', `${GOOD}VACUUM;\n`, 'VACUUM without a table acts on the whole database', 2],
  ['bare ANALYZE', `${GOOD}ANALYZE;\n`, 'ANALYZE without a table acts on the whole database', 2],
  [
    'ANALYZE of a table the pack does not index',
    `${GOOD}ANALYZE app."Execution";\n`,
    `refused: ANALYZE app."Execution", which is not one of the pack's objects or a table it indexes`,
    2,
  ],
  [
    'COMMENT ON a table the pack does not index',
    `${GOOD}COMMENT ON TABLE app."Execution" IS 'x';\n`,
    'refused: COMMENT ON app."Execution", which is not',
    2,
  ],
  ['COMMENT ON FUNCTION', `${GOOD}COMMENT ON FUNCTION now() IS 'x';\n`, 'COMMENT ON FUNCTION is not about', 2],
  [
    'REFRESH of a same-named view in another schema',
    `CREATE MATERIALIZED VIEW mv_own AS SELECT 1 AS x;\nREFRESH MATERIALIZED VIEW app.mv_own;\n`,
    'refused: REFRESH app.mv_own, which is not a materialized view this pack creates',
    2,
  ],
  [
    'rollback override in another schema',
    `${GOOD}-- pgopt:rollback DROP INDEX IF EXISTS billing.idx_ok;\n`,
    'it drops billing.idx_ok, in another schema',
    2,
  ],
  [
    'rollback override with CASCADE',
    `${GOOD}-- pgopt:rollback DROP INDEX app.idx_ok CASCADE;\n`,
    'CASCADE would drop other objects with it',
    2,
  ],
  [
    'view calling a VOLATILE function',
    `CREATE MATERIALIZED VIEW app.mv_vol AS SELECT setval('app.projects_id_seq', 1000) AS s;\n`,
    'VOLATILE function(s) setval(regclass,bigint)',
    1,
  ],
  ['CREATE TABLE AS', `CREATE TABLE app.copy AS SELECT * FROM app.projects;\n`, 'refused: CREATE TABLE AS', 1],
  ['BEGIN/COMMIT', `BEGIN;\n${GOOD}COMMIT;\n`, 'transaction control (BEGIN/COMMIT) is not allowed', 1],
  ['missing table', `${GOOD}CREATE INDEX idx_y ON app.nope (id);\n`, 'relation "app.nope" does not exist in the target database', 2],
  ['missing table in a view', `CREATE MATERIALIZED VIEW app.v AS SELECT * FROM app.ghost;\n`, 'relation "app.ghost" does not exist', 1],
  ['missing column', `${GOOD}CREATE INDEX idx_z ON app."Execution" ("workflowID");\n`, 'column "workflowID" does not exist', 2],
  ['wrong opclass', `CREATE INDEX idx_g ON app."Execution" USING gin (status jsonb_path_ops);\n`, /operator class|does not accept/, 1],
  ['created twice', `${GOOD}CREATE INDEX idx_ok ON app.projects (id);\n`, 'idx_ok is created twice', 2],
  ['rollback block on a SET', `SET work_mem = '64MB';\n-- pgopt:rollback DROP INDEX x;\n${GOOD}`, '-- pgopt:rollback must follow', 2],
  ['rollback block dropping another object', `${GOOD}-- pgopt:rollback DROP INDEX app.other;\n`, 'may only drop idx_ok', 2],
  ['unknown directive', `${GOOD}-- pgopt:rolback DROP INDEX idx_ok;\n`, 'unknown directive "pgopt:rolback"', 2],
  ['empty pack', `-- nothing here\n`, 'holds no SQL statements', null],
];

describe('bad packs: exit 2, one line naming file and line, database unchanged', () => {
  for (const [name, text, message, line] of BAD_PACKS) {
    it(name, async () => {
      const pack = writePack('bad', text);
      const before = await catalogSnapshot(db);
      for (const cmd of ['apply', 'plan', 'verify']) {
        const r = await runCli([cmd, pack, '--db', db.url]);
        expect(r.code, `${cmd}: ${r.stderr}`).toBe(2);
        const lines = r.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(typeof message === 'string' ? new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : message);
        if (line !== null) expect(lines[0]).toContain(`${pack}:${line}:`);
      }
      expect(await catalogSnapshot(db)).toBe(before);
    });
  }

  it('--json: exactly one JSON document carrying the error', async () => {
    const pack = writePack('bad', `TRUNCATE app.projects;\n`);
    const r = await runCli(['apply', pack, '--json', '--db', db.url]);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.error).toMatchObject({ kind: 'input', location: { file: pack, line: 1 } });
  });

  it('--allow-unsafe lets a refused statement run', async () => {
    const pack = writePack('unsafe', `CREATE INDEX idx_unsafe ON app.projects (id, name);\nUPDATE app.projects SET name = name;\n`);
    expect((await runCli(['apply', pack, '--db', db.url])).code).toBe(2);
    const r = await runCli(['apply', pack, '--allow-unsafe', '--db', db.url]);
    expect(r.code).toBe(0);
    await runCli(['rollback', pack, '--db', db.url]);
  });
});

describe('bad arguments and configuration: exit 2', () => {
  const pack = writePack('good', GOOD);
  const cases: [string, string[], string][] = [
    ['missing pack argument', ['apply'], "missing required argument 'pack'"],
    ['pack not found', ['apply', '/nonexistent/pack.sql'], 'pack not found: /nonexistent/pack.sql'],
    ['empty pack directory', ['apply', mkdtempSync(join(tmpdir(), 'empty-'))], 'holds no .sql files'],
    ['unknown option', ['apply', pack, '--frobnicate'], "unknown option '--frobnicate'"],
    ['bad --lock-timeout', ['apply', pack, '--lock-timeout', 'soon'], '--lock-timeout: "soon" is not a duration'],
    ['bad --lock-retries', ['apply', pack, '--lock-retries', '-1'], '--lock-retries: "-1" is not a whole number'],
    ['bad --wait', ['apply', pack, '--wait', '5 parsecs'], '--wait: "5 parsecs" is not a duration'],
    ['bad --events', ['status', '--events', 'many'], '--events: "many" is not a whole number'],
    ['unknown command', ['aply', pack], "unknown command 'aply'"],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const before = await catalogSnapshot(db);
      const r = await runCli([...args, '--db', db.url]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
      expect(await catalogSnapshot(db)).toBe(before);
    });
  }

  it('a URL that is not postgres:// is a configuration error', async () => {
    const r = await runCli(['status', '--db', 'mysql://root:hunter2@localhost/app']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('must start with postgres://');
    expect(r.stderr + r.stdout).not.toContain('hunter2');
  });
});

describe('connections: database errors exit 3; the password never shows', () => {
  const SECRET = 'S3cret-Pa55word';
  const wrong = () => {
    const u = new URL(db.url);
    u.password = SECRET;
    return u.toString();
  };

  it('wrong password given by --db, DATABASE_URL, .env and PGPASSWORD', async () => {
    const u = new URL(db.url);
    const cwd = mkdtempSync(join(tmpdir(), 'envdir-'));
    writeFileSync(join(cwd, '.env'), `# prisma\nDATABASE_URL="${wrong()}"\n`);
    const runs = [
      await runCli(['status', '--db', wrong()]),
      await runCli(['status'], { env: { DATABASE_URL: wrong() } }),
      await runCli(['status'], { cwd }),
      await runCli(['status'], {
        env: { PGHOST: u.hostname, PGPORT: u.port, PGUSER: 'postgres', PGDATABASE: db.name, PGPASSWORD: SECRET },
      }),
    ];
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain('authentication failed');
      expect(r.stdout + r.stderr).not.toContain(SECRET);
    }
  });

  it('the password is not printed with --json either, nor by a command that succeeds', async () => {
    const r = await runCli(['status', '--json', '--db', wrong()]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout).error.kind).toBe('database');
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    const ok = await runCli(['plan', writePack('good', GOOD), '--db', db.url]);
    expect(ok.code).toBe(0);
    expect(ok.stdout + ok.stderr).not.toContain(new URL(db.url).password);
  });

  it('--verbose adds the stack and its causes, scrubbed like every other line', async () => {
    // The server's message names the database, which here holds the real password.
    const u = new URL(db.url);
    const password = decodeURIComponent(u.password);
    u.pathname = `/x${password}`;
    const plain = await runCli(['status', '--db', u.toString()]);
    const verbose = await runCli(['status', '--verbose', '--db', u.toString()]);
    for (const r of [plain, verbose]) {
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain('does not exist');
      expect(r.stdout + r.stderr).not.toContain(password);
    }
    expect(plain.stderr).not.toMatch(/^\s+at /m);
    expect(verbose.stderr).toMatch(/^\s+at /m);
    expect(verbose.stderr).toContain('caused by:');
  });

  it('a refused connection fails fast with exit 3', async () => {
    const r = await runCli(['status', '--db', `postgres://postgres:${SECRET}@127.0.0.1:1/x`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('connection refused');
    expect(r.stderr).not.toContain(SECRET);
  });

  it('a server that never answers times out after --connect-timeout, not minutes', async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    const port = (silent.address() as { port: number }).port;
    const t0 = Date.now();
    const r = await runCli(['status', '--connect-timeout', '1s', '--db', `postgres://u:${SECRET}@127.0.0.1:${port}/x`]);
    silent.close();
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('timed out');
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.stderr).not.toContain(SECRET);
  });
});
