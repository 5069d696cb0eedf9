/**
 * pg_trgm, for LIKE '%…%', ILIKE and regular expressions: used where the database has it. With the
 * user's consent (--install-extension pg_trgm) it is installed for the run, and removed again when
 * no kept index needs it, so the database ends as it began unless the pack needs the extension.
 */
import { extensionAvailable, trigramSchema } from '../db/catalog.js';
import { asUser, type Session } from '../db/session.js';
import type { Candidate } from './candidates.js';
import type { Trial } from './select.js';

/**
 * present: the database has it. installed: installed for this run, and a kept index needs it.
 * removed: installed for this run and removed again, no kept index needing it. not-needed: no query
 * has a pattern it would serve. absent: a query has one, but there was no consent to install it.
 * not-available: consent, but the server has no pg_trgm files.
 */
export type TrigramUse = 'present' | 'installed' | 'removed' | 'not-needed' | 'absent' | 'not-available';

export const isTrigram = (c: Candidate): boolean => c.method === 'gin' && c.keys.some((k) => k.opclass?.endsWith('gin_trgm_ops'));

/** The schema to name pg_trgm's operator classes in, installing the extension where consented and wanted. */
export async function useTrigram(
  c: Session,
  o: { install: boolean; wanted: boolean; dryRun: boolean },
): Promise<{ use: TrigramUse; schema: string | null }> {
  const schema = await trigramSchema(c);
  if (schema) return { use: 'present', schema };
  if (!o.wanted) return { use: 'not-needed', schema: null };
  if (!o.install || o.dryRun) return { use: 'absent', schema: null };
  if (!(await extensionAvailable(c, 'pg_trgm'))) return { use: 'not-available', schema: null };
  // In the user's schema and as the user, as a DBA's own CREATE EXTENSION would put it.
  await asUser(c, () => c.query('CREATE EXTENSION IF NOT EXISTS pg_trgm'));
  return { use: 'installed', schema: await trigramSchema(c) };
}

/** Whether the pack advise writes needs pg_trgm: a kept trigram index, and no error (after one, no pack is written). */
export const packNeedsTrigram = (r: { error?: unknown; trials: Trial[] }): boolean =>
  !r.error && r.trials.some((t) => t.outcome === 'kept' && isTrigram(t.candidate));

/** Removes the extension useTrigram installed when the pack does not need it (RESTRICT: never what others built on it). */
export async function releaseTrigram(c: Session, use: TrigramUse, needed: boolean): Promise<TrigramUse> {
  if (use !== 'installed' || needed) return use;
  await asUser(c, () => c.query('DROP EXTENSION IF EXISTS pg_trgm RESTRICT'));
  return 'removed';
}
