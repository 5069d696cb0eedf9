import { beforeAll, describe, expect, it } from 'vitest';
import { parseSync } from 'libpg-query';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureParser } from '../../src/sql/parse.js';
import { commentLine } from '../../src/sql/comment.js';
import { loadPack } from '../../src/pack/load-pack.js';
import { prismaExport } from '../../src/export/prisma.js';
import { packText } from '../../src/advise/pack-text.js';
import type { AdviceResult } from '../../src/advise/advise.js';

/**
 * Issue 23, items 5 and 12: values pgopt writes into `--` comments (names, rollback statements,
 * workload literals) never reach a live line. Each file is read back with PostgreSQL's parser as one
 * script, the way `psql -f` and `prisma migrate deploy` run it.
 */
beforeAll(ensureParser);
const statementsOf = (sql: string) => (parseSync(sql).stmts ?? []).map((s) => Object.keys(s.stmt!)[0]);
const BREAKS = ['\n', '\r', '\r\n', '\u2028', '\u2029', '\u0085', '\u000b', '\u000c'];

describe('commentLine', () => {
  it('keeps every line break and control character out of a comment, and leaves the rest as it was', () => {
    for (const br of BREAKS) {
      const line = commentLine(`-- a${br}DROP TABLE victim; --`);
      // eslint-disable-next-line no-control-regex
      expect(line).not.toMatch(/[\r\n\u2028\u2029\u0085\u000b\u000c]/);
      expect(statementsOf(line)).toEqual([]);
    }
    expect(commentLine('-- app."Exécution" → 3× faster')).toBe('-- app."Exécution" → 3× faster');
  });
});

describe('export prisma', () => {
  const write = (text: string) => {
    const p = join(mkdtempSync(join(tmpdir(), 'pk-')), 'p.sql');
    writeFileSync(p, text);
    return p;
  };

  it('an index name with a line break stays in its comment: one live statement, the CREATE INDEX', async () => {
    const pack = await loadPack(write(`CREATE INDEX CONCURRENTLY IF NOT EXISTS "i\nDROP TABLE victim; --" ON app.t (a);\n`));
    const [m] = prismaExport(pack, [], new Date()).migrations;
    expect(statementsOf(m.sql)).toEqual(['IndexStmt']);
    // Control: the first comment line as 0.1 wrote it puts the DROP on a live line.
    expect(statementsOf(`-- pgopt pack "p": index app."i\nDROP TABLE victim; --"`)).toEqual(['DropStmt']);
  });

  it('a rollback written over two lines exports to a migration that parses, each line its own comment', async () => {
    const pack = await loadPack(
      write(
        `CREATE INDEX CONCURRENTLY IF NOT EXISTS i_a ON app.t (a);\n-- pgopt:rollback DROP INDEX CONCURRENTLY\n--   IF EXISTS app.i_a;\n`,
      ),
    );
    const [m] = prismaExport(pack, [], new Date()).migrations;
    expect(statementsOf(m.sql)).toEqual(['IndexStmt']);
    expect(m.sql).toContain('-- rollback: DROP INDEX CONCURRENTLY\n--     IF EXISTS app.i_a;\n');
    // Control: 0.1 joined the statement raw after "-- rollback: ", and the second line was live.
    expect(() => parseSync(`-- rollback: DROP INDEX CONCURRENTLY\n  IF EXISTS app.i_a;\nCREATE INDEX i ON t (a);`)).toThrow();
  });
});

describe('the pack advise writes', () => {
  const result = (why: string, workload: string): AdviceResult => ({
    workload,
    writes: [],
    writesSkipped: [],
    writesRan: [],
    trialPack: 'pgopt-advise-x',
    hypopg: 'absent',
    trigram: 'not-needed',
    refused: [],
    analyzed: [],
    views: [],
    cleanedUp: [],
    trials: [
      {
        candidate: { table: { schema: 'app', name: 't' }, method: 'btree', keys: [], include: [], where: null, queries: ['q'], why },
        name: 'advise_t_kind',
        sql: `CREATE INDEX CONCURRENTLY IF NOT EXISTS advise_t_kind ON app.t (kind) WHERE kind = 'a\nDROP TABLE victim; --'`,
        predicted: null,
        sizeBytes: 8192,
        effects: [{ query: 'q', beforeMs: 2, afterMs: 0.1, speedup: 20, verdict: 'faster' } as never],
        outcome: 'kept',
        reason: '',
      },
    ],
  });

  it('a newline in a workload literal stays in its comment: the only statement is the index', () => {
    const text = packText(result(`partial on kind = 'a\nDROP TABLE victim; --'`, 'w\u2028DROP TABLE victim; --'), '18.4');
    expect(statementsOf(text)).toEqual(['IndexStmt']);
    // Control: the comment line written raw, as 0.1 did, is a DROP.
    expect(statementsOf(`-- serves: q (partial on kind = 'a\nDROP TABLE victim; --')`)).toEqual(['DropStmt']);
  });
});
