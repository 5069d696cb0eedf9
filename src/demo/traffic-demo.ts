import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adviseWorkload, type AdviceResult } from '../advise/advise.js';
import { packText } from '../advise/pack-text.js';
import { loadWorkload } from '../bench/workload.js';
import { DEFAULT_BENCH_OPTIONS } from '../bench/runner.js';
import { resolveConnection } from '../db/connection.js';
import { withClient } from '../db/scoped.js';
import { asUser, type Session } from '../db/session.js';
import { startEmbedded } from '../embedded/server.js';
import { applyPack } from '../engine/apply.js';
import { rollbackPack } from '../engine/rollback.js';
import { DEFAULT_RUN_OPTIONS } from '../engine/run-options.js';
import type { ProgressListener } from '../engine/progress.js';
import { loadFixture, type LoadFixtureResult } from '../fixture-loader/load-fixture.js';
import { loadPack } from '../pack/load-pack.js';
import { captureWorkload, type CaptureResult } from '../production/capture.js';
import { measureImpact, type ImpactResult } from '../production/impact.js';
import { captureText } from '../production/workload-text.js';
import { DEMO_WORKLOAD } from './run-demo.js';
import { sendTraffic, type TrafficResult } from './traffic.js';

/**
 * `pgopt demo --traffic`: the production loop on a throwaway server. The audit_engine queries run
 * as application traffic; capture reads pg_stat_statements; advise turns the captured workload
 * into a pack; apply builds it; the traffic runs again; impact says what production saved.
 */
export interface TrafficDemoOptions {
  scale: number;
  seed: number;
  callsPerQuery: number;
  clients: number;
  onProgress?: ProgressListener;
}

export interface TrafficDemoResult {
  server: string;
  load: LoadFixtureResult;
  before: TrafficResult;
  capture: CaptureResult;
  advice: AdviceResult;
  pack: string;
  after: TrafficResult;
  impact: ImpactResult;
}

const DB = 'pgopt_traffic';

export async function runTrafficDemo(o: TrafficDemoOptions): Promise<TrafficDemoResult> {
  const step = (message: string) => o.onProgress?.({ type: 'step', message });
  step('starting embedded PostgreSQL with pg_stat_statements');
  const server = await startEmbedded({ settings: { shared_preload_libraries: 'pg_stat_statements' } });
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-traffic-'));
  try {
    const version = await withClient(resolveConnection({ db: server.url }), 'pgopt demo', async (admin) => {
      await admin.query(`CREATE DATABASE ${DB}`);
      return (await admin.query('SHOW server_version')).rows[0].server_version as string;
    });
    const url = server.url.replace(/\/postgres$/, `/${DB}`);
    const target = resolveConnection({ db: url });
    const result = await withClient(target, 'pgopt demo', (c) => loop(c, url, dir, o, (fn) => withClient(target, 'pgopt demo', fn)));
    return { server: `PostgreSQL ${version} (embedded)`, ...result };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await server.stop();
  }
}

type Extra = <T>(fn: (c: Session) => Promise<T>) => Promise<T>;

async function loop(c: Session, url: string, dir: string, o: TrafficDemoOptions, extra: Extra): Promise<Omit<TrafficDemoResult, 'server'>> {
  const step = (message: string) => o.onProgress?.({ type: 'step', message });
  const load = await loadFixture(c, 'audit_engine', { scale: o.scale, seed: o.seed, replace: false, onProgress: o.onProgress });
  // In the user's schema, as a DBA's CREATE EXTENSION would put it (never pgopt's pinned pg_catalog).
  await asUser(c, async () => {
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await c.query('SELECT pg_stat_statements_reset()');
  });
  const traffic = { clients: o.clients, callsPerQuery: o.callsPerQuery, application: 'audit-engine' };
  const app = await loadWorkload(DEMO_WORKLOAD);
  step(`application traffic: ${o.callsPerQuery} calls of each of ${app.queries.length} queries from ${o.clients} clients`);
  const before = await sendTraffic(url, app, traffic);
  step('capturing the workload from pg_stat_statements');
  const capture = await captureWorkload(c, { top: 20, minCalls: 2, includeWrites: false }, 30_000);
  const workloadFile = join(dir, 'captured.sql');
  writeFileSync(workloadFile, captureText(capture, 'demo'));
  step('advising on the captured workload (trial builds, measured)');
  const advice = await adviseWorkload(c, await loadWorkload(workloadFile), adviseOptions(o));
  if (advice.error) throw advice.error;
  const packFile = join(dir, 'advised.sql');
  writeFileSync(packFile, packText(advice, 'demo'));
  const pack = await loadPack(packFile);
  step(`applying the advised pack (${pack.objects.length} object(s))`);
  const applied = await applyPack(c, pack, {
    ...DEFAULT_RUN_OPTIONS,
    onProgress: o.onProgress,
    analyze: true,
    replaceChanged: false,
    jobs: 2,
    withExtraClient: extra,
  });
  if (applied.error) throw applied.error;
  step('the same application traffic again');
  const after = await sendTraffic(url, app, traffic);
  step('impact: production before and after the pack');
  const impact = await measureImpact(c, { pack: pack.name });
  await rollbackPack(c, pack.name, { ...DEFAULT_RUN_OPTIONS, onProgress: o.onProgress });
  return { load, before, capture, advice, pack: pack.name, after, impact };
}

function adviseOptions(o: TrafficDemoOptions) {
  return {
    ...DEFAULT_RUN_OPTIONS,
    onProgress: o.onProgress,
    maxIndexes: 10,
    maxSizeBytes: Infinity,
    maxTrials: 12,
    dryRun: false,
    installHypopg: false,
    bench: { ...DEFAULT_BENCH_OPTIONS, runs: 10, warmup: 2, budgetMs: 3000, statementTimeoutMs: 60_000 },
  };
}
