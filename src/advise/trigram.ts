/**
 * pg_trgm, for LIKE '%…%', ILIKE and regular expressions: used where the database has it. With the
 * user's consent (--install-extension pg_trgm) it is installed for the run, and removed again when
 * no kept index needs it, so the database ends as it began unless the pack needs the extension.
 */
import { extensionAvailable, trigramSchema } from '../db/catalog.js';
import { asUser, type Session } from '../db/session.js';
import { leaveNote, readNote, removeNote } from '../engine/registry.js';
import type { Candidate } from './candidates.js';
import type { Trial } from './select.js';

/**
 * present: the database has it. installed: installed for this run, and a kept index needs it.
 * removed: installed for this run and removed again, no kept index needing it. not-needed: no query
 * has a pattern it would serve. absent: a query has one, but there was no consent to install it.
 * not-available: consent, but the server has no pg_trgm files.
 */
export type TrigramUse = 'present' | 'installed' | 'removed' | 'not-needed' | 'absent' | 'not-available';

/** The note (pgopt.meta) naming the run that installed pg_trgm, until that run removes it or keeps it for its pack. */
const INSTALLED_NOTE = 'advise_installed_pg_trgm';

export const isTrigram = (c: Candidate): boolean => c.method === 'gin' && c.keys.some((k) => k.opclass?.endsWith('gin_trgm_ops'));

/** The schema to name pg_trgm's operator classes in, installing the extension where consented and wanted. */
export async function useTrigram(
  c: Session,
  o: { install: boolean; wanted: boolean; dryRun: boolean; run: string },
): Promise<{ use: TrigramUse; schema: string | null }> {
  const schema = await trigramSchema(c);
  if (schema) return { use: 'present', schema };
  if (!o.wanted) return { use: 'not-needed', schema: null };
  if (!o.install || o.dryRun) return { use: 'absent', schema: null };
  if (!(await extensionAvailable(c, 'pg_trgm'))) return { use: 'not-available', schema: null };
  // First the note, then the extension: a run killed in between leaves a note and nothing to remove.
  await leaveNote(c, INSTALLED_NOTE, o.run);
  // In the user's schema and as the user, as a DBA's own CREATE EXTENSION would put it. Refused
  // (not allowed to create it), nothing was installed: the note goes too.
  await asUser(c, () => c.query('CREATE EXTENSION IF NOT EXISTS pg_trgm')).catch(async (err) => {
    await removeNote(c, INSTALLED_NOTE, o.run);
    throw err;
  });
  return { use: 'installed', schema: await trigramSchema(c) };
}

/** Whether the pack advise writes needs pg_trgm: a kept trigram index, and no error (after one, no pack is written). */
export const packNeedsTrigram = (r: { error?: unknown; trials: Trial[] }): boolean =>
  !r.error && r.trials.some((t) => t.outcome === 'kept' && isTrigram(t.candidate));

/** Removes the extension useTrigram installed when the pack does not need it (RESTRICT: never what others built on it). */
export async function releaseTrigram(c: Session, use: TrigramUse, needed: boolean, run: string): Promise<TrigramUse> {
  if (use !== 'installed') return use;
  if (!needed) await asUser(c, () => c.query('DROP EXTENSION IF EXISTS pg_trgm RESTRICT'));
  await removeNote(c, INSTALLED_NOTE, run);
  return needed ? use : 'removed';
}

/**
 * pg_trgm that a run installed and did not live to remove (kill -9: its note stands, its run key
 * is free): removed now, as that run would have. Something built on it since (a trigram index of
 * the user's) makes it the user's: it stays, and the note goes. A role that does not own it leaves
 * it and the note to the next run of one that does. True when it was removed.
 */
export async function removeOrphanedTrigram(c: Session, alive: (run: string) => Promise<boolean>): Promise<boolean> {
  const run = await readNote(c, INSTALLED_NOTE);
  if (run === null || (await alive(run))) return false;
  const present = (await trigramSchema(c)) !== null;
  const outcome = present
    ? await asUser(c, () => c.query('DROP EXTENSION pg_trgm RESTRICT')).then(() => 'removed' as const, dropRefused)
    : 'absent';
  if (outcome !== 'not-owner') await removeNote(c, INSTALLED_NOTE, run);
  return outcome === 'removed';
}

/** Why DROP … RESTRICT was refused: objects depend on the extension (2BP01), or this role does not own it (42501); else raised. */
export function dropRefused(err: unknown): 'depended-on' | 'not-owner' {
  const code = (err as { code?: string }).code;
  if (code === '2BP01') return 'depended-on';
  if (code === '42501') return 'not-owner';
  throw err;
}
