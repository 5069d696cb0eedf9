import { canCreateIn, canCreateSchemas, canWriteRegistry, currentUser, tableOwnerships } from '../db/catalog.js';
import { PgoptError } from '../errors.js';
import { qualify } from '../db/ident.js';
import { registryExists } from './registry.js';
import type { Session } from '../db/session.js';

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

export async function checkPrivileges(c: Session, targets: PrivilegeTarget[]): Promise<void> {
  const missing: string[] = [];
  const user = await currentUser(c);
  const tableOf = (a: PrivilegeTarget) => (a.table ? qualify(a.table.schema, a.table.name) : null);
  const pendingTables = targets.filter((a) => !a.exists && a.table).map((a) => tableOf(a)!);
  // One read for every table, however many of the pack's objects are on each; each schema once.
  const owners = await tableOwnerships(c, [...new Set(pendingTables)]);
  const creatable = new Map<string, Promise<boolean>>();
  for (const a of targets) {
    if (a.exists) continue;
    if (a.table) {
      const own = owners.get(tableOf(a)!);
      // A table the pack creates in this run (a view) has no row yet: it will be ours.
      if (own && !own.mine) missing.push(`ownership of ${a.table.schema}.${a.table.name} (owned by ${own.owner}) to index it`);
    } else {
      if (!creatable.has(a.schema)) creatable.set(a.schema, canCreateIn(c, a.schema));
      if (!(await creatable.get(a.schema)!)) missing.push(`CREATE on schema ${a.schema} for ${a.qualifiedName}`);
    }
  }
  if (!(await registryExists(c))) {
    if (!(await canCreateSchemas(c)))
      missing.push(`CREATE on this database, to create the registry schema pgopt (or let an owner run pgopt once)`);
  } else {
    if (!(await canWriteRegistry(c))) missing.push('write access to the registry tables pgopt.objects and pgopt.events');
  }
  const unique = [...new Set(missing)];
  if (unique.length) {
    throw new PgoptError('database', `role ${user} lacks the privileges this pack needs: ${unique.join('; ')}`, {
      hint: 'nothing was changed',
    });
  }
}
