import type { IndexStmt } from '@pgsql/types';
import { nodeAs, stripLayout } from '../../sql/tree.js';
import type { IndexKey } from './types.js';

/** An index's key, compared as parse trees: layout and spelling never make two keys differ. */
export const keyOf = (stmt: IndexStmt, name: string, table: string): IndexKey => ({
  name,
  table,
  method: stmt.accessMethod ?? 'btree',
  cols: (stmt.indexParams ?? []).map((p) => JSON.stringify(stripLayout(p))),
  where: JSON.stringify(stripLayout(stmt.whereClause ?? null)),
  unique: !!stmt.unique,
});

/** `a` is a btree whose columns lead `b`'s, same predicate: `b` already serves `a`'s queries. */
export const isPrefix = (a: IndexKey, b: IndexKey) =>
  a !== b &&
  a.table === b.table &&
  a.method === 'btree' &&
  b.method === 'btree' &&
  a.where === b.where &&
  !a.unique &&
  a.cols.length <= b.cols.length &&
  a.cols.every((c, i) => c === b.cols[i]);

/** The key's column names when every key is a plain column, else null. */
export const simpleColumns = (s: IndexStmt): string[] | null => {
  const cols = (s.indexParams ?? []).map((p) => nodeAs(p, 'IndexElem')?.name);
  return cols.every(Boolean) ? (cols as string[]) : null;
};

/** Plain key columns of a GIN index that name no operator class (so get the type's default). */
export const ginDefaultColumns = (s: IndexStmt): string[] =>
  (s.indexParams ?? [])
    .map((p) => nodeAs(p, 'IndexElem'))
    .filter((el) => el?.name && !el.opclass?.length)
    .map((el) => el!.name!);
