import { describe, expect, it } from 'vitest';
import { dropRefused, packNeedsTrigram } from '../../src/advise/trigram.js';
import type { Trial } from '../../src/advise/select.js';

const trial = (method: 'btree' | 'gin', opclass: string | undefined, outcome: Trial['outcome']) =>
  ({
    candidate: {
      table: { schema: 'app', name: 'notes' },
      method,
      keys: [{ sql: 'body', opclass }],
      include: [],
      where: null,
      queries: ['q'],
      why: '',
    },
    outcome,
  }) as unknown as Trial;

describe('whether the pack needs the pg_trgm advise installed (else it is removed again)', () => {
  const kept = trial('gin', '"public".gin_trgm_ops', 'kept');
  it('a kept trigram index: needed', () => {
    expect(packNeedsTrigram({ trials: [kept] })).toBe(true);
  });
  it('after an error no pack is written: not needed, even with a kept trigram index', () => {
    expect(packNeedsTrigram({ trials: [kept], error: new Error('build timeout') })).toBe(false);
  });
  it('a trigram index not kept, or only other kept indexes: not needed', () => {
    expect(packNeedsTrigram({ trials: [trial('gin', '"public".gin_trgm_ops', 'no-gain'), trial('btree', undefined, 'kept')] })).toBe(false);
  });
});

describe("a killed run's pg_trgm that DROP … RESTRICT may not remove", () => {
  it("something depends on it: the user's now; another owner: left, with its note, for the owner; anything else is raised", () => {
    expect(dropRefused({ code: '2BP01' })).toBe('depended-on');
    expect(dropRefused({ code: '42501' })).toBe('not-owner');
    expect(() => dropRefused({ code: '57014' })).toThrow();
  });
});
