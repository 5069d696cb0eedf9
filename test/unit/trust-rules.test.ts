import { beforeAll, describe, expect, it } from 'vitest';
import { ensureParser } from '../../src/sql/parse.js';
import { checkRollbackOverride } from '../../src/pack/rollback-override.js';
import { dropStatement } from '../../src/engine/rollback-sql.js';
import { registryDistrust } from '../../src/engine/registry.js';
import type { RegistryFacts, RegistryPart } from '../../src/db/catalog.js';
import { inert, inertDeep } from '../../src/output/inert.js';
import { scanTokens } from '../../src/sql/source-text.js';

beforeAll(() => ensureParser());

describe('checkRollbackOverride: a drop of exactly its own object, or refused', () => {
  const ok = (sql: string[], schema: string | null = 'public') => checkRollbackOverride(sql, 'index', schema, 't_a_idx');
  it('accepts a plain or concurrent drop of the object, qualified or not', () => {
    expect(ok(['DROP INDEX t_a_idx'])).toEqual({ concurrently: false });
    expect(ok(['DROP INDEX CONCURRENTLY IF EXISTS public.t_a_idx'])).toEqual({ concurrently: true });
    expect(ok(['DROP INDEX billing.t_a_idx'], null)).toEqual({ concurrently: false });
  });
  it.each([
    [['ALTER ROLE mallory SUPERUSER'], 'not a DROP'],
    [['DROP INDEX t_a_idx; ALTER ROLE mallory SUPERUSER'], 'not a DROP'],
    [['DROP INDEX other_idx'], 'drops other_idx'],
    [['DROP INDEX t_a_idx, other_idx'], 'exactly one'],
    [['DROP INDEX billing.t_a_idx'], 'another schema'],
    [['DROP INDEX t_a_idx CASCADE'], 'CASCADE'],
    [['DROP MATERIALIZED VIEW t_a_idx'], 'another kind'],
    [['DROP INDEX db.public.t_a_idx'], 'drops db.public.t_a_idx'],
    [['DROP INDEX (('], 'does not parse'],
    [[], 'empty'],
  ])('refuses %j', (sql, why) => {
    const r = ok(sql);
    expect('refused' in r && r.refused).toContain(why);
  });
});

describe('dropStatement: derived from the name, never read back', () => {
  it('quotes the name and drops concurrently unless partitioned or told otherwise', () => {
    expect(dropStatement('index', 'app', 'we"ird', { concurrently: true, partitioned: false }).sql).toBe(
      'DROP INDEX CONCURRENTLY IF EXISTS "app"."we""ird"',
    );
    expect(dropStatement('index', 'app', 'i', { concurrently: true, partitioned: true })).toEqual({
      sql: 'DROP INDEX IF EXISTS "app"."i"',
      concurrently: false,
    });
    expect(dropStatement('matview', 'app', 'v', { concurrently: true, partitioned: false }).sql).toBe(
      'DROP MATERIALIZED VIEW IF EXISTS "app"."v"',
    );
  });
});

describe('registryDistrust', () => {
  const part = (p: Partial<RegistryPart>): RegistryPart => ({
    name: 'objects',
    relkind: 'r',
    owner: 'app',
    ownerTrusted: true,
    untrustedGrants: [],
    ...p,
  });
  const facts = (parts: RegistryPart[] | null): RegistryFacts => ({ currentUser: 'app', parts });
  const healthy = [
    part({ name: 'schema', relkind: 'schema' }),
    part({}),
    part({ name: 'events' }),
    part({ name: 'events_id_seq', relkind: 'S' }),
  ];
  it('trusts no registry at all, and one that is wholly ours', () => {
    expect(registryDistrust(facts(null))).toBeNull();
    expect(registryDistrust(facts(healthy))).toBeNull();
  });
  it('names a foreign owner, a writing grant and its REVOKE, and a schema without the tables', () => {
    expect(registryDistrust(facts([...healthy.slice(0, 1), part({ owner: 'mallory', ownerTrusted: false })]))!.problem).toContain(
      'table pgopt.objects is owned by role "mallory"',
    );
    const granted = registryDistrust(
      facts([...healthy, part({ name: 'events_id_seq', relkind: 'S', untrustedGrants: [{ grantee: 'PUBLIC', privilege: 'UPDATE' }] })]),
    )!;
    expect(granted.problem).toContain('sequence pgopt.events_id_seq grants UPDATE to PUBLIC');
    expect(granted.fix).toBe('REVOKE UPDATE ON SEQUENCE pgopt.events_id_seq FROM PUBLIC');
    expect(
      registryDistrust(facts([part({ name: 'schema', relkind: 'schema', untrustedGrants: [{ grantee: 'bob', privilege: 'CREATE' }] })]))!
        .fix,
    ).toBe('REVOKE CREATE ON SCHEMA pgopt FROM "bob"');
    expect(registryDistrust(facts(healthy.slice(0, 1)))!.problem).toContain("not pgopt's registry: it has no table pgopt.objects");
  });
});

describe('inert text', () => {
  it('escapes terminal control sequences and bidi overrides, keeps newlines, tabs and ordinary text', () => {
    expect(inert('a\x1b]0;x\x07b\x9bc\u202ed\n\te 中文')).toBe('a\\x1b]0;x\\x07b\\x9bc\\u202ed\n\te 中文');
  });
  it('copies a result deeply, keeping prototypes (an error stays an error)', () => {
    const err = new Error('bad \x1b[2J');
    const out = inertDeep({ list: [{ name: 'x\x1b' }], err, n: 1 });
    expect(out.list[0].name).toBe('x\\x1b');
    expect(out.err).toBeInstanceOf(Error);
    expect(out.err.message).toBe('bad \\x1b[2J');
  });
});

describe('scanTokens with control characters in a quoted name', () => {
  it('gives the real text and offsets (libpg-query alone fails on them)', () => {
    const sql = 'CREATE INDEX "a\x1bb\x0cc" ON t (a) -- x';
    const t = scanTokens(sql);
    expect(t[2]).toMatchObject({ text: '"a\x1bb\x0cc"', start: 13, end: 20 });
    expect(t.at(-1)!.tokenName).toBe('SQL_COMMENT');
  });
});

describe('the run lock: a killed run is told apart from a live one', () => {
  it('application names carry the pgopt process and host, within 63 bytes', async () => {
    const { runApplicationName } = await import('../../src/db/run-lock.js');
    expect(runApplicationName('apply', 'audit', '[42@ci]')).toBe('pgopt apply audit [42@ci]');
    const long = runApplicationName('rollback', 'x'.repeat(100), '[4242424@very-long-host-name]');
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long.endsWith('[4242424@very-long-host-name]')).toBe(true);
  });

  it('orphaned: a pgopt holder on this host whose process is gone; not a live one, another host, or another application', async () => {
    const { orphanedClient } = await import('../../src/db/run-lock.js');
    const holder = (applicationName: string) => ({ pid: 1, applicationName, user: 'u', clientAddr: null, since: '' });
    const gone = () => false;
    expect(orphanedClient(holder('pgopt apply p [123@box]'), 'box', gone)).toBe(123);
    expect(orphanedClient(holder('pgopt apply p [123@box]'), 'box', () => true)).toBeNull();
    expect(orphanedClient(holder('pgopt apply p [123@other]'), 'box', gone)).toBeNull();
    expect(orphanedClient(holder('myapp [123@box]'), 'box', gone)).toBeNull();
    expect(orphanedClient(holder('pgopt apply p'), 'box', gone)).toBeNull();
  });
});
