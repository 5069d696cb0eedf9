import { createHash } from 'node:crypto';
import type { Node, RangeVar } from '@pgsql/types';

/** A relation as SQL names it: schema is null when the text leaves it to search_path. */
export interface RelationRef {
  schema: string | null;
  name: string;
}

type KeysOf<T> = T extends unknown ? keyof T : never;
/** Every node type of PostgreSQL's parse tree: 'IndexStmt', 'RangeVar', 'String', … */
export type NodeType = KeysOf<Node>;
/** The payload of one node type: `NodeOf<'IndexStmt'>` is libpg-query's IndexStmt. */
export type NodeOf<K extends NodeType> = Extract<Node, Record<K, unknown>>[K];
/** Any payload, for code that walks trees generically. */
export type AnyNode = { [key: string]: unknown };

/** A node's type: the single key of `{ IndexStmt: … }`. */
export const nodeType = (n: Node): NodeType => Object.keys(n)[0] as NodeType;

/** The payload of `n` when it is a `type` node. */
export function nodeAs<K extends NodeType>(n: Node | null | undefined, type: K): NodeOf<K> | undefined {
  return n && type in n ? (n as unknown as Record<K, NodeOf<K>>)[type] : undefined;
}

/** The payload of a node whatever its type, for the rules that read a field many statements share. */
export const payloadOf = (n: Node): AnyNode => Object.values(n)[0] as AnyNode;

/** The strings of a name list (`List` of `String`), e.g. a DROP's qualified name. */
export const nameList = (n: Node | undefined): string[] => (nodeAs(n, 'List')?.items ?? []).map((x) => nodeAs(x, 'String')?.sval ?? '');

/** The strings of a list of `String` nodes (a qualified type or function name). */
export const strings = (items: Node[] | undefined): string[] => (items ?? []).map((x) => nodeAs(x, 'String')?.sval ?? '');

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

export const hashTree = (tree: unknown): string => createHash('sha256').update(JSON.stringify(tree)).digest('hex').slice(0, 16);

/** Visit every object node of a parse tree. */
export function walk(node: unknown, visit: (key: string, value: AnyNode) => void): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, visit);
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) visit(k, v as AnyNode);
      walk(v, visit);
    }
  }
}

export const rangeVarRef = (rv: RangeVar | undefined): RelationRef => ({
  schema: rv?.schemaname ?? null,
  name: rv?.relname ?? '',
});

/** Relations a query reads (RangeVar nodes), minus names that are its own CTEs. */
export function relationsRead(query: unknown): RelationRef[] {
  const ctes = new Set<string>();
  const found: RelationRef[] = [];
  walk(query, (key, value) => {
    if (key === 'CommonTableExpr' && typeof value.ctename === 'string') ctes.add(value.ctename);
    if (key === 'RangeVar') found.push(rangeVarRef(value as RangeVar));
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
export function statementLabel(nodeType: string, node: AnyNode): string {
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
  if (nodeType === 'DropStmt')
    return `DROP ${String(node.removeType ?? '')
      .replace(/^OBJECT_/, '')
      .replace(/_/g, ' ')}`.trim();
  if (nodeType === 'AlterTableStmt')
    return `ALTER ${String(node.objtype ?? 'OBJECT_TABLE')
      .replace(/^OBJECT_/, '')
      .replace(/_/g, ' ')}`;
  if (special[nodeType]) return special[nodeType];
  return nodeType
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

/** The highest $n a statement uses (0: none). */
export function highestParam(tree: unknown): number {
  let max = 0;
  walk(tree, (key, value) => {
    if (key === 'ParamRef') max = Math.max(max, typeof value.number === 'number' ? value.number : 0);
  });
  return max;
}
