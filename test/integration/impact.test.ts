import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { writePack } from '../helpers/packs.js';

/**
 * impact reads production: application traffic from plain clients, snapshots pgopt takes at
 * apply (and by hand), and a verdict per statement on the window before against the window after.
 */
let db: TestDatabase;
const BY_ACCOUNT = 'SELECT id, amount FROM app.events WHERE account_id = $1';
const BY_KIND = 'SELECT count(*) FROM app.events WHERE kind = $1 AND id < 2000';

async function traffic(n: number, sql = BY_ACCOUNT): Promise<void> {
  const c = new pg.Client({ connectionString: db.url, application_name: 'the-app' });
  await c.connect();
  for (let i = 0; i < n; i++) await c.query(sql, [sql === BY_ACCOUNT ? 1 + ((i * 37) % 2000) : `k${i % 5}`]);
  await c.end();
}
const cli = (...args: string[]) => runCli([...args, '--db', db.url]);

beforeAll(async () => {
  db = await createTestDatabase('impact');
  await db.query(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
  await db.query(`
    CREATE SCHEMA app;
    CREATE TABLE app.events (id int PRIMARY KEY, account_id int NOT NULL, kind text NOT NULL, amount numeric, note text);
    INSERT INTO app.events SELECT g, 1 + (g * 7919) % 2000, 'k' || g % 5, g % 1000, md5(g::text) FROM generate_series(1, 200000) g;
    ANALYZE app.events;`);
  await db.query(`SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)`);
}, 120_000);
afterAll(() => db?.drop());

describe('pgopt impact <pack>', () => {
  it("calls the statement the pack's index serves faster in production, and names the index no statement used", async () => {
    await traffic(60);
    await traffic(40, BY_KIND);
    const pack = writePack(
      'prod',
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS events_account_idx ON app.events (account_id);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS events_note_idx ON app.events (note);\n`,
    );
    expect((await cli('apply', pack)).code).toBe(0);
    await traffic(60);
    await traffic(40, BY_KIND);
    const r = await cli('impact', 'prod', '--format', 'json');
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const mine = doc.statements.find((s: { query: string }) => s.query.includes('account_id = $1'));
    expect(mine).toMatchObject({ verdict: 'faster', name: expect.any(String), queryid: expect.any(String) });
    expect(mine.speedup).toBeGreaterThan(10);
    expect(mine.before.calls).toBe(60);
    expect(mine.after.calls).toBe(60);
    expect(mine.savedMsPerHour).toBeGreaterThan(0);
    // The statement the pack did nothing for: the same plan, the same work, not a change.
    const other = doc.statements.find((s: { query: string }) => s.query.includes('kind = $1'));
    expect(other.verdict).toBe('unchanged');
    expect(doc.objects).toEqual([
      { object: 'app.events_account_idx', scans: 60, unused: false },
      { object: 'app.events_note_idx', scans: 0, unused: true },
    ]);
    const table = await cli('impact', 'prod');
    expect(table.stdout).toContain('app.events_note_idx: no statement used it since the apply (0 scans)');
    expect(table.stdout).toMatch(/production time saved: [\d.,]+ (ms|s)\/h/);

    // --html: the same verdicts, on one page; the statement text is escaped (`id < $2`, as pg_stat_statements keeps it).
    const page = join(mkdtempSync(join(tmpdir(), 'pgopt-impact-')), 'impact.html');
    const html = await cli('impact', 'prod', '--html', page);
    expect(html.code, html.stderr).toBe(0);
    const text = readFileSync(page, 'utf8');
    for (const s of doc.statements) {
      const row = new RegExp(`data-statement="${s.name}"[\\s\\S]*?</tr>`).exec(text)?.[0] ?? '';
      expect(row, s.name).toContain(`data-verdict="${s.verdict}"`);
    }
    expect(text).toContain('id &lt; $2');
    expect(text).not.toContain('id < $2');
    expect(text).toMatch(/<tr class="unused" data-object="app.events_note_idx">/);
    expect(text).toMatch(
      new RegExp(`data-headline="faster">${doc.statements.filter((s: { verdict: string }) => s.verdict === 'faster').length}<`),
    );
    expect(text).not.toMatch(/<script|https?:\/\//);
    const unwritable = await cli('impact', 'prod', '--html', join(page, 'no', 'such', 'dir.html'));
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toMatch(/--html .*: ENOTDIR: the report was not written/);
  });

  it('a pack applied where pg_stat_statements is missing has no snapshots: impact says so (exit 2)', async () => {
    const r = await cli('impact', 'never-applied');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no snapshot of an apply of pack "never-applied"');
  });
});

describe('pgopt snapshot and impact --at', () => {
  it('two windows of the same state are unchanged; a dropped index is slower, and --fail-on-regression exits 1', async () => {
    expect((await cli('snapshot')).code).toBe(0);
    await traffic(60);
    expect((await cli('snapshot', '--label', 'same')).code).toBe(0);
    await traffic(60);
    const aa = JSON.parse((await cli('impact', '--at', 'same', '--format', 'json')).stdout);
    expect(aa.statements.find((s: { query: string }) => s.query.includes('account_id = $1')).verdict).toBe('unchanged');

    expect((await cli('snapshot', '--label', 'drop')).code).toBe(0);
    await db.query('DROP INDEX app.events_account_idx');
    await traffic(60);
    const r = await cli('impact', '--at', 'drop', '--fail-on-regression');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/slower/);
    expect(r.stderr).toContain('impact: 1 statement(s) slower in production');
  });

  it('a reset of pg_stat_statements in the window makes it inconclusive, with the reason, never a verdict', async () => {
    expect((await cli('snapshot', '--label', 'reset')).code).toBe(0);
    // This database's entries only (the suite's other files share the server).
    await db.query(`SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)`);
    await traffic(30);
    const doc = JSON.parse((await cli('impact', '--at', 'reset', '--format', 'json')).stdout);
    const mine = doc.statements.find((s: { query: string }) => s.query.includes('account_id = $1'));
    expect(mine.verdict).toBe('inconclusive');
    expect(mine.reason).toMatch(/reset or evicted|went down/);
  });
});
