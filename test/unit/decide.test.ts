import { describe, expect, it } from 'vitest';
import { actionFor, decideState, OBJECT_STATES, type StateFacts } from '../../src/engine/decide.js';

/** Facts as assessPack gathers them, for an index recorded as applied and healthy; each case changes what it names. */
const facts = (over: Partial<StateFacts> = {}): StateFacts => ({
  kind: 'index',
  qualifiedName: 'app.idx',
  fingerprint: 'f1',
  row: { state: 'applied', preExisting: false, fingerprint: 'f1' },
  ownedBy: null,
  live: { valid: true, populated: true, onOtherTable: null, placements: null },
  otherKind: null,
  expectedDefinition: 'CREATE INDEX idx ON app.t USING btree (a)',
  matches: true,
  ...over,
});
const live = (over: Partial<NonNullable<StateFacts['live']>>) => ({ ...facts().live!, ...over });

const CASES: [string, Partial<StateFacts>, string, RegExp][] = [
  ['recorded, present, same definition', {}, 'applied', /^$/],
  ['a view never refreshed', { kind: 'matview', live: live({ populated: false }) }, 'unpopulated', /never been refreshed/],
  ['nothing there, no row', { row: null, live: null }, 'pending', /not yet created/],
  [
    'nothing there, a build was interrupted',
    { row: { state: 'building', preExisting: false, fingerprint: 'f1' }, live: null },
    'pending',
    /interrupted; will build/,
  ],
  [
    'present and right, a build was interrupted before its row',
    { row: { state: 'building', preExisting: false, fingerprint: 'f1' } },
    'pending',
    /apply records it/,
  ],
  ['recorded, gone', { live: null }, 'missing', /dropped outside pgopt/],
  [
    'recorded pre-existing, gone',
    { row: { state: 'applied', preExisting: true, fingerprint: 'f1' }, live: null },
    'missing',
    /pre-existing object is gone/,
  ],
  ['a table of the name', { row: null, live: null, otherKind: 'r' }, 'conflict', /a table named app.idx already exists/],
  ['an index of the name on another table', { live: live({ onOtherTable: 'app.other' }) }, 'conflict', /on another table \(app.other\)/],
  ['someone else\u2019s object of the name, other definition', { row: null, matches: false }, 'conflict', /different definition/],
  ['INVALID', { live: live({ valid: false }) }, 'invalid', /INVALID \(a concurrent build/],
  [
    'INVALID on the coordinator, on Citus',
    { live: live({ valid: false, placements: { summary: '3/32 shards valid', problems: [1] } }) },
    'invalid',
    /citus#8338/,
  ],
  [
    'a broken shard placement',
    { live: live({ placements: { summary: '31/32 shards valid', problems: [1] } }) },
    'invalid',
    /on every shard/,
  ],
  ['the pack statement changed', { fingerprint: 'f2' }, 'changed-since-applied', /statement changed/],
  ['the live definition changed', { matches: false }, 'changed-since-applied', /no longer matches/],
  ['on a standby with no record', { expectedDefinition: null, matches: null }, 'unverifiable', /verify on the primary/],
  ['present, made outside pgopt', { row: null }, 'pre-existing', /not owned by pgopt/],
  ['recorded as pre-existing', { row: { state: 'applied', preExisting: true, fingerprint: 'f1' } }, 'pre-existing', /not owned by pgopt/],
  ['owned by another pack', { row: null, ownedBy: 'other' }, 'pre-existing', /owned by pack "other"/],
];

describe('decideState', () => {
  it.each(CASES)('%s', (_label, over, state, reason) => {
    const d = decideState(facts(over));
    expect(d.state).toBe(state);
    expect(d.reason).toMatch(reason);
  });

  it('every state has a case, and the facts it was given are left as they were', () => {
    expect(new Set(CASES.map((c) => c[2]))).toEqual(new Set(OBJECT_STATES));
    const f = facts({ live: null });
    const copy = JSON.stringify(f);
    decideState(f);
    expect(JSON.stringify(f)).toBe(copy);
  });
});

describe('actionFor: the one state → action map plan shows and apply carries out', () => {
  const action = (over: Partial<StateFacts>, replaceChanged = false) => {
    const f = facts(over);
    return actionFor({ ...decideState(f), row: f.row, live: f.live, matches: f.matches }, { replaceChanged });
  };
  it('builds what is absent, records what a dead run built or someone else made, skips what holds', () => {
    expect(action({ row: null, live: null })).toBe('create');
    expect(action({ live: null })).toBe('create');
    expect(action({ row: { state: 'building', preExisting: false, fingerprint: 'f1' } })).toBe('record');
    expect(action({ row: null })).toBe('record');
    expect(action({ row: { state: 'applied', preExisting: true, fingerprint: 'f1' } })).toBe('skip');
    expect(action({})).toBe('skip');
    expect(action({ kind: 'matview', live: live({ populated: false }) })).toBe('skip');
  });
  it('rebuilds INVALID; a changed object only with --replace-changed; stops at conflicts and the unverifiable', () => {
    expect(action({ live: live({ valid: false }) })).toBe('rebuild');
    expect(action({ fingerprint: 'f2' })).toBe('stop');
    expect(action({ fingerprint: 'f2' }, true)).toBe('rebuild');
    expect(action({ row: null, matches: false })).toBe('stop');
    expect(action({ expectedDefinition: null, matches: null })).toBe('stop');
  });
});
