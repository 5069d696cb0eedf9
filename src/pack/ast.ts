import { createHash } from 'node:crypto';
import type { RelationRef } from './types.js';

/** Keys that describe where text was, not what it means (location, stmt_len, list_start, …). */
const isLayoutKey = (key: string) => key === 'stmt_len' || key.endsWith('location') || /_(start|end)$/.test(key);

/** A copy of a parse tree without positions, so layout and comments never count as a change. */
export function stripLayout(node: unknown, drop: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(node)) return node.map((n) => stripLayout(n, drop));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(node).sort()) {
      if (isLayoutKey(key) || drop.has(key)) continue;
      out[key] = stripLayout((node as Record<string, unknown>)[key], drop);
    }
    return out;
  }
  return node;
}

export const hashTree = (tree: unknown): string =>
  createHash('sha256').update(JSON.stringify(tree)).digest('hex').slice(0, 16);

/** Visit every object node of a parse tree. */
export function walk(node: unknown, visit: (key: string, value: Record<string, any>) => void): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, visit);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) visit(k, v as Record<string, any>);
      walk(v, visit);
    }
  }
}

export const rangeVarRef = (rv: { schemaname?: string; relname: string }): RelationRef => ({
  schema: rv.schemaname ?? null,
  name: rv.relname,
});

/** Relations a query reads (RangeVar nodes), minus names that are its own CTEs. */
export function relationsRead(query: unknown): RelationRef[] {
  const ctes = new Set<string>();
  const found: RelationRef[] = [];
  walk(query, (key, value) => {
    if (key === 'CommonTableExpr' && value.ctename) ctes.add(value.ctename);
    if (key === 'RangeVar') found.push(rangeVarRef(value as { relname: string; schemaname?: string }));
  });
  const seen = new Set<string>();
  return found.filter((r) => {
    if (r.schema === null && ctes.has(r.name)) return false;
    const k = `${r.schema}.${r.name}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export const displayRelation = (r: RelationRef): string => (r.schema ? `${r.schema}.${r.name}` : r.name);

/** "DropStmt" → "DROP", "AlterTableStmt" → "ALTER TABLE": how a DBA names a statement. */
export function statementLabel(nodeType: string, node: Record<string, any>): string {
  const special: Record<string, string> = {
    InsertStmt: 'INSERT',
    UpdateStmt: 'UPDATE',
    DeleteStmt: 'DELETE',
    MergeStmt: 'MERGE',
    TruncateStmt: 'TRUNCATE',
    SelectStmt: 'SELECT',
    CreateStmt: 'CREATE TABLE',
    CreateTableAsStmt: 'CREATE TABLE AS',
    DoStmt: 'DO',
    CopyStmt: 'COPY',
    GrantStmt: node.is_grant ? 'GRANT' : 'REVOKE',
    ReindexStmt: 'REINDEX',
    ClusterStmt: 'CLUSTER',
    CreateFunctionStmt: 'CREATE FUNCTION',
  };
  if (nodeType === 'DropStmt') return `DROP ${String(node.removeType ?? '').replace(/^OBJECT_/, '').replace(/_/g, ' ')}`.trim();
  if (nodeType === 'AlterTableStmt') return `ALTER ${String(node.objtype ?? 'OBJECT_TABLE').replace(/^OBJECT_/, '').replace(/_/g, ' ')}`;
  if (special[nodeType]) return special[nodeType];
  return nodeType
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}
