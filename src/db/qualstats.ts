import { quoteIdent } from './ident.js';
import type { Session } from './session.js';

/** Catalog questions about pg_qualstats (2.x): the constants production compared columns with. */

/** One constant of one predicate of one statement, as pg_qualstats sampled it. */
export interface QualConstant {
  queryid: string;
  /** Byte offset of the constant (or bind parameter) in the statement's text. */
  position: number;
  /** The value as pg_qualstats renders it: `28::integer`, `'{0,1}'::integer[]`, `'abc'::text`. */
  value: string;
  occurrences: number;
}

/** The schema pg_qualstats was created in, or null where it is not created in this database. */
export async function qualstatsSchema(c: Session): Promise<string | null> {
  const r = await c.query(
    `SELECT n.nspname AS schema FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
      WHERE e.extname = 'pg_qualstats'`,
  );
  return r.rows[0]?.schema ?? null;
}

/**
 * The constants pg_qualstats kept for these statements, most frequent first. Its counters live in
 * shared memory only while the library is preloaded: where it is created but not loaded, or this
 * role may not call it, the answer is the error, for the caller to say so.
 */
export async function readQualConstants(c: Session, schema: string, queryids: string[]): Promise<QualConstant[]> {
  const r = await c.query(
    `SELECT q.queryid::text AS queryid, q.constant_position AS position, q.constvalue AS value,
            pg_catalog.sum(q.occurences)::float8 AS occurrences
       FROM ${quoteIdent(schema)}.pg_qualstats() q
      WHERE q.queryid = ANY ($1::bigint[]) AND q.constvalue IS NOT NULL AND q.constant_position IS NOT NULL
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC, 3`,
    [queryids],
  );
  return r.rows.map((x) => ({ queryid: x.queryid, position: x.position, value: x.value, occurrences: x.occurrences }));
}
