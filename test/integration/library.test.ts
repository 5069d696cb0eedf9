import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { writePack, loadSmallSchema } from '../helpers/packs.js';
import { loadPack } from '../../src/pack/load-pack.js';
import { applyPack } from '../../src/engine/apply.js';
import { rollbackPack } from '../../src/engine/rollback.js';
import { DEFAULT_RUN_OPTIONS } from '../../src/engine/run-options.js';
import { Session } from '../../src/db/session.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('lib');
  await loadSmallSchema(db, 1000);
});
afterAll(async () => db?.drop());

describe('pgopt as a library', () => {
  it("a pack's SET statements do not outlive apply on the caller's connection", async () => {
    const c = await db.connect();
    const before = (await c.query('SHOW work_mem')).rows[0].work_mem;
    const pack = await loadPack(
      writePack('sets', `SET work_mem = '77MB';\nSET maintenance_work_mem = '99MB';\nCREATE INDEX idx_lib ON app.projects (name, id);\n`),
    );
    const r = await applyPack(new Session(c), pack, { ...DEFAULT_RUN_OPTIONS, analyze: true, replaceChanged: false });
    expect(r.error).toBeUndefined();
    expect(r.statements.map((s) => s.outcome)).toEqual(['ran', 'ran', 'created']);
    expect((await c.query('SHOW work_mem')).rows[0].work_mem).toBe(before);
    expect((await c.query('SHOW maintenance_work_mem')).rows[0].maintenance_work_mem).not.toBe('99MB');
    // The unsafe way: the same SET run by hand stays for the rest of the session.
    await c.query(`SET work_mem = '77MB'`);
    expect((await c.query('SHOW work_mem')).rows[0].work_mem).toBe('77MB');
    await c.query('RESET work_mem');
    await rollbackPack(new Session(c), 'sets', DEFAULT_RUN_OPTIONS);
  });

  it("the library hands the caller's connection back with its own search_path; the core alone would leave pgopt's pinned", async () => {
    const lib = await import('../../src/index.js');
    const pack = await loadPack(writePack('handback', `CREATE INDEX idx_handback ON app.projects (id, name);\n`));
    const c = await db.connect();
    await c.query(`SET search_path = app, public`);
    const r = await lib.applyPack(c, pack);
    expect(r.error).toBeUndefined();
    expect((await c.query('SHOW search_path')).rows[0].search_path).toBe('app, public');
    expect((await c.query('SHOW standard_conforming_strings')).rows[0].standard_conforming_strings).toBe('on');
    await lib.rollbackPack(c, 'handback');
    expect((await c.query('SHOW search_path')).rows[0].search_path).toBe('app, public');
    // The control: the engine's own applyPack (no hand-back) leaves pgopt's pinned search_path.
    const other = await db.connect();
    await other.query(`SET search_path = app, public`);
    const session = new Session(other);
    await applyPack(session, pack, { ...DEFAULT_RUN_OPTIONS, analyze: false, replaceChanged: false });
    expect((await other.query('SHOW search_path')).rows[0].search_path).toBe('pg_catalog, pg_temp');
    await rollbackPack(session, 'handback', DEFAULT_RUN_OPTIONS);
  });

  it("leaves nothing prepared on the caller's connection; a Session that keeps plans (pgopt's own connections) would", async () => {
    const lib = await import('../../src/index.js');
    const pack = await loadPack(writePack('noplans', `CREATE INDEX CONCURRENTLY idx_noplans ON app.projects (name, id);\n`));
    const prepared = async (c: { query: (q: string) => Promise<{ rows: { name: string }[] }> }) =>
      (await c.query(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'pgopt%' ORDER BY 1`)).rows.map((r) => r.name);
    const c = await db.connect();
    expect((await lib.applyPack(c, pack)).error).toBeUndefined();
    expect(await prepared(c)).toEqual([]);
    await lib.rollbackPack(c, 'noplans');
    // The control: the same apply on a Session that keeps plans leaves the build's statements prepared.
    const other = new Session(await db.connect());
    other.keepsPlans = true;
    expect((await applyPack(other, pack, { ...DEFAULT_RUN_OPTIONS, analyze: false, replaceChanged: false })).error).toBeUndefined();
    expect(await prepared(other)).toEqual(expect.arrayContaining(['pgopt_record_built', 'pgopt_upsert_object', 'pgopt_build_settings']));
    await rollbackPack(other, 'noplans', DEFAULT_RUN_OPTIONS);
    await c.end();
    await other.client.end();
  });
});
