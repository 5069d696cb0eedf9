import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalogSnapshot, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/cli.js';
import { makeCorpus } from '../fuzz/corpus.js';

/**
 * The fuzz corpus through the CLI, one case of each mutation: exit 0, 1 or 2, one error line,
 * never a stack trace, never a hang, and nothing changed in the database after exit 2.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('fuzzcli');
  await db.query(`CREATE TABLE t (id int PRIMARY KEY, a int)`);
});
afterAll(async () => db?.drop());

describe('fuzz through the CLI', () => {
  const corpus = makeCorpus(7, 400);
  const oneOfEach = [...new Map(corpus.map((c) => [`${c.mutation}/${c.kind}`, c])).values()];
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-fuzzcli-'));
  it.each(oneOfEach.map((c) => [`${c.kind} ${c.mutation} (${c.id})`, c] as const))('%s', async (_label, c) => {
    const file = join(dir, `${c.id}.sql`);
    writeFileSync(file, c.bytes);
    const before = await catalogSnapshot(db);
    const args = c.kind === 'pack' ? ['plan', file] : ['bench', file, '--runs', '1', '--warmup', '0'];
    const r = await runCli([...args, '--db', db.url]);
    expect([0, 1, 2], r.stderr).toContain(r.code);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    if (r.code === 2) {
      expect(errors).toHaveLength(1);
      expect(await catalogSnapshot(db)).toBe(before);
    }
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
