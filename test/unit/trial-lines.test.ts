import { describe, expect, it } from 'vitest';
import { trialAtLine } from '../../src/advise/trial-pack.js';

describe("a line of the trial pack's file names its trial", () => {
  const trials = [{ sql: 'CREATE INDEX a ON t (CASE\n  WHEN x THEN 1\nEND)' }, { sql: 'CREATE INDEX b ON t (y)' }];
  it('a statement over several lines owns all of them; past the end, none', () => {
    expect(trialAtLine(trials, 1)).toBe(trials[0]);
    expect(trialAtLine(trials, 3)).toBe(trials[0]);
    expect(trialAtLine(trials, 4)).toBe(trials[1]);
    expect(trialAtLine(trials, 5)).toBeNull();
    expect(trialAtLine(trials, undefined)).toBeNull();
    // The control, the rule before: a line taken as the trial's index blames the second trial for a
    // refusal on the first one's second line, and finds no trial at all for its third (the run ended).
    const byIndex = (line: number) => trials[line - 1];
    expect(byIndex(2)).toBe(trials[1]);
    expect(byIndex(3)).toBeUndefined();
  });
});
