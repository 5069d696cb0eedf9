import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
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
