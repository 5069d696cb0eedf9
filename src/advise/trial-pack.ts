/**
 * Candidates as a pack pgopt's own engine builds: the server dry-runs each (a bad expression, a
 * non-immutable function, a missing operator class is dropped with its reason), renders its
 * definition, and that rendering is compared with the indexes already on the table.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IndexStmt } from '@pgsql/types';
import { indexDefinitionsOn } from '../db/catalog.js';
import { qualify } from '../db/ident.js';
import { PgoptError } from '../errors.js';
import { assessPack, type Assessment } from '../engine/assess.js';
import { isPrefix, keyOf } from '../engine/lint/keys.js';
import { loadPack, TRIAL_PACK_PREFIX } from '../pack/load-pack.js';
import type { Pack } from '../pack/types.js';
import { parseTrusted } from '../sql/parse.js';
import { nodeAs } from '../sql/tree.js';
import type { Trial } from './select.js';
import type { Session } from '../db/session.js';

/** Registry pack names of advise's trial builds: a later run (or `pgopt rollback <name>`) removes them. */
export const TRIAL_PREFIX = TRIAL_PACK_PREFIX;

/**
 * The run key of a trial pack (`pgopt-advise-<8 hex>`): the advise run that made it holds a lock
 * on it while it lives. Null for any other name, which advise never touches.
 */
export function trialRunKey(pack: string): number | null {
  const m = /^pgopt-advise-([0-9a-f]{8})$/.exec(pack);
  return m ? parseInt(m[1], 16) | 0 : null;
}

/** One statement after another, each from a line of its own: a line number names the trial (trialAtLine). */
export async function trialPack(trials: Trial[], name: string): Promise<Pack> {
  return statementsPack(
    trials.map((t) => t.sql),
    name,
  );
}

/** A trial pack of these statements, one after another. */
export async function statementsPack(statements: string[], name: string): Promise<Pack> {
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-advise-'));
  const file = join(dir, `${name}.sql`);
  writeFileSync(file, statements.map((x) => `${x};`).join('\n') + '\n');
  // The pack is read whole here (its file:line stays in its locations); the file is not needed after.
  try {
    return await loadPack(file, { name, trial: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The trial whose statement holds this line of the trial pack's file (a statement may span lines). */
export function trialAtLine<T extends { sql: string }>(trials: T[], line: number | undefined): T | null {
  if (!line) return null;
  let first = 1;
  for (const t of trials) {
    const lines = t.sql.split('\n').length;
    if (line < first + lines) return t;
    first += lines;
  }
  return null;
}

/**
 * Dry-run every candidate; a statement the server refuses marks its trial invalid (with the
 * server's reason) and the rest are tried again. Returns the assessments of the valid ones.
 */
export async function validateTrials(c: Session, trials: Trial[], name: string): Promise<Map<Trial, Assessment>> {
  for (;;) {
    const live = trials.filter((t) => t.outcome === 'not-tried');
    if (!live.length) return new Map();
    try {
      const { assessments } = await assessPack(c, await trialPack(live, name));
      return new Map(live.map((t, i) => [t, assessments[i]]));
    } catch (err) {
      const refused = trialAtLine(live, err instanceof PgoptError ? err.location?.line : undefined);
      if (!refused) throw err;
      Object.assign(refused, { outcome: 'invalid', reason: `the server refuses it: ${(err as Error).message}` });
    }
  }
}

/** Mark candidates an index already on the table serves (its keys lead with the candidate's, same predicate). */
export async function markCovered(c: Session, assessed: Map<Trial, Assessment>): Promise<void> {
  const existing = new Map<string, ReturnType<typeof keyOf>[]>();
  for (const [t, a] of assessed) {
    const table = qualify(t.candidate.table.schema, t.candidate.table.name);
    if (!existing.has(table)) {
      const defs = await indexDefinitionsOn(c, table);
      existing.set(
        table,
        defs.map((d) => keyOf(nodeAs(parseTrusted(d.def), 'IndexStmt') as IndexStmt, d.name, table)),
      );
    }
    if (a.state !== 'pending' || !a.expectedDefinition) {
      Object.assign(t, { outcome: 'covered', reason: `an object named ${a.qualifiedName} already exists (${a.state})` });
      continue;
    }
    const mine = keyOf(nodeAs(parseTrusted(a.expectedDefinition), 'IndexStmt') as IndexStmt, t.name, table);
    // A covering candidate (INCLUDE) offers an index-only scan the existing index may not: only an equal key covers it.
    const serves = existing.get(table)!.find((e) => (!t.candidate.include.length && isPrefix(mine, e)) || sameKey(mine, e));
    if (serves) Object.assign(t, { outcome: 'covered', reason: `${serves.name} already serves it` });
  }
}

const sameKey = (a: ReturnType<typeof keyOf>, b: ReturnType<typeof keyOf>) =>
  a.method === b.method && a.where === b.where && JSON.stringify(a.cols) === JSON.stringify(b.cols);
