import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { runCli } from '../helpers/cli.js';

/** Processes whose command line mentions `needle` (e.g. a server's data directory). */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) pids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return pids;
}

describe('pgopt demo', () => {
  it('runs end to end at a tiny scale and leaves no server process behind', async () => {
    const r = await runCli(['demo', '--scale', '0.01', '--runs', '3', '--warmup', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.load.rows.execution_history).toBe(10000);
    expect(d.comparison.queries).toHaveLength(18);
    expect(d.verify.ok).toBe(true);
    expect(d.apply.statements.filter((s: any) => s.outcome === 'created')).toHaveLength(19);
    expect(d.rollback.objects.every((o: any) => o.outcome === 'dropped')).toBe(true);
    expect(d.url).not.toMatch(/:[^/@]*@/);
    expect(processesWith(d.dataDir)).toEqual([]);
  });

  // Each delay lands in a different step (database creation, fixture load). A connection the
  // stopping server drops must not crash the process with an unhandled 'error' event.
  it.each([0, 300, 2000])('Ctrl-C %i ms after the server is up stops it cleanly: exit 130, no orphaned postgres', async (delayMs) => {
    let child: ChildProcess | undefined;
    let dataDir = '';
    const run = runCli(['demo', '--scale', '0.05'], {
      onSpawn: (p) => {
        child = p;
        p.stderr!.on('data', (chunk) => {
          const m = /data in (\S+)\)/.exec(String(chunk));
          if (m && !dataDir) {
            dataDir = m[1];
            setTimeout(() => p.kill('SIGINT'), delayMs);
          }
        });
      },
    });
    const r = await run;
    expect(dataDir).not.toBe('');
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('interrupted');
    await new Promise((res) => setTimeout(res, 500));
    expect(processesWith(dataDir)).toEqual([]);
    void child;
  });
});

/** Run a small Node script as another OS user: `pg` from this checkout, nothing else of ours. */
function asOtherUser(user: string, script: string): { status: number | null; out: string } {
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    uid,
    gid,
    cwd: '/',
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const PG_MODULE = pathToFileURL(createRequire(import.meta.url).resolve('pg')).href;
const tryConnect = (config: Record<string, unknown>) => `
  import pg from ${JSON.stringify(PG_MODULE)};
  const c = new pg.Client(${JSON.stringify(config)});
  try { await c.connect(); console.log('CONNECTED', (await c.query('select current_user AS u')).rows[0].u); await c.end(); }
  catch (e) { console.log('REFUSED', e.message); process.exit(1); }`;

describe('a kept demo server', () => {
  it('lets in only its owner: another OS user is refused over TCP and the Unix socket, and cannot read the password file', async () => {
    expect(process.getuid?.(), 'this test creates an OS user: run the suite as root (CI does)').toBe(0);
    const intruder = 'pgopt_intruder';
    if (spawnSync('id', [intruder]).status !== 0) execFileSync('useradd', ['--system', '--no-create-home', intruder]);
    const r = await runCli(['demo', '--scale', '0.01', '--runs', '1', '--warmup', '0', '--keep']);
    expect(r.code, r.stderr).toBe(0);
    const pid = Number(/pid (\d+)/.exec(r.stdout)![1]);
    try {
      const passfile = /PGPASSFILE=(\S+)/.exec(r.stdout)![1];
      const port = Number(/127\.0\.0\.1:(\d+)\//.exec(r.stdout)![1]);
      expect(r.stdout + r.stderr).not.toMatch(/\/\/[^/@\s:]+:[^@\s]+@/);
      expect(statSync(passfile).mode & 0o077).toBe(0);
      const password = readFileSync(passfile, 'utf8').trim().split(':').pop()!;
      expect(r.stdout + r.stderr).not.toContain(password);

      const tcp = asOtherUser(intruder, tryConnect({ host: '127.0.0.1', port, user: 'postgres', database: 'pgopt_demo' }));
      expect(tcp.out).toContain('REFUSED');
      const socket = asOtherUser(intruder, tryConnect({ host: '/tmp', port, user: 'postgres', database: 'pgopt_demo' }));
      expect(socket.out).toContain('REFUSED');
      const read = spawnSync('cat', [passfile], { uid: Number(execFileSync('id', ['-u', intruder]).toString()), encoding: 'utf8' });
      expect(read.status).not.toBe(0);
      // Control: the same user with the password gets in, so only the secret keeps them out.
      const withSecret = asOtherUser(intruder, tryConnect({ host: '127.0.0.1', port, user: 'postgres', password, database: 'pgopt_demo' }));
      expect(withSecret.out).toContain('CONNECTED postgres');
    } finally {
      process.kill(pid, 'SIGTERM');
    }
  });
});

describe('pgopt demo --traffic', () => {
  it('the production loop: traffic, capture, advise, apply, traffic again, impact; every statement the pack served 10× or more is called faster', async () => {
    const r = await runCli(['demo', '--traffic', '--scale', '0.03', '--calls', '35', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    // Only the application's statements are captured: not the demo's reads of the params, not pgopt's own.
    expect(d.capture.queries.length).toBeGreaterThan(5);
    expect(d.capture.queries.every((q: { counters: { calls: number } }) => q.counters.calls >= 35)).toBe(true);
    expect(d.advice.trials.filter((t: { outcome: string }) => t.outcome === 'kept').length).toBeGreaterThan(0);
    const big = d.impact.statements.filter(
      (s: any) => !('invalid' in s.before) && !('invalid' in s.after) && s.before.meanMs / s.after.meanMs >= 10,
    );
    expect(big.length).toBeGreaterThan(0);
    // A mean 10× lower is never called unchanged or slower. With 35 calls a window, one cold first
    // call can make the before mean 10× while the test on the means cannot confirm it: impact then
    // says inconclusive, with that reason, as it should (seen once in a full run of the suite).
    for (const s of big) {
      expect(['faster', 'inconclusive'], s.name).toContain(s.verdict);
      if (s.verdict === 'inconclusive') expect(s.reason, s.name).toMatch(/not significant/);
    }
    expect(big.filter((s: any) => s.verdict === 'faster').length * 2).toBeGreaterThanOrEqual(big.length);
    // Names agree between capture and impact: each captured statement is found by its name.
    const judged = new Set(d.impact.statements.map((s: { name: string }) => s.name));
    expect(d.capture.queries.filter((q: { name: string }) => !judged.has(q.name))).toEqual([]);
    expect(d.impact.savedMsPerHour).toBeGreaterThan(0);
    expect(processesWith(d.server).length).toBe(0);
  });
});
