import { describe, expect, it } from 'vitest';
import { asPgoptError, EXIT_CODES, PgoptError } from '../../src/errors.js';
import { translatePgError } from '../../src/db/pg-errors.js';
import { sessionBroke } from '../../src/bench/runner.js';

const translate = (e: unknown) => translatePgError(e, 'connecting');

describe('one error contract', () => {
  it('a bug inside pgopt (not a PgoptError) is kind internal, exit 70, not a database error', () => {
    const e = asPgoptError(new TypeError("Cannot read properties of undefined (reading 'relname')"), translate);
    expect(e.kind).toBe('internal');
    expect(e.exitCode).toBe(70);
    expect(e.message).toMatch(/^internal error \(a bug in pgopt; run again with --verbose and report it\): Cannot read/);
    // What the funnel used to do with it: exit 3, as if the database had failed.
    expect(EXIT_CODES.database).toBe(3);
  });

  it('a driver or server error is still the database’s (SQLSTATE or a system error code)', () => {
    const server = Object.assign(new Error('permission denied for table t'), { code: '42501' });
    expect(asPgoptError(server, translate).kind).toBe('database');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(asPgoptError(refused, translate).exitCode).toBe(3);
    // The driver's words for a connection the server dropped (no code at all): still the database's.
    expect(asPgoptError(new Error('Client has encountered a connection error and is not queryable'), translate).kind).toBe('database');
    expect(asPgoptError(new Error('Connection terminated unexpectedly'), translate).kind).toBe('database');
  });

  it('a PgoptError passes through, and every error has one JSON shape', () => {
    const e = new PgoptError('input', 'syntax error', { location: { file: 'p.sql', line: 3 }, hint: 'h' });
    expect(asPgoptError(e, translate)).toBe(e);
    expect(e.toJSON()).toEqual({ kind: 'input', message: 'syntax error', location: { file: 'p.sql', line: 3 }, hint: 'h', details: null });
    expect(new PgoptError('database', 'x').toJSON()).toEqual({ kind: 'database', message: 'x', location: null, hint: null, details: null });
    // What a program needs besides the message travels with it.
    const stopped = new PgoptError('check', 'apply stopped', { details: { problems: ['app.i: conflict'] } });
    expect(stopped.toJSON().details).toEqual({ problems: ['app.i: conflict'] });
  });
});

describe('a params query that failed: its own fault (exit 2) or a broken session (interrupted after Ctrl-C)', () => {
  const err = (code?: string) => Object.assign(new Error('x'), code ? { code } : {});
  it('the query itself: a syntax error, a missing column, its own statement timeout', () => {
    expect(sessionBroke(err('42601'), 5, 1000)).toBe(false);
    expect(sessionBroke(err('42703'), 5, 1000)).toBe(false);
    expect(sessionBroke(err('57014'), 1000, 1000)).toBe(false);
  });
  it('the session: cancelled from outside before the timeout, server shutdown, connection lost', () => {
    expect(sessionBroke(err('57014'), 20, 1000)).toBe(true);
    expect(sessionBroke(err('57P01'), 5, 1000)).toBe(true);
    expect(sessionBroke(err('08006'), 5, 1000)).toBe(true);
    expect(sessionBroke(err(), 5, 1000)).toBe(true);
    expect(sessionBroke(err('ECONNRESET'), 5, 1000)).toBe(true);
  });
});
