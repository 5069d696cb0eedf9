import { describe, expect, it } from 'vitest';
import { estimatedEffect, GENERIC_COST_RATIO, predictsFaster } from '../../src/advise/generic-plan.js';

/** The rule that judges an index for a query advise cannot run, on plans as the server gives them. */
describe('the generic plan as a witness', () => {
  const seq = { cost: 8000, indexes: [] };
  it('faster: the plan reads the index and costs at most 1/GENERIC_COST_RATIO (half)', () => {
    expect(predictsFaster(seq, { cost: 8000 / GENERIC_COST_RATIO, indexes: ['t_a_idx'] }, 't_a_idx')).toBe(true);
    expect(predictsFaster(seq, { cost: 29, indexes: ['t_a_idx', 't_pkey'] }, 't_a_idx')).toBe(true);
  });
  it('not faster: a smaller fall (a range of unknown width), or a plan that does not read it', () => {
    expect(predictsFaster(seq, { cost: 8000 / GENERIC_COST_RATIO + 1, indexes: ['t_a_idx'] }, 't_a_idx')).toBe(false);
    expect(predictsFaster(seq, { cost: 10, indexes: ['t_b_idx'] }, 't_a_idx')).toBe(false);
  });
  it('the effect: production mean, that mean over the cost ratio, weighed by its rate; none where the plan does not read it', () => {
    const q = { name: 'by_email', productionMeanMs: 20, callsPerHour: 600 };
    expect(estimatedEffect(q, 't_a_idx', seq, { cost: 80, indexes: ['t_a_idx'] })).toMatchObject({
      query: 'by_email',
      beforeMs: 20,
      afterMs: 0.2,
      verdict: 'faster',
      speedup: 100,
      estimated: true,
      callsPerHour: 600,
    });
    expect(estimatedEffect(q, 't_a_idx', seq, { cost: 5000, indexes: ['t_a_idx'] })?.verdict).toBe('unchanged');
    expect(estimatedEffect(q, 't_a_idx', seq, { cost: 80, indexes: ['t_b_idx'] })).toBeNull();
  });
});
