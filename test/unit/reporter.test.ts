import { describe, expect, it } from 'vitest';
import { Reporter } from '../../src/output/reporter.js';

/** A stream that records what is written; `isTTY` and `columns` as a terminal would set them. */
const stream = (tty: boolean, columns = 0) => {
  const lines: string[] = [];
  return { lines, s: { isTTY: tty, columns, write: (t: string) => (lines.push(t), true) } as unknown as NodeJS.WriteStream };
};

describe('Reporter', () => {
  it('without a terminal, build progress is a plain line every 5 s per object', () => {
    const err = stream(false);
    const r = new Reporter({ json: false, color: false, stdout: stream(false).s, stderr: err.s });
    for (const ms of [1000, 5200, 7000, 10400])
      r.progress({ type: 'build-progress', object: 'app.idx', phase: 'building index: scanning table', percent: 40, elapsedMs: ms });
    expect(err.lines).toEqual([
      'app.idx: building index: scanning table 40%, 5.2 s\n',
      'app.idx: building index: scanning table 40%, 10.4 s\n',
    ]);
  });

  it('a terminal that reports no width gets no spinner (its line arithmetic would divide by zero)', () => {
    expect(new Reporter({ json: false, color: false, stderr: stream(true, 0).s }).interactive).toBe(false);
    expect(new Reporter({ json: false, color: false, stderr: stream(true, 120).s }).interactive).toBe(true);
    expect(new Reporter({ json: true, color: false, stderr: stream(true, 120).s }).interactive).toBe(false);
  });

  it('scrubs the password from every line and writes one JSON document at most', () => {
    const out = stream(false);
    const err = stream(false);
    const r = new Reporter({ json: true, color: false, stdout: out.s, stderr: err.s });
    r.addSecret('hunter2');
    r.error('auth failed for postgres://u:hunter2@h/db');
    r.document({ url: 'postgres://u:hunter2@h/db' });
    r.document({ second: true });
    expect(err.lines.join('')).not.toContain('hunter2');
    expect(out.lines).toHaveLength(1);
    expect(JSON.parse(out.lines[0])).toEqual({ url: 'postgres://u:***@h/db' });
  });

  it('a password of one character leaves numbers and JSON intact, and says once that it is not scrubbed by value', () => {
    const out = stream(false);
    const err = stream(false);
    const r = new Reporter({ json: true, color: false, stdout: out.s, stderr: err.s });
    r.addSecret('1');
    r.document({ durationMs: 10, name: 'a1b', url: 'postgres://u:1@h/db' });
    expect(JSON.parse(out.lines[0])).toEqual({ durationMs: 10, name: 'a1b', url: 'postgres://u:***@h/db' });
    expect(err.lines.join('')).toContain('too short');
    // The unsafe way: a blind substring replace over the serialised JSON breaks it.
    expect(() => JSON.parse(JSON.stringify({ durationMs: 10 }).split('1').join('***'))).toThrow();
  });

  it('postgres:postgres: the password that is also the user name is not replaced everywhere', () => {
    const out = stream(false);
    const err = stream(false);
    const r = new Reporter({ json: true, color: false, stdout: out.s, stderr: err.s });
    r.addSecret('postgres', ['postgres', 'app']);
    r.document({ appliedBy: 'postgres', server: 'PostgreSQL 18' });
    r.error('connecting to postgres@h:5432/app failed');
    expect(JSON.parse(out.lines[0])).toEqual({ appliedBy: 'postgres', server: 'PostgreSQL 18' });
    expect(err.lines.join('')).toContain('connecting to postgres@h:5432/app failed');
  });

  it('scrubs URL credentials by their shape even before any password is known', () => {
    const err = stream(false);
    const r = new Reporter({ json: false, color: false, stderr: err.s });
    r.error('pack not found: postgres://app:S3cr3tPw@host/db');
    r.warn('conninfo host=h password=S3cr3tPw dbname=x');
    expect(err.lines.join('')).not.toContain('S3cr3tPw');
    expect(err.lines.join('')).toContain('postgres://app:***@host/db');
  });
});
