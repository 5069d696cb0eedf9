import type pg from 'pg';
import { PgoptError } from '../errors.js';
import { qualify } from '../db/ident.js';
import { registryExists } from './registry.js';

/**
 * What apply and rollback need, checked before anything runs so a role that lacks it fails
 * with the whole list, not half-way: to own each indexed table (PostgreSQL's rule for CREATE
 * INDEX), CREATE on the schema of each new view, and the registry (CREATE on the database the
 * first time, then write access to schema pgopt).
 */
export interface PrivilegeTarget {
  /** The indexed relation (indexes), or null (views). */
  table: { schema: string; name: string } | null;
  schema: string;
  qualifiedName: string;
  /** Objects already in the catalog need nothing more. */
  exists: boolean;
}

export async function checkPrivileges(c: pg.Client, targets: PrivilegeTarget[]): Promise<void> {
  const missing: string[] = [];
  const user = (await c.query('SELECT current_user AS u')).rows[0].u as string;
  for (const a of targets) {
    if (a.exists) continue;
    if (a.table) {
      const r = await c.query(
        `SELECT pg_has_role(current_user, c.relowner, 'USAGE') AS ok, pg_get_userbyid(c.relowner) AS owner
           FROM pg_class c WHERE c.oid = to_regclass($1)`,
        [qualify(a.table.schema, a.table.name)],
      );
      // A table the pack creates in this run (a view) has no row yet: it will be ours.
      if (r.rows[0] && !r.rows[0].ok)
        missing.push(`ownership of ${a.table.schema}.${a.table.name} (owned by ${r.rows[0].owner}) to index it`);
    } else {
      const r = await c.query(`SELECT has_schema_privilege($1, 'CREATE') AS ok`, [a.schema]);
      if (!r.rows[0].ok) missing.push(`CREATE on schema ${a.schema} for ${a.qualifiedName}`);
    }
  }
  if (!(await registryExists(c))) {
    const r = await c.query(`SELECT has_database_privilege(current_database(), 'CREATE') AS ok`);
    if (!r.rows[0].ok) missing.push(`CREATE on this database, to create the registry schema pgopt (or let an owner run pgopt once)`);
  } else {
    const r = await c.query(
      `SELECT has_table_privilege('pgopt.objects', 'INSERT, UPDATE, DELETE') AND has_table_privilege('pgopt.events', 'INSERT') AS ok`,
    );
    if (!r.rows[0].ok) missing.push('write access to the registry tables pgopt.objects and pgopt.events');
  }
  const unique = [...new Set(missing)];
  if (unique.length) {
    throw new PgoptError('database', `role ${user} lacks the privileges this pack needs: ${unique.join('; ')}`, {
      hint: 'nothing was changed',
    });
  }
}
