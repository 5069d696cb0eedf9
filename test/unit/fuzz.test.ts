import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPack } from '../../src/pack/load-pack.js';
import { loadWorkload } from '../../src/bench/workload.js';
import { ensureParser } from '../../src/sql/parse.js';
import { PgoptError } from '../../src/errors.js';
import { makeCorpus } from '../fuzz/corpus.js';

/**
 * A seeded sample of the fuzz corpus (test/fuzz/corpus.ts; the full corpus: npm run fuzz).
 * Every broken pack or workload either loads or is refused as bad input with a one-line message
 * naming the file — never another kind of error, never a hang.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261126);
/** npm run fuzz: FUZZ_CASES=1000 and one 10 MB file. */
const CASES = Number(process.env.FUZZ_CASES ?? 100);
const LIMIT_MS = 10_000;
let dir: string;
beforeAll(async () => {
  await ensureParser();
  dir = mkdtempSync(join(tmpdir(), 'pgopt-fuzz-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(`fuzz: ${CASES} broken packs and workloads (seed ${SEED})`, () => {
  const corpus = makeCorpus(SEED, CASES, { huge: CASES > 100 });
  it('covers every mutation, packs and workloads', () => {
    expect(new Set(corpus.map((c) => c.mutation)).size).toBeGreaterThanOrEqual(12);
    expect(new Set(corpus.map((c) => c.kind))).toEqual(new Set(['pack', 'workload']));
  });
  it.each(corpus.map((c) => [`${c.id} ${c.kind} ${c.mutation}`, c] as const))('%s', async (_label, c) => {
    const file = join(dir, `${c.id}.sql`);
    writeFileSync(file, c.bytes);
    const load = c.kind === 'pack' ? loadPack(file) : loadWorkload(file);
    const outcome = await Promise.race([
      load.then(
        () => 'loaded' as const,
        (err: unknown) => err,
      ),
      new Promise<'hang'>((r) => setTimeout(() => r('hang'), LIMIT_MS).unref()),
    ]);
    expect(outcome).not.toBe('hang');
    if (outcome === 'loaded') return;
    expect(outcome, String((outcome as Error)?.stack)).toBeInstanceOf(PgoptError);
    const e = outcome as PgoptError;
    expect(e.kind).toBe('input');
    expect(e.message).not.toMatch(/\n/);
    expect(e.message.length).toBeLessThan(2_000);
  });
});
