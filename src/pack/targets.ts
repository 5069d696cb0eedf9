import { displayIdent } from '../db/ident.js';
import type { PackObject, PackStatement, RelationRef } from './types.js';
import { nameList, nodeAs, rangeVarRef } from '../sql/tree.js';

/**
 * What a pack's maintenance statements (DROP, REFRESH, ANALYZE/VACUUM, COMMENT) act on, and
 * whether that is the pack's own business: its own indexes and views, and the tables it
 * indexes. Anything else is refused without --allow-unsafe. Names are compared
 * schema-qualified: at load time where the pack writes the schema, and again by assess once
 * every name is resolved (`billing.mv_own` is not the pack's `public.mv_own`).
 */
export type TargetRole = 'own-object' | 'own-matview' | 'own-or-table';

export interface Targets {
  refs: RelationRef[];
  /** What each ref must be. */
  role: TargetRole;
  verb: string;
}

const refOf = (parts: string[]): RelationRef => ({
  schema: parts.length > 1 ? parts[parts.length - 2] : null,
  name: parts[parts.length - 1],
});

/** The relations a maintenance statement acts on, or null for statements that act on none of the pack's business. */
export function statementTargets(s: PackStatement): Targets | null {
  switch (s.kind) {
    case 'drop-own':
      return { refs: (nodeAs(s.ast, 'DropStmt')?.objects ?? []).map((o) => refOf(nameList(o))), role: 'own-object', verb: 'DROP' };
    case 'refresh':
      return { refs: [rangeVarRef(nodeAs(s.ast, 'RefreshMatViewStmt')?.relation)], role: 'own-matview', verb: 'REFRESH' };
    case 'analyze':
      return { refs: s.references, role: 'own-or-table', verb: nodeAs(s.ast, 'VacuumStmt')?.is_vacuumcmd ? 'VACUUM' : 'ANALYZE' };
    case 'comment': {
      const node = nodeAs(s.ast, 'CommentStmt');
      const parts = nameList(node?.object);
      // COMMENT ON COLUMN names the relation, then the column.
      const rel = node?.objtype === 'OBJECT_COLUMN' ? parts.slice(0, -1) : parts;
      return { refs: [refOf(rel)], role: 'own-or-table', verb: 'COMMENT ON' };
    }
    default:
      return null;
  }
}

/** schema.name as SQL would need it written (`app."Execution"`). */
export const displayRef = (r: RelationRef): string =>
  r.schema ? `${displayIdent(r.schema)}.${displayIdent(r.name)}` : displayIdent(r.name);

/** COMMENT ON kinds that can be about a pack's object or an indexed table. */
export const COMMENTABLE = new Set(['OBJECT_INDEX', 'OBJECT_MATVIEW', 'OBJECT_TABLE', 'OBJECT_COLUMN']);

/** Where a pack object will live as far as the pack's text says (an index: its table's schema). */
export const writtenSchema = (o: PackObject): string | null => o.schema ?? (o.kind === 'index' ? o.table!.schema : null);

/** Same name, and the same schema wherever both sides name one. */
export const mayBeSame = (ref: RelationRef, schema: string | null, name: string): boolean =>
  ref.name === name && (ref.schema === null || schema === null || ref.schema === schema);

export interface Candidate {
  schema: string | null;
  name: string;
  matview: boolean;
  /** A table the pack indexes, not an object of the pack. */
  table: boolean;
}

/** Whether `ref` may be what the statement acts on, among the pack's objects and indexed tables. */
export function allowedTarget(ref: RelationRef, role: TargetRole, candidates: Candidate[]): boolean {
  return candidates.some((c) => {
    if (!mayBeSame(ref, c.schema, c.name)) return false;
    if (role === 'own-object') return !c.table;
    if (role === 'own-matview') return c.matview && !c.table;
    return true;
  });
}

/** The pack's objects and indexed tables, as its text names them. */
export function writtenCandidates(objects: PackObject[]): Candidate[] {
  return [
    ...objects.map((o) => ({ schema: writtenSchema(o), name: o.name, matview: o.kind === 'matview', table: false })),
    ...objects.filter((o) => o.table).map((o) => ({ schema: o.table!.schema, name: o.table!.name, matview: false, table: true })),
  ];
}
