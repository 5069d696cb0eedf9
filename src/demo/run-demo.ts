import { fileURLToPath } from 'node:url';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConnection } from '../db/connection.js';
import { withClient } from '../db/scoped.js';
import { startEmbedded, type EmbeddedServer } from '../embedded/server.js';
import { loadFixture, type LoadFixtureResult } from '../fixture-loader/load-fixture.js';
import { loadPack } from '../pack/load-pack.js';
import type { Pack } from '../pack/types.js';
import { applyPack, type ApplyResult } from '../engine/apply.js';
import { verifyPack, type VerifyResult } from '../engine/verify.js';
import { rollbackPack, type RollbackResult } from '../engine/rollback.js';
import { DEFAULT_RUN_OPTIONS } from '../engine/run-options.js';
import type { ProgressListener } from '../engine/progress.js';
import { loadWorkload, type Workload } from '../bench/workload.js';
import { DEFAULT_BENCH_OPTIONS, runBench, type BenchResult } from '../bench/runner.js';
import { compareRuns, type Comparison } from '../bench/compare.js';
import { accountPack, type PackAccount } from '../bench/accounting.js';

export const DEMO_PACK = fileURLToPath(new URL('../../sql/audit_engine', import.meta.url));
export const DEMO_WORKLOAD = fileURLToPath(new URL('../../fixtures/audit_engine/workload.sql', import.meta.url));
const DEMO_DB = 'pgopt_demo';

export interface DemoOptions {
  scale: number;
  seed: number;
  runs: number;
  warmup: number;
  keep: boolean;
  onProgress?: ProgressListener;
  /** Called as soon as the server is up, so an interrupt can stop it. */
  onServer?: (server: EmbeddedServer) => void;
}

export interface DemoResult {
  /** Connection URL of the demo database, without its password (safe to print). */
  url: string;
  /** With --keep: the server's pid, and a pgpass file (0600) holding its random password. */
  kept: { pid: number; passfile: string } | null;
  dataDir: string;
  server: string;
  load: LoadFixtureResult;
  before: BenchResult;
  apply: ApplyResult;
  after: BenchResult;
  comparison: Comparison;
  account: PackAccount;
  verify: VerifyResult;
  rollback: RollbackResult | null;
  timingsMs: Record<string, number>;
}

/**
 * A kept server's password goes where only its owner can read it: a pgpass file (0600) in a
 * directory of its own (0700), which psql and pgopt read through PGPASSFILE.
 */
function writePassfile(server: EmbeddedServer): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-demo-'));
  chmodSync(dir, 0o700);
  const file = join(dir, 'pgpass');
  writeFileSync(file, `127.0.0.1:${server.port}:*:postgres:${server.password.replace(/[\\:]/g, '\\$&')}\n`, { mode: 0o600 });
  return file;
}

/**
 * The main job end to end on a throwaway server: load the audit_engine fixture, bench the
 * workload, apply the pack, bench again (same data, same parameters, same warm-up), compare,
 * verify, roll back, stop the server.
 */
/** A step of the demo, announced and timed (its time lands in `timingsMs`). */
type Timed = <T>(label: string, fn: () => Promise<T>) => Promise<T>;

function timer(o: DemoOptions, timingsMs: Record<string, number>): Timed {
  return async (label, fn) => {
    o.onProgress?.({ type: 'step', message: label });
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timingsMs[label] = Math.round(performance.now() - t0);
    }
  };
}

/** On the demo database: load, bench, apply, bench again, account, verify, roll back. */
async function demoSteps(o: DemoOptions, url: string, pack: Pack, workload: Workload, timed: Timed) {
  const target = resolveConnection({ db: url });
  const bench = { ...DEFAULT_BENCH_OPTIONS, runs: o.runs, warmup: o.warmup, onProgress: o.onProgress };
  const run = { ...DEFAULT_RUN_OPTIONS, onProgress: o.onProgress };
  return withClient(target, 'pgopt demo', async (c) => {
    const load = await timed(`loading audit_engine at scale ${o.scale}`, () =>
      loadFixture(c, 'audit_engine', { scale: o.scale, seed: o.seed, replace: false, onProgress: o.onProgress }),
    );
    const before = await timed('benchmarking before the pack', () => runBench(c, workload, bench));
    const apply = await timed('applying sql/audit_engine', () =>
      applyPack(c, pack, {
        ...run,
        analyze: true,
        replaceChanged: false,
        jobs: 2,
        withExtraClient: (fn) => withClient(target, 'pgopt demo', fn),
      }),
    );
    if (apply.error) throw apply.error;
    const after = await timed('benchmarking after the pack', () => runBench(c, workload, bench));
    const account = await accountPack(c, pack, after);
    const verify = await timed('verifying', () => verifyPack(c, pack));
    const rollback = o.keep ? null : await timed('rolling back', () => rollbackPack(c, pack.name, run));
    return { load, before, apply, after, account, verify, rollback };
  });
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const timingsMs: Record<string, number> = {};
  const timed = timer(o, timingsMs);
  const [pack, workload] = await Promise.all([loadPack(DEMO_PACK), loadWorkload(DEMO_WORKLOAD)]);
  const server = await timed('starting embedded PostgreSQL', () => startEmbedded({ detached: o.keep }));
  o.onServer?.(server);
  o.onProgress?.({ type: 'done', message: `embedded PostgreSQL started on port ${server.port} (data in ${server.dataDir})` });
  let stop = !o.keep;
  try {
    const version = await withClient(resolveConnection({ db: server.url }), 'pgopt demo', async (admin) => {
      await admin.query(`CREATE DATABASE ${DEMO_DB}`);
      return (await admin.query('SHOW server_version')).rows[0].server_version as string;
    });
    const result = await demoSteps(o, server.url.replace(/\/postgres$/, `/${DEMO_DB}`), pack, workload, timed);
    return {
      url: server.displayUrl.replace(/\/postgres$/, `/${DEMO_DB}`),
      kept: o.keep ? { pid: server.pid, passfile: writePassfile(server) } : null,
      dataDir: server.dataDir,
      server: `PostgreSQL ${version} (embedded)`,
      ...result,
      comparison: compareRuns(result.before, result.after),
      timingsMs,
    };
  } catch (err) {
    stop = true;
    throw err;
  } finally {
    if (stop) await server.stop();
  }
}
