import type pg from 'pg';
import { quoteIdent } from './ident.js';
import { PINNED_SEARCH_PATH, type Session } from './session.js';
import { withRolledBackTransaction } from './scoped.js';

/**
 * Statements pgopt generates that make the server evaluate code another role owns (a write probe
 * fires the table's triggers, index expressions, constraints and rules; the duplicate probe
 * evaluates an index expression over every row) run with that role's rights, as PostgreSQL runs
 * CREATE INDEX and ANALYZE on another role's table.
 *
 * `SET LOCAL ROLE <owner>` is not enough: code running under it can `RESET ROLE`, and the session
 * user (a superuser, say) is back. PostgreSQL's own answer is the security-restricted operation;
 * from SQL the nearest is a SECURITY DEFINER function, inside which the server refuses any change
 * of role or session authorization ("cannot set parameter "role" within security-definer
 * function"). So the statement runs inside one: created in pg_temp, given to the owner, called
 * once, with pgopt's search_path pinned, inside the caller's transaction, which is rolled back.
 * The owner's code could replace the function while it runs (the owner may create in pg_temp), so
 * it is dropped straight after its one call and never called twice.
 */
const RUNNER = 'pg_temp.pgopt_run_as_owner';

/** Statements run through the runner take at most this many parameters, passed as text. */
export const MAX_OWNER_PARAMS = 8;

/** pgopt could not hand the statement to the role (not a member of it, or it lacks TEMP on the database). */
export class CannotActAs extends Error {
  constructor(
    readonly role: string,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * Run `sql` (pgopt's own text, with $1…$n as text parameters) with `role`'s rights and return its
 * rows, each as a JSON object keyed by column name (give columns distinct names). Must be called
 * inside a transaction the caller rolls back. `readOnly` makes the rest of the transaction read-only
 * before the statement runs, so nothing it calls can write, not even a sequence.
 */
export async function queryAsRole(
  c: Session,
  role: string,
  sql: string,
  params: unknown[] = [],
  opts: { readOnly?: boolean; paramTypes?: string[] } = {},
): Promise<Record<string, unknown>[]> {
  if (params.length > MAX_OWNER_PARAMS) throw new Error(`queryAsRole takes at most ${MAX_OWNER_PARAMS} parameters`);
  // Typed where the statement's own types are known (paramTypes): a USING value of type text
  // would not compare with an integer column the way the client's untyped parameter does.
  const using = Array.from(
    { length: MAX_OWNER_PARAMS },
    (_, i) => `p[${i + 1}]${opts.paramTypes?.[i] ? `::${opts.paramTypes[i]}` : ''}`,
  ).join(', ');
  await c.query(
    `CREATE FUNCTION ${RUNNER}(q pg_catalog.text, p pg_catalog.text[]) RETURNS SETOF pg_catalog.json
       LANGUAGE plpgsql SECURITY DEFINER SET search_path = ${PINNED_SEARCH_PATH}
       AS $pgopt$ DECLARE r record; BEGIN
         FOR r IN EXECUTE q USING ${using} LOOP RETURN NEXT pg_catalog.to_json(r); END LOOP;
       END $pgopt$`,
  );
  try {
    await c.query(`ALTER FUNCTION ${RUNNER}(pg_catalog.text, pg_catalog.text[]) OWNER TO ${quoteIdent(role)}`);
  } catch (err) {
    throw new CannotActAs(role, (err as Error).message);
  }
  if (opts.readOnly) await c.query(`SET LOCAL transaction_read_only = on`);
  const text = params.map((v) => (v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : String(v)));
  const res = await c.query(`SELECT r FROM ${RUNNER}($1::pg_catalog.text, $2::pg_catalog.text[]) AS r`, [sql, text]);
  // Read-only, nothing could have replaced it, and nothing can create it again in this transaction.
  if (!opts.readOnly) await c.query(`DROP FUNCTION ${RUNNER}(pg_catalog.text, pg_catalog.text[])`);
  return res.rows.map((row) => (typeof row.r === 'string' ? JSON.parse(row.r) : row.r) as Record<string, unknown>);
}

/**
 * Why `role` cannot run pgopt's statement, or null when it can: asked before a transaction, so a
 * caller can skip with a note instead of failing halfway. Asked once per role on a connection
 * (bench asks before every query that runs as another role, each try costs four round trips).
 */
export async function cannotActAs(c: Session, role: string): Promise<string | null> {
  if (c.actAs.has(role)) return c.actAs.get(role)!;
  try {
    await withRolledBackTransaction(c, () => queryAsRole(c, role, 'SELECT 1 AS one'));
    c.actAs.set(role, null);
    return null;
  } catch (err) {
    if (!(err instanceof CannotActAs)) throw err;
    c.actAs.set(role, err.message);
    return err.message;
  }
}

/**
 * The types the server infers for a statement's $1…$n, each schema-qualified (so it names the same
 * type under the runner's pinned search_path): PREPARE only parses and analyzes, it runs nothing.
 * Call it under the user's search_path, where the statement's names resolve as they will.
 */
export async function inferredParamTypes(c: Session, sql: string): Promise<string[]> {
  await c.query({ text: `PREPARE pgopt_param_types AS ${sql}`, queryMode: 'extended' } as pg.QueryConfig);
  try {
    const r = await c.query(
      `SELECT pg_catalog.array_agg(pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname) ORDER BY u.k) AS types
         FROM pg_catalog.pg_prepared_statements p, unnest(p.parameter_types::pg_catalog.oid[]) WITH ORDINALITY AS u(oid, k)
         JOIN pg_catalog.pg_type t ON t.oid = u.oid JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        WHERE p.name = 'pgopt_param_types'`,
    );
    return r.rows[0]?.types ?? [];
  } finally {
    await c.query('DEALLOCATE pgopt_param_types').catch(() => {});
  }
}
