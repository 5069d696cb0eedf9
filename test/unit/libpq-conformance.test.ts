/**
 * pgopt's resolver against libpq itself (issue 28): each case is given to a small C program
 * linked against the system's libpq (test/oracle/libpq-resolve.c) and to resolveLibpq, and the
 * two must resolve the same options and the same hosts, ports and passwords, or both refuse.
 * Needs a C compiler and libpq's headers (Debian libpq-dev, installed by .ci/run); where they
 * are missing the suite says so and skips.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLibpq } from '../../src/db/connection.js';
import { CONFORMANCE_CASES, type ConformanceCase } from '../oracle/cases.js';

const SOURCE = join(__dirname, '..', 'oracle', 'libpq-resolve.c');
const work = mkdtempSync(join(tmpdir(), 'libpq-oracle-'));
const oracle = join(work, 'libpq-resolve');

function includeDir(): string | undefined {
  const r = spawnSync('pg_config', ['--includedir'], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '/usr/include/postgresql';
  return existsSync(join(dir, 'libpq-fe.h')) ? dir : undefined;
}

function buildOracle(): string | null {
  const inc = includeDir();
  if (!inc) return 'libpq-fe.h is not installed (Debian: libpq-dev)';
  const cc = spawnSync('cc', ['-O1', '-o', oracle, SOURCE, `-I${inc}`, '-lpq'], { encoding: 'utf8' });
  return cc.status === 0 ? null : `the oracle does not build: ${cc.stderr || cc.error?.message}`;
}

const missing = buildOracle();
if (missing) console.warn(`--- libpq conformance skipped: ${missing}`);

/** The options both sides are compared on, with libpq's defaults where it shows one. */
const COMPARED: Record<string, string | undefined> = {
  user: undefined,
  password: undefined,
  dbname: undefined,
  hostaddr: undefined,
  options: '',
  application_name: undefined,
  fallback_application_name: undefined,
  connect_timeout: undefined,
  client_encoding: undefined,
  sslmode: 'prefer',
  sslcert: undefined,
  sslkey: undefined,
  sslrootcert: undefined,
  channel_binding: 'prefer',
  gssencmode: 'prefer',
  target_session_attrs: 'any',
  replication: undefined,
};

interface Resolved {
  error?: string;
  options?: Record<string, string | undefined>;
  hosts?: { host: string; port: string; password: string }[];
}

function pick(options: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(COMPARED).map(([k, d]) => [k, options[k] ?? d]));
}

function caseHome(c: ConformanceCase): { home: string; env: Record<string, string> } {
  const home = mkdtempSync(join(work, 'home-'));
  if (c.pgpass !== undefined) {
    writeFileSync(join(home, '.pgpass'), c.pgpass);
    chmodSync(join(home, '.pgpass'), c.pgpassMode ?? 0o600);
  }
  if (c.service !== undefined) writeFileSync(join(home, '.pg_service.conf'), c.service);
  if (c.sysService !== undefined) {
    mkdirSync(join(home, 'sys'));
    writeFileSync(join(home, 'sys', 'pg_service.conf'), c.sysService);
  }
  const env: Record<string, string> = { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const [k, v] of Object.entries(c.env ?? {})) env[k] = v.replace('$HOME', home);
  return { home, env };
}

/**
 * libpq looks host names up while it starts connecting, and a resolver that does not answer
 * costs seconds per name. In a network namespace of its own (root can make one) every lookup and
 * connection fails at once; the options and passwords libpq resolves do not depend on the network.
 */
const isolate = spawnSync('unshare', ['-n', 'true']).status === 0;

function libpq(c: ConformanceCase, env: Record<string, string>): Resolved {
  const [cmd, args] = isolate ? ['unshare', ['-n', oracle, c.conninfo]] : [oracle, [c.conninfo]];
  const out = execFileSync(cmd, args, { env, encoding: 'utf8', timeout: 20_000 });
  const r = JSON.parse(out) as { error?: string; options?: Record<string, string>; hosts?: Record<string, string>[] };
  if (r.error !== undefined) return { error: r.error };
  return {
    options: pick(r.options!),
    // PGPORT='' leaves libpq's port empty, which it shows as '' and connects to as 5432.
    hosts: r.hosts!.map((h) => ({ host: h.host, port: h.port || '5432', password: h.password })),
  };
}

function pgopt(c: ConformanceCase, env: Record<string, string>, home: string): Resolved {
  try {
    const r = resolveLibpq({ db: c.conninfo === '' ? undefined : c.conninfo, env, cwd: home });
    return {
      options: pick(r.params),
      hosts: r.hosts.map((h) => ({ host: h.host, port: h.portText, password: h.password ?? '' })),
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const agree = (a: Resolved, b: Resolved) =>
  a.error !== undefined || b.error !== undefined ? a.error !== undefined && b.error !== undefined : JSON.stringify(a) === JSON.stringify(b);

const libpqMajor = () => Math.floor(Number(execFileSync('pg_config', ['--version'], { encoding: 'utf8' }).match(/(\d+)/)![1]));

describe.skipIf(missing !== null)('pgopt resolves connections as the system libpq does', () => {
  const rows: { c: ConformanceCase; same: boolean; ours: Resolved; theirs: Resolved }[] = [];
  let major = 0;
  beforeAll(() => {
    major = libpqMajor();
    for (const c of CONFORMANCE_CASES) {
      if (c.since && c.since > major) continue;
      const { home, env } = caseHome(c);
      const theirs = libpq(c, env);
      const ours = pgopt(c, env, home);
      rows.push({ c, same: agree(ours, theirs), ours, theirs });
    }
    const same = rows.filter((r) => r.same).length;
    const skipped = CONFORMANCE_CASES.length - rows.length;
    console.log(
      `--- libpq ${major} conformance: ${same} of ${rows.length} cases agree (${((100 * same) / rows.length).toFixed(1)}%)` +
        (skipped ? `; ${skipped} need libpq ${Math.min(...CONFORMANCE_CASES.filter((c) => c.since).map((c) => c.since!))}+` : ''),
    );
    for (const r of rows.filter((x) => !x.same)) {
      console.log(`    ${r.c.intended ? 'intended' : 'DIFFERS '} ${JSON.stringify(r.c.conninfo)} ${JSON.stringify(r.c.env ?? {})}`);
      if (!r.c.intended) console.log(`      libpq: ${JSON.stringify(r.theirs)}\n      pgopt: ${JSON.stringify(r.ours)}`);
    }
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('agrees on at least 98% of the cases, and every difference is an intended one', () => {
    const same = rows.filter((r) => r.same).length;
    expect(rows.length).toBeGreaterThan(200);
    expect(same / rows.length).toBeGreaterThanOrEqual(0.98);
    expect(rows.filter((r) => !r.same && !r.c.intended).map((r) => r.c.conninfo)).toEqual([]);
  });

  it('each intended difference still differs (or it is no longer a difference, and the README must say so)', () => {
    for (const r of rows.filter((x) => x.c.intended)) expect(r.same, r.c.conninfo).toBe(false);
  });

  it('the oracle can tell: a resolver that takes the last duplicate service key differs from libpq', () => {
    const c = CONFORMANCE_CASES.find((x) => x.service === '[app]\nhost=first\nhost=second\n')!;
    const { env } = caseHome(c);
    expect(libpq(c, env).hosts![0].host).toBe('first');
    // The old way (the last key wins) would have said "second": the test would catch it.
    expect(pgopt(c, env, env.HOME).hosts![0].host).toBe('first');
  });
});
