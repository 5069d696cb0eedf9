import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { inputError } from '../errors.js';
import type { BenchResult } from './runner.js';

const summary = z.object({
  n: z.number(),
  median: z.number(),
  p95: z.number(),
  min: z.number(),
  max: z.number(),
  mean: z.number(),
  stddev: z.number(),
});

/** The saved-run format, validated on load: a bad or foreign file is refused with the reason. */
const BENCH_FILE = z.object({
  kind: z.literal('pgopt-bench'),
  formatVersion: z.literal(1),
  pgoptVersion: z.string(),
  startedAt: z.string(),
  server: z.object({ version: z.string(), versionNum: z.number(), citus: z.string().nullable().optional() }),
  settings: z.record(z.string(), z.string()),
  workload: z.object({ name: z.string(), checksum: z.string() }),
  dataChecksum: z.string(),
  options: z.object({ runs: z.number(), warmup: z.number(), budgetMs: z.number() }),
  calibrationMs: z.number().positive(),
  calibrationSql: z.string().optional(),
  sequencesAdvanced: z.array(z.object({ sequence: z.string(), by: z.number() })).optional(),
  notRun: z.array(z.string()).optional(),
  queries: z.array(
    z.object({
      name: z.string(),
      form: z.string(),
      sql: z.string(),
      paramSets: z.number(),
      samples: z.array(z.number()).min(1),
      execution: summary,
      planning: summary,
      roundTrip: summary,
      rows: z.number(),
      buffers: z.object({ hit: z.number(), read: z.number() }),
      plan: z.object({
        nodeTypes: z.array(z.string()),
        indexes: z.array(z.string()),
        seqScans: z.array(z.string()),
        relations: z.array(z.string()),
        headline: z.string(),
        rows: z.number(),
        sharedHit: z.number(),
        sharedRead: z.number(),
      }),
      profile: z.record(z.string(), z.unknown()),
      expectations: z.array(z.object({ text: z.string(), ok: z.boolean(), reason: z.string() })),
      callsPerHour: z.number().nonnegative().optional(),
      calibration: z.array(z.number().positive()).min(1).optional(),
    }),
  ),
});

export function saveBaseline(path: string, result: BenchResult): void {
  writeFileSync(path, JSON.stringify(result, null, 2) + '\n');
}

export function loadBaseline(path: string): BenchResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw inputError(`baseline not found: ${path}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw inputError(`${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = BENCH_FILE.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first.path.length ? first.path.join('.') : 'the file';
    if ((json as { kind?: unknown })?.kind !== 'pgopt-bench')
      throw inputError(`${path} is not a pgopt bench file (saved with pgopt bench --save)`);
    throw inputError(`${path} is not a valid pgopt bench file: ${where}: ${first.message}`);
  }
  return parsed.data as unknown as BenchResult;
}
