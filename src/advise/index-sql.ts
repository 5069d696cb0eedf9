/** A candidate as SQL: its name and its CREATE INDEX, the way a DBA would write it. */
import { createHash } from 'node:crypto';
import { displayIdent, qualify, quoteIdent } from '../db/ident.js';
import { keyText, type Candidate } from './candidates.js';

const MAX_IDENT = 63;

/** `<table>_<keys>[_partial]_idx`, short enough for PostgreSQL, unique by a hash of the definition. */
export function candidateName(c: Candidate): string {
  const words = [c.table.name, ...c.keys.map((k) => k.sql), c.where ? 'partial' : '', c.include.length ? 'covering' : '']
    .join('_')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  const hash = createHash('sha256').update(candidateBody(c)).digest('hex').slice(0, 6);
  return `${words.slice(0, MAX_IDENT - 12).replace(/_+$/, '')}_${hash}_idx`;
}

/** Everything after the name: what makes two candidates the same index. */
function candidateBody(c: Candidate): string {
  const include = c.include.length ? ` INCLUDE (${c.include.map(displayIdent).join(', ')})` : '';
  const where = c.where ? ` WHERE ${c.where}` : '';
  const using = c.method === 'btree' ? '' : ` USING ${c.method}`;
  return `ON ${qualify(c.table.schema, c.table.name)}${using} (${c.keys.map(keyText).join(', ')})${include}${where}`;
}

/** The statement for a pack: concurrent, and a no-op where the index already exists. */
export const candidateSql = (c: Candidate, name = candidateName(c)): string =>
  `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(name)} ${candidateBody(c)}`;

/** The statement for HypoPG, which takes a plain CREATE INDEX. */
export const hypotheticalSql = (c: Candidate): string => `CREATE INDEX ON ${candidateBody(c).replace(/^ON /, '')}`;
