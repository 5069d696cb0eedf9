import { tryParse } from '../sql/parse.js';
import { nameList, nodeAs, nodeType } from '../sql/tree.js';
import type { ObjectKind } from './types.js';

/**
 * A pack's `-- pgopt:rollback` override may only choose how its own object is dropped. It is
 * checked when the pack is loaded, when the object's schema is resolved, and again at rollback
 * (the registry keeps its text, and what is read back from the database is never trusted).
 */
/** What an override may say: a plain or concurrent drop of the object it follows. */
export interface RollbackChoice {
  concurrently: boolean;
}

const REMOVE_TYPE: Record<ObjectKind, string> = { index: 'OBJECT_INDEX', matview: 'OBJECT_MATVIEW' };

/**
 * Check override statements against the object they must undo: each a DROP of that kind, of
 * exactly that object (same name; same schema where the override names one, and `schema` is
 * known), without CASCADE. Returns the choice, or why it is refused.
 */
export function checkRollbackOverride(
  sqls: string[],
  kind: ObjectKind,
  schema: string | null,
  name: string,
): RollbackChoice | { refused: string } {
  let concurrently = false;
  for (const sql of sqls) {
    const stmts = tryParse(sql);
    if (!stmts) return { refused: 'it does not parse' };
    for (const s of stmts) {
      const drop = nodeAs(s, 'DropStmt');
      if (!drop) return { refused: `it is a ${nodeType(s) ?? 'statement'}, not a DROP` };
      if (drop.removeType !== REMOVE_TYPE[kind])
        return { refused: `it drops another kind of object than ${kind === 'index' ? 'an index' : 'a materialized view'}` };
      if (drop.behavior === 'DROP_CASCADE') return { refused: 'CASCADE would drop other objects with it' };
      const objects = (drop.objects ?? []).map((o) => nameList(o));
      if (objects.length !== 1) return { refused: 'it must drop exactly one object' };
      const parts = objects[0];
      if (parts.length > 2 || parts[parts.length - 1] !== name) return { refused: `it drops ${parts.join('.')}` };
      if (parts.length === 2 && schema !== null && parts[0] !== schema)
        return { refused: `it drops ${parts.join('.')}, in another schema` };
      concurrently ||= !!drop.concurrent;
    }
  }
  if (!sqls.length) return { refused: 'it is empty' };
  return { concurrently };
}
